// The seed's second use case: persist the stream. Two handlers side by side:
// - ChatHistoryCallback, as short as the seed's: one row per chunk in a table of its own;
// - ChatHistoryHandler, the built-in one: conversations, messages with status, finish reason
//   and usage, and every event in a durable log, batched, bounded and retried.
// DATABASE_URL picks the database: sqlite:<file> (default sqlite:chat_history.db),
// postgres://..., mysql://... Runs on the fake model unless a provider's API key is set.
import { HumanMessage, StreamingStdOutCallbackHandler } from '@sluice/core';
import { modelFromEnv } from '@sluice/example-providers';
import { ChatHistoryHandler, ChatHistoryStore, detectFlavor, migrateToLatest } from '@sluice/kysely';
import { sql } from 'kysely';
import { ChatHistoryCallback } from './chat-history-callback.ts';
import { openDatabase } from '@sluice/example-databases';

const tablePrefix = process.env.SLUICE_TABLE_PREFIX ?? 'sluice_';
const db = openDatabase();
await migrateToLatest(db, { tablePrefix });

// The seed's table, for the seed's handler (each database spells an auto-increment key its way).
const seedTable = `${tablePrefix}chathistory`;
const autoId = { sqlite: 'integer primary key autoincrement', postgres: 'serial primary key', mysql: 'integer primary key auto_increment' }[detectFlavor(db)];
await sql`create table if not exists ${sql.table(seedTable)} (id ${sql.raw(autoId)}, role varchar(16), content text)`.execute(db);

const history = new ChatHistoryHandler({ db, tablePrefix });
const chat = await modelFromEnv({
  streaming: true,
  callbacks: [new StreamingStdOutCallbackHandler(), history, new ChatHistoryCallback(db, seedTable)],
});

const conversationId = process.env.CONVERSATION_ID ?? `demo-${Date.now()}`;
const store = new ChatHistoryStore({ db, tablePrefix });

// Turn one; `await` resolves once the run is in the database.
await chat.invoke([new HumanMessage('Hello!')], { conversationId });
process.stdout.write('\n');
// Turn two: the stored conversation is the next prompt.
const prompt = [...(await store.messages(conversationId)), new HumanMessage('Write me a song about sparkling water.')];
const stream = chat.stream(prompt, { conversationId });
const result = await stream;
process.stdout.write('\n\n');

const status = await store.runStatus(stream.runId);
const events = await store.eventsAfter(stream.runId);
const seedRows = await db.selectFrom(seedTable).select((eb) => eb.fn.countAll().as('rows')).executeTakeFirstOrThrow();
console.log(`conversation ${conversationId}: ${(await store.messages(conversationId)).length} messages stored`);
console.log(`last run ${stream.runId}: ${status?.status}, finish ${status?.finishReason}, ${events.length} events stored (${result.metrics.events} emitted)`);
console.log(`seed-style table ${seedTable}: ${String(seedRows.rows)} chunk rows`);
console.log('writer:', history.counters);

await history.close();
await db.destroy();
