import Database from 'better-sqlite3';
import { FakeChatModel, InvalidArgumentError } from '@sluice/core';
import { Kysely, SqliteDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  ChatHistoryHandler,
  ChatHistoryStore,
  decodeContent,
  detectFlavor,
  encodeContent,
  isTransientError,
  migrateToLatest,
  StorageError,
  tableNames,
} from '../src/index.ts';
import { faultyDialect } from './fault-dialect.ts';

// An in-memory SQLite database: these tests are about arguments and behaviour, not durability.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
let db: Kysely<any>;

beforeAll(async () => {
  db = new Kysely({ dialect: new SqliteDialect({ database: new Database(':memory:') }) });
  await migrateToLatest(db);
});

afterAll(async () => {
  await db.destroy();
});

describe('bad input gets a clear error', () => {
  test('a handler without a database says what to pass', () => {
    expect(() => new ChatHistoryHandler({})).toThrow(/needs a database: pass \{ db \}/);
    expect(() => new ChatHistoryHandler(undefined as never)).toThrow(InvalidArgumentError);
  });

  test('db and dialect together are refused', () => {
    const dialect = new SqliteDialect({ database: new Database(':memory:') });
    expect(() => new ChatHistoryHandler({ db, dialect })).toThrow(/db or dialect, not both/);
  });

  test('a table prefix that is no plain SQL name is refused', () => {
    expect(() => new ChatHistoryHandler({ db, tablePrefix: 'x; drop table y' })).toThrow(/tablePrefix must be/);
    expect(() => tableNames('1abc')).toThrow(InvalidArgumentError);
  });

  test('writer sizes must be positive integers', () => {
    expect(() => new ChatHistoryHandler({ db, batchSize: 0 })).toThrow(/batchSize must be an integer >= 1/);
    expect(() => new ChatHistoryHandler({ db, highWaterMark: 1.5 })).toThrow(/highWaterMark/);
    expect(() => new ChatHistoryHandler({ db, flushIntervalMs: -1 })).toThrow(/flushIntervalMs must be a number >= 0/);
    expect(() => new ChatHistoryHandler({ db, laneCapacity: 0 })).toThrow(/laneCapacity/);
    expect(() => new ChatHistoryHandler({ db, flavor: 'oracle' as never })).toThrow(/flavor must be sqlite, postgres or mysql/);
  });

  test('store reads check their arguments', async () => {
    const store = new ChatHistoryStore({ db });
    await expect(store.eventsAfter('', 0)).rejects.toThrow(/runId must be a non-empty string/);
    await expect(store.eventsAfter('run', -2)).rejects.toThrow(/afterSeq must be an integer >= -1/);
    await expect(store.eventsAfter('run', 0, { limit: 0 })).rejects.toThrow(/limit must be an integer >= 1/);
    await expect(store.messages('c', { statuses: ['done' as never] })).rejects.toThrow(/statuses must hold/);
    await expect(store.conversations({ limit: -1 })).rejects.toThrow(/limit must be an integer >= 1/);
  });

  test('a closed handler refuses new runs, and the run reports it without breaking', async () => {
    const handler = new ChatHistoryHandler({ db });
    await handler.close();
    const errors: string[] = [];
    const model = new FakeChatModel({ tokens: ['a', 'b'], callbacks: [handler] });
    const result = await model.stream('hi', { onHandlerError: (error) => errors.push(error.message) });
    expect(result.text).toBe('ab');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatch(/chat history writer is closed/);
  });

  test('ids too long for the id columns are refused at the start of the run', async () => {
    const handler = new ChatHistoryHandler({ db });
    const errors: string[] = [];
    const model = new FakeChatModel({ tokens: ['a'], callbacks: [handler] });
    await model.stream('hi', { runId: 'r'.repeat(200), onHandlerError: (error) => errors.push(error.message) });
    expect(errors[0]).toMatch(/longer than 180 characters/);
    await handler.close();
  });
});

