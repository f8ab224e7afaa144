import { randomUUID } from 'node:crypto';
import {
  InvalidArgumentError,
  MemoryRunHub,
  SluiceError,
  type AdmitResult,
  type CancelResult,
  type ExpiredRun,
  type RunAdmission,
  type RunControl,
  type RunHub,
  type RunInfo,
  type RunListener,
  type RunState,
  type RunSubscription,
  type StreamEvent,
} from '@sluice/core';
import type { Redis } from 'ioredis';
import { entryId, RedisKeySpace, seqOfEntryId } from './redis-key-space.js';
import type { RedisRunHubOptions } from './redis-run-hub-options.js';
import { defineScripts, type HubScripts } from './redis-scripts.js';
import { RunLogWriter, type LoggedRun } from './run-log-writer.js';
import { StreamFollower } from './stream-follower.js';

/** Entries read per XRANGE when replaying a run from Redis. */
const replayPageSize = 5_000;
/** Expired runs taken per `claimExpired` call. */
const claimLimit = 100;

function positive(value: number | undefined, fallback: number, argument: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidArgumentError({ argument, message: `[sluice/redis-hub] RedisRunHub ${argument} must be a number > 0 (got ${String(value)})` });
  }
  return value;
}

/** A cancel request as it crosses instances: the reason itself when JSON carries it, else an error's message. */
interface CancelNotice {
  runId: string;
  reason?: unknown;
  errorMessage?: string;
}

function cancelNotice(runId: string, reason: unknown): string {
  if (reason instanceof Error) return JSON.stringify({ runId, errorMessage: reason.message } satisfies CancelNotice);
  try {
    return JSON.stringify({ runId, reason } satisfies CancelNotice);
  } catch {
    return JSON.stringify({ runId, errorMessage: String(reason) } satisfies CancelNotice);
  }
}

/**
 * A run hub on Redis: every instance sharing the Redis admits, tails, cancels and ends any run.
 * Each run's events go to a Redis Stream (the durable live log, bounded and kept for
 * `retentionMs` after the run ends); runs admitted on this instance are also served from memory,
 * so a subscriber on the same instance gets events with no Redis round trip.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { RedisRunHub } from '@sluice/redis-hub';
 *
 * const hub = new RedisRunHub({ redis: new Redis('redis://127.0.0.1:6379') });
 * const handler = createChatHandler({ model, storage, hub });
 * setInterval(async () => {
 *   for (const run of await hub.claimExpired()) { ... publish its finish, then hub.end(run.runId) }
 * }, 5_000);
 * ```
 */
export class RedisRunHub implements RunHub {
  /** This instance's name in the runs it holds. */
  readonly instanceId: string;
  private readonly keys: RedisKeySpace;
  private readonly leaseMs: number;
  private readonly onError: (error: unknown) => void;
  private readonly memory: MemoryRunHub;
  /** The hub's own connection: writes, scripts, reads (the client passed in is never used). */
  private readonly connection: Redis & HubScripts;
  private readonly subscriber: Redis;
  private readonly reader: Redis;
  private readonly writer: RunLogWriter;
  private readonly follower: StreamFollower;
  private readonly subscribed: Promise<unknown>;
  private readonly endWaiters = new Map<string, Set<() => void>>();
  private readonly renewTimer: NodeJS.Timeout;
  private closed = false;

