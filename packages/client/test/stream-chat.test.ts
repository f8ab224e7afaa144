import { SluiceError, type ContentPart } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getConversation, streamChat, SluiceClientError, type ChatStatus, type FetchFunction } from '../src/index.js';
import { collect, ProtocolServer } from './protocol-server.js';
import { realServerFixture } from './server-fixtures.ts';

let server: ProtocolServer;
let baseURL: string;
const messages = [{ role: 'user' as const, content: 'Hi' }];

beforeAll(async () => {
  server = new ProtocolServer();
  baseURL = await server.start();
});
afterAll(() => server.close());

describe('streamChat', () => {
  it('yields the run\'s events in seq order and keeps the text so far', async () => {
    server.script({ deltas: ['The ', 'quick ', 'brown ', 'fox.'] });
    const chat = streamChat({ baseURL, messages });
    const seen: { seq: number; text: string }[] = [];
    const types: string[] = [];
    for await (const event of chat) {
      types.push(event.type);
      if (event.type === 'text-delta') seen.push({ seq: event.seq, text: chat.text });
    }
    expect(types).toEqual(['start', 'text-delta', 'text-delta', 'text-delta', 'text-delta', 'finish']);
    expect(seen).toEqual([
      { seq: 1, text: 'The ' },
      { seq: 2, text: 'The quick ' },
      { seq: 3, text: 'The quick brown ' },
      { seq: 4, text: 'The quick brown fox.' },
    ]);
    const result = await chat.done;
    expect(result).toMatchObject({ text: 'The quick brown fox.', finishReason: 'stop', model: 'scripted', provider: 'test' });
    expect(result.runId).toBe(chat.runId);
    expect(chat.status).toBe('done');
    expect(chat.lastEventId).toBe(5);
  });

  it('posts the turn to /chat as JSON, asks for an event stream and sends the caller\'s headers', async () => {
    const chat = streamChat({
      baseURL: `${baseURL}/`,
      messages,
      conversationId: 'conversation-given',
      model: 'small',
      headers: async () => ({ Authorization: 'Bearer t0ken' }),
    });
    await chat.done;
    const post = server.requestsTo('POST', '/chat').at(-1);
    expect(post?.path).toBe('/api/chat');
    expect(post?.headers.accept).toBe('text/event-stream');
    expect(post?.headers['content-type']).toBe('application/json');
    expect(post?.headers.authorization).toBe('Bearer t0ken');
    expect(JSON.parse(post?.body ?? '')).toEqual({ messages, conversationId: 'conversation-given', model: 'small' });
  });

  it('names the run and the conversation the server started', async () => {
    const chat = streamChat({ baseURL, messages });
    expect(chat.runId).toBeUndefined();
    const result = await chat.done;
    expect(chat.runId).toMatch(/^run-/);
    expect(chat.conversationId).toMatch(/^conversation-/);
    expect(result.conversationId).toBe(chat.conversationId);
  });

  it('reports its status: connecting, streaming, done', async () => {
    const statuses: ChatStatus[] = [];
    const chat = streamChat({ baseURL, messages, onStatusChange: (status, run) => statuses.push(run === chat ? status : 'error') });
    expect(chat.status).toBe('connecting');
    await chat.done;
    expect(statuses).toEqual(['connecting', 'streaming', 'done']);
  });

  it('buffers the events until the caller iterates', async () => {
    const chat = streamChat({ baseURL, messages });
    await chat.done;
    const events = await collect(chat);
    expect(events.map((event) => event.seq)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('reads the response to its end after finish, so the connection is reused', async () => {
    const own = new ProtocolServer();
    const ownURL = await own.start();
    try {
      // The response ends a little after its finish event, as it may behind a proxy.
      own.setDefault({ deltas: ['Hello'], endDelayMs: 30 });
      // The next request waits until the client has read (or cancelled) the previous response's body.
      const streamed = async (): Promise<void> => {
        let bodyEnded!: () => void;
        const ended = new Promise<void>((resolve) => {
          bodyEnded = resolve;
        });
        const fetchToTheEnd: FetchFunction = async (url, init) => {
          const response = await fetch(url, init);
          if (response.body === null) return response;
          const reader = response.body.getReader();
          const body = new ReadableStream<Uint8Array>({
            async pull(controller) {
              const chunk = await reader.read();
              if (!chunk.done) return controller.enqueue(chunk.value);
              controller.close();
              bodyEnded();
            },
            async cancel(reason) {
              await reader.cancel(reason);
              bodyEnded();
            },
          });
          return new Response(body, response);
        };
        await streamChat({ baseURL: ownURL, messages, fetch: fetchToTheEnd }).done;
        await ended;
        // undici returns the socket to its pool in the task that delivered the body's end.
        await new Promise((resolve) => setImmediate(resolve));
      };
      await streamed();
      await streamed();
      await getConversation(ownURL, 'conversation-1');
      expect(own.sockets).toBe(1);
    } finally {
      await own.close();
    }
  });

  it('ignores heartbeat comments', async () => {
    server.script({ deltas: ['a', 'b'], heartbeats: true });
    const events = await collect(streamChat({ baseURL, messages }));
    expect(events.map((event) => event.type)).toEqual(['start', 'text-delta', 'text-delta', 'finish']);
  });

  it('settles concurrent next() calls in order with consecutive events, then done past the end', async () => {
    server.script({ deltas: ['a', 'b'] });
    const iterator = streamChat({ baseURL, messages })[Symbol.asyncIterator]();
    const results = await Promise.all(Array.from({ length: 6 }, () => iterator.next()));
    expect(results.map((result) => (result.done === true ? 'done' : result.value.seq))).toEqual([0, 1, 2, 3, 'done', 'done']);
  });

  it('settles concurrent next() calls of a failed run with its events, the run\'s error once, then done', async () => {
    server.script({ deltas: ['a'], fail: { code: 'model_error', message: 'boom' } });
    const iterator = streamChat({ baseURL, messages })[Symbol.asyncIterator]();
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => iterator.next()));
    expect(
      results.map((result) => {
        if (result.status === 'rejected') return (result.reason as SluiceClientError).code;
        return result.value.done === true ? 'done' : result.value.value.type;
      }),
    ).toEqual(['start', 'text-delta', 'error', 'finish', 'model_error', 'done']);
  });

  it('refuses a second iteration with a clear error', async () => {
    const chat = streamChat({ baseURL, messages });
    await collect(chat);
    expect(() => chat[Symbol.asyncIterator]()).toThrow(/iterated once/);
  });

  it('yields the error and finish events of a failed run, then throws the run\'s error', async () => {
    server.script({ deltas: ['Half'], fail: { code: 'model_error', message: 'the provider answered 500' } });
    const chat = streamChat({ baseURL, messages });
    const types: string[] = [];
    let thrown: unknown;
    try {
      for await (const event of chat) types.push(event.type);
    } catch (error) {
      thrown = error;
    }
    expect(types).toEqual(['start', 'text-delta', 'error', 'finish']);
    expect(SluiceClientError.isInstance(thrown)).toBe(true);
    expect(thrown).toMatchObject({ code: 'model_error', runId: chat.runId, message: expect.stringContaining('the provider answered 500') });
    await expect(chat.done).rejects.toBe(thrown);
    expect(chat.status).toBe('error');
    expect(chat.text).toBe('Half');
  });

  it('makes errors that @sluice/core recognises as sluice errors', async () => {
    server.script({ deltas: [], fail: { code: 'model_error', message: 'boom' } });
    const error = await streamChat({ baseURL, messages }).done.catch((caught: unknown) => caught);
    expect(SluiceError.isInstance(error)).toBe(true);
    expect((error as SluiceClientError).toJSON()).toMatchObject({ name: 'SluiceClientError', code: 'model_error' });
  });

  it('closes the connection and stops listening when the loop is left early', async () => {
    server.script({ deltas: ['a', 'b', 'c', 'd', 'e', 'f'], intervalMs: 20 });
    const closedBefore = server.closedStreams;
    const gets = server.requestsTo('GET', '/runs').length;
    const chat = streamChat({ baseURL, messages, resume: { delayMs: 1 } });
    for await (const event of chat) if (event.type === 'text-delta') break;
    await server.streamsClosed(closedBefore + 1);
    await expect(chat.done).rejects.toMatchObject({ code: 'aborted' });
    expect(chat.status).toBe('detached');
    // `done` settles once the connection loop has exited: no resume can follow.
    expect(server.requestsTo('GET', '/runs').length).toBe(gets);
  });

  it('stops listening when the signal aborts, with an aborted error', async () => {
    server.script({ deltas: ['a', 'b', 'c', 'd', 'e', 'f'], intervalMs: 20 });
    const controller = new AbortController();
    const chat = streamChat({ baseURL, messages, signal: controller.signal });
    const types: string[] = [];
    const iterated = (async () => {
      for await (const event of chat) {
        types.push(event.type);
        if (event.type === 'text-delta') controller.abort();
      }
    })();
    await expect(iterated).rejects.toMatchObject({ code: 'aborted', message: expect.stringContaining('signal aborted') });
    expect(types).toEqual(['start', 'text-delta']);
    expect(chat.status).toBe('detached');
  });

  it('sends nothing when the signal has already aborted', async () => {
    const posts = server.requestsTo('POST', '/chat').length;
    const chat = streamChat({ baseURL, messages, signal: AbortSignal.abort() });
    await expect(chat.done).rejects.toMatchObject({ code: 'aborted' });
    expect(server.requestsTo('POST', '/chat').length).toBe(posts);
  });

  it('logs a throwing onStatusChange and streams on', async () => {
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => errors.push(args[0]);
    try {
      const result = await streamChat({
        baseURL,
        messages,
        onStatusChange: () => {
          throw new Error('ui bug');
        },
      }).done;
      expect(result.text).toBe('Hello, world!');
    } finally {
      console.error = original;
    }
    expect(errors).toContain('[sluice/client] onStatusChange threw');
  });
});

describe('streamChat with content parts', () => {
  it('sends a user message of parts (text, image) to a real @sluice/http server, which keeps them in the conversation', async () => {
    const real = await realServerFixture.start();
    try {
      const content: ContentPart[] = [
        { type: 'text', text: 'What is this?' },
        { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
      ];
      const chat = streamChat({ baseURL: real.baseURL, messages: [{ role: 'user', content }], model: 'quick' });
      expect(await chat.done).toMatchObject({ text: 'Hello, world!', finishReason: 'stop' });
      const conversation = await getConversation(real.baseURL, chat.conversationId as string);
      expect(conversation.messages[0]).toEqual({ role: 'user', content });
    } finally {
      await real.close();
    }
  });
});
