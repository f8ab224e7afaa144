import type { StreamEvent } from './stream-event.js';

/**
 * Where a run is in its life, as its hub sees it:
 * - `live`: admitted and producing events (no `finish` published yet);
 * - `finishing`: its `finish` event is published, its handlers (storage) are still draining;
 * - `ended`: `end()` was called: every handler is done, everything stored is committed.
 */
export type RunState = 'live' | 'finishing' | 'ended';

/** What a hub knows about a run. */
export interface RunInfo {
  runId: string;
  conversationId: string;
  /** The principal the run belongs to. */
  owner: string;
  state: RunState;
}

/** A run asking to be accepted (see `RunHub.admit`). */
export interface RunAdmission {
  runId: string;
  conversationId: string;
  owner: string;
  /** Runs the owner may have in state `live` or `finishing` at once, across every instance sharing the hub. */
  maxConcurrentRuns: number;
  /**
   * When false (the default) a conversation has at most one run in state `live` or
   * `finishing`: another answers `conversation_busy`.
   */
  concurrentTurns?: boolean;
}

/** The answer to `RunHub.admit`. */
export type AdmitResult =
  | { accepted: true }
  | { accepted: false; reason: 'too_many_runs' }
  /** The conversation's run `runId` is in the way; a `finishing` one ends soon (`waitForEnd`). */
  | { accepted: false; reason: 'conversation_busy'; runId: string; state: 'live' | 'finishing' };

/** How a hub stops a run that it admitted on this instance. */
export interface RunControl {
  abort(reason?: unknown): void;
}

/** Receives a subscribed run's later events, in seq order, each once. */
export interface RunListener {
  event(event: StreamEvent): void;
  /**
   * Nothing more will come: the run ended (its `finish` was delivered), or the hub can no
   * longer follow it (`lost`: e.g. its log was trimmed or its engine forgot it).
   */
  end(outcome?: { lost?: boolean }): void;
}

/** A subscription: the events already published (to replay first), and how to leave. */
export interface RunSubscription {
  /** The run's events with `seq > afterSeq` published so far; later ones reach the listener. */
  replay: readonly StreamEvent[];
  /** True when the run had already ended: `replay` is all there is and the listener is not called. */
  ended: boolean;
  unsubscribe(): void;
}

/** A run whose lease expired (its instance died), claimed by exactly one caller of `claimExpired`. */
export interface ExpiredRun {
  runId: string;
  conversationId: string;
  owner: string;
  /** The highest seq in the hub's log for the run, -1 when it has none. */
  lastSeq: number;
}

/** What `RunHub.cancel` did. */
export type CancelResult = 'cancelling' | 'finished' | 'unknown';

/**
 * Where live runs are admitted, publish their events, and are followed, stopped and ended:
 * the contract every run hub implements. `@sluice/http`'s `MemoryRunHub` serves one process;
 * hubs over a shared engine (PostgreSQL, Redis) let every instance admit, resume, tail and
 * cancel any run, hold each live run's lease there, and end the runs of a crashed instance.
 *
 * The life of a run on a hub: `admit` (atomically checks the owner's run cap and the
 * conversation's live run, then registers the run and its lease), `attach` (its control, so a
 * cancel from any instance reaches it), `publish` of every event in seq order, then `end` once
 * the run's handlers have drained. Only `publish` is synchronous: it is on every token's path.
 */
export interface RunHub {
  /** Accepts the run, or says why not, in one atomic step (N racing admits never exceed the cap). */
  admit(run: RunAdmission): Promise<AdmitResult>;
  /** Gives the hub the admitted run's control: `cancel` on any instance reaches it. */
  attach(runId: string, control: RunControl): void;
  /** Appends the next event of a run admitted on this instance (or claimed by `claimExpired`). */
  publish(runId: string, event: StreamEvent): void;
  /**
   * The run published its last event and its handlers are done: frees its slot in the cap and
   * its conversation, drops its lease, and tells every waiter and subscriber. Resolves once
   * every event published before it is in the hub's log.
   */
  end(runId: string): Promise<void>;
  /** What the hub knows of the run, or undefined (never admitted, or past retention). */
  get(runId: string): Promise<RunInfo | undefined>;
  /**
   * The conversation's run in state `live` or `finishing` (the latest, with concurrent turns),
   * or undefined: `GET /conversations/:id` waits for a `finishing` one so the reply whose
   * `finish` was sent is in the history. Optional: without it that read does not wait.
   */
  conversationRun?(conversationId: string): Promise<RunInfo | undefined>;
  /**
   * The run's events with `seq > afterSeq` published so far, and every later one through the
   * listener: together, no gap and no duplicate. Undefined when the hub cannot serve the run
   * from `afterSeq` (unknown, or that part of its log is gone): read it from storage.
   */
  subscribe(runId: string, afterSeq: number, listener: RunListener): Promise<RunSubscription | undefined>;
  /** Stops the run wherever it runs. */
  cancel(runId: string, reason?: unknown): Promise<CancelResult>;
  /** Resolves true once the run is `ended` (or unknown), false after `timeoutMs`. */
  waitForEnd(runId: string, timeoutMs: number): Promise<boolean>;
  /**
   * Claims runs whose lease expired (their instance stopped renewing it): each is returned to
   * exactly one caller, who then publishes its terminal event and calls `end`. A hub whose
   * runs cannot outlive their process returns none.
   */
  claimExpired(): Promise<ExpiredRun[]>;
  /** Stops the hub's timers and closes what it opened (a client you passed stays open). */
  close(): Promise<void>;
}
