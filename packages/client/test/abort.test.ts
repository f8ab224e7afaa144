import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resumeRun, streamChat, type ChatRun } from '../src/index.js';
import { collect, ProtocolServer } from './protocol-server.js';

let server: ProtocolServer;
let baseURL: string;
const messages = [{ role: 'user' as const, content: 'Hi' }];

beforeAll(async () => {
  server = new ProtocolServer();
  baseURL = await server.start();
});
afterAll(() => server.close());

/** A promise and the function that resolves it. */
function deferred<TValue = void>(): { promise: Promise<TValue>; resolve: (value: TValue) => void } {
  let resolve!: (value: TValue) => void;
  const promise = new Promise<TValue>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

/** What the run's iterator threw (undefined if it ended without throwing). */
async function iteratorError(chat: ChatRun): Promise<unknown> {
  return collect(chat).then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('an abort at any moment stops the run: no request after it, done and the iterator fail with aborted', () => {
  it('while the headers() callback is pending: the POST is never sent', async () => {
    const posts = server.requestsTo('POST', '/chat').length;
    const controller = new AbortController();
    const asked = deferred();
    const headers = deferred<Record<string, string>>();
    let fetches = 0;
    const chat = streamChat({
      baseURL,
      messages,
      signal: controller.signal,
      headers: () => {
        asked.resolve();
        return headers.promise;
      },
      fetch: (url, init) => {
        fetches++;
        return fetch(url, init);
      },
    });
    const thrown = iteratorError(chat);
    await asked.promise;
    controller.abort();
    await expect(chat.done).rejects.toMatchObject({ code: 'aborted' });
    await expect(thrown).resolves.toMatchObject({ code: 'aborted' });
    // The callback answering late changes nothing: the run has already given up.
    headers.resolve({ Authorization: 'Bearer late' });
    await headers.promise;
    expect(fetches).toBe(0);
    expect(server.requestsTo('POST', '/chat').length).toBe(posts);
    expect(chat.status).toBe('detached');
  });

  it('while a resume waits for its headers() callback: the GET is never sent', async () => {
    server.script({ deltas: ['a', 'b', 'c'], connections: { 0: { cutAfter: 2 } } });
    const controller = new AbortController();
    const asked = deferred();
    let calls = 0;
    const chat = streamChat({
      baseURL,
      messages,
      signal: controller.signal,
      resume: { delayMs: 1 },
      // The POST gets its headers at once; the resume's never come.
      headers: () => {
        if (calls++ === 0) return {};
        asked.resolve();
        return new Promise<HeadersInit>(() => undefined);
      },
    });
    const thrown = iteratorError(chat);
    await asked.promise;
    controller.abort();
    await expect(chat.done).rejects.toMatchObject({ code: 'aborted' });
    await expect(thrown).resolves.toMatchObject({ code: 'aborted' });
    expect(server.requestsTo('GET', `/runs/${chat.runId}/events`)).toHaveLength(0);
  });

  it('while connecting, even through a fetch that ignores the signal', async () => {
    const controller = new AbortController();
    const connecting = deferred();
    const chat = streamChat({
      baseURL,
      messages,
      signal: controller.signal,
      fetch: () => {
        connecting.resolve();
        return new Promise<Response>(() => undefined);
      },
    });
    await connecting.promise;
    controller.abort();
    await expect(chat.done).rejects.toMatchObject({ code: 'aborted' });
    await expect(iteratorError(chat)).resolves.toMatchObject({ code: 'aborted' });
  });

  it('while waiting to resume: no reconnection is attempted', async () => {
    server.script({ deltas: ['a', 'b', 'c'], connections: { 0: { cutAfter: 2 } } });
    const controller = new AbortController();
    const chat = streamChat({
      baseURL,
      messages,
      signal: controller.signal,
      resume: { delayMs: 60_000, maxDelayMs: 60_000 },
      onResume: () => controller.abort(),
    });
    await expect(chat.done).rejects.toMatchObject({ code: 'aborted' });
    await expect(iteratorError(chat)).resolves.toMatchObject({ code: 'aborted' });
    expect(server.requestsTo('GET', `/runs/${chat.runId}/events`)).toHaveLength(0);
  });

  it('of a resumeRun while its headers() callback is pending: the GET is never sent', async () => {
    const controller = new AbortController();
    const asked = deferred();
    const chat = resumeRun({
      baseURL,
      runId: 'run-never-asked',
      signal: controller.signal,
      headers: () => {
        asked.resolve();
        return new Promise<HeadersInit>(() => undefined);
      },
    });
    await asked.promise;
    controller.abort();
    await expect(chat.done).rejects.toMatchObject({ code: 'aborted' });
    expect(server.requestsTo('GET', '/runs/run-never-asked')).toHaveLength(0);
  });
});
