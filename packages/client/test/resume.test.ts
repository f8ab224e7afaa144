import type { StreamEvent } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resumeRun, streamChat, type ChatStatus, type ResumeAttempt } from '../src/index.js';
import { collect, ProtocolServer } from './protocol-server.js';

let server: ProtocolServer;
let baseURL: string;
const messages = [{ role: 'user' as const, content: 'Tell me a story' }];
const words = 'Once upon a time there was a client that never lost a token.'.split(/(?<= )/);
const story = words.join('');
const fast = { delayMs: 1, maxDelayMs: 5 };

beforeAll(async () => {
  server = new ProtocolServer();
  baseURL = await server.start();
});
afterAll(() => server.close());

function seqs(events: StreamEvent[]): number[] {
  return events.map((event) => event.seq);
}

function deltasText(events: StreamEvent[]): string {
  return events.map((event) => (event.type === 'text-delta' ? event.text : '')).join('');
}

function resumesOf(runId: string | undefined) {
  return server.requestsTo('GET', `/runs/${runId}/events`);
}

describe('resume after a dropped connection', () => {
  it('reconnects to /runs/:id/events with Last-Event-ID and yields every event once', async () => {
    server.script({ deltas: words, connections: { 0: { cutAfter: 4, midFrame: true } } });
    const statuses: ChatStatus[] = [];
    const attempts: ResumeAttempt[] = [];
    const chat = streamChat({ baseURL, messages, resume: fast, onStatusChange: (status) => statuses.push(status), onResume: (attempt) => attempts.push(attempt) });
    const events = await collect(chat);

    const resumes = resumesOf(chat.runId);
    expect(resumes).toHaveLength(1);
    expect(resumes[0]?.headers['last-event-id']).toBe('3');
    expect(resumes[0]?.headers.accept).toBe('text/event-stream');
    expect(seqs(events)).toEqual(seqs(server.eventsOf(chat.runId as string)));
    expect(seqs(events)).toEqual([...Array(words.length + 2).keys()]);
    expect(deltasText(events)).toBe(story);
    expect(chat.text).toBe(story);
    expect((await chat.done).text).toBe(story);
    expect(statuses).toEqual(['connecting', 'streaming', 'reconnecting', 'streaming', 'done']);
    expect(attempts).toEqual([
      expect.objectContaining({ runId: chat.runId, attempt: 1, maxAttempts: 5, lastEventId: 3, error: expect.objectContaining({ code: 'network_error' }) }),
    ]);
  });

  it('survives repeated cuts, each resumed from the last event received', async () => {
    server.script({
      deltas: words,
      intervalMs: 1,
      connections: { 0: { cutAfter: 2 }, 1: { cutAfter: 3, midFrame: true }, 2: { cutAfter: 1 }, 3: { cutAfter: 4, midFrame: true } },
    });
    const chat = streamChat({ baseURL, messages, resume: { ...fast, maxAttempts: 1 } });
    const events = await collect(chat);
    expect(resumesOf(chat.runId).map((request) => request.headers['last-event-id'])).toEqual(['1', '4', '5', '9']);
    expect(seqs(events)).toEqual([...Array(words.length + 2).keys()]);
    expect(chat.text).toBe(story);
  });

  it('resumes when the response ends cleanly before the finish event', async () => {
    server.script({ deltas: words, connections: { 0: { endAfter: 3 } } });
    const chat = streamChat({ baseURL, messages, resume: fast });
    const events = await collect(chat);
    expect(resumesOf(chat.runId)[0]?.headers['last-event-id']).toBe('2');
    expect(deltasText(events)).toBe(story);
  });

  it('resumes from the start when the connection drops before the first event', async () => {
    server.script({ deltas: words, connections: { 0: { cutAfter: 0 } } });
    const chat = streamChat({ baseURL, messages, resume: fast });
    const events = await collect(chat);
    const resume = resumesOf(chat.runId)[0];
    expect(resume).toBeDefined();
    expect(resume?.headers['last-event-id']).toBeUndefined();
    expect(seqs(events)[0]).toBe(0);
    expect(chat.text).toBe(story);
  });

  it('never yields a seq twice when the server replays events the client already has', async () => {
    server.script({ deltas: words, connections: { 0: { cutAfter: 6 }, 1: { replayFrom: 2 } } });
    const chat = streamChat({ baseURL, messages, resume: fast });
    const events = await collect(chat);
    expect(seqs(events)).toEqual([...Array(words.length + 2).keys()]);
    expect(chat.text).toBe(story);
  });

  it('fails with sequence_gap when a resumed stream starts past the next seq', async () => {
    server.script({ deltas: words, connections: { 0: { cutAfter: 3 }, 1: { replayFrom: 5 } } });
    const chat = streamChat({ baseURL, messages, resume: fast });
    const types: number[] = [];
    const iterated = (async () => {
      for await (const event of chat) types.push(event.seq);
    })();
    await expect(iterated).rejects.toMatchObject({ code: 'sequence_gap', message: expect.stringContaining('expected seq 3, got 5') });
    expect(types).toEqual([0, 1, 2]);
    expect(chat.status).toBe('error');
  });

  it('retries failed resumes with backoff and goes on once one succeeds', async () => {
    server.script({ deltas: words, connections: { 0: { cutAfter: 2 }, 1: { status: 503 }, 2: { refuse: true } } });
    const attempts: ResumeAttempt[] = [];
    const chat = streamChat({ baseURL, messages, resume: { delayMs: 4, maxDelayMs: 100 }, onResume: (attempt) => attempts.push(attempt) });
    await collect(chat);
    expect(chat.text).toBe(story);
    expect(attempts.map((attempt) => attempt.attempt)).toEqual([1, 2, 3]);
    expect(attempts.map((attempt) => attempt.error)).toEqual([
      expect.objectContaining({ code: 'network_error' }),
      expect.objectContaining({ code: 'scripted_error', status: 503 }),
      expect.objectContaining({ code: 'network_error' }),
    ]);
    // Exponential: up to 4, 8, 16 ms, less at most a quarter.
    expect(attempts.map((attempt) => attempt.delayMs)).toEqual([
      expect.toSatisfy((ms: number) => ms >= 3 && ms <= 4),
      expect.toSatisfy((ms: number) => ms >= 6 && ms <= 8),
      expect.toSatisfy((ms: number) => ms >= 12 && ms <= 16),
    ]);
  });

  it('gives up after resume.maxAttempts with a resume_failed error that says what to do', async () => {
    server.script({ deltas: words, connections: { 0: { cutAfter: 2 }, 1: { status: 503 }, 2: { refuse: true }, 3: { status: 502 } } });
    const chat = streamChat({ baseURL, messages, resume: { ...fast, maxAttempts: 3 } });
    const error = await collect(chat).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      code: 'resume_failed',
      runId: chat.runId,
      message: expect.stringMatching(/could not resume run run-\d+ after 3 attempts .*502.*resumeRun\(\{ runId, lastEventId: 1 \}\)/),
      cause: expect.objectContaining({ status: 502 }),
    });
    expect(resumesOf(chat.runId)).toHaveLength(3);
    expect(chat.status).toBe('error');
    expect(chat.text).toBe(words[0]);
  });

  it('counts attempts per drop: a resumed connection that delivers events earns a fresh count', async () => {
    server.script({
      deltas: words,
      connections: { 0: { cutAfter: 2 }, 1: { status: 503 }, 2: { cutAfter: 2 }, 3: { status: 503 }, 4: { cutAfter: 2 } },
    });
    const chat = streamChat({ baseURL, messages, resume: { ...fast, maxAttempts: 2 } });
    await collect(chat);
    expect(chat.text).toBe(story);
  });

  it('does not retry a 4xx answer to a resume', async () => {
    server.script({ deltas: words, connections: { 0: { cutAfter: 2 }, 1: { status: 404, body: { error: { code: 'not_found', message: 'run gone' } } } } });
    const chat = streamChat({ baseURL, messages, resume: fast });
    await expect(chat.done).rejects.toMatchObject({ code: 'not_found', status: 404, message: expect.stringContaining('run gone') });
    expect(resumesOf(chat.runId)).toHaveLength(1);
  });

  it('reports connection_lost, without reconnecting, when resume is off', async () => {
    server.script({ deltas: words, connections: { 0: { cutAfter: 2 } } });
    const chat = streamChat({ baseURL, messages, resume: false });
    await expect(chat.done).rejects.toMatchObject({ code: 'connection_lost', message: expect.stringContaining('resumeRun') });
    expect(resumesOf(chat.runId)).toHaveLength(0);
  });

  it('treats a connection that sends nothing for idleTimeoutMs as dropped', async () => {
    server.script({ deltas: words, connections: { 0: { cutAfter: 2 }, 1: { silent: true } } });
    const attempts: ResumeAttempt[] = [];
    const chat = streamChat({ baseURL, messages, resume: { ...fast, idleTimeoutMs: 60 }, onResume: (attempt) => attempts.push(attempt) });
    expect((await chat.done).text).toBe(story);
    expect(chat.text).toBe(story);
    expect(attempts.map((attempt) => (attempt.error as { code?: string }).code)).toEqual(['network_error', 'stalled']);
    expect(resumesOf(chat.runId).map((request) => request.headers['last-event-id'])).toEqual(['1', '1']);
  });
});

