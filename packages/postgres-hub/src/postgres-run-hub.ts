import { randomUUID } from 'node:crypto';
import {
  InvalidArgumentError,
  MemoryRunHub,
  type AdmitResult,
  type CancelResult,
  type ExpiredRun,
  type RunAdmission,
  type RunControl,
  type RunHub,
  type RunInfo,
  type RunListener,
  type RunSubscription,
  type StreamEvent,
} from '@sluice/core';
import { decodeCancelReason, encodeCancelReason } from './cancel-reason.js';
import { RunHubStorageError } from './errors/run-hub-storage-error.js';
import { LogReader } from './log-reader.js';
import { NotificationListener } from './notification-listener.js';
import type { PostgresListenClient, PostgresPool, PostgresRunHubOptions, RunEventLog } from './postgres-run-hub-options.js';
import { RunFollower } from './run-follower.js';
import { RunTable } from './run-table.js';

const NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/;
/** Runs claimed per `claimExpired` call. */
const CLAIM_LIMIT = 100;
/** Ended rows are deleted every this many renewals (not every one: it is housekeeping). */
const TICKS_PER_CLEANUP = 30;

function checkName(value: string, argument: string): string {
  if (typeof value !== 'string' || !NAME_PATTERN.test(value)) {
    throw new InvalidArgumentError({
      argument,
      message: `[sluice/postgres-hub] ${argument} must be 1-40 letters, digits or underscores, starting with a letter or underscore (got ${JSON.stringify(value)})`,
    });
  }
  return value;
}

function checkPositive(value: number | undefined, fallback: number, argument: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError({ argument, message: `[sluice/postgres-hub] ${argument} must be an integer >= 1 (got ${String(value)})` });
  }
  return value;
}

const TRANSIENT_CODES = new Set(['57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004', '40001', '40P01', '53300']);

/** Wraps a failed query into a `RunHubStorageError` whose message says what to do. */
function storageError(error: unknown, action: string, table: string, runId?: string): RunHubStorageError {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === '42P01') {
    return new RunHubStorageError({
      code: 'schema_missing',
      message: `[sluice/postgres-hub] table ${table} is missing: run hub.migrate() first`,
      cause: error,
      runId,
    });
  }
  // pg reports a lost connection without an SQLSTATE; the server's own codes say "try again".
  const retryable = typeof code !== 'string' || TRANSIENT_CODES.has(code);
  return new RunHubStorageError({ code: 'query_failed', message: `[sluice/postgres-hub] ${action} failed: ${message}`, retryable, cause: error, runId });
}

/**
 * A run hub over PostgreSQL, for many instances sharing one database. The durable log of a
 * run is the storage's chunks table (written by `@sluice/kysely`'s `ChatHistoryHandler` with
 * `notifyChannel`, read through `log`); this hub adds the runs table `<prefix>runs` (owner,
 * conversation, state, lease, the instance holding the run) and one LISTEN connection:
 *
 * - `admit` checks the owner's cap and the conversation's live run in one transaction under
 *   advisory locks, so racing admits on any instances never exceed the cap;
 * - runs admitted here are also held in memory: `publish` costs what `MemoryRunHub.publish`
 *   costs (plus one update when the event is `finish`), and same-instance subscribers read them
 *   from memory;
 * - a subscriber of a run held elsewhere reads the log, then reads again on every commit
 *   notification (`<lastSeq> <runId>` on `channel`), on the run's end, and after the LISTEN
 *   connection came back: notifications are pointers, never the only copy;
 * - every lease this instance holds is renewed in one query every `leaseMs / 3`; runs whose
 *   lease expired are handed to exactly one caller of `claimExpired`;
 * - cancel and end travel on the control channel `<prefix>control` to every instance.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { Kysely, PostgresDialect } from 'kysely';
 * import { ChatHistoryHandler, ChatHistoryStore, migrateToLatest } from '@sluice/kysely';
 * import { PostgresRunHub } from '@sluice/postgres-hub';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const db = new Kysely({ dialect: new PostgresDialect({ pool }) });
 * await migrateToLatest(db);
 * const hub = new PostgresRunHub({ pool, log: new ChatHistoryStore({ db }) });
 * await hub.migrate();
 * const storage = new ChatHistoryHandler({ db, notifyChannel: 'sluice_events' });
 * ```
 */
