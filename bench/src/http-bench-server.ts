/**
 * The server side of the HTTP benchmark, run in its own process so its CPU time is its own.
 * Serves three ways of streaming the same 2,000-token fake reply, and answers the parent's
 * requests for CPU and memory figures over IPC.
 */
import { once } from 'node:events';
import { FakeChatModel, tokenize } from '@sluice/core';
import { chatRouter } from '@sluice/express';
import { formatSseEvent } from '@sluice/http';
import { streamText } from 'ai';
import { MockLanguageModelV4, simulateReadableStream } from 'ai/test';
import express from 'express';
import { aiSdkTextParts } from './ai-sdk-mock-parts.ts';

export const EVENTS_PER_RUN = 2000;
const tokens = Array.from({ length: EVENTS_PER_RUN }, (_, index) => ` tok${index}`);
const fast = new FakeChatModel({ model: 'fast', tokens });
const idle = new FakeChatModel({ model: 'idle', tokens: ['hi'], stallAfter: 0 });

const app = express();
const router = chatRouter({ models: { fast, idle }, rateLimit: false, maxConcurrentRuns: 100_000, disconnect: 'abort' });
app.use('/api', router);

// The floor: a bare Express route writing the same SSE frames in a for await loop, honouring drain.
app.post('/bare', async (_request, response) => {
  response.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    'X-Accel-Buffering': 'no',
  });
  for await (const event of fast.stream('go')) {
    if (!response.write(formatSseEvent(event))) await once(response, 'drain');
  }
  response.end();
});

// The anchor: the Vercel AI SDK's UI message stream over its mock model, same tokens.
const aiParts = aiSdkTextParts(tokens);
app.post('/ai-sdk', (_request, response) => {
  const model = new MockLanguageModelV4({
    doStream: async () => ({ stream: simulateReadableStream({ chunks: aiParts, initialDelayInMs: null, chunkDelayInMs: null }) }),
  });
  streamText({ model, prompt: 'go' }).pipeUIMessageStreamToResponse(response);
});

const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.send?.({ type: 'ready', port: address.port, tokenCount: tokenize(tokens.join('')).length });
});

let cpuMark = process.cpuUsage();
process.on('message', (message: { type: string }) => {
  switch (message.type) {
    case 'cpu-start':
      cpuMark = process.cpuUsage();
      process.send?.({ type: 'cpu-started' });
      break;
    case 'cpu-stop': {
      const used = process.cpuUsage(cpuMark);
      process.send?.({ type: 'cpu', micros: used.user + used.system });
      break;
    }
    case 'memory':
      (globalThis as { gc?: () => void }).gc?.();
      (globalThis as { gc?: () => void }).gc?.();
      process.send?.({ type: 'memory', ...process.memoryUsage() });
      break;
    case 'exit':
      void router.chat.close({ graceMs: 0 });
      server.closeAllConnections();
      server.close(() => process.exit(0));
      break;
  }
});
