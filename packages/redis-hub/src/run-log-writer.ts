import { SluiceError, type StreamEvent } from '@sluice/core';
import type { ChainableCommander, Redis } from 'ioredis';
import { entryId, seqOfEntryId, type RedisKeySpace } from './redis-key-space.js';
import type { HubPipelineScripts, HubScripts } from './redis-scripts.js';

/** A run whose log this instance writes: one it admitted, or one it claimed to end it. */
export interface LoggedRun {
  readonly runId: string;
  readonly conversationId: string;
  readonly owner: string;
  readonly hashKey: string;
  readonly eventsKey: string;
  /** True when the run was admitted here (its events are also in the local memory hub). */
  readonly local: boolean;
  /** Every event published here, in seq order (references, to rebuild the stream after Redis lost it). */
  readonly events: StreamEvent[];
  /** The seq of `events[0]` (a claimed run starts after the last seq in the log). */
  readonly firstSeq: number;
  /** Highest seq put on the wire, and highest seq Redis acknowledged. */
  sentSeq: number;
  ackedSeq: number;
  /** The highest seq handed to `onDurable`: only grows, even when a restarted Redis lost entries. */
  durableSeq: number;
  finishing: boolean;
  endRequested: boolean;
  endSent: boolean;
  ended: Promise<void> | undefined;
  resolveEnded: (() => void) | undefined;
  rejectEnded: ((error: unknown) => void) | undefined;
}

interface WriterOptions {
  keys: RedisKeySpace;
  instanceId: string;
  leaseMs: number;
  retentionMs: number;
  maxStreamLength: number;
  maxBufferedEvents: number;
  onError: (error: unknown) => void;
  /** Another instance claimed the run (this one stalled past its lease): stop it here. */
  onLost: (run: LoggedRun) => void;
  /** Each event once Redis has acknowledged it, in seq order (local subscribers get it then). */
  onDurable: (run: LoggedRun, event: StreamEvent) => void;
}

/** What one pipeline carried for one run. */
interface BatchPart {
  run: LoggedRun;
  commands: number;
  upToSeq: number;
  ends: boolean;
}

/**
 * Writes runs' events to their Redis Streams: every event published in one event-loop turn goes
 * out in one pipeline, in order, on a connection the hub owns. Nothing is sent while the
 * connection is down; when it is back, every run is restored first (hash, sets, lease; the
 * stream's last entry read back) and the events Redis does not have are written again from
 * memory, with their same IDs, before newer ones.
 */
export class RunLogWriter {
  readonly runs = new Map<string, LoggedRun>();
  private readonly connection: Redis & HubScripts;
  private readonly options: WriterOptions;
  private readonly dirty = new Set<LoggedRun>();
  private flushScheduled = false;
  /** Bumped by every restore: replies of pipelines sent before it are ignored. */
  private epoch = 0;
  private restoring = false;
  private restoreAgain = false;
  /**
   * Set when the connection closed or a write failed; cleared by a restore that completed with
   * no close in between. ioredis sets `status` to 'ready' a tick before it emits 'ready', so the
   * status alone could let a write reach a restarted Redis before the restore that rebuilds it.
   */
  private mustRestore = false;
  private closes = 0;
  private restoreTimer: NodeJS.Timeout | undefined;
  private unacknowledged = 0;
  private backlogReported = false;
  private closed = false;
  private readonly flushBound = (): void => this.flush();

  constructor(connection: Redis & HubScripts, options: WriterOptions) {
    this.connection = connection;
    this.options = options;
    connection.on('close', () => {
      this.closes++;
      this.mustRestore = true;
    });
    connection.on('ready', () => void this.restore());
  }

  add(run: { runId: string; conversationId: string; owner: string; local: boolean; lastSeq: number }): LoggedRun {
    const logged: LoggedRun = {
      runId: run.runId,
      conversationId: run.conversationId,
      owner: run.owner,
      hashKey: this.options.keys.run(run.runId),
      eventsKey: this.options.keys.events(run.runId),
      local: run.local,
      events: [],
      firstSeq: run.lastSeq + 1,
      sentSeq: run.lastSeq,
      ackedSeq: run.lastSeq,
      durableSeq: run.lastSeq,
      finishing: false,
      endRequested: false,
      endSent: false,
      ended: undefined,
      resolveEnded: undefined,
      rejectEnded: undefined,
    };
    this.runs.set(run.runId, logged);
    return logged;
  }

