import type { StreamEvent } from '@sluice/core';

/** A query's answer, as `pg` gives it (only `rows` is read). */
export interface PostgresQueryResult {
  rows: Record<string, unknown>[];
}

/** A connection checked out of the pool (the subset of `pg.PoolClient` the hub uses). */
export interface PostgresPoolClient {
  query(text: string, values?: readonly unknown[]): Promise<PostgresQueryResult>;
  release(error?: Error | boolean): void;
}

/**
 * The pool the hub runs its queries on: the subset of `pg.Pool` it uses. `options` (what a
 * `pg.Pool` was created with) is where the hub's LISTEN connection takes its settings from
 * when `listenClient` is not given.
 */
export interface PostgresPool {
  query(text: string, values?: readonly unknown[]): Promise<PostgresQueryResult>;
  connect(): Promise<PostgresPoolClient>;
  readonly options?: object;
}

/** A notification as `pg` delivers it. */
export interface PostgresNotification {
  channel: string;
  payload?: string | undefined;
}

/**
 * The dedicated connection the hub LISTENs on: the subset of `pg.Client` it uses. It must not
 * come from the pool (a pooled connection is shared and released; LISTEN needs one that stays).
 */
export interface PostgresListenClient {
  connect(): Promise<unknown>;
  query(text: string): Promise<unknown>;
  end(): Promise<unknown>;
  on(event: 'notification', listener: (notification: PostgresNotification) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
}

/**
 * Where runs' events are durable: the hub reads a run's events from it to replay and tail a
 * run admitted on another instance. `@sluice/kysely`'s `ChatHistoryStore` fits.
 */
export interface RunEventLog {
  /** The run's events with `seq > afterSeq`, in seq order, at most `limit`. */
  eventsAfter(runId: string, afterSeq: number, options: { limit?: number }): Promise<StreamEvent[]>;
  /** How far the run's log goes (`lastSeq` -1 when empty), or undefined when nothing of it is stored. */
  runStatus(runId: string): Promise<{ lastSeq: number } | undefined>;
}

/** Options of `PostgresRunHub`. */
export interface PostgresRunHubOptions {
  /** The pool the hub queries through (a `pg.Pool`). Closing the hub leaves it open. */
  pool: PostgresPool;
  /** Where the events are durable (a `ChatHistoryStore` over the same database). */
  log: RunEventLog;
  /**
   * Opens the dedicated connection the hub LISTENs on. Default: a `pg.Client` with the pool's
   * connection options (`pool.options`).
   */
  listenClient?: () => PostgresListenClient;
  /**
   * The channel the storage writer NOTIFYs on when it commits a run's events, with payload
   * `<lastSeq> <runId>` (`ChatHistoryHandler`'s `notifyChannel`). Default `sluice_events`.
   */
  channel?: string;
  /**
   * Prefix of the runs table (`<prefix>runs`) and of the control channel (`<prefix>control`).
   * Default `sluice_`.
   */
  tablePrefix?: string;
  /**
   * How long a run's lease lasts without renewal; the hub renews every lease it holds every
   * `leaseMs / 3` in one query. A run whose lease expired can be claimed by `claimExpired`.
   * Default 10 000 ms.
   */
  leaseMs?: number;
  /** How long ended runs stay in the runs table (and in memory) before they are deleted. Default 5 minutes. */
  retentionMs?: number;
  /**
   * The chunks table `log` reads (`<prefix>chunks` of `@sluice/kysely`). Subscribers' reads are
   * then batched: the reads asked for together go out as one statement on it (a storage commit
   * announces many runs at once). `false`: every read goes through `log.eventsAfter`. When the
   * table does not exist, the hub falls back to `log` by itself. Default `<tablePrefix>chunks`.
   */
  chunksTable?: string | false;
  /** Rows per read of the event log when replaying or tailing. Default 500. */
  pageSize?: number;
  /** This instance's id, written on the runs it holds. Default a random UUID. */
  instanceId?: string;
  /**
   * Receives what failed in the background (lease renewal, a state update, the LISTEN
   * connection, a tail's read). Default: logged to stderr.
   */
  onError?: (error: Error) => void;
}