describe('resumeRun', () => {
  it('reattaches from lastEventId and yields only the events after it', async () => {
    server.script({ deltas: words });
    const original = streamChat({ baseURL, messages });
    await original.done;
    const chat = resumeRun({ baseURL, runId: original.runId as string, lastEventId: 4, conversationId: original.conversationId });
    const events = await collect(chat);
    expect(resumesOf(original.runId).at(-1)?.headers['last-event-id']).toBe('4');
    expect(seqs(events)[0]).toBe(5);
    expect(seqs(events).at(-1)).toBe(words.length + 1);
    expect(chat.text).toBe(words.slice(4).join(''));
    const result = await chat.done;
    expect(result.text).toBe(story);
    expect(result.conversationId).toBe(original.conversationId);
  });

  it('replays a whole run, live or finished, when no lastEventId is given', async () => {
    server.script({ deltas: words, intervalMs: 5 });
    const live = streamChat({ baseURL, messages });
    for await (const event of live) if (event.type === 'text-delta') break;
    const chat = resumeRun({ baseURL, runId: live.runId as string });
    const events = await collect(chat);
    expect(resumesOf(live.runId).at(-1)?.headers['last-event-id']).toBeUndefined();
    expect(seqs(events)).toEqual([...Array(words.length + 2).keys()]);
    expect(chat.text).toBe(story);
  });

  it('retries its first connection like a resume', async () => {
    server.script({ deltas: words, connections: { 1: { refuse: true } } });
    const original = streamChat({ baseURL, messages });
    await original.done;
    const chat = resumeRun({ baseURL, runId: original.runId as string, resume: fast });
    expect((await chat.done).text).toBe(story);
    expect(resumesOf(original.runId)).toHaveLength(2);
  });

  it('rejects an unknown run with not_found', async () => {
    const chat = resumeRun({ baseURL, runId: 'run-unknown', resume: fast });
    await expect(chat.done).rejects.toMatchObject({ code: 'not_found', status: 404 });
  });
});
