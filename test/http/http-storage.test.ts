// The HTTP layer over durable storage (@sluice/kysely on a real SQLite file): history and
// ownership come from the database, and a run can be resumed on another instance, which reads
// the durable log until the run's finish event.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeChatModel, type StreamEvent } from '@sluice/core';
import { createChatHandler, type ChatHandler } from '@sluice/http';
import { ChatHistoryHandler, ChatHistoryStore, migrateToLatest } from '@sluice/kysely';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const directory = mkdtempSync(join(tmpdir(), 'sluice-http-storage-'));
const file = join(directory, 'chat.db');
const tokens = Array.from({ length: 150 }, (_, index) => ` t${index}`);

interface Instance {
  url: string;
  server: Server;
  chat: ChatHandler;
  history: ChatHistoryHandler;
  db: Kysely<unknown>;
}
const instances: Instance[] = [];

/** One server instance: its own connection, hub and memory; the database is shared. */
async function instance(model: FakeChatModel): Promise<Instance> {
  const database = new Database(file);
  database.pragma('journal_mode = WAL');
  const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database }) });
  await migrateToLatest(db);
  const history = new ChatHistoryHandler({ db, flushIntervalMs: 5 });
  const chat = createChatHandler({
    model,
    storage: { handler: history, store: new ChatHistoryStore({ db }) },
    authenticate: (request) => request.headers.authorization?.replace('Bearer ', ''),
    storagePollMs: 20,
  });
  const server = createServer((request, response) => void chat(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const entry = { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server, chat, history, db };
  instances.push(entry);
  return entry;
}

let first: Instance;
let second: Instance;

beforeAll(async () => {
  first = await instance(new FakeChatModel({ tokens, rate: 1500 }));
  second = await instance(new FakeChatModel({ tokens: ['other'] }));
});

afterAll(async () => {
  for (const entry of instances) {
    await entry.chat.close({ graceMs: 0 });
    entry.server.closeAllConnections();
    await new Promise((resolve) => entry.server.close(resolve));
    await entry.history.close();
    await entry.db.destroy();
  }
  rmSync(directory, { recursive: true, force: true });
});

const alice = { Authorization: 'Bearer alice' };

async function events(response: Response): Promise<StreamEvent[]> {
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)) as StreamEvent);
}

function textOf(list: readonly StreamEvent[]): string {
  return list.map((event) => (event.type === 'text-delta' ? event.text : '')).join('');
}

describe('HTTP over storage', () => {
  it('a run started on one instance is resumed on another from the durable log, with no gap and no duplicate', async () => {
    const response = await fetch(`${first.url}/chat`, {
      method: 'POST',
      headers: { ...alice, 'Content-Type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Tell me a story.' }] }),
    });
    const runId = response.headers.get('x-sluice-run-id') as string;
    // Read a little from the first instance, then drop it.
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let head = '';
    while (!head.includes('event: text-delta')) head += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const received = head
      .split('\n')
      .filter((line) => line.startsWith('data: '))
      .map((line) => JSON.parse(line.slice(6)) as StreamEvent);
    const last = received.at(-1)?.seq as number;
    // Wait until the database has the run, as another instance would see it.
    const store = new ChatHistoryStore({ db: second.db });
    for (let wait = 0; wait < 100 && (await store.runStatus(runId)) === undefined; wait++) await new Promise((resolve) => setTimeout(resolve, 10));
    const resumed = await fetch(`${second.url}/runs/${runId}/events`, { headers: { ...alice, 'Last-Event-ID': String(last) } });
    expect(resumed.status).toBe(200);
    const tail = await events(resumed);
    const all = [...received, ...tail];
    expect(all.map((event) => event.seq)).toEqual(all.map((_, index) => index));
    expect(all.at(-1)?.type).toBe('finish');
    expect(textOf(all)).toBe(tokens.join(''));
  });

  it('history and ownership come from the database, on any instance', async () => {
    const response = await fetch(`${first.url}/chat`, {
      method: 'POST',
      headers: { ...alice, 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Remember me.' }] }),
    });
    const { conversationId, runId } = (await response.json()) as { conversationId: string; runId: string };
    await new ChatHistoryStore({ db: second.db }).waitForRun(runId);
    const history = await fetch(`${second.url}/conversations/${conversationId}`, { headers: alice });
    expect(history.status).toBe(200);
    const body = (await history.json()) as { messages: { role: string; content: string }[] };
    expect(body.messages.map((message) => message.role)).toEqual(['user', 'assistant']);
    expect(body.messages[0]?.content).toBe('Remember me.');
    expect(body.messages[1]?.content).toBe(tokens.join(''));
    const asBob = await fetch(`${second.url}/conversations/${conversationId}`, { headers: { Authorization: 'Bearer bob' } });
    expect(asBob.status).toBe(404);
    const resumeAsBob = await fetch(`${second.url}/runs/${runId}/events`, { headers: { Authorization: 'Bearer bob' } });
    expect(resumeAsBob.status).toBe(404);
    // The next turn, on the other instance, sees the stored history and stores only the new turn.
    const next = await fetch(`${second.url}/chat`, {
      method: 'POST',
      headers: { ...alice, 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ conversationId, messages: [{ role: 'user', content: 'And again.' }] }),
    });
    const nextRun = (await next.json()) as { runId: string };
    await new ChatHistoryStore({ db: second.db }).waitForRun(nextRun.runId);
    const after = (await (await fetch(`${first.url}/conversations/${conversationId}`, { headers: alice })).json()) as {
      messages: { role: string; content: string }[];
    };
    expect(after.messages.map((message) => `${message.role}:${message.content.slice(0, 12)}`)).toEqual([
      'user:Remember me.',
      `assistant:${tokens.join('').slice(0, 12)}`,
      'user:And again.',
      'assistant:other',
    ]);
  });
});
