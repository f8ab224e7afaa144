import { FakeChatModel, HumanMessage, InvalidArgumentError, SystemMessage, type FinishEvent, type HandlerContext, type Message, type ReasoningBlock, type SerializedError, type StreamEvent } from '@sluice/core';
import { Kysely, sql, type Dialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  chatHistoryMigrations,
  ChatHistoryHandler,
  ChatHistoryStore,
  detectFlavor,
  dropChatHistoryTables,
  migrateToLatest,
  StorageError,
  tableNames,
  type ChatHistoryHandlerOptions,
} from '../src/index.ts';
import { faultyDialect, type Faults } from './fault-dialect.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyKysely = Kysely<any>;

/** One database the storage conformance suite runs against. */
export interface DatabaseFixture {
  /** Shown in the suite's name. */
  name: string;
  /** Prepares the database (e.g. creates a scratch database). */
  setup(): Promise<void>;
  /** A dialect on the test database; each call opens a new pool (or connection). */
  dialect(): Dialect;
  /**
   * Breaks the live connections of the databases opened by `dialect()`, the way this
   * database fails in production (connections killed, or the file locked by another writer).
   */
  interrupt(): Promise<void>;
  /** Removes everything `setup` made. */
  teardown(): Promise<void>;
}

/** A JSON round trip: what the chunks table gives back for an event. */
const roundTrip = <TValue>(value: TValue): TValue => JSON.parse(JSON.stringify(value)) as TValue;

async function collect(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of stream) events.push(roundTrip(event));
  return events;
}

/** What a run's handlers are told about it, for a run a test drives by hand. */
const contextOf = (runId: string, conversationId: string, prompt: string): HandlerContext => ({
  runId,
  conversationId,
  metadata: {},
  model: 'fake-model',
  provider: 'fake',
  messages: [{ role: 'user', content: prompt }],
  signal: new AbortController().signal,
  emit: () => undefined,
});

const interrupted: SerializedError = { name: 'SluiceError', code: 'run_interrupted', message: 'the instance running it stopped', retryable: true };

const tokensOf = (count: number, tag: string): string[] => Array.from({ length: count }, (_, index) => ` ${tag}${index}`);

/**
 * The storage contract every database must meet: run it with a fixture, get the whole suite.
 * Each run uses its own table prefix and drops its tables at the end.
 */