  constructor(options: RedisRunHubOptions) {
    this.instanceId = options.instanceId ?? randomUUID();
    this.keys = new RedisKeySpace(options.keyPrefix ?? 'sluice:');
    this.leaseMs = positive(options.leaseMs, 10_000, 'leaseMs');
    const retentionMs = positive(options.retentionMs, 600_000, 'retentionMs');
    this.onError = options.onError ?? ((error) => console.error('[sluice/redis-hub]', error));
    // Ended local runs are kept in memory only briefly: Redis serves them after that.
    this.memory = new MemoryRunHub({ retentionMs: Math.min(retentionMs, 60_000), maxRetainedBytes: 16 * 1024 * 1024 });

    // Writes are never queued by ioredis while the connection is down nor resent after it: the
    // writer keeps them and restores the runs first (see RunLogWriter).
    const ignore = (): void => undefined;
    this.connection = defineScripts(
      options.redis.duplicate({ keyPrefix: undefined, lazyConnect: false, autoResendUnfulfilledCommands: false }),
    );
    this.reader = options.redis.duplicate({
      keyPrefix: undefined,
      lazyConnect: false,
      autoResendUnfulfilledCommands: false,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
    });
    this.subscriber = options.redis.duplicate({ keyPrefix: undefined, lazyConnect: false });
    // Connection errors are expected while Redis restarts; the commands that fail say so.
    this.connection.on('error', ignore);
    this.reader.on('error', ignore);
    this.subscriber.on('error', ignore);

    this.writer = new RunLogWriter(this.connection, {
      keys: this.keys,
      instanceId: this.instanceId,
      leaseMs: this.leaseMs,
      retentionMs,
      maxStreamLength: positive(options.maxStreamLength, 100_000, 'maxStreamLength'),
      maxBufferedEvents: positive(options.maxBufferedEvents, 100_000, 'maxBufferedEvents'),
      onError: this.onError,
      onLost: (run) => this.lost(run),
      onDurable: (run, event) => {
        if (run.local) this.memory.publish(run.runId, event);
      },
    });
    this.follower = new StreamFollower(this.reader, this.connection, { lostAfterMs: this.leaseMs, onError: this.onError });

    this.subscriber.on('message', (channel: string, message: string) => this.notice(channel, message));
    this.subscribed = this.subscriber.subscribe(this.keys.cancelChannel, this.keys.endedChannel).catch((error: unknown) => {
      if (!this.closed) this.onError(error);
    });
    this.renewTimer = setInterval(() => {
      this.writer.renew().catch((error: unknown) => {
        if (!this.closed && this.connection.status === 'ready') this.onError(error);
      });
    }, this.leaseMs / 3);
    this.renewTimer.unref();
  }

  async admit(run: RunAdmission): Promise<AdmitResult> {
    if (this.memory.getNow(run.runId) !== undefined || this.writer.runs.has(run.runId)) {
      throw new InvalidArgumentError({ argument: 'runId', message: `[sluice/redis-hub] run ${run.runId} was already admitted` });
    }
    const maxConcurrentRuns = Number.isFinite(run.maxConcurrentRuns) ? run.maxConcurrentRuns : Number.MAX_SAFE_INTEGER;
    const [status, otherRunId, otherState] = await this.connection.sluiceHubAdmit(
      this.keys.run(run.runId),
      this.keys.owner(run.owner),
      this.keys.conversation(run.conversationId),
      this.keys.leases,
      run.runId,
      run.conversationId,
      run.owner,
      maxConcurrentRuns,
      run.concurrentTurns === true ? '1' : '0',
      this.leaseMs,
      this.instanceId,
      this.keys.prefix,
    );
    if (status === 'exists') {
      throw new InvalidArgumentError({ argument: 'runId', message: `[sluice/redis-hub] run ${run.runId} was already admitted` });
    }
    if (status === 'too_many_runs') return { accepted: false, reason: 'too_many_runs' };
    if (status === 'conversation_busy') {
      return { accepted: false, reason: 'conversation_busy', runId: otherRunId as string, state: otherState === 'finishing' ? 'finishing' : 'live' };
    }
    // Redis decided; memory only serves this instance's subscribers, so it checks nothing.
    this.memory.admitNow({ ...run, maxConcurrentRuns: Number.POSITIVE_INFINITY, concurrentTurns: true });
    this.writer.add({ runId: run.runId, conversationId: run.conversationId, owner: run.owner, local: true, lastSeq: -1 });
    return { accepted: true };
  }