export class PostgresRunHub implements RunHub {
  /** This instance's id, written on the runs it holds. */
  readonly instanceId: string;
  /** The runs table's name. */
  readonly tableName: string;
  private readonly pool: PostgresPool;
  private readonly log: RunEventLog;
  private readonly table: RunTable;
  private readonly reader: LogReader;
  private readonly channel: string;
  private readonly controlChannel: string;
  private readonly leaseMs: number;
  private readonly retentionMs: number;
  private readonly pageSize: number;
  private readonly onError: (error: Error) => void;
  /** Runs admitted on this instance: the fast path for publish, subscribe, cancel and waitForEnd. */
  private readonly memory: MemoryRunHub;
  /** Runs this instance took over with `claimExpired` (not in memory: their events are in the log). */
  private readonly claimed = new Set<string>();
  /**
   * Events of local runs published but not yet known to be committed to the log: local
   * subscribers get them when the storage writer's commit pointer (or the run's end) says so.
   */
  private readonly uncommitted = new Map<string, { events: StreamEvent[]; since: number }>();
  private missingPointersReported = false;
  private readonly followers = new Map<string, Set<RunFollower>>();
  private readonly endWaiters = new Map<string, Set<() => void>>();
  /** Runs whose `end` could not be written yet: the renewal loop tries again. */
  private readonly pendingEnds = new Set<string>();
  /** Runs held here that a cancel from another instance already aborted. */
  private readonly cancelled = new Set<string>();
  private readonly listener: NotificationListener;
  private readonly renewTimer: ReturnType<typeof setInterval>;
  private renewing = false;
  private ticks = 0;
  private closed = false;

  constructor(options: PostgresRunHubOptions) {
    if (options === null || typeof options !== 'object' || options.pool === undefined || options.log === undefined) {
      throw new InvalidArgumentError({ argument: 'options', message: '[sluice/postgres-hub] PostgresRunHub needs { pool, log }: a pg.Pool and the event log (a ChatHistoryStore)' });
    }
    this.pool = options.pool;
    this.log = options.log;
    const prefix = checkName(options.tablePrefix ?? 'sluice_', 'tablePrefix');
    this.channel = checkName(options.channel ?? 'sluice_events', 'channel');
    this.controlChannel = `${prefix}control`;
    this.table = new RunTable(this.pool, prefix);
    this.tableName = this.table.name;
    this.leaseMs = checkPositive(options.leaseMs, 10_000, 'leaseMs');
    if (this.leaseMs < 30) {
      throw new InvalidArgumentError({ argument: 'leaseMs', message: `[sluice/postgres-hub] leaseMs must be at least 30 (got ${this.leaseMs}): it is renewed every leaseMs / 3` });
    }
    this.retentionMs = checkPositive(options.retentionMs, 5 * 60_000, 'retentionMs');
    this.pageSize = checkPositive(options.pageSize, 500, 'pageSize');
    this.instanceId = options.instanceId ?? randomUUID();
    const chunksTable = options.chunksTable === false ? undefined : checkName(options.chunksTable ?? `${prefix}chunks`, 'chunksTable');
    this.reader = new LogReader({ pool: this.pool, log: this.log, chunksTable, pageSize: this.pageSize });
    this.onError = options.onError ?? ((error) => console.error(error));
    this.memory = new MemoryRunHub({ retentionMs: this.retentionMs });
    const createClient = options.listenClient ?? defaultListenClient(this.pool);
    this.listener = new NotificationListener({
      createClient,
      channels: [this.channel, this.controlChannel],
      onNotification: (channel, payload) => this.notified(channel, payload),
      onReconnect: () => void this.reconnected(),
      onError: (error) => this.onError(error),
    });
    this.renewTimer = setInterval(() => void this.renew(), Math.floor(this.leaseMs / 3));
    this.renewTimer.unref?.();
  }

  /**
   * Creates the runs table and its indexes if missing. Idempotent and safe from many instances
   * at once (they take turns on an advisory lock).
   */
  async migrate(): Promise<void> {
    try {
      await this.table.migrate();
    } catch (error) {
      throw storageError(error, 'migrate()', this.tableName);
    }
  }

  /** Drops the runs table: every run it knew is forgotten. */
  async dropTable(): Promise<void> {
    await this.table.drop();
  }

