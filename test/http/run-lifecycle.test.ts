// A run's life around one request, over real PostgreSQL storage: the next turn sees the
// previous reply, one live run per conversation, owners claimed atomically, the run cap under
// concurrency, graceful shutdown, resume of a big run from storage on another instance, and
// resumes of runs that can produce no more events ending instead of hanging.
import { createServer, type Server } from 'node:http';
import { resumeRun } from '@sluice/client';
import { FakeChatModel, type CallbackHandler, type ChatModel, type StreamEvent } from '@sluice/core';
import { createChatHandler, type ChatHandler, type ChatHandlerOptions } from '@sluice/http';
import { ChatHistoryHandler, ChatHistoryStore, dropChatHistoryTables, migrateToLatest } from '@sluice/kysely';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const tablePrefix = `life_${process.pid}_${Math.floor(Math.random() * 1e6)}_`;
const connection = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };

interface Instance {
  url: string;
  server: Server;
  chat: ChatHandler;
  history: ChatHistoryHandler;
  store: ChatHistoryStore;
  closed: boolean;
}

const instances: Instance[] = [];
let db: Kysely<unknown>;

function database(): Kysely<unknown> {
  return new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ ...connection, max: 4 }) }) });
}

/** One server instance with its own connections and in-process hub; the database is shared. */
async function instance(model: ChatModel, options: Partial<ChatHandlerOptions> = {}): Promise<Instance> {
  const own = database();
  const history = new ChatHistoryHandler({ db: own, tablePrefix });
  const store = new ChatHistoryStore({ db: own, tablePrefix });
  const chat = createChatHandler({
    model,
    storage: { handler: history, store },
    authenticate: (request) => request.headers.authorization?.replace('Bearer ', ''),
    storagePollMs: 20,
    ...options,
  });
  const server = createServer((request, response) => void chat(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const entry: Instance = { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server, chat, history, store, closed: false };
  instances.push(entry);
  return entry;
}

async function stop(entry: Instance): Promise<void> {
  if (entry.closed) return;
  entry.closed = true;
  await entry.chat.close({ graceMs: 0 });
  entry.server.closeAllConnections();
  await new Promise((resolve) => entry.server.close(resolve));
  await entry.history.close();
  await entry.store.close();
}

beforeAll(async () => {
  db = database();
  await migrateToLatest(db, { tablePrefix });
});

afterAll(async () => {
  for (const entry of instances) await stop(entry);
  await dropChatHistoryTables(db, { tablePrefix });
  await db.destroy();
});

const alice = { Authorization: 'Bearer alice' };
const bob = { Authorization: 'Bearer bob' };

function post(entry: Instance, body: unknown, headers: Record<string, string> = alice): Promise<Response> {
  return fetch(`${entry.url}/chat`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** The run events of an SSE body, and any `run-error` frame. */
function parse(text: string): { events: StreamEvent[]; runError: { code: string } | undefined } {
  const events: StreamEvent[] = [];
  let runError: { code: string } | undefined;
  for (const frame of text.split('\n\n')) {
    const data = frame.split('\n').find((line) => line.startsWith('data: '));
    if (data === undefined) continue;
    const parsed = JSON.parse(data.slice(6)) as StreamEvent & { error?: { code: string } };
    if (frame.includes('event: run-error')) runError = parsed.error;
    else events.push(parsed);
  }
  return { events, runError };
}

function textOf(list: readonly StreamEvent[]): string {
  return list.map((event) => (event.type === 'text-delta' ? event.text : '')).join('');
}

/** Reads an SSE body until `count` events arrived (or it ended); returns them and the reader. */
async function readEvents(response: Response, count: number): Promise<{ events: StreamEvent[]; rest: () => Promise<string> }> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (parse(text).events.length < count) {
    const chunk = await reader.read();
    if (chunk.done) break;
    text += decoder.decode(chunk.value, { stream: true });
  }
  const seen = text;
  return {
    events: parse(text).events,
    async rest() {
      let more = seen;
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) return more;
        more += decoder.decode(chunk.value, { stream: true });
      }
    },
  };
}

describe('turns and read-your-writes', () => {
  it('every quick follow-up turn holds every earlier reply in its prompt, and GET /conversations has the reply right after finish', async () => {
    // The reply states how many messages the model was sent.
    const entry = await instance(new FakeChatModel({ reply: (messages) => `seen ${messages.length} messages` }));
    const conversationId = `turns-${Date.now()}`;
    for (let turn = 0; turn < 15; turn++) {
      const response = await post(entry, { conversationId, messages: [{ role: 'user', content: `turn ${turn}` }] });
      expect(response.status).toBe(200);
      const { events } = parse(await response.text());
      expect(textOf(events)).toBe(`seen ${2 * turn + 1} messages`);
      const history = (await (await fetch(`${entry.url}/conversations/${conversationId}`, { headers: alice })).json()) as { messages: { role: string; content: string }[] };
      expect(history.messages).toHaveLength(2 * turn + 2);
      expect(history.messages.at(-1)).toMatchObject({ role: 'assistant', content: `seen ${2 * turn + 1} messages` });
    }
    const positions = (await db
      .selectFrom(`${tablePrefix}messages` as never)
      .select(['position' as never])
      .where('conversation_id' as never, '=', conversationId as never)
      .orderBy('position' as never)
      .execute()) as { position: number }[];
    expect(positions.map((row) => Number(row.position))).toEqual(Array.from({ length: 30 }, (_, index) => index));
  });

  it('a new turn while a run is live answers 409 conversation_busy naming that run', async () => {
    const entry = await instance(new FakeChatModel({ tokens: Array.from({ length: 200 }, () => 'x '), rate: 200 }));
    const conversationId = `busy-${Date.now()}`;
    const first = await post(entry, { conversationId, messages: [{ role: 'user', content: 'long one' }] });
    const runId = first.headers.get('x-sluice-run-id');
    const second = await post(entry, { conversationId, messages: [{ role: 'user', content: 'too soon' }] });
    expect(second.status).toBe(409);
    expect(await second.json()).toMatchObject({ error: { code: 'conversation_busy', details: { runId } } });
    expect((await fetch(`${entry.url}/runs/${runId}/cancel`, { method: 'POST', headers: alice })).status).toBe(202);
    expect(parse(await first.text()).events.at(-1)).toMatchObject({ type: 'finish', reason: 'aborted' });
    const third = await post(entry, { conversationId, messages: [{ role: 'user', content: 'now' }] });
    expect(third.status).toBe(200);
    await third.text();
  });

  it('two principals racing for a new conversation id: one owns it, the other always gets 404', async () => {
    const [one, two] = [await instance(new FakeChatModel({ reply: 'ok' })), await instance(new FakeChatModel({ reply: 'ok' }))] as [Instance, Instance];
    for (let round = 0; round < 10; round++) {
      const conversationId = `race-${round}-${Date.now()}`;
      const [fromAlice, fromBob] = await Promise.all([
        post(one, { conversationId, messages: [{ role: 'user', content: 'alice here' }] }, alice),
        post(two, { conversationId, messages: [{ role: 'user', content: 'bob here' }] }, bob),
      ]);
      const statuses = [fromAlice.status, fromBob.status].sort();
      expect(statuses).toEqual([200, 404]);
      const [winner, winnerHeaders, loserHeaders, served] = fromAlice.status === 200 ? [fromAlice, alice, bob, one] : [fromBob, bob, alice, two];
      await winner.text();
      expect(await (fromAlice.status === 200 ? fromBob : fromAlice).json()).toMatchObject({ error: { code: 'not_found' } });
      // Read where the run ran: instances with in-process hubs do not see each other's live runs.
      const mine = await fetch(`${served.url}/conversations/${conversationId}`, { headers: winnerHeaders });
      expect(mine.status).toBe(200);
      const { messages } = (await mine.json()) as { messages: { content: string }[] };
      expect(messages.map((message) => message.content)).toEqual([winnerHeaders === alice ? 'alice here' : 'bob here', 'ok']);
      expect((await fetch(`${two.url}/conversations/${conversationId}`, { headers: loserHeaders })).status).toBe(404);
    }
  });

  it('8 simultaneous POSTs of one principal against a cap of 2 start exactly 2 runs', async () => {
    const entry = await instance(new FakeChatModel({ tokens: Array.from({ length: 100 }, () => 'y '), rate: 500 }), { maxConcurrentRuns: 2 });
    const responses = await Promise.all(Array.from({ length: 8 }, () => post(entry, { messages: [{ role: 'user', content: 'go' }] })));
    expect(responses.filter((response) => response.status === 200)).toHaveLength(2);
    expect(responses.filter((response) => response.status === 429)).toHaveLength(6);
    await Promise.all(responses.map((response) => response.text()));
  });
});

describe('shutdown', () => {
  it('close({ graceMs }) aborts what outlives the grace: open responses get the stored aborted finish, no row stays streaming, new runs get 503', async () => {
    const entry = await instance(new FakeChatModel({ tokens: Array.from({ length: 2000 }, () => 'z '), rate: 100 }));
    const response = await post(entry, { messages: [{ role: 'user', content: 'a long one' }] });
    const runId = response.headers.get('x-sluice-run-id') as string;
    const reading = await readEvents(response, 3);
    await entry.chat.close({ graceMs: 50 });
    const { events } = parse(await reading.rest());
    const all = [...reading.events, ...events.filter((event) => event.seq > (reading.events.at(-1)?.seq ?? -1))];
    expect(all.at(-1)).toMatchObject({ type: 'finish', reason: 'aborted' });
    // Stored before close() resolved.
    expect(await entry.store.runStatus(runId)).toMatchObject({ status: 'aborted', finishReason: 'aborted' });
    const stored = await entry.store.eventsAfter(runId, -1);
    expect(stored.at(-1)).toMatchObject({ type: 'finish', reason: 'aborted' });
    const refused = await post(entry, { messages: [{ role: 'user', content: 'more' }] });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: { code: 'shutting_down' } });
    await stop(entry);
  });

  it('close() lets a run that finishes within the grace period complete normally', async () => {
    const entry = await instance(new FakeChatModel({ tokens: Array.from({ length: 30 }, () => 'w '), rate: 300 }));
    const response = await post(entry, { messages: [{ role: 'user', content: 'short' }] });
    const runId = response.headers.get('x-sluice-run-id') as string;
    const closing = entry.chat.close({ graceMs: 5000 });
    const { events } = parse(await response.text());
    await closing;
    expect(events.at(-1)).toMatchObject({ type: 'finish', reason: 'stop' });
    expect(await entry.store.runStatus(runId)).toMatchObject({ status: 'complete' });
    await stop(entry);
  });
});

