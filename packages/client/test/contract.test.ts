import type { StreamEvent } from '@sluice/core';
import { afterEach, describe, expect, it } from 'vitest';
import { getConversation, resumeRun, streamChat, type ChatStatus, type FetchFunction } from '../src/index.js';
import { collect } from './protocol-server.ts';
import { serverFixtures, slowTokens, type RunningServer } from './server-fixtures.ts';

/**
 * What the client does against anything that speaks PROTOCOL.md: each scenario runs against the
 * hand-written protocol server and against a real `@sluice/http` server, so the two cannot drift
 * apart. Faults only the hand-written server can script (cuts inside a frame, bogus replays,
 * wrong content types) are tested against it alone, in the other files.
 */

const messages = [{ role: 'user' as const, content: 'Hi' }];
const fast = { delayMs: 1, maxDelayMs: 5 };

function seqs(events: StreamEvent[]): number[] {
  return events.map((event) => event.seq);
}

function textOf(events: StreamEvent[]): string {
  return events.map((event) => (event.type === 'text-delta' ? event.text : '')).join('');
}

describe.each(serverFixtures)('against $name', (fixture) => {
  let server: RunningServer;
  const started: RunningServer[] = [];
  const start = async (options?: { maxConcurrentRuns?: number }): Promise<RunningServer> => {
    const running = await fixture.start(options);
    started.push(running);
    return running;
  };
  afterEach(async () => {
    for (const running of started.splice(0)) await running.close();
  });

  it('streams a reply: every seq once and in order, the text, the run and its conversation named', async () => {
    server = await start();
    const chat = streamChat({ baseURL: server.baseURL, messages, model: 'quick' });
    const events = await collect(chat);
    const result = await chat.done;
    expect(seqs(events)).toEqual([...events.keys()]);
    expect(events[0]).toMatchObject({ type: 'start', runId: chat.runId, conversationId: chat.conversationId });
    expect(events.at(-1)).toMatchObject({ type: 'finish', reason: 'stop', message: { role: 'assistant', content: 'Hello, world!' } });
    expect(chat.text).toBe('Hello, world!');
    expect(result).toMatchObject({ runId: chat.runId, conversationId: chat.conversationId, text: 'Hello, world!', finishReason: 'stop' });
    expect(chat.runId).toEqual(expect.any(String));
    expect(chat.conversationId).toEqual(expect.any(String));
    expect(chat.status).toBe('done');
    expect(server.requestsTo('POST', '/chat')).toHaveLength(1);
  });

  it('resumes a run whose connection was cut mid-run, with Last-Event-ID, with no gap and no duplicate', async () => {
    server = await start();
    const statuses: ChatStatus[] = [];
    const chat = streamChat({ baseURL: server.baseURL, messages, model: 'slow', resume: fast, onStatusChange: (status) => statuses.push(status) });
    const events: StreamEvent[] = [];
    let cutAt: number | undefined;
    for await (const event of chat) {
      events.push(event);
      if (event.seq === 3 && cutAt === undefined) {
        cutAt = chat.lastEventId;
        server.cutConnections();
      }
    }
    const resumes = server.requestsTo('GET', `/runs/${chat.runId}/events`);
    expect(resumes.length).toBeGreaterThanOrEqual(1);
    expect(Number(resumes[0]?.headers['last-event-id'])).toBeGreaterThanOrEqual(cutAt as number);
    expect(seqs(events)).toEqual([...events.keys()]);
    expect(textOf(events)).toBe(slowTokens.join(''));
    expect((await chat.done).text).toBe(slowTokens.join(''));
    expect(statuses).toEqual(expect.arrayContaining(['reconnecting']));
    expect(statuses.at(-1)).toBe('done');
  });

  it('cancels a run: the stream ends with finish reason aborted and the partial text', async () => {
    server = await start();
    const chat = streamChat({ baseURL: server.baseURL, messages, model: 'slow' });
    const events: StreamEvent[] = [];
    for await (const event of chat) {
      events.push(event);
      if (event.type === 'text-delta' && events.length === 2) await chat.cancel();
    }
    expect(server.requestsTo('POST', `/runs/${chat.runId}/cancel`)).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: 'finish', reason: 'aborted' });
    const result = await chat.done;
    expect(result.finishReason).toBe('aborted');
    expect(chat.text.startsWith(slowTokens[0] as string)).toBe(true);
    expect(chat.text.length).toBeLessThan(slowTokens.join('').length);
  });

  it('loads a conversation\'s history, both turns included', async () => {
    server = await start();
    const first = streamChat({ baseURL: server.baseURL, messages, model: 'quick' });
    await first.done;
    const conversationId = first.conversationId as string;
    await streamChat({ baseURL: server.baseURL, conversationId, messages: [{ role: 'user', content: 'Again' }], model: 'quick' }).done;
    const conversation = await getConversation(server.baseURL, conversationId);
    expect(conversation.conversationId).toBe(conversationId);
    expect(conversation.messages.map(({ role, content }) => ({ role, content }))).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello, world!' },
      { role: 'user', content: 'Again' },
      { role: 'assistant', content: 'Hello, world!' },
    ]);
  });

  it('yields the error and finish events of a failed run, then throws the run\'s error', async () => {
    server = await start();
    const chat = streamChat({ baseURL: server.baseURL, messages, model: 'failing' });
    const types: string[] = [];
    const thrown = await (async () => {
      for await (const event of chat) types.push(event.type);
    })().catch((error: unknown) => error);
    expect(types).toEqual(['start', 'text-delta', 'error', 'finish']);
    expect(thrown).toMatchObject({ code: 'model_error', runId: chat.runId, message: expect.stringContaining('the provider failed') });
    await expect(chat.done).rejects.toBe(thrown);
  });

  it('reports a 400 with the server\'s code and the failing fields, not retried', async () => {
    server = await start();
    const emptyMessages: FetchFunction = (url, init) => fetch(url, { ...init, body: '{"messages":[]}' });
    const chat = streamChat({ baseURL: server.baseURL, messages, fetch: emptyMessages });
    await expect(chat.done).rejects.toMatchObject({
      status: 400,
      code: 'invalid_request',
      retryable: false,
      details: expect.arrayContaining([expect.objectContaining({ path: 'messages' })]),
    });
    expect(server.requestsTo('POST', '/chat')).toHaveLength(1);
  });

  it('reports 404 not_found for an unknown run and an unknown conversation', async () => {
    server = await start();
    await expect(resumeRun({ baseURL: server.baseURL, runId: 'run-unknown', resume: fast }).done).rejects.toMatchObject({ code: 'not_found', status: 404 });
    expect(server.requestsTo('GET', '/runs/run-unknown/events')).toHaveLength(1);
    await expect(getConversation(server.baseURL, 'conversation-unknown')).rejects.toMatchObject({ code: 'not_found', status: 404 });
  });

  it('reports 429 too_many_runs with Retry-After when the run cap is reached', async () => {
    server = await start({ maxConcurrentRuns: 1 });
    const running = streamChat({ baseURL: server.baseURL, messages, model: 'slow' });
    for await (const event of running) if (event.type === 'start') break;
    const refused = streamChat({ baseURL: server.baseURL, messages, model: 'quick', maxRetries: 0 });
    await expect(refused.done).rejects.toMatchObject({ status: 429, code: 'too_many_runs', retryable: true, retryAfterMs: 1000 });
  });

  it('stops at a run-error frame with its code, without resuming again', async () => {
    server = await start();
    const { baseURL, runId } = await server.abandonedRun([' word0', ' word1']);
    let resumes = 0;
    const chat = resumeRun({ baseURL, runId, resume: fast, onResume: () => void resumes++ });
    const seen: number[] = [];
    const thrown = await (async () => {
      for await (const event of chat) seen.push(event.seq);
    })().catch((error: unknown) => error);
    expect(thrown).toMatchObject({ code: 'run_stalled', retryable: false, runId });
    await expect(chat.done).rejects.toBe(thrown);
    expect(seen).toEqual([0, 1, 2]);
    expect(resumes).toBe(0);
  });
});