  attach(runId: string, control: RunControl): void {
    this.memory.attach(runId, control);
  }

  publish(runId: string, event: StreamEvent): void {
    const run = this.writer.runs.get(runId);
    if (run === undefined) return;
    // Local subscribers get the event once Redis holds it (see onDurable): a client never sees
    // an event that a crash of this instance could take from the log it resumes from.
    this.writer.append(run, event);
  }

  async end(runId: string): Promise<void> {
    const run = this.writer.runs.get(runId);
    if (run !== undefined) await this.writer.end(run);
    // Local subscribers and waiters hear of the end once Redis has it: another instance's
    // admit for the same conversation then finds it free.
    await this.memory.end(runId);
  }

  async conversationRun(conversationId: string): Promise<RunInfo | undefined> {
    const local = await this.memory.conversationRun(conversationId);
    if (local !== undefined) return local;
    // The conversation's runs whose lease holds (scores are lease expiries on Redis's clock,
    // which on a sane deployment is this machine's give or take a few ms).
    const runIds = await this.connection.zrangebyscore(this.keys.conversation(conversationId), `(${Date.now()}`, '+inf');
    for (let index = runIds.length - 1; index >= 0; index--) {
      const run = await this.get(runIds[index] as string);
      if (run !== undefined && run.state !== 'ended') return run;
    }
    return undefined;
  }

  async get(runId: string): Promise<RunInfo | undefined> {
    const local = this.memory.getNow(runId);
    if (local !== undefined) return local;
    const [conversationId, owner, state] = await this.connection.hmget(this.keys.run(runId), 'conversationId', 'owner', 'state');
    if (conversationId == null || owner == null || state == null) return undefined;
    return { runId, conversationId, owner, state: state as RunState };
  }

  async subscribe(runId: string, afterSeq: number, listener: RunListener): Promise<RunSubscription | undefined> {
    const local = this.memory.subscribeNow(runId, afterSeq, listener);
    if (local !== undefined) return local;
    const hashKey = this.keys.run(runId);
    const eventsKey = this.keys.events(runId);
    const [[stateError, state], [firstError, first]] = ((await this.connection
      .pipeline()
      .hget(hashKey, 'state')
      .xrange(eventsKey, '-', '+', 'COUNT', 1)
      .exec()) ?? []) as [Error | null, unknown][] as [[Error | null, string | null], [Error | null, [string, string[]][]]];
    if (stateError !== null) throw stateError;
    if (firstError !== null) throw firstError;
    if (state === null) return undefined;
    const firstEntry = first[0];
    // The log starts past what the caller needs (trimmed by MAXLEN): storage has it.
    if (firstEntry !== undefined && seqOfEntryId(firstEntry[0]) > afterSeq + 1) return undefined;
    if (firstEntry === undefined && state === 'ended') return undefined;

    const replay: StreamEvent[] = [];
    let lastSeq = afterSeq;
    for (;;) {
      const page = (await this.connection.xrange(eventsKey, `(${entryId(lastSeq)}`, '+', 'COUNT', replayPageSize)) as [string, string[]][];
      for (const [id, fields] of page) {
        const seq = seqOfEntryId(id);
        if (seq !== lastSeq + 1) return undefined;
        replay.push(JSON.parse(fields[1] as string) as StreamEvent);
        lastSeq = seq;
      }
      if (page.length < replayPageSize) break;
    }
    const finished = replay.at(-1)?.type === 'finish';
    if (state === 'ended' || finished) return { replay, ended: true, unsubscribe: () => undefined };
    const unsubscribe = this.follower.follow(runId, eventsKey, hashKey, lastSeq, listener);
    return { replay, ended: false, unsubscribe };
  }

  async cancel(runId: string, reason?: unknown): Promise<CancelResult> {
    if (this.memory.getNow(runId) !== undefined) return this.memory.cancel(runId, reason);
    const state = await this.connection.hget(this.keys.run(runId), 'state');
    if (state === null) return 'unknown';
    if (state !== 'live') return 'finished';
    await this.connection.publish(this.keys.cancelChannel, cancelNotice(runId, reason));
    return 'cancelling';
  }

