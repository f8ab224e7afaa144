import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getConversation, resumeRun, SluiceClientError, streamChat, type StreamChatOptions } from '../src/index.js';
import { ProtocolServer } from './protocol-server.js';

let server: ProtocolServer;
let baseURL: string;
const messages = [{ role: 'user' as const, content: 'Hi' }];

beforeAll(async () => {
  server = new ProtocolServer();
  baseURL = await server.start();
});
afterAll(() => server.close());

function posts(): number {
  return server.requestsTo('POST', '/chat').length;
}

describe('HTTP errors', () => {
  it('become a SluiceClientError with the server\'s status, code, message and details, not retried', async () => {
    const before = posts();
    // The body fails the server's validation (the client itself refuses empty messages).
    const chat = streamChat({ baseURL, messages, fetch: (url, init) => fetch(url, { ...init, body: '{"messages":[]}' }) });
    let thrown: unknown;
    try {
      for await (const _event of chat);
    } catch (error) {
      thrown = error;
    }
    expect(SluiceClientError.isInstance(thrown)).toBe(true);
    expect(thrown).toMatchObject({
      status: 400,
      code: 'invalid_request',
      retryable: false,
      details: [{ path: 'messages', message: 'at least one message is required' }],
      message: `[sluice/client] POST ${baseURL}/chat answered 400 invalid_request: messages: at least one message is required`,
    });
    await expect(chat.done).rejects.toBe(thrown);
    expect(chat.status).toBe('error');
    expect(posts()).toBe(before + 1);
  });

  it('does not retry a 5xx answer to the POST: it may have started a run', async () => {
    server.script({ connections: { 0: { status: 503, headers: { 'Retry-After': '0' } } } });
    const before = posts();
    const chat = streamChat({ baseURL, messages });
    await expect(chat.done).rejects.toMatchObject({ status: 503, retryable: true, retryAfterMs: 0 });
    expect(posts()).toBe(before + 1);
  });

  it('posts again after a 429 with Retry-After, and streams once the server accepts', async () => {
    const busy = { status: 429, headers: { 'Retry-After': '0' }, body: { error: { code: 'too_many_runs', message: 'one at a time' } } };
    server.script({ connections: { 0: busy } }).script({ deltas: ['ok'] });
    const before = posts();
    const result = await streamChat({ baseURL, messages }).done;
    expect(result.text).toBe('ok');
    expect(posts()).toBe(before + 2);
  });

  it('gives up on 429 after maxRetries and reports too_many_runs with retryAfterMs', async () => {
    const busy = { status: 429, headers: { 'Retry-After': '0' }, body: { error: { code: 'too_many_runs', message: 'one at a time' } } };
    server.script({ connections: { 0: busy } }).script({ connections: { 0: busy } });
    const before = posts();
    const chat = streamChat({ baseURL, messages, maxRetries: 1 });
    await expect(chat.done).rejects.toMatchObject({ status: 429, code: 'too_many_runs', retryAfterMs: 0 });
    expect(posts()).toBe(before + 2);
  });

  it('does not wait out a long Retry-After: the 429 is reported at once', async () => {
    server.script({ connections: { 0: { status: 429, headers: { 'Retry-After': '60' }, body: { error: { code: 'rate_limited', message: 'slow down' } } } } });
    const before = posts();
    await expect(streamChat({ baseURL, messages }).done).rejects.toMatchObject({ code: 'rate_limited', retryAfterMs: 60_000 });
    expect(posts()).toBe(before + 1);
  });

  it('describes an error body that is not sluice JSON as http_error', async () => {
    server.script({ connections: { 0: { status: 502, body: '<html>Bad gateway</html>' } } });
    await expect(streamChat({ baseURL, messages }).done).rejects.toMatchObject({
      code: 'http_error',
      status: 502,
      message: expect.stringContaining('not a sluice error body'),
    });
  });

  it('rejects a 200 that is not an event stream with invalid_response', async () => {
    server.script({ connections: { 0: { contentType: 'text/html' } } });
    await expect(streamChat({ baseURL, messages }).done).rejects.toMatchObject({
      code: 'invalid_response',
      message: expect.stringContaining('"text/html", not an event stream: does baseURL point at the sluice router?'),
    });
  });

  it('reports a refused POST as a network_error and does not post again', async () => {
    const closed = new ProtocolServer();
    const closedURL = await closed.start();
    await closed.close();
    let calls = 0;
    const chat = streamChat({
      baseURL: closedURL,
      messages,
      fetch: (url, init) => {
        calls++;
        return fetch(url, init);
      },
    });
    await expect(chat.done).rejects.toMatchObject({
      code: 'network_error',
      retryable: true,
      message: expect.stringMatching(new RegExp(`^\\[sluice/client\\] POST ${closedURL}/chat failed: fetch failed \\(.*ECONNREFUSED`)),
    });
    expect(calls).toBe(1);
  });
});