  /** Resolves once the LISTEN connection listens (subscribe and waitForEnd wait for it themselves). */
  ready(): Promise<void> {
    return this.listener.ready();
  }

  async admit(run: RunAdmission): Promise<AdmitResult> {
    let result: AdmitResult;
    try {
      result = await this.table.admit({ ...run, concurrentTurns: run.concurrentTurns === true }, this.instanceId, this.leaseMs);
    } catch (error) {
      if ((error as { code?: unknown }).code === '23505') {
        throw new InvalidArgumentError({ argument: 'runId', message: `[sluice/postgres-hub] run ${run.runId} was already admitted: every run needs a new id`, cause: error });
      }
      throw storageError(error, `admit(${run.runId})`, this.tableName, run.runId);
    }
    // The database already decided: memory only holds the run for the local fast path.
    if (result.accepted) this.memory.admitNow({ ...run, maxConcurrentRuns: Number.POSITIVE_INFINITY, concurrentTurns: true });
    return result;
  }

  attach(runId: string, control: RunControl): void {
    this.memory.attach(runId, control);
  }

  publish(runId: string, event: StreamEvent): void {
    if (this.claimed.has(runId)) {
      // A claimed run's events are stored by whoever called claimExpired: followers only need a pointer.
      this.pool.query('select pg_notify($1, $2)', [this.channel, `${event.seq} ${runId}`]).catch((error: unknown) => {
        this.onError(storageError(error, `publish(${runId})`, this.tableName, runId));
      });
    } else if (this.memory.getNow(runId) !== undefined) {
      // Held until the log has it: a client never sees an event that a crash of this instance
      // could take from the log it would resume from.
      const held = this.uncommitted.get(runId);
      if (held === undefined) this.uncommitted.set(runId, { events: [event], since: performance.now() });
      else held.events.push(event);
    }
    if (event.type === 'finish') {
      this.table.markFinishing(runId).catch((error: unknown) => this.onError(storageError(error, `publish(${runId}, finish)`, this.tableName, runId)));
    }
  }

  async end(runId: string): Promise<void> {
    // The caller's handlers (storage) are done: whatever the log will ever hold, it holds now.
    this.release(runId, Number.POSITIVE_INFINITY);
    this.claimed.delete(runId);
    this.cancelled.delete(runId);
    try {
      await this.table.end(runId, this.controlChannel);
    } catch (error) {
      // The run must not keep its slot: the renewal loop writes the end as soon as it can.
      this.pendingEnds.add(runId);
      this.onError(storageError(error, `end(${runId})`, this.tableName, runId));
    }
    await this.memory.end(runId);
  }

  async conversationRun(conversationId: string): Promise<RunInfo | undefined> {
    const local = await this.memory.conversationRun(conversationId);
    if (local !== undefined) return local;
    try {
      return await this.table.conversationRun(conversationId);
    } catch (error) {
      throw storageError(error, `conversationRun(${conversationId})`, this.tableName);
    }
  }

  async get(runId: string): Promise<RunInfo | undefined> {
    const local = this.memory.getNow(runId);
    if (local !== undefined) return local;
    try {
      return await this.table.get(runId);
    } catch (error) {
      throw storageError(error, `get(${runId})`, this.tableName, runId);
    }
  }

  async subscribe(runId: string, afterSeq: number, listener: RunListener): Promise<RunSubscription | undefined> {
    const local = this.memory.subscribeNow(runId, afterSeq, listener);
    if (local !== undefined) return local;
    // Listening first, and the follower registered before anything is read: every commit
    // after the read below reaches it as a pointer (or as a re-read after a reconnect).
    await this.listener.ready();
    const follower = new RunFollower({
      runId,
      afterSeq,
      reader: this.reader,
      pageSize: this.pageSize,
      onDone: (done) => this.unfollow(done),
      onError: (error) => this.onError(storageError(error, `reading run ${runId}'s events`, this.tableName, runId)),
    });
    this.follow(follower);
    try {
      const info = await this.table.get(runId);
      if (info === undefined) {
        this.unfollow(follower);
        return undefined;
      }
      const { events, finished } = await follower.replay();
      if (finished || info.state === 'ended') {
        // Ended before the read: the log was complete, the replay is all there is.
        this.unfollow(follower);
        follower.stop();
        return { replay: events, ended: true, unsubscribe: () => undefined };
      }
      follower.start(listener);
      return {
        replay: events,
        ended: false,
        unsubscribe: () => {
          follower.stop();
          this.unfollow(follower);
        },
      };
    } catch (error) {
      this.unfollow(follower);
      follower.stop();
      throw storageError(error, `subscribe(${runId})`, this.tableName, runId);
    }
  }

