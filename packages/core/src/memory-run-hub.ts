import { InvalidArgumentError } from './errors/invalid-argument-error.js';
import type {
  AdmitResult,
  CancelResult,
  ExpiredRun,
  RunAdmission,
  RunControl,
  RunHub,
  RunInfo,
  RunListener,
  RunSubscription,
} from './run-hub.js';
import type { StreamEvent } from './stream-event.js';

/** Options of `MemoryRunHub`. */
export interface MemoryRunHubOptions {
  /** How long an ended run stays replayable from memory. Default 5 minutes. */
  retentionMs?: number;
  /**
   * Approximate bytes of events kept for ended runs (oldest runs go first). Live runs are
   * never dropped. Default 64 MiB.
   */
  maxRetainedBytes?: number;
}

interface HubRun extends RunInfo {
  control: RunControl | undefined;
  events: StreamEvent[];
  bytes: number;
  listeners: Set<RunListener>;
  endWaiters: (() => void)[];
  endedAt: number;
}

/**
 * What an event costs to hold, roughly: strings are two bytes a character in V8's worst case.
 * Cheap on purpose: it runs for every published event.
 */
function approximateBytes(event: StreamEvent): number {
  switch (event.type) {
    case 'text-delta':
    case 'reasoning-delta':
      return 64 + 2 * event.text.length;
    case 'tool-call-delta':
      return 96 + 2 * event.argumentsDelta.length;
    case 'finish':
      return 256 + 2 * (typeof event.message.content === 'string' ? event.message.content.length : 0);
    default:
      return 256;
  }
}

function nonNegative(value: number | undefined, fallback: number, argument: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError({ argument, message: `[sluice/core] MemoryRunHub ${argument} must be a number >= 0 (got ${String(value)})` });
  }
  return value;
}

/**
 * The in-process run hub: every event of every live run, and of recently ended runs (bounded
 * by age and bytes), in memory. Admission, cancel and the run cap hold within one process; for
 * many instances use a hub over a shared engine (`@sluice/postgres-hub`, `@sluice/redis-hub`).
 *
 * @example
 * ```ts
 * const hub = new MemoryRunHub({ retentionMs: 60_000 });
 * const handler = createChatHandler({ model, hub });
 * ```
 */
export class MemoryRunHub implements RunHub {
  private readonly runs = new Map<string, HubRun>();
  /** Ended runs, oldest first (the retention queue). */
  private readonly ended: HubRun[] = [];
  private endedBytes = 0;
  /** Runs in state live or finishing, per owner and per conversation. */
  private readonly ownerRuns = new Map<string, number>();
  private readonly conversationRuns = new Map<string, Set<HubRun>>();
  private readonly retentionMs: number;
  private readonly maxRetainedBytes: number;

  constructor(options: MemoryRunHubOptions = {}) {
    this.retentionMs = nonNegative(options.retentionMs, 5 * 60_000, 'retentionMs');
    this.maxRetainedBytes = nonNegative(options.maxRetainedBytes, 64 * 1024 * 1024, 'maxRetainedBytes');
  }

  /** Approximate bytes held for ended runs (bounded by `maxRetainedBytes`). */
  get retainedBytes(): number {
    return this.endedBytes;
  }

  admit(run: RunAdmission): Promise<AdmitResult> {
    return Promise.resolve(this.admitNow(run));
  }

  /** `admit`, synchronously: a check and a registration with nothing in between. */
  admitNow(run: RunAdmission): AdmitResult {
    if (this.runs.has(run.runId)) {
      throw new InvalidArgumentError({ argument: 'runId', message: `[sluice/core] run ${run.runId} was already admitted` });
    }
    if ((this.ownerRuns.get(run.owner) ?? 0) >= run.maxConcurrentRuns) return { accepted: false, reason: 'too_many_runs' };
    const inConversation = this.conversationRuns.get(run.conversationId);
    if (run.concurrentTurns !== true && inConversation !== undefined) {
      for (const other of inConversation) {
        return { accepted: false, reason: 'conversation_busy', runId: other.runId, state: other.state === 'live' ? 'live' : 'finishing' };
      }
    }
    const hubRun: HubRun = {
      runId: run.runId,
      conversationId: run.conversationId,
      owner: run.owner,
      state: 'live',
      control: undefined,
      events: [],
      bytes: 0,
      listeners: new Set(),
      endWaiters: [],
      endedAt: 0,
    };
    this.runs.set(run.runId, hubRun);
    this.ownerRuns.set(run.owner, (this.ownerRuns.get(run.owner) ?? 0) + 1);
    if (inConversation === undefined) this.conversationRuns.set(run.conversationId, new Set([hubRun]));
    else inConversation.add(hubRun);
    return { accepted: true };
  }