describe('resume from storage', () => {
  it('a 16,000-token run resumes in full from storage on another instance, past the slow-client cap', async () => {
    const tokens = Array.from({ length: 16_000 }, (_, index) => ` token-${index}`);
    const origin = await instance(new FakeChatModel({ tokens }));
    const other = await instance(new FakeChatModel({ reply: 'unused' }), { maxBufferedBytes: 64 * 1024, replayPageSize: 1000 });
    const response = await post(origin, { messages: [{ role: 'user', content: 'long' }] });
    const runId = response.headers.get('x-sluice-run-id') as string;
    const direct = parse(await response.text()).events;
    await origin.store.waitForRun(runId);
    const resumed = await fetch(`${other.url}/runs/${runId}/events`, { headers: alice });
    const { events, runError } = parse(await resumed.text());
    expect(runError).toBeUndefined();
    expect(events.map((event) => event.seq)).toEqual(direct.map((event) => event.seq));
    expect(textOf(events)).toBe(tokens.join(''));
    // From the middle too.
    const tail = await fetch(`${other.url}/runs/${runId}/events`, { headers: { ...alice, 'Last-Event-ID': '9000' } });
    expect(parse(await tail.text()).events[0]?.seq).toBe(9001);
  });

  it('a run left streaming by a crashed instance ends the resume with run_stalled instead of heartbeats forever', async () => {
    const entry = await instance(new FakeChatModel({ reply: 'unused' }), { storageStallMs: 300, heartbeatMs: 50 });
    const runId = `crashed-${Date.now()}`;
    await writeAbandonedRun(runId, 'crash-conversation', [0, 1, 2]);
    const response = await fetch(`${entry.url}/runs/${runId}/events`, { headers: alice });
    const { events, runError } = parse(await response.text());
    expect(events.map((event) => event.seq)).toEqual([0, 1, 2]);
    expect(runError).toMatchObject({ code: 'run_stalled' });
  });

  it('the client stops at a run-error frame with its code instead of resuming again', async () => {
    const entry = await instance(new FakeChatModel({ reply: 'unused' }), { storageStallMs: 200 });
    const runId = `client-crashed-${Date.now()}`;
    await writeAbandonedRun(runId, 'client-crash-conversation', [0, 1]);
    let resumes = 0;
    const chat = resumeRun({ baseURL: entry.url, runId, headers: alice, onResume: () => void resumes++ });
    const seen: number[] = [];
    const failure = await (async () => {
      for await (const event of chat) seen.push(event.seq);
    })().catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 'run_stalled', retryable: false });
    await expect(chat.done).rejects.toMatchObject({ code: 'run_stalled' });
    expect(seen).toEqual([0, 1]);
    expect(resumes).toBe(0);
  });

  it('an ended run with a gap in its stored events ends the resume with run_log_incomplete', async () => {
    const entry = await instance(new FakeChatModel({ reply: 'unused' }));
    const runId = `gap-${Date.now()}`;
    await writeAbandonedRun(runId, 'gap-conversation', [0, 1, 3]);
    await db
      .updateTable(`${tablePrefix}messages` as never)
      .set({ status: 'complete' } as never)
      .where('id' as never, '=', runId as never)
      .execute();
    const response = await fetch(`${entry.url}/runs/${runId}/events`, { headers: alice });
    const { events, runError } = parse(await response.text());
    expect(events.map((event) => event.seq)).toEqual([0, 1]);
    expect(runError).toMatchObject({ code: 'run_log_incomplete' });
  });
});