  async cancel(runId: string, reason?: unknown): Promise<CancelResult> {
    if (this.memory.getNow(runId) !== undefined) return this.memory.cancel(runId, reason);
    try {
      if (await this.table.requestCancel(runId, encodeCancelReason(reason), this.controlChannel)) return 'cancelling';
      const info = await this.table.get(runId);
      if (info === undefined) return 'unknown';
      return info.state === 'live' ? 'cancelling' : 'finished';
    } catch (error) {
      throw storageError(error, `cancel(${runId})`, this.tableName, runId);
    }
  }

  async waitForEnd(runId: string, timeoutMs: number): Promise<boolean> {
    if (this.memory.getNow(runId) !== undefined) return this.memory.waitForEnd(runId, timeoutMs);
    return new Promise<boolean>((resolve, reject) => {
      let waiters = this.endWaiters.get(runId);
      if (waiters === undefined) this.endWaiters.set(runId, (waiters = new Set()));
      const settle = (ended: boolean, error?: unknown): void => {
        clearTimeout(timer);
        waiters.delete(done);
        if (waiters.size === 0 && this.endWaiters.get(runId) === waiters) this.endWaiters.delete(runId);
        if (error === undefined) resolve(ended);
        else reject(error);
      };
      const done = (): void => settle(true);
      const timer = setTimeout(() => settle(false), timeoutMs);
      // Registered before the state is read: an end committed after the read is a notice.
      waiters.add(done);
      this.listener
        .ready()
        .then(() => this.table.get(runId))
        .then(
          (info) => {
            if (info === undefined || info.state === 'ended') settle(true);
          },
          (error: unknown) => settle(false, storageError(error, `waitForEnd(${runId})`, this.tableName, runId)),
        );
    });
  }

  async claimExpired(): Promise<ExpiredRun[]> {
    let rows;
    try {
      rows = await this.table.claimExpired(this.instanceId, this.leaseMs, CLAIM_LIMIT);
    } catch (error) {
      throw storageError(error, 'claimExpired()', this.tableName);
    }
    const claimed: ExpiredRun[] = [];
    for (const row of rows) {
      this.claimed.add(row.runId);
      const status = await this.log.runStatus(row.runId);
      claimed.push({ ...row, lastSeq: status?.lastSeq ?? -1 });
    }
    return claimed;
  }

  /**
   * Stops renewing leases and closes the LISTEN connection; the pool stays open. Runs still
   * live here are not ended: once their leases expire another instance claims them.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.renewTimer);
    await this.listener.close();
    for (const followers of this.followers.values()) for (const follower of followers) follower.stop();
    this.followers.clear();
  }

  private follow(follower: RunFollower): void {
    let followers = this.followers.get(follower.runId);
    if (followers === undefined) this.followers.set(follower.runId, (followers = new Set()));
    followers.add(follower);
  }

  private unfollow(follower: RunFollower): void {
    const followers = this.followers.get(follower.runId);
    followers?.delete(follower);
    if (followers?.size === 0) this.followers.delete(follower.runId);
  }

  private notified(channel: string, payload: string): void {
    const space = payload.indexOf(' ');
    if (space < 0) return;
    const head = payload.slice(0, space);
    const runId = payload.slice(space + 1);
    if (channel === this.channel) {
      const lastSeq = Number(head);
      this.release(runId, lastSeq);
      const followers = this.followers.get(runId);
      if (followers === undefined) return;
      for (const follower of followers) follower.pointer(lastSeq);
    } else if (head === 'end') {
      this.runEnded(runId);
    } else if (head === 'cancel' && this.memory.getNow(runId)?.state === 'live') {
      this.table.cancelReason(runId).then(
        (reason) => this.cancelHere(runId, reason),
        (error: unknown) => {
          this.onError(storageError(error, `reading the cancel reason of ${runId}`, this.tableName, runId));
          this.cancelHere(runId, null);
        },
      );
    }
  }

  /** Hands a local run's held events up to `lastSeq` (committed) to its local subscribers. */
  private release(runId: string, lastSeq: number): void {
    const held = this.uncommitted.get(runId);
    if (held === undefined) return;
    let count = 0;
    while (count < held.events.length && (held.events[count] as StreamEvent).seq <= lastSeq) count++;
    if (count === 0) return;
    const released = held.events.splice(0, count);
    if (held.events.length === 0) this.uncommitted.delete(runId);
    else held.since = performance.now();
    for (const event of released) this.memory.publish(runId, event);
  }

