import { createServer, type Server } from 'node:http';
import { FakeChatModel, type StreamEvent } from '@sluice/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createChatHandler, type ChatHandler, type ChatHandlerOptions } from '../src/index.ts';
import { eventsOf, readFrames, textOf } from './sse-client.ts';

const words = (count: number) => Array.from({ length: count }, (_, index) => ` w${index}`);

interface Running {
  url: string;
  handler: ChatHandler;
  server: Server;
}

const running: Running[] = [];

async function serve(options: ChatHandlerOptions): Promise<Running> {
  const handler = createChatHandler(options);
  const server = createServer((request, response) => void handler(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  const entry = { url: `http://127.0.0.1:${address.port}`, handler, server };
  running.push(entry);
  return entry;
}

afterEach(async () => {
  for (const entry of running.splice(0)) {
    await entry.handler.close({ graceMs: 0 });
    entry.server.closeAllConnections();
    await new Promise((resolve) => entry.server.close(resolve));
  }
});

function chat(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/chat`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream', ...headers },
    body: JSON.stringify(body),
  });
}

const hello = { messages: [{ role: 'user', content: 'Hello!' }] };

describe('POST /chat', () => {
  it('streams the run as SSE frames: id is the seq, event the type, data the JSON event', async () => {
    const { url } = await serve({ model: new FakeChatModel({ tokens: ['Hi', ' there', '.'] }) });
    const response = await chat(url, hello);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(response.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    const runId = response.headers.get('x-sluice-run-id') as string;
    expect(response.headers.get('location')).toBe(`/runs/${runId}/events`);
    expect(response.headers.get('x-sluice-conversation-id')).toMatch(/^[0-9a-f-]{36}$/);
    const { frames, ended } = await readFrames(response);
    expect(ended).toBe(true);
    expect(frames[0]).toEqual({ retry: '1000' });
    const events = eventsOf(frames);
    const dataFrames = frames.filter((frame) => frame.data !== undefined);
    expect(dataFrames.map((frame) => Number(frame.id))).toEqual(events.map((event) => event.seq));
    expect(dataFrames.map((frame) => frame.event)).toEqual(events.map((event) => event.type));
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
    expect(events[0]).toMatchObject({ type: 'start', runId });
    expect(events.at(-1)).toMatchObject({ type: 'finish', reason: 'stop', message: { content: 'Hi there.' } });
    expect(textOf(events)).toBe('Hi there.');
  });

  it('answers JSON once the run has finished when the client asks for JSON', async () => {
    const { url } = await serve({ model: new FakeChatModel({ tokens: ['a', 'b'] }) });
    const response = await chat(url, hello, { Accept: 'application/json' });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ finishReason: 'stop', message: { role: 'assistant', content: 'ab' } });
    expect(typeof body.runId).toBe('string');
  });

  it('sends heartbeat comments while a run is quiet', async () => {
    const { url } = await serve({ model: new FakeChatModel({ tokens: ['a', 'b'], stallAfter: 1, stallMs: 120 }), heartbeatMs: 20 });
    const { frames } = await readFrames(await chat(url, hello));
    expect(frames.some((frame) => frame.comment === 'ping')).toBe(true);
    expect(textOf(eventsOf(frames))).toBe('ab');
  });

  it('keeps the conversation: the next turn sees the history, and GET /conversations/:id returns it', async () => {
    const model = new FakeChatModel({ reply: (messages) => `I have seen ${messages.length} messages.` });
    const { url } = await serve({ model });
    const first = await chat(url, hello);
    const conversationId = first.headers.get('x-sluice-conversation-id') as string;
    await readFrames(first);
    const second = await chat(url, { conversationId, messages: [{ role: 'user', content: 'Again?' }] });
    expect(textOf(eventsOf((await readFrames(second)).frames))).toBe('I have seen 3 messages.');
    const history = await fetch(`${url}/conversations/${conversationId}`);
    expect(history.status).toBe(200);
    const body = (await history.json()) as { messages: { role: string; content: string }[] };
    expect(body.messages.map((message) => [message.role, message.content])).toEqual([
      ['user', 'Hello!'],
      ['assistant', 'I have seen 1 messages.'],
      ['user', 'Again?'],
      ['assistant', 'I have seen 3 messages.'],
    ]);
  });
});

describe('GET /runs/:id/events', () => {
  it('replays after Last-Event-ID and then tails the live run, with no gap and no duplicate', async () => {
    const { url } = await serve({ model: new FakeChatModel({ tokens: words(60), rate: 600 }), disconnect: 'continue' });
    const first = await chat(url, hello);
    const runId = first.headers.get('x-sluice-run-id') as string;
    const head = eventsOf((await readFrames(first, { stopAfterEvents: 10 })).frames);
    const last = head.at(-1)?.seq as number;
    const resumed = await fetch(`${url}/runs/${runId}/events`, { headers: { 'Last-Event-ID': String(last) } });
    expect(resumed.status).toBe(200);
    const tail = eventsOf((await readFrames(resumed)).frames);
    expect(tail[0]?.seq).toBe(last + 1);
    const all = [...head, ...tail];
    expect(all.map((event) => event.seq)).toEqual(all.map((_, index) => index));
    expect(textOf(all)).toBe(words(60).join(''));
    expect(all.at(-1)?.type).toBe('finish');
  });

  it('replays a finished run from memory, also with ?after=', async () => {
    const { url } = await serve({ model: new FakeChatModel({ tokens: ['x', 'y', 'z'] }) });
    const first = await chat(url, hello);
    const runId = first.headers.get('x-sluice-run-id') as string;
    const all = eventsOf((await readFrames(first)).frames);
    const replay = eventsOf((await readFrames(await fetch(`${url}/runs/${runId}/events?after=1`))).frames);
    expect(replay).toEqual(all.slice(2));
    const whole = eventsOf((await readFrames(await fetch(`${url}/runs/${runId}/events`))).frames);
    expect(whole).toEqual(all);
  });

  it('rejects a Last-Event-ID that is not a seq', async () => {
    const { url } = await serve({ model: new FakeChatModel({ tokens: ['x'] }) });
    const first = await chat(url, hello);
    await readFrames(first);
    const response = await fetch(`${url}/runs/${first.headers.get('x-sluice-run-id')}/events`, { headers: { 'Last-Event-ID': 'abc' } });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'invalid_request', details: [{ path: 'Last-Event-ID' }] } });
  });
});

describe('POST /runs/:id/cancel', () => {
  it('stops a live run: the stream ends with finish reason aborted and the partial message', async () => {
    const { url } = await serve({ model: new FakeChatModel({ tokens: words(500), rate: 500 }) });
    const response = await chat(url, hello);
    const runId = response.headers.get('x-sluice-run-id') as string;
    const reading = readFrames(response);
    await new Promise((resolve) => setTimeout(resolve, 40));
    const cancel = await fetch(`${url}/runs/${runId}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(202);
    expect(await cancel.json()).toEqual({ runId, status: 'cancelling' });
    const events = eventsOf((await reading).frames);
    const finish = events.at(-1) as Extract<StreamEvent, { type: 'finish' }>;
    expect(finish).toMatchObject({ type: 'finish', reason: 'aborted' });
    expect(finish.message.content).toBe(textOf(events));
    expect(textOf(events).length).toBeLessThan(words(500).join('').length);
    const again = await fetch(`${url}/runs/${runId}/cancel`, { method: 'POST' });
    expect(await again.json()).toEqual({ runId, status: 'finished' });
  });

  it("another principal's live run is 404 to them, exactly as an unknown run is, and it goes on untouched", async () => {
    const { url } = await serve({
      model: new FakeChatModel({ tokens: words(50), rate: 500 }),
      authenticate: (request) => request.headers.authorization?.replace('Bearer ', ''),
    });
    const response = await chat(url, hello, { Authorization: 'Bearer alice' });
    const runId = response.headers.get('x-sluice-run-id') as string;
    const reading = readFrames(response);
    const asBob = await fetch(`${url}/runs/${runId}/cancel`, { method: 'POST', headers: { Authorization: 'Bearer bob' } });
    const unknown = await fetch(`${url}/runs/run-nobody-started/cancel`, { method: 'POST', headers: { Authorization: 'Bearer bob' } });
    expect(asBob.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(await asBob.json()).toEqual(await unknown.json());
    // Bob's request reached nothing: alice's run streams to its end (about 100 ms at 500 tokens/s).
    const events = eventsOf((await reading).frames);
    expect(events.at(-1)).toMatchObject({ type: 'finish', reason: 'stop' });
    expect(textOf(events)).toBe(words(50).join(''));
  });
});