describe('the writer', () => {
  test('onChatEvent returns nothing (runs inline) below the high-water mark', () => {
    const handler = new ChatHistoryHandler({ db, highWaterMark: 3, flushIntervalMs: 1000 });
    const context = { runId: 'inline' } as never;
    expect(handler.onChatEvent({ type: 'text-delta', seq: 1, text: 'a' }, context)).toBeUndefined();
    expect(handler.onChatEvent({ type: 'text-delta', seq: 2, text: 'b' }, context)).toBeUndefined();
    expect(handler.onChatEvent({ type: 'text-delta', seq: 3, text: 'c' }, context)).toBeInstanceOf(Promise);
    expect(handler.counters).toMatchObject({ queued: 3, written: 0 });
    return handler.close();
  });

  test('flush() resolves once everything appended is written', async () => {
    const handler = new ChatHistoryHandler({ db, flushIntervalMs: 10_000 });
    handler.onChatEvent({ type: 'text-delta', seq: 0, text: 'x' }, { runId: 'flushed' } as never);
    await handler.flush();
    expect(handler.counters).toMatchObject({ queued: 0, written: 1, batches: 1 });
    expect(await new ChatHistoryStore({ db }).eventsAfter('flushed')).toEqual([{ type: 'text-delta', seq: 0, text: 'x' }]);
    await handler.close();
  });

  test('what arrives during a write waits for company: fewer, fuller transactions', async () => {
    // Every statement takes 3 ms (as over a network); 20 runs stream 500 tokens/s each for 0.4 s.
    const database = new Database(':memory:');
    const slow = new Kysely<Record<string, never>>({ dialect: faultyDialect(new SqliteDialect({ database }), { delayMs: 3 }) });
    await migrateToLatest(slow);
    const handler = new ChatHistoryHandler({ db: slow, batchSize: 5000, flushIntervalMs: 25 });
    const tokens = Array.from({ length: 196 }, (_, index) => ` t${index}`);
    const model = new FakeChatModel({ tokens, rate: 500, callbacks: [handler] });
    await Promise.all(Array.from({ length: 20 }, (_, run) => model.invoke('go', { conversationId: `load-${run}` })));
    const { written, batches } = handler.counters;
    expect(written).toBeGreaterThanOrEqual(20 * 200);
    // Written as it came in during each write, it took a transaction per write (44 here); waiting
    // for company, about one per flush interval and write (7 here), plus the runs' ends, which
    // never wait.
    expect(batches).toBeLessThanOrEqual(20);
    await handler.close();
    await slow.destroy();
  });

  test('a dialect passed instead of a db is opened and closed by the handler', async () => {
    const handler = new ChatHistoryHandler({ dialect: new SqliteDialect({ database: new Database(':memory:') }) });
    await handler.close();
    expect(handler.counters.failed).toBe(0);
  });
});

describe('text encoding and error classes', () => {
  test('content a database cannot store as text round-trips through its JSON form', () => {
    for (const text of ['plain', 'nul\u0000', 'lone \udc00', 'emoji 🚀 stays text', '"{json-looking}"']) {
      const encoded = encodeContent(text);
      expect(decodeContent(encoded.content, encoded.encoding)).toBe(text);
    }
    expect(encodeContent('emoji 🚀').encoding).toBe('text');
    expect(encodeContent('nul\u0000').encoding).toBe('json');
  });

  test('connection losses, locks and deadlocks are transient; syntax errors are not', () => {
    expect(isTransientError(Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }))).toBe(true);
    expect(isTransientError(Object.assign(new Error('x'), { code: 'PROTOCOL_CONNECTION_LOST' }))).toBe(true);
    expect(isTransientError(Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }))).toBe(true);
    expect(isTransientError(Object.assign(new Error('Deadlock found'), { code: 'ER_LOCK_DEADLOCK' }))).toBe(true);
    expect(isTransientError(new Error('wrapped', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) }))).toBe(true);
    expect(isTransientError(Object.assign(new Error('syntax error at or near "x"'), { code: '42601' }))).toBe(false);
    expect(new StorageError({ code: 'write_failed', message: 'm', runIds: ['a'] }).runIds).toEqual(['a']);
  });

  test('the SQL flavour is read off the dialect', () => {
    expect(detectFlavor(db)).toBe('sqlite');
  });
});
