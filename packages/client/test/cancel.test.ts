import type { StreamEvent } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamChat } from '../src/index.js';
import { ProtocolServer } from './protocol-server.js';

let server: ProtocolServer;
let baseURL: string;
const messages = [{ role: 'user' as const, content: 'Count to a hundred' }];
const counting = Array.from({ length: 100 }, (_, index) => `${index + 1} `);

beforeAll(async () => {
  server = new ProtocolServer();
  baseURL = await server.start();
});
afterAll(() => server.close());

describe('cancel()', () => {
  it('asks the server to stop the run; the stream ends with finish reason aborted and the partial text', async () => {
    server.script({ deltas: counting, intervalMs: 5 });
    const chat = streamChat({ baseURL, messages, headers: { Authorization: 'Bearer t0ken' } });
    const events: StreamEvent[] = [];
    for await (const event of chat) {
      events.push(event);
      if (event.type === 'text-delta' && event.seq === 3) await chat.cancel();
    }
    const cancels = server.requestsTo('POST', `/runs/${chat.runId}/cancel`);
    expect(cancels).toHaveLength(1);
    expect(cancels[0]?.headers.authorization).toBe('Bearer t0ken');
    const finish = events.at(-1);
    expect(finish).toMatchObject({ type: 'finish', reason: 'aborted' });
    const result = await chat.done;
    expect(result.finishReason).toBe('aborted');
    expect(result.text).toBe(chat.text);
    expect(chat.text.startsWith('1 2 3 ')).toBe(true);
    expect(chat.text.length).toBeLessThan(counting.join('').length);
    expect(chat.status).toBe('done');
  });

  it('waits for the run id when called before the server answered', async () => {
    server.script({ deltas: counting, intervalMs: 5 });
    const chat = streamChat({ baseURL, messages });
    const cancelled = chat.cancel();
    expect(chat.runId).toBeUndefined();
    await cancelled;
    expect(server.requestsTo('POST', `/runs/${chat.runId}/cancel`)).toHaveLength(1);
    expect((await chat.done).finishReason).toBe('aborted');
  });

  it('still receives the aborted finish when the connection drops after the cancel', async () => {
    server.script({ deltas: counting, intervalMs: 5, holdOpen: true, connections: { 0: { cutAfter: 2 } } });
    const chat = streamChat({ baseURL, messages, resume: { delayMs: 1 } });
    for await (const event of chat) if (event.type === 'text-delta') await chat.cancel();
    expect((await chat.done).finishReason).toBe('aborted');
    expect(server.requestsTo('GET', `/runs/${chat.runId}/events`)).toHaveLength(1);
  });

  it('does nothing once the run has finished', async () => {
    const chat = streamChat({ baseURL, messages });
    await chat.done;
    await chat.cancel();
    expect(server.requestsTo('POST', `/runs/${chat.runId}/cancel`)).toHaveLength(0);
  });

  it('does nothing when the request failed before a run started', async () => {
    server.script({ connections: { 0: { status: 400, body: { error: { code: 'invalid_request', message: 'no' } } } } });
    const chat = streamChat({ baseURL, messages });
    const cancelled = chat.cancel();
    await expect(chat.done).rejects.toMatchObject({ code: 'invalid_request' });
    await expect(cancelled).resolves.toBeUndefined();
  });
});