  attach(runId: string, control: RunControl): void {
    const run = this.runs.get(runId);
    if (run !== undefined && run.state !== 'ended') run.control = control;
  }

  publish(runId: string, event: StreamEvent): void {
    const run = this.runs.get(runId);
    if (run === undefined || run.state === 'ended') return;
    run.events.push(event);
    run.bytes += approximateBytes(event);
    if (event.type === 'finish') run.state = 'finishing';
    for (const listener of run.listeners) listener.event(event);
  }

  end(runId: string): Promise<void> {
    const run = this.runs.get(runId);
    if (run === undefined || run.state === 'ended') return Promise.resolve();
    run.state = 'ended';
    run.endedAt = Date.now();
    run.control = undefined;
    const count = (this.ownerRuns.get(run.owner) ?? 1) - 1;
    if (count > 0) this.ownerRuns.set(run.owner, count);
    else this.ownerRuns.delete(run.owner);
    const inConversation = this.conversationRuns.get(run.conversationId);
    inConversation?.delete(run);
    if (inConversation?.size === 0) this.conversationRuns.delete(run.conversationId);
    for (const listener of run.listeners) listener.end();
    run.listeners.clear();
    for (const resolve of run.endWaiters) resolve();
    run.endWaiters = [];
    this.ended.push(run);
    this.endedBytes += run.bytes;
    this.evict();
    return Promise.resolve();
  }

  get(runId: string): Promise<RunInfo | undefined> {
    return Promise.resolve(this.getNow(runId));
  }

  /** `get`, synchronously. */
  getNow(runId: string): RunInfo | undefined {
    this.evict();
    const run = this.runs.get(runId);
    if (run === undefined) return undefined;
    return { runId: run.runId, conversationId: run.conversationId, owner: run.owner, state: run.state };
  }

  conversationRun(conversationId: string): Promise<RunInfo | undefined> {
    let latest: HubRun | undefined;
    for (const run of this.conversationRuns.get(conversationId) ?? []) latest = run;
    return Promise.resolve(latest === undefined ? undefined : { runId: latest.runId, conversationId: latest.conversationId, owner: latest.owner, state: latest.state });
  }

  /** Runs of the owner in state live or finishing. */
  liveRuns(owner: string): number {
    return this.ownerRuns.get(owner) ?? 0;
  }

  subscribe(runId: string, afterSeq: number, listener: RunListener): Promise<RunSubscription | undefined> {
    return Promise.resolve(this.subscribeNow(runId, afterSeq, listener));
  }

  /** `subscribe`, synchronously: the replay and the listener meet with nothing in between. */
  subscribeNow(runId: string, afterSeq: number, listener: RunListener): RunSubscription | undefined {
    const run = this.runs.get(runId);
    if (run === undefined) return undefined;
    // A run's index is its seq: the slice and the listener meet without a gap.
    const replay = run.events.slice(Math.max(0, afterSeq + 1));
    if (run.state === 'ended') return { replay, ended: true, unsubscribe: () => undefined };
    run.listeners.add(listener);
    return { replay, ended: false, unsubscribe: () => run.listeners.delete(listener) };
  }

  cancel(runId: string, reason?: unknown): Promise<CancelResult> {
    const run = this.runs.get(runId);
    if (run === undefined) return Promise.resolve('unknown');
    if (run.state !== 'live') return Promise.resolve('finished');
    run.control?.abort(reason);
    return Promise.resolve('cancelling');
  }

  waitForEnd(runId: string, timeoutMs: number): Promise<boolean> {
    const run = this.runs.get(runId);
    if (run === undefined || run.state === 'ended') return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        run.endWaiters = run.endWaiters.filter((waiter) => waiter !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      run.endWaiters.push(done);
    });
  }

  claimExpired(): Promise<ExpiredRun[]> {
    // Runs live in this process: they cannot outlive it, so no lease ever expires.
    return Promise.resolve([]);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private evict(): void {
    const expired = Date.now() - this.retentionMs;
    while (this.ended.length > 0) {
      const oldest = this.ended[0] as HubRun;
      if (oldest.endedAt > expired && this.endedBytes <= this.maxRetainedBytes) break;
      this.ended.shift();
      this.endedBytes -= oldest.bytes;
      this.runs.delete(oldest.runId);
    }
  }
}