  async waitForEnd(runId: string, timeoutMs: number): Promise<boolean> {
    if (this.memory.getNow(runId) !== undefined) return this.memory.waitForEnd(runId, timeoutMs);
    await this.subscribed;
    return new Promise((resolve) => {
      let waiters = this.endWaiters.get(runId);
      if (waiters === undefined) this.endWaiters.set(runId, (waiters = new Set()));
      const ownWaiters = waiters;
      const settle = (ended: boolean): void => {
        clearTimeout(timer);
        ownWaiters.delete(done);
        if (ownWaiters.size === 0 && this.endWaiters.get(runId) === ownWaiters) this.endWaiters.delete(runId);
        resolve(ended);
      };
      const done = (): void => settle(true);
      const timer = setTimeout(() => settle(false), timeoutMs);
      ownWaiters.add(done);
      // Subscribed first, then checked: an end between the two is heard either way.
      this.connection.hget(this.keys.run(runId), 'state').then(
        (state) => {
          if (state === null || state === 'ended') settle(true);
        },
        (error: unknown) => this.onError(error),
      );
    });
  }

  async claimExpired(): Promise<ExpiredRun[]> {
    const claimed = await this.connection.sluiceHubClaim(this.keys.leases, this.instanceId, this.leaseMs, this.keys.prefix, claimLimit);
    return claimed.map(([runId, conversationId, owner, lastSeq]) => {
      const expired = { runId, conversationId, owner, lastSeq: Number(lastSeq) };
      // The claimer publishes its terminal event and ends it: the writer holds its lease till then.
      if (!this.writer.runs.has(runId)) this.writer.add({ ...expired, local: false });
      return expired;
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.stop();
    await this.follower.close();
    await Promise.allSettled([this.connection.quit(), this.subscriber.quit()]);
    this.connection.disconnect();
    this.subscriber.disconnect();
  }

  /**
   * For tests of what happens when an instance dies: stops the hub as if its process was killed
   * (timers stopped, connections dropped, nothing ended, no lease released). Not part of `RunHub`.
   */
  async crash(): Promise<void> {
    if (this.closed) return;
    this.stop();
    this.connection.disconnect();
    this.subscriber.disconnect();
    await this.follower.close();
  }

  private stop(): void {
    this.closed = true;
    clearInterval(this.renewTimer);
    this.writer.close(new SluiceError({ code: 'hub_closed', message: '[sluice/redis-hub] the hub was closed before the run ended' }));
    for (const waiters of this.endWaiters.values()) for (const waiter of waiters) waiter();
    this.endWaiters.clear();
  }

  private notice(channel: string, message: string): void {
    if (channel === this.keys.endedChannel) {
      const waiters = this.endWaiters.get(message);
      if (waiters !== undefined) for (const waiter of [...waiters]) waiter();
      return;
    }
    if (channel === this.keys.cancelChannel) {
      let request: CancelNotice;
      try {
        request = JSON.parse(message) as CancelNotice;
      } catch {
        return;
      }
      if (this.memory.getNow(request.runId) === undefined) return;
      void this.memory.cancel(request.runId, request.errorMessage === undefined ? request.reason : new Error(request.errorMessage));
    }
  }

  /** Another instance claimed a run of ours (we stalled past its lease): stop producing it. */
  private lost(run: LoggedRun): void {
    this.onError(
      new SluiceError({
        code: 'run_lease_lost',
        message: `[sluice/redis-hub] run ${run.runId} was claimed by another instance after its lease expired (this instance stalled for more than leaseMs): it is aborted here`,
      }),
    );
    if (run.local) void this.memory.cancel(run.runId, new SluiceError({ code: 'run_lease_lost', message: `[sluice/redis-hub] run ${run.runId} lost its lease` }));
  }
}
