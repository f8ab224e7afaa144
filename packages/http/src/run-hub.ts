import type { ChatStream, StreamEvent } from '@sluice/core';

/** What the hub knows about a run. */
export interface RunInfo {
  runId: string;
  conversationId: string;
  /** The principal the run belongs to. */
  owner: string;
  /** True once its `finish` event was published. */
  finished: boolean;
}

/** Receives a run's live events in seq order; `end` is called after the last one. */
export interface RunListener {
  event(event: StreamEvent): void;
  end(): void;
}

/** A subscription: the events published before it (to replay), and how to leave. */
export interface RunSubscription {
  /** The run's events with `seq > afterSeq` published so far; live ones follow through the listener. */
  replay: readonly StreamEvent[];
  /** True when the run had already ended: nothing more will come. */
  ended: boolean;
  unsubscribe(): void;
}

/**
 * Where live runs publish their events and where responses subscribe to them. The in-process
 * `MemoryRunHub` is the default; an implementation over a shared engine lets a client resume
 * on any instance.
 */
export interface RunHub {
  /** Registers a run that is about to start publishing. */
  start(run: RunInfo & { stream: ChatStream }): void;
  publish(runId: string, event: StreamEvent): void;
  /** The run published its last event. */
  end(runId: string): void;
  get(runId: string): RunInfo | undefined;
  /** Live runs of a principal (for the concurrent-run cap). */
  liveRuns(owner: string): number;
  /**
   * Gives the run's events with `seq > afterSeq` published so far, and delivers every later one
   * to the listener: together, no gap and no duplicate. Undefined when the hub has no such run.
   */
  subscribe(runId: string, afterSeq: number, listener: RunListener): RunSubscription | undefined;
  /** Stops a live run. False when the hub has no such live run. */
  cancel(runId: string, reason?: unknown): boolean;
}

/** Options of `MemoryRunHub`. */
export interface MemoryRunHubOptions {
  /** How long a finished run stays replayable from memory. Default 5 minutes. */
  retentionMs?: number;
  /** At most this many finished runs are kept (oldest go first). Default 1000. */
  maxFinishedRuns?: number;
}

interface HubRun extends RunInfo {
  stream: ChatStream | undefined;
  events: StreamEvent[];
  listeners: Set<RunListener>;
  finishedAt: number;
}

/** The in-process run hub: every event of every live run, and of recently finished runs, in memory. */
export class MemoryRunHub implements RunHub {
  private readonly runs = new Map<string, HubRun>();
  private readonly finished: string[] = [];
  private readonly live = new Map<string, number>();
  private readonly retentionMs: number;
  private readonly maxFinishedRuns: number;

  constructor(options: MemoryRunHubOptions = {}) {
    this.retentionMs = options.retentionMs ?? 5 * 60_000;
    this.maxFinishedRuns = options.maxFinishedRuns ?? 1000;
  }

  start(run: RunInfo & { stream: ChatStream }): void {
    this.runs.set(run.runId, { ...run, finished: false, events: [], listeners: new Set(), finishedAt: 0 });
    this.live.set(run.owner, (this.live.get(run.owner) ?? 0) + 1);
  }

  publish(runId: string, event: StreamEvent): void {
    const run = this.runs.get(runId);
    if (run === undefined) return;
    run.events.push(event);
    for (const listener of run.listeners) listener.event(event);
  }

  end(runId: string): void {
    const run = this.runs.get(runId);
    if (run === undefined || run.finished) return;
    run.finished = true;
    run.finishedAt = Date.now();
    run.stream = undefined;
    const count = (this.live.get(run.owner) ?? 1) - 1;
    if (count > 0) this.live.set(run.owner, count);
    else this.live.delete(run.owner);
    for (const listener of run.listeners) listener.end();
    run.listeners.clear();
    this.finished.push(runId);
    this.evict();
  }

  get(runId: string): RunInfo | undefined {
    this.evict();
    const run = this.runs.get(runId);
    if (run === undefined) return undefined;
    return { runId: run.runId, conversationId: run.conversationId, owner: run.owner, finished: run.finished };
  }

  liveRuns(owner: string): number {
    return this.live.get(owner) ?? 0;
  }

  subscribe(runId: string, afterSeq: number, listener: RunListener): RunSubscription | undefined {
    const run = this.runs.get(runId);
    if (run === undefined) return undefined;
    // Events are published synchronously and a run's index is its seq: the slice and the
    // listener meet without a gap.
    const replay = run.events.slice(Math.max(0, afterSeq + 1));
    if (run.finished) return { replay, ended: true, unsubscribe: () => undefined };
    run.listeners.add(listener);
    return { replay, ended: false, unsubscribe: () => run.listeners.delete(listener) };
  }

  cancel(runId: string, reason?: unknown): boolean {
    const run = this.runs.get(runId);
    if (run?.stream === undefined) return false;
    run.stream.abort(reason);
    return true;
  }

  private evict(): void {
    const expired = Date.now() - this.retentionMs;
    while (this.finished.length > 0) {
      const oldest = this.runs.get(this.finished[0] as string);
      if (oldest !== undefined && this.finished.length <= this.maxFinishedRuns && oldest.finishedAt > expired) break;
      this.finished.shift();
      if (oldest !== undefined) this.runs.delete(oldest.runId);
    }
  }
}
