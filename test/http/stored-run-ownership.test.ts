// Cancelling a run this instance's hub does not know, only storage (@sluice/kysely on a real
// SQLite file): the run's owner is read from its stored conversation, and anyone else gets the
// same 404 as for a run that does not exist, whether the run is still streaming or finished.
// (In packages/http/test, @sluice/kysely and better-sqlite3 do not resolve: they are not
// dependencies of @sluice/http.)
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

const directory = mkdtempSync(join(tmpdir(), 'sluice-stored-run-ownership-'));
const file = join(directory, 'chat.db');
const tokens = Array.from({ length: 100 }, (_, index) => ` t${index}`);
const alice = { Authorization: 'Bearer alice' };
const bob = { Authorization: 'Bearer bob' };

interface Instance {
  url: string;
  server: Server;
  chat: ChatHandler;
  history: ChatHistoryHandler;
  db: Kysely<unknown>;
}
const instances: Instance[] = [];

/** One server instance: its own connection and in-process hub; the database file is shared. */
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
  // 100 tokens at 500 per second: the run streams for about 200 ms.
  first = await instance(new FakeChatModel({ tokens, rate: 500 }));
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

function cancel(entry: Instance, runId: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${entry.url}/runs/${runId}/cancel`, { method: 'POST', headers });
}

/** What an unknown run's cancel answers: the answer a non-owner must not be able to tell apart. */
async function unknownRunAnswer(entry: Instance): Promise<{ status: number; body: unknown }> {
  const response = await cancel(entry, `run-nobody-started-${Date.now()}`, bob);
  return { status: response.status, body: await response.json() };
}

describe("POST /runs/:id/cancel of another principal's run known only to storage", () => {
  it('is 404, exactly as an unknown run, while the run streams and once it has finished; its owner is answered', async () => {
    const conversationId = `stored-owned-${Date.now()}`;
    const response = await fetch(`${first.url}/chat`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...alice },
      body: JSON.stringify({ conversationId, messages: [{ role: 'user', content: 'Hello!' }] }),
    });
    expect(response.status).toBe(200);
    const runId = response.headers.get('x-sluice-run-id') as string;
    const reading = response.text();
    // The run's start (and its conversation's owner) is committed; the second instance's hub has
    // never heard of the run: only storage knows it.
    await first.history.flush();
    const unknown = await unknownRunAnswer(second);
    expect(unknown.status).toBe(404);

    const whileStreaming = await cancel(second, runId, bob);
    expect({ status: whileStreaming.status, body: await whileStreaming.json() }).toEqual(unknown);
    // The run really was in storage and streaming then: its owner is answered.
    const ownerWhileStreaming = await cancel(second, runId, alice);
    expect(ownerWhileStreaming.status).toBe(200);
    expect(await ownerWhileStreaming.json()).toEqual({ runId, status: 'interrupted' });

    // The first instance's run was never touched: it streams to its end.
    const finish = (await reading)
      .split('\n\n')
      .filter((frame) => frame.includes('event: finish'))
      .map((frame) => JSON.parse((frame.split('\n').find((line) => line.startsWith('data: ')) as string).slice(6)) as StreamEvent);
    expect(finish).toMatchObject([{ type: 'finish', reason: 'stop', message: { content: tokens.join('') } }]);
    await first.history.flush();

    const onceFinished = await cancel(second, runId, bob);
    expect({ status: onceFinished.status, body: await onceFinished.json() }).toEqual(unknown);
    const ownerOnceFinished = await cancel(second, runId, alice);
    expect(ownerOnceFinished.status).toBe(200);
    expect(await ownerOnceFinished.json()).toEqual({ runId, status: 'finished' });
  });
});
