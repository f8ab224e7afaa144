import { FakeChatModel, type StreamEvent } from '@sluice/core';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ChatHistoryHandler, ChatHistoryStore, dropChatHistoryTables, migrateToLatest } from '../src/index.ts';
import { faultyDialect } from './fault-dialect.ts';
import { describeStorageConformance, type AnyKysely } from './storage-conformance.ts';

const connection = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
// Names this suite's connections, so interrupt() kills ours and nobody else's.
const applicationName = `sluice-kysely-test-${process.pid}-${Date.now()}`;

describeStorageConformance({
  name: 'PostgreSQL (pg)',
  async setup() {},
  dialect() {
    const pool = new pg.Pool({ ...connection, application_name: applicationName, max: 4 });
    // pg reports a killed connection as an 'error' event: on the pool while the client is idle
    // there, on the client while it is checked out (between two queries of a transaction).
    // Without a listener that event would crash the process; the failed query still rejects,
    // and the pool drops the broken client when it is released.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    return new PostgresDialect({ pool });
  },
  async interrupt() {
    const admin = new pg.Client(connection);
    await admin.connect();
    try {
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [applicationName]);
    } finally {
      await admin.end();
    }
  },
  async teardown() {},
});

describe('PostgreSQL notifications (notifyChannel)', () => {
  const prefix = `n${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}_`;
  const channel = `${prefix}events`;
  let db: AnyKysely;
  let listener: pg.Client;

  beforeAll(async () => {
    db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: new pg.Pool({ ...connection, max: 4 }) }) }) as AnyKysely;
    await migrateToLatest(db, { tablePrefix: prefix });
    listener = new pg.Client(connection);
    await listener.connect();
    await listener.query(`listen "${channel}"`);
  });

  afterAll(async () => {
    await listener?.end();
    if (db !== undefined) {
      await dropChatHistoryTables(db, { tablePrefix: prefix });
      await db.destroy();
    }
  });

  test('each committed batch notifies "<lastSeq> <runId>" per run, and the events are readable when it arrives', async () => {
    const store = new ChatHistoryStore({ db, tablePrefix: prefix });
    const seen = new Map<string, StreamEvent[]>();
    const payloads: string[] = [];
    const finishes = new Map<string, { seq: number; reached: () => void }>();
    const reachedFinish = new Map<string, Promise<void>>();
    // Notifications are handled one at a time, in the order they arrive.
    let handling = Promise.resolve();
    const failures: unknown[] = [];
    listener.on('notification', (notification) => {
      if (notification.channel !== channel) return;
      const payload = notification.payload ?? '';
      payloads.push(payload);
      handling = handling.then(async () => {
        try {
          const space = payload.indexOf(' ');
          const seq = Number(payload.slice(0, space));
          const runId = payload.slice(space + 1);
          const previous = seen.get(runId) ?? [];
          const fresh = await store.eventsAfter(runId, previous.at(-1)?.seq ?? -1);
          // Everything up to the announced seq is there, with no gap after what was read before.
          expect(fresh.map((event) => event.seq)).toEqual(Array.from({ length: seq - previous.length + 1 }, (_, index) => previous.length + index));
          seen.set(runId, [...previous, ...fresh]);
          const finish = finishes.get(runId);
          if (finish !== undefined && seq === finish.seq) finish.reached();
        } catch (error) {
          failures.push(error);
        }
      });
    });

    // Counts the notify statements: one per batch is the whole cost of the option.
    let notifyStatements = 0;
    const counted = new Kysely<Record<string, never>>({
      dialect: faultyDialect(new PostgresDialect({ pool: new pg.Pool({ ...connection, max: 2 }) }), {
        beforeQuery: (text) => void (text.includes('pg_notify') && notifyStatements++),
      }),
    });
    const handler = new ChatHistoryHandler({ db: counted, tablePrefix: prefix, notifyChannel: channel, flushIntervalMs: 5 });
    // A paced model, so the runs' events span many batches.
    const model = new FakeChatModel({ tokens: Array.from({ length: 100 }, (_, index) => ` t${index}`), rate: 500, callbacks: [handler] });
    const streams = Array.from({ length: 3 }, (_, index) => model.stream(`notify ${index}`));
    const results = await Promise.all(streams);
    for (const result of results) {
      const events = await store.eventsAfter(result.runId);
      const last = events.at(-1) as StreamEvent;
      expect(last.type).toBe('finish');
      let reached!: () => void;
      const promise = new Promise<void>((resolve) => (reached = resolve));
      reachedFinish.set(result.runId, promise);
      finishes.set(result.runId, { seq: last.seq, reached });
      // The finish's notification may have been handled before this point.
      if ((seen.get(result.runId)?.at(-1)?.seq ?? -1) === last.seq) reached();
    }
    await Promise.all(reachedFinish.values());
    await handling;
    expect(failures).toEqual([]);
    for (const result of results) {
      expect(seen.get(result.runId)).toEqual(await store.eventsAfter(result.runId));
      const own = payloads.filter((payload) => payload.endsWith(` ${result.runId}`));
      // Many batches, and the last payload of the run is its finish.
      expect(own.length).toBeGreaterThan(2);
      expect(own.at(-1)).toBe(`${(seen.get(result.runId) as StreamEvent[]).at(-1)?.seq} ${result.runId}`);
    }
    expect(handler.counters.batches).toBeGreaterThan(2);
    expect(notifyStatements).toBe(handler.counters.batches);
    await handler.close();
    await counted.destroy();
  });
});