describe('bad input', () => {
  const cases: [string, unknown, RegExp][] = [
    ['no options', undefined, /streamChat needs options like \{ baseURL, messages \}/],
    ['no messages', { baseURL: 'http://127.0.0.1:1/api' }, /messages must be a non-empty array/],
    ['empty messages', { baseURL: 'http://127.0.0.1:1/api', messages: [] }, /messages must be a non-empty array .*got an empty array/],
    ['a message without content', { baseURL: 'http://127.0.0.1:1/api', messages: [{ role: 'user' }] }, /messages\[0\]\.content must be a string/],
    ['a message with an empty list of parts', { baseURL: 'http://127.0.0.1:1/api', messages: [{ role: 'user', content: [] }] }, /messages\[0\]\.content must be a string or a non-empty array of content parts/],
    ['an unknown role', { baseURL: 'http://127.0.0.1:1/api', messages: [{ role: 'human', content: 'x' }] }, /messages\[0\]\.role must be 'system', 'user', 'assistant' or 'tool', got "human"/],
    ['no baseURL', { messages }, /baseURL must be a URL string/],
    ['a baseURL that is not a URL', { baseURL: 'http://local host/api', messages }, /baseURL "http:\/\/local host\/api" is not a URL/],
    ['a baseURL without its scheme', { baseURL: 'localhost:3000/api', messages }, /must use http: or https: \(e\.g\. "http:\/\/localhost:3000\/api"\), not localhost:/],
    ['a relative baseURL outside a page', { baseURL: '/api', messages }, /baseURL "\/api" is not a URL: pass an absolute URL/],
    ['a baseURL that is not http', { baseURL: 'ftp://example.test/api', messages }, /must use http: or https: \(e\.g\. "http:\/\/localhost:3000\/api"\), not ftp:/],
    ['an empty conversationId', { baseURL: 'http://127.0.0.1:1/api', messages, conversationId: '' }, /conversationId must be a non-empty string/],
    ['a negative maxAttempts', { baseURL: 'http://127.0.0.1:1/api', messages, resume: { maxAttempts: -1 } }, /resume\.maxAttempts must be a number >= 0/],
    ['a fractional maxRetries', { baseURL: 'http://127.0.0.1:1/api', messages, maxRetries: 1.5 }, /maxRetries must be a whole number/],
    ['a signal that is not an AbortSignal', { baseURL: 'http://127.0.0.1:1/api', messages, signal: {} }, /signal must be an AbortSignal/],
  ];
  for (const [what, options, message] of cases) {
    it(`streamChat throws invalid_argument at once for ${what}`, () => {
      let thrown: unknown;
      try {
        streamChat(options as StreamChatOptions);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(SluiceClientError);
      expect(thrown).toMatchObject({ code: 'invalid_argument', message: expect.stringMatching(message) });
    });
  }

  it('resumeRun throws invalid_argument for a missing runId or a bad lastEventId', () => {
    expect(() => resumeRun({ baseURL, runId: '' })).toThrow(/runId must be the non-empty id of a run/);
    expect(() => resumeRun({ baseURL, runId: 'run-1', lastEventId: -1 })).toThrow(/lastEventId must be the seq of an event/);
    expect(() => resumeRun({ baseURL, runId: 'run-1', lastEventId: '3' as unknown as number })).toThrow(/got "3"/);
  });

  it('getConversation rejects a bad baseURL or id with invalid_argument', async () => {
    await expect(getConversation('nope', 'c1')).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(getConversation(baseURL, '')).rejects.toThrow(/conversationId must be a non-empty string/);
  });
});