  /** Queues the event for the next pipeline. On every token's path: a push and a Set add. */
  append(run: LoggedRun, event: StreamEvent): void {
    run.events.push(event);
    this.dirty.add(run);
    if (++this.unacknowledged > this.options.maxBufferedEvents && !this.backlogReported) this.reportBacklog();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
  }

  /** Resolves once every event of the run is acknowledged and the run is marked ended in Redis. */
  end(run: LoggedRun): Promise<void> {
    if (run.ended !== undefined) return run.ended;
    run.endRequested = true;
    run.ended = new Promise((resolve, reject) => {
      run.resolveEnded = resolve;
      run.rejectEnded = reject;
    });
    this.dirty.add(run);
    this.flush();
    return run.ended;
  }

  /** Renews the lease of every run this instance writes: one script call for all of them. */
  async renew(): Promise<void> {
    if (this.runs.size === 0 || this.connection.status !== 'ready') return;
    const args: string[] = [];
    for (const run of this.runs.values()) args.push(run.runId, run.owner, run.conversationId);
    const [missing, lost] = await this.connection.sluiceHubRenew(
      this.options.keys.leases,
      this.options.leaseMs,
      this.options.instanceId,
      this.options.keys.prefix,
      ...args,
    );
    for (const runId of lost) this.lose(runId);
    if (missing.length > 0) void this.restore();
  }

