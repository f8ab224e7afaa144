import { createServer, type Server } from 'node:http';
import { FakeChatModel, type StreamEvent } from '@sluice/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChatHandler, type ChatHandler } from '../src/index.ts';
import { eventsOf, readFrames, textOf } from './sse-client.ts';

const tokens = Array.from({ length: 120 }, (_, index) => (index % 17 === 16 ? '.\n' : ` t${index}`));
let server: Server;
let handler: ChatHandler;
let url: string;

beforeAll(async () => {
  handler = createChatHandler({ model: new FakeChatModel({ tokens, rate: 3000 }), disconnect: 'continue', maxConcurrentRuns: 100 });
  server = createServer((request, response) => void handler(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

afterAll(async () => {
  await handler.close({ graceMs: 0 });
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** Reads a run through connections cut after the given event counts, resuming each time. */
async function readWithCuts(cuts: readonly number[]): Promise<StreamEvent[]> {
  const first = await fetch(`${url}/chat`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'go' }] }),
  });
  const runId = first.headers.get('x-sluice-run-id') as string;
  const received: StreamEvent[] = [];
  let response: Response = first;
  for (let attempt = 0; ; attempt++) {
    const cut = cuts[attempt];
    const { frames } = await readFrames(response, cut === undefined ? {} : { stopAfterEvents: cut });
    received.push(...eventsOf(frames));
    if (received.at(-1)?.type === 'finish') return received;
    const last = received.at(-1)?.seq ?? -1;
    response = await fetch(`${url}/runs/${runId}/events`, { headers: { 'Last-Event-ID': String(last) } });
    if (attempt > cuts.length + 2) throw new Error('the run never finished');
  }
}

describe('resume', () => {
  it('runs cut at random points and resumed reassemble exactly: no gap, no duplicate', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 4 }), async (cuts) => {
        const events = await readWithCuts(cuts);
        expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
        const finish = events.at(-1) as Extract<StreamEvent, { type: 'finish' }>;
        expect(textOf(events)).toBe(finish.message.content);
        expect(finish.message.content).toBe(tokens.join(''));
      }),
      { numRuns: 40 },
    );
  });

  it('many concurrent runs, each cut and resumed, all reassemble exactly', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, index) => readWithCuts([1 + ((index * 7) % 30), 3])));
    for (const events of results) {
      expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
      expect(textOf(events)).toBe(tokens.join(''));
    }
  });
});