export function describeStorageConformance(fixture: DatabaseFixture): void {
  describe(`storage conformance: ${fixture.name}`, () => {
    const prefix = `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}_`;
    const opened: AnyKysely[] = [];
    let db: AnyKysely;
    let store: ChatHistoryStore;

    const open = (faults?: Faults): AnyKysely => {
      const dialect = faults === undefined ? fixture.dialect() : faultyDialect(fixture.dialect(), faults);
      const handle = new Kysely<Record<string, never>>({ dialect }) as AnyKysely;
      opened.push(handle);
      return handle;
    };
    const handlerOn = (database: AnyKysely, options: Omit<ChatHistoryHandlerOptions, 'db' | 'dialect'> = {}): ChatHistoryHandler =>
      new ChatHistoryHandler({ db: database, tablePrefix: prefix, flushIntervalMs: 5, ...options });
    const countRows = async (table: string, runIds: readonly string[]): Promise<number> => {
      const row = await db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('count'))
        .where('run_id', 'in', runIds)
        .executeTakeFirstOrThrow();
      return Number(row.count);
    };

    beforeAll(async () => {
      await fixture.setup();
      db = open();
      await migrateToLatest(db, { tablePrefix: prefix });
      store = new ChatHistoryStore({ db, tablePrefix: prefix });
    });

    afterAll(async () => {
      if (db !== undefined) await dropChatHistoryTables(db, { tablePrefix: prefix });
      for (const handle of opened) await handle.destroy();
      await fixture.teardown();
    });

    test('migrateToLatest creates the tables once and is a no-op the second time', async () => {
      expect(await migrateToLatest(db, { tablePrefix: prefix })).toEqual([]);
      const tables = tableNames(prefix);
      for (const table of [tables.conversations, tables.messages, tables.chunks]) {
        await expect(sql`select count(*) as n from ${sql.table(table)}`.execute(db)).resolves.toBeDefined();
      }
    });

    test('a run stores its input, every event in order, and the final message with status, finish reason and usage', async () => {
      const handler = handlerOn(db);
      const model = new FakeChatModel({ tokens: ['Hello', ' there', '!'], callbacks: [handler] });
      const conversationId = `conv-${prefix}-first`;
      const stream = model.stream([new SystemMessage('Be brief.'), new HumanMessage('Hi')], { conversationId });
      const events = await collect(stream);
      const result = await stream;

      expect(await store.eventsAfter(result.runId)).toEqual(events);
      expect(await store.eventsAfter(result.runId, 2)).toEqual(events.slice(3));
      const status = await store.runStatus(result.runId);
      expect(status).toMatchObject({
        runId: result.runId,
        conversationId,
        status: 'complete',
        finishReason: 'stop',
        usage: result.usage,
        provider: 'fake',
        lastSeq: events.length - 1,
      });
      expect(await store.messages(conversationId)).toEqual([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello there!', finishReason: 'stop', usage: result.usage },
      ]);
      expect((await store.conversations({ limit: 1000 })).map((conversation) => conversation.id)).toContain(conversationId);
      await handler.close();
    });

    test('a second turn sent with the stored history stores only the new message', async () => {
      const handler = handlerOn(db);
      const model = new FakeChatModel({ responses: ['One.', 'Two.'], callbacks: [handler] });
      const conversationId = `conv-${prefix}-turns`;
      await model.invoke([new HumanMessage('First?')], { conversationId });
      const history = await store.messages(conversationId);
      await model.invoke([...history, new HumanMessage('Second?')], { conversationId });
      expect((await store.messages(conversationId)).map((message) => `${message.role}:${message.content}`)).toEqual([
        'user:First?',
        'assistant:One.',
        'user:Second?',
        'assistant:Two.',
      ]);
      await handler.close();
    });

    test('an assistant message in the prompt keeps its reasoning blocks (thinking signatures) through storage', async () => {
      const handler = handlerOn(db);
      const model = new FakeChatModel({ responses: ['Done.'], callbacks: [handler] });
      const conversationId = `conv-${prefix}-blocks`;
      const reasoningBlocks: ReasoningBlock[] = [
        { type: 'thinking', text: 'Look it up.', signature: 'sig-1' },
        { type: 'redacted', data: 'opaque' },
      ];
      const assistant: Message = { role: 'assistant', content: '', reasoning: 'Look it up.', reasoningBlocks, toolCalls: [{ id: 'call-1', name: 'lookup', arguments: '{}' }] };
      await model.invoke([new HumanMessage('Find it'), assistant, { role: 'tool', content: '42', toolCallId: 'call-1' }], { conversationId });
      const stored = await store.messages(conversationId);
      expect(stored[1]).toEqual(assistant);
      await handler.close();
    });

    test('a message with content parts (text, image, file) is stored verbatim and reads back equal', async () => {
      const handler = handlerOn(db);
      const model = new FakeChatModel({ responses: ['A cat.'], callbacks: [handler] });
      const conversationId = `conv-${prefix}-parts`;
      const question = new HumanMessage([
        { type: 'text', text: 'What is this? \u0000 🚀' },
        { type: 'image', url: 'https://example.com/cat.png' },
        { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
        { type: 'file', data: 'JVBERi0xLjQ=', mediaType: 'application/pdf', filename: 'report.pdf' },
      ]);
      await model.invoke([new SystemMessage('Be brief.'), question], { conversationId });
      const stored = await store.messages(conversationId);
      expect(stored.map((message) => message.content)).toEqual(['Be brief.', question.content, 'A cat.']);
      const rows = (await db
        .selectFrom(tableNames(prefix).messages)
        .select(['content_encoding'])
        .where('conversation_id', '=', conversationId)
        .orderBy('position')
        .execute()) as { content_encoding: string }[];
      expect(rows.map((row) => row.content_encoding)).toEqual(['text', 'parts', 'text']);
      await handler.close();
    });

    test('metadata.historyLength marks the stored history, even when a failed reply is left out of it', async () => {
      const handler = handlerOn(db);
      const conversationId = `conv-${prefix}-history-length`;
      const failing = new FakeChatModel({ tokens: ['half'], errorAfter: 1, callbacks: [handler] });
      await expect(failing.invoke([new HumanMessage('First?')], { conversationId, metadata: { historyLength: '0' } })).rejects.toThrow();
      // The failed reply is stored but not part of the next prompt: counts alone would mislead.
      const history = await store.messages(conversationId);
      expect(history.map((message) => message.content)).toEqual(['First?']);
      const model = new FakeChatModel({ responses: ['Fine.'], callbacks: [handler] });
      await model.invoke([...history, new HumanMessage('Again?')], { conversationId, metadata: { historyLength: String(history.length) } });
      expect((await store.messages(conversationId)).map((message) => `${message.role}:${message.content}`)).toEqual([
        'user:First?',
        'user:Again?',
        'assistant:Fine.',
      ]);
      await handler.close();
    });

    test('metadata.owner is recorded with a new conversation and never changed by later runs', async () => {
      const handler = handlerOn(db);
      const model = new FakeChatModel({ responses: ['ok'], callbacks: [handler] });
      const conversationId = `conv-${prefix}-owner`;
      expect(await store.conversationOwner(conversationId)).toBeUndefined();
      await model.invoke('Hi', { conversationId, metadata: { owner: 'alice' } });
      await model.invoke('Hi', { conversationId, metadata: { owner: 'mallory' } });
      expect(await store.conversationOwner(conversationId)).toBe('alice');
      await model.invoke('Hi', { conversationId: `${conversationId}-anonymous` });
      expect(await store.conversationOwner(`${conversationId}-anonymous`)).toBeUndefined();
      await handler.close();
    });

    test('20 principals claiming one new conversation at once all get the same owner, and later claims get it too', async () => {
      const conversationId = `conv-${prefix}-claimed`;
      // Two stores on pools of their own, so the claims really meet in the database.
      const stores = [store, new ChatHistoryStore({ db: open(), tablePrefix: prefix })];
      const principals = Array.from({ length: 20 }, (_, index) => `principal-${index}`);
      const owners = await Promise.all(principals.map((principal, index) => (stores[index % 2] as ChatHistoryStore).claimConversation(conversationId, principal)));
      const winner = owners[0] as string;
      expect(principals).toContain(winner);
      expect(new Set(owners)).toEqual(new Set([winner]));
      expect(await store.conversationOwner(conversationId)).toBe(winner);
      expect(await store.claimConversation(conversationId, 'latecomer')).toBe(winner);

      // A run started by someone else, owner metadata and all, never takes it over.
      const handler = handlerOn(db);
      await new FakeChatModel({ responses: ['ok'], callbacks: [handler] }).invoke('Hi', { conversationId, metadata: { owner: 'mallory' } });
      await handler.close();
      expect(await store.claimConversation(conversationId, 'mallory')).toBe(winner);
    });

    test('a conversation stored without an owner goes to its first claimant', async () => {
      const conversationId = `conv-${prefix}-unowned`;
      const handler = handlerOn(db);
      await new FakeChatModel({ responses: ['ok'], callbacks: [handler] }).invoke('Hi', { conversationId });
      await handler.close();
      expect(await store.conversationOwner(conversationId)).toBeUndefined();
      expect(await store.claimConversation(conversationId, 'bob')).toBe('bob');
      expect(await store.claimConversation(conversationId, 'carol')).toBe('bob');
      expect(await store.conversationOwner(conversationId)).toBe('bob');
    });

    test('100 concurrent runs are written completely and in order', async () => {
      const handler = handlerOn(db);
      const model = new FakeChatModel({ tokens: tokensOf(60, 'w'), callbacks: [handler] });
      const runs = await Promise.all(
        Array.from({ length: 100 }, async (_, index) => {
          const stream = model.stream(`run ${index}`, { conversationId: `conv-${prefix}-many-${index % 10}` });
          const events = await collect(stream);
          return { runId: stream.runId, events };
        }),
      );
      for (const run of runs) expect(await store.eventsAfter(run.runId)).toEqual(run.events);
      const expected = runs.reduce((sum, run) => sum + run.events.length, 0);
      expect(await countRows(tableNames(prefix).chunks, runs.map((run) => run.runId))).toBe(expected);
      expect(handler.counters).toMatchObject({ failed: 0, queued: 0, inFlight: 0 });
      await handler.close();
    });

    test('a batch split into several statements, by row count or by size, stores every row once and in order', async () => {
      const handler = handlerOn(db, { maxRowsPerStatement: 7 });
      // Two events of 3 MiB each push a statement past the 4 MiB limit on their own.
      const large = 'x'.repeat(3 * 2 ** 20);
      const model = new FakeChatModel({ tokens: [...tokensOf(40, 'p'), large, ' between', large, ...tokensOf(20, 'q')], callbacks: [handler] });
      const streams = Array.from({ length: 3 }, (_, index) => model.stream(`split ${index}`));
      const runs = await Promise.all(streams.map((stream) => collect(stream)));
      for (const [index, stream] of streams.entries()) expect(await store.eventsAfter(stream.runId)).toEqual(runs[index]);
      const expected = runs.reduce((sum, events) => sum + events.length, 0);
      expect(await countRows(tableNames(prefix).chunks, streams.map((stream) => stream.runId))).toBe(expected);
      expect(handler.counters.failed).toBe(0);
      await handler.close();
    });

    test('a batch retried after an ambiguous commit stores every row exactly once', async () => {
      const faults: Faults = { ambiguousCommits: 2 };
      const handler = handlerOn(open(faults), { retry: { initialDelayMs: 1 } });
      const model = new FakeChatModel({ tokens: tokensOf(200, 'r'), callbacks: [handler] });
      const stream = model.stream('retry me');
      const events = await collect(stream);
      expect(handler.counters.retries).toBeGreaterThanOrEqual(2);
      expect(handler.counters.failed).toBe(0);
      expect(await store.eventsAfter(stream.runId)).toEqual(events);
      expect(await countRows(tableNames(prefix).chunks, [stream.runId])).toBe(events.length);
      expect(await countRows(tableNames(prefix).messages, [stream.runId])).toBe(2); // the prompt and the reply

      // The same events delivered again (a re-driven run) change nothing.
      for (const event of events) handler.writer.append(event, stream.runId);
      await handler.flush();
      expect(await countRows(tableNames(prefix).chunks, [stream.runId])).toBe(events.length);
      await handler.close();
    });

    test('a batch with one record the database refuses is halved down to it: every other record is stored, that one is reported to onError and to its run', async () => {
      const tables = tableNames(prefix);
      const flavor = detectFlavor(db);
      // A real refusal by the database, not a driver fault: a rule on the chunks table that one
      // text delta breaks (the finish, which repeats the text, is a different type and passes).
      const rule = `${prefix}no_poison`;
      const refuses = "type <> 'text-delta' or event not like '%poison-pill%'";
      if (flavor === 'sqlite') {
        await sql`create trigger ${sql.id(rule)} before insert on ${sql.table(tables.chunks)} when not (${sql.raw(refuses.replaceAll('type', 'new.type').replaceAll('event', 'new.event'))}) begin select raise(abort, 'poisoned event refused'); end`.execute(db);
      } else {
        await sql`alter table ${sql.table(tables.chunks)} add constraint ${sql.id(rule)} check (${sql.raw(refuses)})`.execute(db);
      }
      try {
        const errors: StorageError[] = [];
        // A long flush interval: nothing is written before a run ends, so both runs' records
        // meet in large batches and the poisoned one is surrounded by good neighbours.
        const handler = handlerOn(db, { flushIntervalMs: 1000, onError: (error) => errors.push(error) });
        const poisonedTokens = tokensOf(100, 'v');
        poisonedTokens[37] = ' poison-pill';
        const poisoned = new FakeChatModel({ tokens: poisonedTokens, callbacks: [handler] }).stream('poisoned', { onHandlerError: () => undefined });
        const clean = new FakeChatModel({ tokens: tokensOf(100, 'c'), callbacks: [handler] }).stream('clean');
        const [poisonedEvents, cleanEvents] = await Promise.all([collect(poisoned), collect(clean)]);
        const [poisonedResult, cleanResult] = await Promise.all([poisoned, clean]);

        // Exactly the refused record is lost, and reported once, naming its run only.
        expect(handler.counters.failed).toBe(1);
        expect(errors).toHaveLength(1);
        expect(errors[0]).toBeInstanceOf(StorageError);
        expect(errors[0]).toMatchObject({ code: 'write_failed', retryable: false, runIds: [poisoned.runId] });
        expect(errors[0]?.message).toMatch(/lost 1 chat history record\(s\) of 1 run\(s\): the database refused it/);
        // Its run's onChatEnd sees that error (it reaches the run's handlerErrors); the other run's does not.
        expect(poisonedResult.handlerErrors.map((error) => [error.hook, error.cause])).toEqual([['onChatEnd', errors[0]]]);
        expect(cleanResult.handlerErrors).toEqual([]);

        // Every other record of the batch is stored: the 99 good deltas around it, both runs' starts and ends.
        const refused = poisonedEvents.filter((event) => event.type === 'text-delta' && event.text === ' poison-pill');
        expect(refused).toHaveLength(1);
        expect(await store.eventsAfter(poisoned.runId)).toEqual(poisonedEvents.filter((event) => !refused.includes(event)));
        expect(await store.eventsAfter(clean.runId)).toEqual(cleanEvents);
        expect(await countRows(tables.chunks, [poisoned.runId, clean.runId])).toBe(poisonedEvents.length + cleanEvents.length - 1);
        expect(await store.runStatus(poisoned.runId)).toMatchObject({ status: 'complete', finishReason: 'stop' });
        expect((await store.messages(poisoned.runId)).at(-1)).toEqual({ role: 'assistant', content: poisonedResult.text, finishReason: 'stop', usage: poisonedResult.usage });
        expect(await store.runStatus(clean.runId)).toMatchObject({ status: 'complete', finishReason: 'stop' });
        await handler.close();
      } finally {
        if (flavor === 'sqlite') await sql`drop trigger ${sql.id(rule)}`.execute(db);
        else await sql`alter table ${sql.table(tables.chunks)} drop constraint ${sql.id(rule)}`.execute(db);
      }
    });

    test('connections lost mid-run lose nothing once the database is back', async () => {
      // A little latency keeps a transaction open most of the time, so the interruption meets one.
      const handler = handlerOn(open({ delayMs: 2 }), { retry: { initialDelayMs: 5, maxDelayMs: 100 } });
      const model = new FakeChatModel({ tokens: tokensOf(150, 'k'), rate: 250, callbacks: [handler] });
      const streams = Array.from({ length: 5 }, (_, index) => model.stream(`survive ${index}`));
      const collecting = Promise.all(streams.map((stream) => collect(stream)));
      // Interrupt while the runs stream (~600 ms) until an interruption has met a write: an idle
      // pooled connection that is killed is just replaced, and tells nothing.
      for (let round = 0; round < 12 && handler.counters.retries === 0; round++) {
        await new Promise((resolve) => setTimeout(resolve, 40));
        await fixture.interrupt();
      }
      const runs = await collecting;
      const results = await Promise.all(streams);
      for (const result of results) expect(result.handlerErrors).toEqual([]);
      for (let index = 0; index < streams.length; index++) {
        const runId = (streams[index] as (typeof streams)[number]).runId;
        expect(await store.eventsAfter(runId)).toEqual(runs[index]);
        expect((await store.runStatus(runId))?.status).toBe('complete');
      }
      const expected = runs.reduce((sum, events) => sum + events.length, 0);
      expect(await countRows(tableNames(prefix).chunks, streams.map((stream) => stream.runId))).toBe(expected);
      expect(handler.counters.failed).toBe(0);
      // The interruption did hit the writer: it failed and retried, and lost nothing.
      expect(handler.counters.retries).toBeGreaterThan(0);
      await handler.close();
    });

    test('a slow database slows the stream instead of growing memory or losing events', async () => {
      const highWaterMark = 200;
      const handler = handlerOn(open({ delayMs: 3 }), { highWaterMark, batchSize: 100, laneCapacity: 16 });
      const model = new FakeChatModel({ tokens: tokensOf(1500, 's'), callbacks: [handler] });
      const streams = Array.from({ length: 4 }, (_, index) => model.stream(`slow ${index}`));
      const results = await Promise.all(streams);
      const counters = handler.counters;
      // One record per run may land past the mark (the one whose append returned the wait).
      expect(counters.maxBuffered).toBeLessThanOrEqual(highWaterMark + streams.length);
      for (const result of results) {
        expect(result.metrics.backpressureMs).toBeGreaterThan(0);
        expect(result.metrics.dropped).toBe(0);
        expect(result.metrics.handlers[0]?.maxQueueDepth).toBeLessThanOrEqual(16);
      }
      const expected = results.reduce((sum, result) => sum + result.metrics.events, 0);
      expect(await countRows(tableNames(prefix).chunks, results.map((result) => result.runId))).toBe(expected);
      expect(counters.failed).toBe(0);
      await handler.close();
    });

    test('an aborted run is stored as aborted with its partial content', async () => {
      const handler = handlerOn(db);
      const model = new FakeChatModel({ tokens: tokensOf(100, 'a'), rate: 1000, callbacks: [handler] });
      const controller = new AbortController();
      const stream = model.stream('stop soon', { signal: controller.signal });
      const events: StreamEvent[] = [];
      let deltas = 0;
      for await (const event of stream) {
        events.push(roundTrip(event));
        if (event.type === 'text-delta' && ++deltas === 5) controller.abort();
      }
      const result = await stream;
      expect(result.finishReason).toBe('aborted');
      expect(result.text.length).toBeGreaterThan(0);
      expect(await store.eventsAfter(stream.runId)).toEqual(events);
      expect(await store.runStatus(stream.runId)).toMatchObject({ status: 'aborted', finishReason: 'aborted' });
      const [, reply] = await store.messages(stream.runId);
      expect(reply).toEqual({ role: 'assistant', content: result.text, finishReason: 'aborted' });
      await handler.close();
    });

    test('a failed run is stored as error with its partial content and the error', async () => {
      const handler = handlerOn(db);
      const model = new FakeChatModel({ tokens: ['Half', ' a', ' reply', ' lost'], errorAfter: 3, callbacks: [handler] });
      const stream = model.stream('fail please', { conversationId: `conv-${prefix}-fail` });
      await expect(stream).rejects.toMatchObject({ code: 'fake_fault' });
      const status = await store.runStatus(stream.runId);
      expect(status).toMatchObject({ status: 'error', finishReason: 'error', error: { code: 'fake_fault' } });
      const events = await store.eventsAfter(stream.runId);
      expect(events.map((event) => event.type)).toEqual(['start', 'text-delta', 'text-delta', 'text-delta', 'error', 'finish']);
      const stored = await store.messages(`conv-${prefix}-fail`, { statuses: ['error'] });
      expect(stored.at(-1)).toEqual({ role: 'assistant', content: 'Half a reply', finishReason: 'error' });
      // Left out of the next prompt by default.
      expect((await store.messages(`conv-${prefix}-fail`)).map((message) => message.role)).toEqual(['user']);
      await handler.close();
    });

    test('text with quotes, NULs, emoji and SQL is stored verbatim', async () => {
      const tricky = [
        `It's "quoted" \\ back\`tick`,
        ' nul\u0000byte',
        ' emoji 🚀👩‍👩‍👧 ✓',
        "'); DROP TABLE users; --",
        ' $1 ? :name %s',
        '\n\ttabs\r\n',
        ' lone \ud800 surrogate',
      ];
      const handler = handlerOn(db);
      const model = new FakeChatModel({ tokens: tricky, callbacks: [handler] });
      const conversationId = `conv-${prefix}-tricky`;
      const prompt = tricky.join('|');
      const stream = model.stream([new HumanMessage(prompt)], { conversationId });
      const events = await collect(stream);
      const result = await stream;
      expect(await store.eventsAfter(stream.runId)).toEqual(events);
      const texts = events.flatMap((event) => (event.type === 'text-delta' ? [event.text] : []));
      expect(texts).toEqual(tricky);
      const messages = await store.messages(conversationId);
      expect(messages.map((message) => message.content)).toEqual([prompt, result.text]);
      expect(result.text).toBe(tricky.join(''));
      await handler.close();
    });

    test('the unique positions migration renumbers duplicates in their read order, and its down restores the plain index', async () => {
      const scratch = `${prefix}mig_`;
      const tables = tableNames(scratch);
      const migrations = chatHistoryMigrations(tables, detectFlavor(db));
      const migrator = new Migrator({
        db,
        provider: { getMigrations: () => Promise.resolve(migrations) },
        migrationTableName: tables.migration,
        migrationLockTableName: tables.migrationLock,
      });
      const row = (id: string, conversationId: string, position: number, createdAt: number) => ({
        id,
        conversation_id: conversationId,
        run_id: id,
        position,
        role: 'user',
        content: id,
        content_encoding: 'text',
        status: 'complete',
        created_at: createdAt,
        updated_at: createdAt,
      });
      const positions = async (conversationId: string): Promise<Record<string, number>> => {
        const rows = await db.selectFrom(tables.messages).select(['id', 'position']).where('conversation_id', '=', conversationId).execute();
        return Object.fromEntries(rows.map((stored: { id: string; position: number | string }) => [stored.id, Number(stored.position)]));
      };
      try {
        expect((await migrator.migrateTo('2026_11_01_0001_chat_history')).error).toBeUndefined();
        // Two writers raced under the old schema: position 1 is taken twice, once with a tie on created_at.
        await db
          .insertInto(tables.messages)
          .values([
            row('a0', 'dup', 0, 10),
            row('a1-late', 'dup', 1, 30),
            row('a1-b', 'dup', 1, 20),
            row('a1-a', 'dup', 1, 20),
            row('a2', 'dup', 2, 5),
            row('b0', 'clean', 0, 10),
            row('b5', 'clean', 5, 10),
          ])
          .execute();
        await migrateToLatest(db, { tablePrefix: scratch });
        expect(await positions('dup')).toEqual({ a0: 0, 'a1-a': 1, 'a1-b': 2, 'a1-late': 3, a2: 4 });
        expect(await positions('clean')).toEqual({ b0: 0, b5: 5 });
        await expect(db.insertInto(tables.messages).values(row('again', 'dup', 4, 40)).execute()).rejects.toThrow();

        expect((await migrator.migrateTo('2026_11_01_0001_chat_history')).error).toBeUndefined();
        await db.insertInto(tables.messages).values(row('again', 'dup', 4, 40)).execute();
        expect(Object.values(await positions('dup')).filter((position) => position === 4)).toHaveLength(2);
      } finally {
        await dropChatHistoryTables(db, { tablePrefix: scratch });
      }
    });

    test('two handlers writing one conversation at once store every message, at positions 0..n-1', async () => {
      const conversationId = `conv-${prefix}-race`;
      // A little latency per statement keeps both writers' transactions open at once.
      const handlers = [handlerOn(open({ delayMs: 3 })), handlerOn(open({ delayMs: 3 }))];
      const streams = handlers.flatMap((handler, writer) => {
        const model = new FakeChatModel({ tokens: tokensOf(20, `h${writer}-`), callbacks: [handler] });
        return Array.from({ length: 10 }, (_, index) => model.stream(`writer ${writer} run ${index}`, { conversationId }));
      });
      const results = await Promise.all(streams);
      for (const result of results) expect(result.handlerErrors).toEqual([]);
      const rows = await db
        .selectFrom(tableNames(prefix).messages)
        .select(['run_id', 'role', 'position'])
        .where('conversation_id', '=', conversationId)
        .orderBy('position')
        .execute();
      expect(rows.map((stored: { position: number | string }) => Number(stored.position))).toEqual(Array.from({ length: 40 }, (_, index) => index));
      for (const result of results) {
        expect(rows.filter((stored: { run_id: string }) => stored.run_id === result.runId).map((stored: { role: string }) => stored.role).sort()).toEqual(['assistant', 'user']);
        expect((await store.runStatus(result.runId))?.status).toBe('complete');
      }
      for (const handler of handlers) {
        expect(handler.counters.failed).toBe(0);
        await handler.close();
      }
    });

    test('a writer whose message positions another writer took between its read and its insert retries with fresh ones', async () => {
      const tables = tableNames(prefix);
      const conversationId = `conv-${prefix}-taken`;
      const seeder = handlerOn(db);
      await new FakeChatModel({ responses: ['first'], callbacks: [seeder] }).invoke('seed', { conversationId });
      await seeder.close();
      // SQLite's writer holds the file's write lock from its first statement: nobody can take a
      // position in between, so there is nothing to inject there.
      const interleaves = detectFlavor(db) !== 'sqlite';
      let injected = false;
      const faults: Faults = {
        beforeQuery: async (text) => {
          if (injected || !interleaves || !/^insert into .?\w+messages\b/.test(text)) return;
          injected = true;
          // Another instance commits a message at the position this writer has just computed.
          const taken = await db
            .selectFrom(tables.messages)
            .select((eb) => eb.fn.max('position').as('last'))
            .where('conversation_id', '=', conversationId)
            .executeTakeFirstOrThrow();
          await db
            .insertInto(tables.messages)
            .values({
              id: `${conversationId}-other`,
              conversation_id: conversationId,
              run_id: `${conversationId}-other`,
              position: Number(taken.last) + 1,
              role: 'user',
              content: 'from another instance',
              content_encoding: 'text',
              status: 'complete',
              created_at: Date.now(),
              updated_at: Date.now(),
            })
            .execute();
        },
      };
      const handler = handlerOn(open(faults), { retry: { initialDelayMs: 1 } });
      const result = await new FakeChatModel({ responses: ['second'], callbacks: [handler] }).stream('again', { conversationId });
      expect(result.handlerErrors).toEqual([]);
      expect(injected).toBe(interleaves);
      const rows = await db
        .selectFrom(tables.messages)
        .select(['content', 'position'])
        .where('conversation_id', '=', conversationId)
        .orderBy('position')
        .execute();
      expect(rows.map((stored: { content: string; position: number | string }) => `${Number(stored.position)}:${stored.content}`)).toEqual([
        '0:seed',
        '1:first',
        ...(interleaves ? ['2:from another instance', '3:again', '4:second'] : ['2:again', '3:second']),
      ]);
      expect(handler.counters.failed).toBe(0);
      if (interleaves) expect(handler.counters.retries).toBeGreaterThan(0);
      await handler.close();
    });

    test('interruptRun ends a run whose writer died mid-stream: one finish with the partial reply, whoever calls it', async () => {
      const runId = `run-${prefix}-died`;
      const conversationId = `conv-${prefix}-died`;
      const context = contextOf(runId, conversationId, 'Tell me');
      const usage = { inputTokens: 3, outputTokens: 5 };
      const events: StreamEvent[] = [
        { type: 'start', seq: 0, runId, conversationId, model: 'fake-model', provider: 'fake', createdAt: Date.now() },
        { type: 'reasoning-delta', seq: 1, text: 'Let me ' },
        { type: 'text-delta', seq: 2, text: 'Half' },
        { type: 'reasoning-delta', seq: 3, text: 'think.' },
        { type: 'tool-call-delta', seq: 4, index: 0, id: 'call-1', name: 'lookup', argumentsDelta: '{"q":' },
        { type: 'text-delta', seq: 5, text: ' a reply' },
        { type: 'tool-call-delta', seq: 6, index: 0, argumentsDelta: '1}' },
        { type: 'usage', seq: 7, usage: { inputTokens: 3 } },
        { type: 'usage', seq: 8, usage },
      ];
      // The instance writes the start and some events, then dies: onChatEnd never comes.
      const handler = handlerOn(db);
      await handler.onChatStart(context);
      for (const event of events) await handler.onChatEvent(event, context);
      await handler.close();
      expect(await store.runStatus(runId)).toMatchObject({ status: 'streaming', lastSeq: 8 });

      const message = {
        role: 'assistant',
        content: 'Half a reply',
        finishReason: 'aborted',
        toolCalls: [{ id: 'call-1', name: 'lookup', arguments: '{"q":1}' }],
        reasoning: 'Let me think.',
        usage,
      };
      const expected = { type: 'finish', seq: 9, reason: 'aborted', message, usage, error: interrupted };
      // Two instances notice the expired run at once.
      const other = new ChatHistoryStore({ db: open(), tablePrefix: prefix });
      const finishes = await Promise.all([store.interruptRun(runId, { error: interrupted }), other.interruptRun(runId, { error: interrupted })]);
      expect(finishes).toEqual([expected, expected]);

      expect(await store.eventsAfter(runId)).toEqual([...events, expected]);
      expect(await store.eventsAfter(runId, 8)).toEqual([expected]);
      expect(await store.messages(conversationId)).toEqual([{ role: 'user', content: 'Tell me' }, message]);
      expect(await store.runStatus(runId)).toMatchObject({ status: 'aborted', finishReason: 'aborted', error: interrupted, usage, lastSeq: 9 });

      // Later calls return the stored finish and store nothing.
      expect(await store.interruptRun(runId, { error: { ...interrupted, code: 'shutdown' } })).toEqual(expected);
      expect(await countRows(tableNames(prefix).chunks, [runId])).toBe(events.length + 1);
    });

    test('interruptRun puts the finish at the seq it is given, and leaves ended and unknown runs alone', async () => {
      const runId = `run-${prefix}-died-at`;
      const handler = handlerOn(db);
      const context = contextOf(runId, runId, 'Go');
      await handler.onChatStart(context);
      await handler.onChatEvent({ type: 'start', seq: 0, runId, conversationId: runId, model: 'fake-model', provider: 'fake', createdAt: 1 }, context);
      await handler.onChatEvent({ type: 'text-delta', seq: 1, text: 'Partial' }, context);
      await handler.close();
      // Events 2..4 reached clients through a live hub but never the database.
      const finish = await store.interruptRun(runId, { seq: 5, error: interrupted });
      expect(finish).toEqual({
        type: 'finish',
        seq: 5,
        reason: 'aborted',
        message: { role: 'assistant', content: 'Partial', finishReason: 'aborted' },
        error: interrupted,
      });
      expect((await store.eventsAfter(runId)).map((event) => event.seq)).toEqual([0, 1, 5]);
      // What the hub's log held (what clients assembled) is stored, when the caller knows it.
      const hubRunId = `run-${prefix}-died-ahead`;
      const ahead = handlerOn(db);
      const aheadContext = contextOf(hubRunId, hubRunId, 'Go');
      await ahead.onChatStart(aheadContext);
      await ahead.onChatEvent({ type: 'text-delta', seq: 0, text: 'Par' }, aheadContext);
      await ahead.close();
      // Its finish reached the hub (and clients) but not the database: stored as it was.
      const seen: FinishEvent = { type: 'finish', seq: 3, reason: 'stop', message: { role: 'assistant', content: 'Partial reply' }, usage: { inputTokens: 3, outputTokens: 2 } };
      expect(await store.interruptRun(hubRunId, { error: interrupted, finish: seen })).toEqual(seen);
      expect(await store.runStatus(hubRunId)).toMatchObject({ status: 'complete', finishReason: 'stop', lastSeq: 3 });
      expect((await store.messages(hubRunId)).at(-1)).toMatchObject({ role: 'assistant', content: 'Partial reply' });
      // A run storage never heard of (its instance died before its first commit) is stored in its conversation.
      const neverRunId = `run-${prefix}-died-unstored`;
      const lost: FinishEvent = { type: 'finish', seq: 4, reason: 'aborted', message: { role: 'assistant', content: 'Seen by clients' }, usage: undefined, error: interrupted };
      expect(await store.interruptRun(neverRunId, { error: interrupted, finish: lost, conversationId: hubRunId })).toEqual(lost);
      expect(await store.runStatus(neverRunId)).toMatchObject({ status: 'aborted', conversationId: hubRunId, lastSeq: 4 });
      expect((await store.messages(hubRunId)).map((message) => message.content).slice(-2)).toEqual(['Partial reply', 'Seen by clients']);
      expect(await store.interruptRun(neverRunId, { error: interrupted, finish: { ...lost, seq: 9 }, conversationId: hubRunId })).toEqual(lost);

      const complete = handlerOn(db);
      const stream = new FakeChatModel({ responses: ['Done.'], callbacks: [complete] }).stream('finish normally');
      const emitted = await collect(stream);
      await stream;
      await complete.close();
      expect(await store.interruptRun(stream.runId, { error: interrupted })).toEqual(emitted.at(-1));
      expect(await store.runStatus(stream.runId)).toMatchObject({ status: 'complete', lastSeq: emitted.length - 1 });
      expect(await store.interruptRun(`run-${prefix}-never-stored`, { error: interrupted })).toBeUndefined();
    });

    test('a 5000-event run read with eventsAfter in pages of 1000 comes back whole, with no gap, and interruptRun rebuilds it across pages', async () => {
      const runId = `run-${prefix}-long`;
      const handler = handlerOn(db);
      const context = contextOf(runId, runId, 'Long');
      await handler.onChatStart(context);
      await handler.onChatEvent({ type: 'start', seq: 0, runId, conversationId: runId, model: 'fake-model', provider: 'fake', createdAt: 1 }, context);
      const texts = Array.from({ length: 4998 }, (_, index) => `${index};`);
      for (const [index, text] of texts.entries()) await handler.onChatEvent({ type: 'text-delta', seq: index + 1, text }, context);
      await handler.close();
      const finish = await store.interruptRun(runId, { error: interrupted });
      expect(finish).toMatchObject({ seq: 4999, message: { content: texts.join('') } });

      const pages: StreamEvent[][] = [];
      for (let afterSeq = -1; ; ) {
        const page = await store.eventsAfter(runId, afterSeq, { limit: 1000 });
        if (page.length > 0) pages.push(page);
        if (page.length < 1000) break;
        afterSeq = (page.at(-1) as StreamEvent).seq;
      }
      expect(pages.map((page) => page.length)).toEqual([1000, 1000, 1000, 1000, 1000]);
      expect(pages.flat().map((event) => event.seq)).toEqual(Array.from({ length: 5000 }, (_, index) => index));
      expect(pages.flat().at(-1)).toEqual(finish);
    });

    test('notifyChannel is refused, naming the option, where the database has no LISTEN/NOTIFY', async () => {
      if (detectFlavor(db) === 'postgres') {
        await handlerOn(db, { notifyChannel: `${prefix}events` }).close();
        expect(() => handlerOn(db, { notifyChannel: '' })).toThrow(InvalidArgumentError);
        return;
      }
      expect(() => handlerOn(db, { notifyChannel: 'events' })).toThrow(InvalidArgumentError);
      expect(() => handlerOn(db, { notifyChannel: 'events' })).toThrow(/notifyChannel needs PostgreSQL/);
    });

    test('missing tables are reported with what to do, and the stream goes on', async () => {
      const errors: StorageError[] = [];
      const handler = new ChatHistoryHandler({ db, tablePrefix: `${prefix}none_`, onError: (error) => errors.push(error) });
      const model = new FakeChatModel({ tokens: ['still', ' streams'], callbacks: [handler] });
      const result = await model.stream('no tables', { onHandlerError: () => undefined });
      expect(result.text).toBe('still streams');
      expect(errors.length).toBeGreaterThan(0);
      expect(errors[0]).toBeInstanceOf(StorageError);
      expect(errors[0]?.code).toBe('schema_missing');
      expect(errors[0]?.message).toMatch(/run migrateToLatest\(db\) first/);
      expect(result.handlerErrors.map((error) => error.hook)).toEqual(['onChatEnd']);
      expect(handler.counters.failed).toBeGreaterThan(0);
      await expect(new ChatHistoryStore({ db, tablePrefix: `${prefix}none_` }).eventsAfter('x')).rejects.toMatchObject({ code: 'schema_missing' });
      await handler.close();
    });
  });
}