  /**
   * Pointers lost (a LISTEN reconnect) or never sent (storage without `notifyChannel`): read how
   * far the log goes for runs whose events wait longer than a renewal period.
   */
  private async releaseStale(all: boolean): Promise<void> {
    const stale = performance.now() - this.leaseMs / 3;
    for (const [runId, held] of [...this.uncommitted]) {
      if (!all && held.since > stale) continue;
      const status = await this.log.runStatus(runId);
      if (status === undefined) continue;
      if (!all && !this.missingPointersReported && status.lastSeq >= (held.events[0] as StreamEvent).seq) {
        this.missingPointersReported = true;
        this.onError(
          new RunHubStorageError({
            code: 'notifications_missing',
            message: `[sluice/postgres-hub] run ${runId}'s events are committed but no pointer arrived on channel "${this.channel}": give ChatHistoryHandler the option notifyChannel: '${this.channel}' (local clients wait for the lease renewal meanwhile)`,
          }),
        );
      }
      this.release(runId, status.lastSeq);
    }
  }

  private runEnded(runId: string): void {
    const followers = this.followers.get(runId);
    if (followers !== undefined) for (const follower of followers) follower.ended();
    const waiters = this.endWaiters.get(runId);
    if (waiters !== undefined) for (const waiter of [...waiters]) waiter();
  }

  /** Aborts a run held here that another instance cancelled (once, however often it is told). */
  private cancelHere(runId: string, reason: string | null): void {
    if (this.cancelled.has(runId) || this.memory.getNow(runId)?.state !== 'live') return;
    this.cancelled.add(runId);
    void this.memory.cancel(runId, decodeCancelReason(reason));
  }

  /** Notifications sent while the LISTEN connection was down are lost: re-read what is followed. */
  private async reconnected(): Promise<void> {
    void this.releaseStale(true).catch((error: unknown) => this.onError(storageError(error, 'reading how far held runs are committed', this.tableName)));
    const runIds = [...new Set([...this.followers.keys(), ...this.endWaiters.keys()])];
    for (const followers of this.followers.values()) for (const follower of followers) follower.pull();
    if (runIds.length === 0) return;
    try {
      const states = await this.table.states(runIds);
      for (const runId of runIds) {
        const state = states.get(runId);
        if (state === undefined || state === 'ended') this.runEnded(runId);
      }
    } catch (error) {
      this.onError(storageError(error, 'reading followed runs after a reconnect', this.tableName));
    }
  }

  /** One query renews every lease this instance holds; ends that failed are written first. */
  private async renew(): Promise<void> {
    if (this.renewing || this.closed) return;
    this.renewing = true;
    try {
      for (const runId of [...this.pendingEnds]) {
        await this.table.end(runId, this.controlChannel);
        this.pendingEnds.delete(runId);
      }
      const cancelled = await this.table.renew(this.instanceId, this.leaseMs);
      for (const { runId, reason } of cancelled) this.cancelHere(runId, reason);
      if (++this.ticks % TICKS_PER_CLEANUP === 0) await this.table.deleteEnded(this.retentionMs);
      if (this.uncommitted.size > 0) await this.releaseStale(false);
    } catch (error) {
      this.onError(storageError(error, 'renewing leases', this.tableName));
    } finally {
      this.renewing = false;
    }
  }
}

/** A `pg.Client` with the pool's connection options; pg is loaded only when it is needed. */
function defaultListenClient(pool: PostgresPool): () => Promise<PostgresListenClient> {
  return async () => {
    const { default: pg } = await import('pg');
    return new pg.Client(pool.options as ConstructorParameters<typeof pg.Client>[0]) as unknown as PostgresListenClient;
  };
}
