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
  StreamEvent,
} from '@sluice/core';
import { ChatHistoryHandler, ChatHistoryStore, dropChatHistoryTables, migrateToLatest } from '@sluice/kysely';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { PostgresRunHub, type PostgresRunHubOptions } from '../src/index.ts';

export const connection = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };

/** Names every connection of this test file, so interruptions kill ours and nobody else's. */
export const applicationName = `sluice-pg-hub-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** A fresh table prefix: `hub_<pid>_<random>_`. */
export function uniquePrefix(): string {
  return `hub_${process.pid}_${Math.random().toString(36).slice(2, 8)}_`;
}

export function createPool(): pg.Pool {
  const pool = new pg.Pool({ ...connection, application_name: applicationName, max: 6 });
  // A terminated connection is reported as an 'error' event (on the pool while idle, on the
  // client while checked out); the query in flight still rejects and the pool drops it.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/** Terminates every backend of this test file (pools, LISTEN connections, writers). */
export async function terminateOurConnections(): Promise<number> {
  const admin = new pg.Client(connection);
  await admin.connect();
  try {
    const { rows } = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and pid <> pg_backend_pid()', [
      applicationName,
    ]);
    return rows.length;
  } finally {
    await admin.end();
  }
}

/**
 * One server instance as the HTTP layer would run it: its own pool, a `PostgresRunHub`, and a
 * `ChatHistoryHandler` writing each published event to the chunks table (the hub's log).
 * `end` waits for the writer first, as the HTTP layer ends a run only once its storage drained.
 */
export class StoredRunHub implements RunHub {
  readonly hub: PostgresRunHub;
  readonly pool: pg.Pool;
  readonly storage: ChatHistoryHandler;
  readonly store: ChatHistoryStore;
  private readonly db: Kysely<Record<string, never>>;

  constructor(options: { tablePrefix: string; channel: string; hub?: Partial<PostgresRunHubOptions> }) {
    this.pool = createPool();
    this.db = new Kysely({ dialect: new PostgresDialect({ pool: this.pool }) });
    // The storage announces each commit on the hub's channel, as in production.
    this.storage = new ChatHistoryHandler({ db: this.db, tablePrefix: options.tablePrefix, notifyChannel: options.channel, flushIntervalMs: 2, onError: () => undefined });
    this.store = new ChatHistoryStore({ db: this.db, tablePrefix: options.tablePrefix });
    this.hub = new PostgresRunHub({
      pool: this.pool,
      log: this.store,
      tablePrefix: options.tablePrefix,
      channel: options.channel,
      onError: () => undefined,
      ...options.hub,
    });
  }

  /** `hub.publish`, and the event written to the log as the storage handler does. */
  publishAndStore(runId: string, event: StreamEvent): void {
    this.hub.publish(runId, event);
    if (event.type === 'start') {
      void this.storage.writer.append(
        { type: '@start', runId, conversationId: event.conversationId ?? runId, messages: [], model: event.model, provider: event.provider, createdAt: event.createdAt, owner: undefined, historyLength: undefined },
        runId,
      );
    }
    void this.storage.writer.append(event, runId);
  }

  admit(run: RunAdmission): Promise<AdmitResult> {
    return this.hub.admit(run);
  }
  attach(runId: string, control: RunControl): void {
    this.hub.attach(runId, control);
  }
  publish(runId: string, event: StreamEvent): void {
    this.publishAndStore(runId, event);
  }
  async end(runId: string): Promise<void> {
    await this.storage.writer.flush();
    await this.hub.end(runId);
  }
  get(runId: string): Promise<RunInfo | undefined> {
    return this.hub.get(runId);
  }
  subscribe(runId: string, afterSeq: number, listener: RunListener): Promise<RunSubscription | undefined> {
    return this.hub.subscribe(runId, afterSeq, listener);
  }
  cancel(runId: string, reason?: unknown): Promise<CancelResult> {
    return this.hub.cancel(runId, reason);
  }
  waitForEnd(runId: string, timeoutMs: number): Promise<boolean> {
    return this.hub.waitForEnd(runId, timeoutMs);
  }
  claimExpired(): Promise<ExpiredRun[]> {
    return this.hub.claimExpired();
  }
  /** Like a `kill -9`: leases stop, LISTEN ends, nothing is ended or written any more. */
  async crash(): Promise<void> {
    await this.hub.close();
  }
  async close(): Promise<void> {
    await this.hub.close();
    await this.storage.close().catch(() => undefined);
    await this.pool.end();
  }
}

/** The chat history tables and the runs table under one prefix, and instances over them. */
export class HubDatabase {
  readonly tablePrefix = uniquePrefix();
  readonly channel = `${this.tablePrefix}events`;
  private readonly instances: StoredRunHub[] = [];
  private migrated = false;

  async createInstances(count: number, hub: Partial<PostgresRunHubOptions> = {}): Promise<StoredRunHub[]> {
    const created = Array.from({ length: count }, () => new StoredRunHub({ tablePrefix: this.tablePrefix, channel: this.channel, hub }));
    this.instances.push(...created);
    const [first] = created as [StoredRunHub];
    if (!this.migrated) {
      await migrateToLatest(new Kysely({ dialect: new PostgresDialect({ pool: first.pool }) }), { tablePrefix: this.tablePrefix });
      this.migrated = true;
    }
    await Promise.all(created.map((instance) => instance.hub.migrate()));
    await Promise.all(created.map((instance) => instance.hub.ready()));
    return created;
  }

  /** Closes every instance and drops every table of the prefix. */
  async drop(): Promise<void> {
    await Promise.all(this.instances.map((instance) => instance.close().catch(() => undefined)));
    const pool = createPool();
    try {
      const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool }) });
      await dropChatHistoryTables(db, { tablePrefix: this.tablePrefix });
      await pool.query(`drop table if exists ${this.tablePrefix}runs`);
    } finally {
      await pool.end();
    }
  }
}
