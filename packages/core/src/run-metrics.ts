/** Per-handler figures of a run. */
export interface HandlerMetrics {
  name: string;
  /** Milliseconds spent in the handler's hooks (for async hooks: until they settled). */
  timeMs: number;
  /** Hook calls made. */
  calls: number;
  /** The deepest its queue got. */
  maxQueueDepth: number;
  /** Events dropped by the `drop` policy. */
  dropped: number;
  /** Events merged into their neighbour by the `coalesce` policy. */
  coalesced: number;
  /** Hook calls that threw or rejected. */
  errors: number;
}

/** Figures of one run, in milliseconds where they are times. */
export interface RunMetrics {
  /** From the start of the run to the first text, reasoning or tool-call delta. */
  timeToFirstChunkMs: number | undefined;
  /** From the start of the run until every handler had finished. */
  durationMs: number;
  /** Text, reasoning and tool-call deltas received from the model. */
  chunks: number;
  /** Events emitted in all (the last `seq` + 1). */
  events: number;
  /** Mean and longest gap between consecutive chunks. */
  meanChunkGapMs: number | undefined;
  maxChunkGapMs: number | undefined;
  /** Milliseconds the run waited for `block`/`coalesce` lanes to make room. */
  backpressureMs: number;
  /** The deepest any handler queue got. */
  maxQueueDepth: number;
  /** Events dropped across handlers. */
  dropped: number;
  /** Handler hook calls that failed. */
  handlerErrors: number;
  handlers: HandlerMetrics[];
}