describe('disconnect: abort', () => {
  it('a run that finished normally is not aborted when its response closes', async () => {
    const seen: boolean[] = [];
    const probe: CallbackHandler = {
      onChatEnd(_result, context) {
        seen.push(context.signal.aborted);
      },
    };
    const chat = createChatHandler({ model: new FakeChatModel({ reply: 'fine' }), handlers: [probe], disconnect: 'abort' });
    const server = createServer((request, response) => void chat(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
      for (let index = 0; index < 5; index++) {
        const response = await fetch(`${url}/chat`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }] }) });
        expect(parse(await response.text()).events.at(-1)).toMatchObject({ type: 'finish', reason: 'stop' });
      }
      await chat.close();
      expect(seen).toEqual([false, false, false, false, false]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

/** Stores a run as an instance that died would leave it: started, some events, never ended. */
async function writeAbandonedRun(runId: string, conversationId: string, seqs: readonly number[]): Promise<void> {
  const writer = new ChatHistoryHandler({ db, tablePrefix });
  await writer.writer.append(
    { type: '@start', runId, conversationId, messages: [{ role: 'user', content: 'hello' }], model: 'fake', provider: 'fake', createdAt: Date.now(), owner: 'alice', historyLength: 0 },
    runId,
  );
  for (const seq of seqs) {
    const event: StreamEvent =
      seq === 0
        ? { type: 'start', seq, runId, conversationId, model: 'fake', provider: 'fake', createdAt: Date.now() }
        : { type: 'text-delta', seq, text: `part${seq} ` };
    await writer.writer.append(event, runId);
  }
  await writer.flush();
  await writer.close();
}