  close(error: SluiceError): void {
    this.closed = true;
    clearTimeout(this.restoreTimer);
    for (const run of this.runs.values()) run.rejectEnded?.(error);
    this.runs.clear();
    this.dirty.clear();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed || this.restoring || this.mustRestore || this.dirty.size === 0 || this.connection.status !== 'ready') return;
    const pipeline = this.connection.pipeline() as ChainableCommander & HubPipelineScripts;
    const parts: BatchPart[] = [];
    const { maxStreamLength } = this.options;
    for (const run of this.dirty) {
      let commands = 0;
      const upToSeq = run.firstSeq + run.events.length - 1;
      for (let seq = run.sentSeq + 1; seq <= upToSeq; seq++) {
        const event = run.events[seq - run.firstSeq] as StreamEvent;
        pipeline.xadd(run.eventsKey, 'MAXLEN', '~', maxStreamLength, entryId(seq), 'e', JSON.stringify(event));
        commands++;
        if (event.type === 'finish') {
          run.finishing = true;
          pipeline.hset(run.hashKey, 'state', 'finishing', 'lastSeq', seq);
          commands++;
        }
      }
      run.sentSeq = upToSeq;
      const ends = run.endRequested && !run.endSent;
      if (ends) {
        const keys = this.options.keys;
        pipeline.sluiceHubEnd(
          run.hashKey,
          run.eventsKey,
          keys.owner(run.owner),
          keys.conversation(run.conversationId),
          keys.leases,
          run.runId,
          this.options.retentionMs,
          upToSeq,
          keys.endedChannel,
        );
        run.endSent = true;
        commands++;
      }
      if (commands > 0) parts.push({ run, commands, upToSeq, ends });
    }
    this.dirty.clear();
    if (parts.length === 0) return;
    const epoch = this.epoch;
    pipeline.exec().then(
      (results) => this.settle(parts, results ?? [], epoch),
      (error: unknown) => this.failed(error, epoch),
    );
  }

  private settle(parts: BatchPart[], results: [Error | null, unknown][], epoch: number): void {
    if (epoch !== this.epoch) return;
    let index = 0;
    let failure: Error | undefined;
    for (const part of parts) {
      let partFailure: Error | undefined;
      for (let command = 0; command < part.commands; command++) {
        const error = results[index++]?.[0] ?? null;
        if (error !== null && partFailure === undefined) partFailure = error;
      }
      if (partFailure !== undefined) {
        failure ??= partFailure;
        continue;
      }
      this.unacknowledged -= part.upToSeq - part.run.ackedSeq;
      part.run.ackedSeq = part.upToSeq;
      this.release(part.run, part.upToSeq);
      if (part.ends) this.finish(part.run);
    }
    if (this.unacknowledged <= this.options.maxBufferedEvents) this.backlogReported = false;
    if (failure !== undefined) this.failed(failure, epoch);
  }

  /** Hands the events up to `upToSeq` that Redis now holds to `onDurable`, each once. */
  private release(run: LoggedRun, upToSeq: number): void {
    while (run.durableSeq < upToSeq) {
      const event = run.events[run.durableSeq + 1 - run.firstSeq];
      if (event === undefined) return;
      run.durableSeq++;
      this.options.onDurable(run, event);
    }
  }

  private finish(run: LoggedRun): void {
    this.runs.delete(run.runId);
    this.dirty.delete(run);
    run.resolveEnded?.();
  }

  /**
   * A pipeline failed. With the connection down, the 'ready' handler restores every run; with
   * it up (a command error), report it and restore shortly (not at once: an error that repeats
   * would spin).
   */
  private failed(error: unknown, epoch: number): void {
    if (epoch !== this.epoch || this.closed) return;
    this.epoch++;
    this.mustRestore = true;
    if (this.connection.status !== 'ready') return;
    this.options.onError(
      new SluiceError({
        code: 'redis_hub_write_failed',
        message: `[sluice/redis-hub] writing run events to Redis failed (${error instanceof Error ? error.message : String(error)}); the hub restores its runs and writes them again`,
        retryable: true,
        cause: error,
      }),
    );
    clearTimeout(this.restoreTimer);
    this.restoreTimer = setTimeout(() => void this.restore(), 100);
  }

  /**
   * Re-registers every run this instance writes and reads back each stream's last entry, then
   * writes what Redis lacks. Flushing waits meanwhile, so the rebuilt entries go first.
   */
  private async restore(): Promise<void> {
    if (this.restoring) {
      this.restoreAgain = true;
      return;
    }
    this.restoring = true;
    this.epoch++;
    const closes = this.closes;
    try {
      do {
        this.restoreAgain = false;
        const runs = [...this.runs.values()];
        if (runs.length === 0) break;
        const pipeline = this.connection.pipeline() as ChainableCommander & HubPipelineScripts;
        const keys = this.options.keys;
        for (const run of runs) {
          pipeline.sluiceHubRestore(
            run.hashKey,
            keys.owner(run.owner),
            keys.conversation(run.conversationId),
            keys.leases,
            run.eventsKey,
            run.runId,
            run.conversationId,
            run.owner,
            this.options.instanceId,
            this.options.leaseMs,
            run.finishing ? 'finishing' : 'live',
            run.ackedSeq,
          );
        }
        const results = (await pipeline.exec()) ?? [];
        this.unacknowledged = 0;
        runs.forEach((run, index) => {
          const [error, reply] = results[index] ?? [new Error('no reply')];
          if (error !== null) throw error;
          const [status, lastId] = reply as [string, string?];
          if (status === 'lost') {
            this.lose(run.runId);
            return;
          }
          // Redis may know less than we believed (it restarted) or more (a reply was lost).
          const inLog = lastId === undefined || lastId === '' ? -1 : seqOfEntryId(lastId);
          run.sentSeq = run.ackedSeq = Math.max(inLog, run.firstSeq - 1);
          // Entries whose reply was lost with the connection are in the log all the same.
          this.release(run, run.ackedSeq);
          run.endSent = false;
          this.unacknowledged += run.firstSeq + run.events.length - 1 - run.ackedSeq;
          this.dirty.add(run);
        });
      } while (this.restoreAgain);
      if (this.closes === closes) this.mustRestore = false;
    } catch (error) {
      if (!this.closed && this.connection.status === 'ready') {
        this.options.onError(error);
        clearTimeout(this.restoreTimer);
        this.restoreTimer = setTimeout(() => void this.restore(), 100);
      }
    } finally {
      this.restoring = false;
    }
    // The connection came back while a restore that failed was running: restore again.
    if (this.restoreAgain && !this.closed) {
      void this.restore();
      return;
    }
    this.flush();
  }

  private lose(runId: string): void {
    const run = this.runs.get(runId);
    if (run === undefined) return;
    this.runs.delete(runId);
    this.dirty.delete(run);
    this.unacknowledged -= run.firstSeq + run.events.length - 1 - run.ackedSeq;
    run.resolveEnded?.();
    this.options.onLost(run);
  }

  private reportBacklog(): void {
    this.backlogReported = true;
    this.options.onError(
      new SluiceError({
        code: 'redis_hub_backlog',
        message: `[sluice/redis-hub] more than ${this.options.maxBufferedEvents} events wait for Redis (is it reachable?); they stay in memory and are written when it is back`,
        retryable: true,
      }),
    );
  }
}
