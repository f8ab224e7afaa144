/**
 * Core dispatch: the cost per chunk of getting 100,000 text chunks from a model to a handler
 * and to a `for await` consumer, against the floor (a bare async generator) and the anchors
 * (LangChain.js and the Vercel AI SDK) on their own fake models, in the same run.
 */
import { Writable } from 'node:stream';
import { AIMessageChunk } from '@langchain/core/messages';
import { FakeStreamingChatModel } from '@langchain/core/utils/testing';
import { FakeChatModel, StreamingStdOutCallbackHandler, type CallbackHandler } from '@sluice/core';
import { streamText } from 'ai';
import { MockLanguageModelV4, simulateReadableStream } from 'ai/test';
import { check, fixed, median, table, timeRuns, type BenchReport } from './bench-report.ts';
import { aiSdkTextParts } from './ai-sdk-mock-parts.ts';

// LangChain runs callbacks in the background unless told otherwise; the issue measures them awaited.
process.env.LANGCHAIN_CALLBACKS_BACKGROUND = 'false';

const N = 100_000;
const tokens = Array.from({ length: N }, (_, index) => ` tok${index % 1000}`);

interface Case {
  name: string;
  warmup: number;
  runs: number;
  body: () => Promise<void>;
}

function noop(_value: unknown): void {}

// 1. The floor: a bare async generator of pre-built chunks, one no-op call per chunk.
const floorChunks = tokens.map((text) => ({ type: 'text-delta' as const, text }));
async function* floorSource() {
  for (const chunk of floorChunks) yield chunk;
}
async function floor(): Promise<void> {
  let count = 0;
  for await (const chunk of floorSource()) {
    noop(chunk);
    count++;
  }
  check(count === N, `floor saw ${count} chunks`);
}

// 2. sluice: FakeChatModel at rate 0, one sync onChatNewMessage handler, for await.
const fake = new FakeChatModel({ tokens });
async function sluiceOne(): Promise<void> {
  let handled = 0;
  const handler: CallbackHandler = { onChatNewMessage: () => void handled++ };
  let consumed = 0;
  for await (const event of fake.stream('go', { callbacks: [handler] })) if (event.type === 'text-delta') consumed++;
  check(handled === N && consumed === N, `sluice handled ${handled}, consumed ${consumed}`);
}

// 3. sluice with three handlers: the sync one, stdout to a null sink, an async coalescing one.
const nullSink = new Writable({ write: (_chunk, _encoding, done) => done() });
async function sluiceThree(): Promise<void> {
  let handled = 0;
  const asyncParts: string[] = [];
  const handlers: CallbackHandler[] = [
    { onChatNewMessage: () => void handled++ },
    new StreamingStdOutCallbackHandler({ stream: nullSink, newline: false }),
    {
      delivery: { overflow: 'coalesce', capacity: 1024 },
      async onChatNewMessage(chunk) {
        asyncParts.push(chunk.content);
      },
    },
  ];
  let consumed = 0;
  const stream = fake.stream('go', { callbacks: handlers });
  for await (const event of stream) if (event.type === 'text-delta') consumed++;
  const result = await stream;
  check(handled === N && consumed === N, `sluice x3 handled ${handled}, consumed ${consumed}`);
  check(asyncParts.join('') === result.text, 'the coalescing handler lost text');
}

// 4. LangChain.js: FakeStreamingChatModel with handleLLMNewToken, callbacks awaited.
const langchainModel = new FakeStreamingChatModel({ chunks: tokens.map((text) => new AIMessageChunk({ content: text })) });
async function langchain(): Promise<void> {
  let handled = 0;
  let consumed = 0;
  const stream = await langchainModel.stream('go', {
    callbacks: [{ handleLLMNewToken: () => void handled++ }],
  });
  for await (const chunk of stream) {
    noop(chunk);
    consumed++;
  }
  check(handled === N && consumed === N, `langchain handled ${handled}, consumed ${consumed}`);
}

// 5. Vercel AI SDK: streamText over the mock model, simulateReadableStream with null delays, onChunk.
const aiParts = aiSdkTextParts(tokens);
async function vercel(): Promise<void> {
  let handled = 0;
  let consumed = 0;
  const model = new MockLanguageModelV4({
    doStream: async () => ({ stream: simulateReadableStream({ chunks: aiParts, initialDelayInMs: null, chunkDelayInMs: null }) }),
  });
  const result = streamText({
    model,
    prompt: 'go',
    onChunk: ({ chunk }) => {
      if (chunk.type === 'text-delta') handled++;
    },
  });
  for await (const part of result.fullStream) if (part.type === 'text-delta') consumed++;
  check(handled === N && consumed === N, `ai sdk handled ${handled}, consumed ${consumed}`);
}

export default async function coreDispatch(): Promise<BenchReport> {
  const cases: Case[] = [
    { name: 'floor: bare async generator + no-op', warmup: 3, runs: 11, body: floor },
    { name: 'sluice: FakeChatModel → stream(), 1 sync handler', warmup: 3, runs: 11, body: sluiceOne },
    { name: 'sluice: 3 handlers (sync, stdout → null, async coalesce)', warmup: 3, runs: 11, body: sluiceThree },
    { name: 'LangChain.js: FakeStreamingChatModel + handleLLMNewToken', warmup: 1, runs: 5, body: langchain },
    { name: 'Vercel AI SDK: streamText + onChunk (mock model)', warmup: 1, runs: 5, body: vercel },
  ];
  const perChunkNs = new Map<string, number>();
  const rows: (string | number)[][] = [];
  for (const benchCase of cases) {
    const times = await timeRuns(benchCase.body, { warmup: benchCase.warmup, runs: benchCase.runs });
    const ms = median(times);
    const ns = (ms * 1e6) / N;
    perChunkNs.set(benchCase.name, ns);
    rows.push([benchCase.name, benchCase.runs, fixed(ms, 1), fixed(ns, 0)]);
  }
  const [floorNs, oneNs, threeNs, langchainNs, vercelNs] = cases.map((benchCase) => perChunkNs.get(benchCase.name) as number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  for (const row of rows) {
    const ns = perChunkNs.get(row[0] as string) as number;
    row.push(`${fixed(ns / floorNs, 2)}×`, `${fixed(ns / oneNs, 1)}×`);
  }
  const markdown = [
    `${N.toLocaleString('en-US')} text chunks per run; median of the measured runs after warm-up; every run checks that each chunk reached the handler (and the consumer).`,
    '',
    table(['case', 'runs', 'median ms', 'ns / chunk', 'vs floor', 'vs sluice (1 handler)'], rows),
  ].join('\n');
  return {
    title: 'Core dispatch (100,000 chunks)',
    markdown,
    targets: [
      { description: `sluice (1 handler) within 2× the floor per chunk: ${fixed(oneNs / floorNs, 2)}×`, met: oneNs <= 2 * floorNs },
      { description: `at least 15× faster per chunk than LangChain.js: ${fixed(langchainNs / oneNs, 1)}×`, met: langchainNs >= 15 * oneNs },
      { description: `at least 50× faster per chunk than the Vercel AI SDK: ${fixed(vercelNs / oneNs, 1)}×`, met: vercelNs >= 50 * oneNs },
      { description: `sluice with 3 handlers, for reference: ${fixed(threeNs / floorNs, 2)}× the floor`, met: true },
    ],
  };
}