describe('client disconnects', () => {
  it('abort: the run is cancelled when the client goes away', async () => {
    let ended: string | undefined;
    const { url } = await serve({
      model: new FakeChatModel({ tokens: words(1000), rate: 1000 }),
      disconnect: 'abort',
      handlers: [{ onChatEnd: (result) => void (ended = result.finishReason) }],
    });
    const response = await chat(url, hello);
    await readFrames(response, { stopAfterEvents: 5 });
    for (let wait = 0; wait < 50 && ended === undefined; wait++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ended).toBe('aborted');
  });

  it('continue: the run completes and the client resumes where it left off', async () => {
    let ended: string | undefined;
    const { url } = await serve({
      model: new FakeChatModel({ tokens: words(100), rate: 1000 }),
      disconnect: 'continue',
      handlers: [{ onChatEnd: (result) => void (ended = result.finishReason) }],
    });
    const response = await chat(url, hello);
    const runId = response.headers.get('x-sluice-run-id') as string;
    const head = eventsOf((await readFrames(response, { stopAfterEvents: 5 })).frames);
    for (let wait = 0; wait < 100 && ended === undefined; wait++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(ended).toBe('stop');
    const tail = eventsOf((await readFrames(await fetch(`${url}/runs/${runId}/events`, { headers: { 'Last-Event-ID': '4' } }))).frames);
    expect(textOf([...head, ...tail])).toBe(words(100).join(''));
  });

  it('a client too slow past the byte cap is disconnected, and can resume', async () => {
    const big = Array.from({ length: 400 }, (_, index) => ` ${'x'.repeat(500)}${index}`);
    const runIds: string[] = [];
    const { url } = await serve({
      model: new FakeChatModel({ tokens: big }),
      maxBufferedBytes: 64 * 1024,
      disconnect: 'continue',
      handlers: [{ onChatStart: (ctx) => void runIds.push(ctx.runId) }],
    });
    const { createConnection } = await import('node:net');
    // A raw client that sends the request and never reads: the server's backlog grows.
    const socket = createConnection({ port: Number(new URL(url).port), host: '127.0.0.1' });
    const body = JSON.stringify(hello);
    socket.write(`POST /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    socket.pause();
    const closed = await new Promise<boolean>((resolve) => {
      socket.once('close', () => resolve(true));
      setTimeout(() => resolve(false), 5000);
      setTimeout(() => socket.resume(), 1500);
    });
    expect(closed).toBe(true);
    const resumed = eventsOf((await readFrames(await fetch(`${url}/runs/${runIds[0]}/events`))).frames);
    expect(textOf(resumed)).toBe(big.join(''));
  });
});

describe('guards', () => {
  it('401 without a principal', async () => {
    const { url } = await serve({ model: new FakeChatModel(), authenticate: () => undefined });
    const response = await chat(url, hello);
    expect(response.status).toBe(401);
    expect(await response.json()).toEqual({ error: { code: 'unauthorized', message: 'authentication required' } });
  });

  it("runs and conversations are 404 to anyone but their principal", async () => {
    const { url } = await serve({
      model: new FakeChatModel({ tokens: ['a'] }),
      authenticate: (request) => request.headers.authorization?.replace('Bearer ', ''),
    });
    const alice = { Authorization: 'Bearer alice' };
    const bob = { Authorization: 'Bearer bob' };
    const response = await chat(url, hello, alice);
    const runId = response.headers.get('x-sluice-run-id') as string;
    const conversationId = response.headers.get('x-sluice-conversation-id') as string;
    await readFrames(response);
    for (const [method, path] of [
      ['GET', `/runs/${runId}/events`],
      ['POST', `/runs/${runId}/cancel`],
      ['GET', `/conversations/${conversationId}`],
    ] as const) {
      const asBob = await fetch(`${url}${path}`, { method, headers: bob });
      expect(asBob.status).toBe(404);
      expect(await asBob.json()).toMatchObject({ error: { code: 'not_found' } });
      const asAlice = await fetch(`${url}${path}`, { method, headers: alice });
      expect(asAlice.status).toBeLessThan(300);
      await asAlice.arrayBuffer();
    }
    const intoHers = await chat(url, { conversationId, messages: [{ role: 'user', content: 'mine now' }] }, bob);
    expect(intoHers.status).toBe(404);
  });

  it('413 for a body over the limit, 415 for a body that is not JSON, 400 for JSON that does not parse', async () => {
    const { url } = await serve({ model: new FakeChatModel(), maxBodyBytes: 1000 });
    const large = await chat(url, { messages: [{ role: 'user', content: 'x'.repeat(2000) }] });
    expect(large.status).toBe(413);
    expect(await large.json()).toMatchObject({ error: { code: 'payload_too_large' } });
    const text = await fetch(`${url}/chat`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'hi' });
    expect(text.status).toBe(415);
    const broken = await fetch(`${url}/chat`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"messages": [' });
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ error: { code: 'invalid_request', message: 'the body is not valid JSON' } });
  });

  it('408 when a client sends its body too slowly', async () => {
    const { url } = await serve({ model: new FakeChatModel(), bodyTimeoutMs: 100 });
    const { createConnection } = await import('node:net');
    const socket = createConnection({ port: Number(new URL(url).port), host: '127.0.0.1' });
    // Promises 100 bytes, sends 10, then nothing.
    socket.write('POST /chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"messages');
    const answer = await new Promise<string>((resolve) => {
      let received = '';
      socket.on('data', (chunk) => (received += String(chunk)));
      socket.once('close', () => resolve(received));
      setTimeout(() => {
        socket.destroy();
        resolve(received);
      }, 3000);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(answer).toContain('"code":"request_timeout"');
  });

  it('400 with the offending fields when the body fails validation', async () => {
    const { url } = await serve({ model: new FakeChatModel() });
    const response = await chat(url, { conversationId: 'has spaces', messages: [{ role: 'robot', content: '' }] });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; details: { path: string }[] } };
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.details.map((detail) => detail.path).sort()).toEqual(['conversationId', 'messages.0.content', 'messages.0.role']);
  });

  it('accepts content parts in user messages and keeps them in the conversation', async () => {
    const { url } = await serve({ model: new FakeChatModel({ rate: 0 }) });
    const content = [
      { type: 'text', text: 'What is ' },
      { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
      { type: 'image', url: 'https://example.com/cat.png' },
      { type: 'file', data: 'JVBERi0xLjQ=', mediaType: 'application/pdf', filename: 'report.pdf' },
      { type: 'text', text: 'this?' },
    ];
    const response = await chat(url, { conversationId: 'parts-1', messages: [{ role: 'user', content }] }, { Accept: 'application/json' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ message: { content: expect.stringContaining('You said: "What is this?"') } });
    const history = (await (await fetch(`${url}/conversations/parts-1`)).json()) as { messages: { content: unknown }[] };
    expect(history.messages[0]?.content).toEqual(content);
  });

  it('400 invalid_request with the field path for a malformed part, too many parts or too much base64; 413 first past maxBodyBytes', async () => {
    const { url } = await serve({ model: new FakeChatModel(), maxParts: 3, maxPartBytes: 1000, maxBodyBytes: 4000 });
    const pathsOf = async (response: Response): Promise<string[]> => {
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { code: string; details: { path: string }[] } };
      expect(body.error.code).toBe('invalid_request');
      return body.error.details.map((detail) => detail.path);
    };
    const user = (content: unknown) => ({ messages: [{ role: 'user', content: 'First.' }, { role: 'user', content }] });
    expect(await pathsOf(await chat(url, user([{ type: 'text', text: 'a' }, { type: 'video', url: 'https://example.com/v.mp4' }])))).toEqual(['messages.1.content.1.type']);
    expect(await pathsOf(await chat(url, user([{ type: 'image', data: 'AAAA' }])))).toEqual(['messages.1.content.0.mediaType']);
    const four = Array.from({ length: 4 }, () => ({ type: 'text', text: 'a' }));
    const tooMany = await chat(url, user(four));
    expect(tooMany.status).toBe(400);
    expect(JSON.stringify(await tooMany.json())).toContain('at most 3 parts per message');
    const image = (size: number) => ({ type: 'image', data: 'A'.repeat(size), mediaType: 'image/png' });
    expect(await pathsOf(await chat(url, user([image(600), image(600)])))).toEqual(['messages.1.content.1.data']);
    expect(await pathsOf(await chat(url, { messages: [{ role: 'system', content: [{ type: 'text', text: 'Be brief.' }] }] }))).toEqual(['messages.0.content']);
    const large = await chat(url, user([image(5000)]));
    expect(large.status).toBe(413);
    const fits = await chat(url, user([image(500), image(500)]), { Accept: 'application/json' });
    expect(fits.status).toBe(200);
  });

  it('400 model_not_allowed for a model outside the allow-list; an allowed one is used', async () => {
    const { url } = await serve({
      models: { small: new FakeChatModel({ model: 'small', tokens: ['s'] }), large: new FakeChatModel({ model: 'large', tokens: ['L'] }) },
    });
    const refused = await chat(url, { ...hello, model: 'gpt-9' });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: { code: 'model_not_allowed', details: { allowed: ['small', 'large'] } } });
    const large = eventsOf((await readFrames(await chat(url, { ...hello, model: 'large' }))).frames);
    expect(large[0]).toMatchObject({ type: 'start', model: 'large' });
    expect(textOf(large)).toBe('L');
  });

  it('429 with Retry-After past the concurrent-run cap of a principal', async () => {
    const { url } = await serve({ model: new FakeChatModel({ tokens: words(200), rate: 200 }), maxConcurrentRuns: 2 });
    const first = await chat(url, hello);
    const second = await chat(url, hello);
    const third = await chat(url, hello);
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('1');
    expect(await third.json()).toMatchObject({ error: { code: 'too_many_runs' } });
    await fetch(`${url}/runs/${first.headers.get('x-sluice-run-id')}/cancel`, { method: 'POST' });
    await readFrames(first);
    for (let wait = 0; wait < 50; wait++) {
      const fourth = await chat(url, hello, { Accept: 'application/json' });
      if (fourth.status === 200) break;
      await fourth.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (wait === 49) throw new Error('the cap never freed up');
    }
    await fetch(`${url}/runs/${second.headers.get('x-sluice-run-id')}/cancel`, { method: 'POST' });
    await readFrames(second);
  });

  it('404 JSON for unknown routes and runs', async () => {
    const { url } = await serve({ model: new FakeChatModel() });
    const route = await fetch(`${url}/nope`);
    expect(route.status).toBe(404);
    expect(await route.json()).toMatchObject({ error: { code: 'not_found' } });
    const run = await fetch(`${url}/runs/00000000-0000-0000-0000-000000000000/events`);
    expect(run.status).toBe(404);
    const badId = await fetch(`${url}/runs/${encodeURIComponent('../etc')}/events`);
    expect(badId.status).toBe(404);
  });

  it('CORS: allowed origins get the headers and preflight, others get 403', async () => {
    const { url } = await serve({ model: new FakeChatModel({ tokens: ['a'] }), cors: { origins: ['https://app.example'] } });
    const preflight = await fetch(`${url}/chat`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(preflight.headers.get('access-control-allow-headers')).toContain('Last-Event-ID');
    const allowed = await chat(url, hello, { Origin: 'https://app.example' });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(allowed.headers.get('access-control-expose-headers')).toContain('X-Sluice-Run-Id');
    await allowed.arrayBuffer();
    const refused = await chat(url, hello, { Origin: 'https://evil.example' });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: 'origin_not_allowed' } });
  });

  it('500 JSON, reported, when authentication itself fails', async () => {
    const reported: unknown[] = [];
    const { url } = await serve({
      model: new FakeChatModel(),
      authenticate: () => {
        throw new Error('auth backend down');
      },
      onError: (error) => reported.push(error),
    });
    const response = await chat(url, hello);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: { code: 'internal_error', message: 'internal error' } });
    expect((reported[0] as Error).message).toBe('auth backend down');
  });
});
