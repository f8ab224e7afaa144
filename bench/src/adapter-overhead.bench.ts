/**
 * Adapter overhead: the same 2,000-token stream from the fake provider server on loopback,
 * consumed (a) by iterating the raw SDK stream and (b) through the sluice adapter's
 * `.stream()` with one sync `onChatNewMessage` handler, interleaved in one run: time to first
 * token and time per chunk, for OpenAI (Chat Completions and Responses) and Anthropic.
 * Every run checks that all 2,000 tokens arrived, in order.
 */
import Anthropic from '@anthropic-ai/sdk';
import { ChatAnthropic } from '@sluice/anthropic';
import type { ChatModel } from '@sluice/core';
import { ChatOpenAI } from '@sluice/openai';
import { fork } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { check, fixed, median, table, type BenchReport } from './bench-report.ts';

const TOKENS = Array.from({ length: 2000 }, (_, index) => ` w${index}`);
const EXPECTED = TOKENS.join('');
const WARMUP = 8;
const RUNS = 40;
const PROMPT = 'Write a long story.';

interface Sample {
  ttftMs: number;
  perChunkUs: number;
  /** The client process's CPU time per token: insensitive to other load on the machine. */
  cpuPerChunkUs: number;
}

/** Times one consumption: `consume` calls `onToken` for every token it receives. */
async function sample(consume: (onToken: (text: string) => void) => Promise<void>): Promise<Sample> {
  const parts: string[] = [];
  let first = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await consume((text) => {
    if (parts.length === 0) first = performance.now();
    parts.push(text);
  });
  const ended = performance.now();
  const used = process.cpuUsage(cpu);
  check(parts.length === TOKENS.length, `expected ${TOKENS.length} tokens, got ${parts.length}`);
  check(parts.join('') === EXPECTED, 'the tokens arrived incomplete or out of order');
  return { ttftMs: first - started, perChunkUs: ((ended - first) / (parts.length - 1)) * 1000, cpuPerChunkUs: (used.user + used.system) / parts.length };
}

interface Target {
  name: string;
  raw: (onToken: (text: string) => void) => Promise<void>;
  model: ChatModel;
}

function viaSluice(model: ChatModel): (onToken: (text: string) => void) => Promise<void> {
  return async (onToken) => {
    let handled = 0;
    const stream = model.stream(PROMPT, { callbacks: [{ onChatNewMessage: () => void handled++ }] });
    for await (const event of stream) if (event.type === 'text-delta') onToken(event.text);
    check(handled === TOKENS.length, `the handler saw ${handled} chunks`);
  };
}

async function measure(target: Target): Promise<{ raw: Sample[]; sluice: Sample[] }> {
  const sluice = viaSluice(target.model);
  for (let index = 0; index < WARMUP; index++) {
    await sample(target.raw);
    await sample(sluice);
  }
  const raw: Sample[] = [];
  const adapted: Sample[] = [];
  for (let index = 0; index < RUNS; index++) {
    (globalThis as { gc?: () => void }).gc?.();
    // Alternate which goes first, so drift and warm caches favour neither.
    if (index % 2 === 0) {
      raw.push(await sample(target.raw));
      adapted.push(await sample(sluice));
    } else {
      adapted.push(await sample(sluice));
      raw.push(await sample(target.raw));
    }
  }
  return { raw, sluice: adapted };
}

export default async function adapterOverhead(): Promise<BenchReport> {
  const loadBefore = loadavg()[0] ?? 0;
  // The fake servers run in their own process, as a provider would.
  const servers = fork(fileURLToPath(new URL('./fake-provider-process.ts', import.meta.url)), [JSON.stringify(TOKENS)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const urls = await new Promise<{ openai: string; anthropic: string }>((resolve) => servers.once('message', resolve as (message: unknown) => void));
  try {
    const openai = new OpenAI({ apiKey: 'bench', baseURL: urls.openai, maxRetries: 0 });
    const anthropic = new Anthropic({ apiKey: 'bench', baseURL: urls.anthropic, maxRetries: 0 });
    const messages = [{ role: 'user' as const, content: PROMPT }];
    const targets: Target[] = [
      {
        name: 'OpenAI Chat Completions',
        model: new ChatOpenAI({ client: openai, model: 'gpt-4o-mini' }),
        raw: async (onToken) => {
          const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages, stream: true, stream_options: { include_usage: true } });
          for await (const chunk of stream) {
            const text = chunk.choices[0]?.delta.content;
            if (text) onToken(text);
          }
        },
      },
      {
        name: 'OpenAI Responses',
        model: new ChatOpenAI({ client: openai, model: 'gpt-4o-mini', api: 'responses' }),
        raw: async (onToken) => {
          const stream = await openai.responses.create({ model: 'gpt-4o-mini', input: messages, stream: true });
          for await (const event of stream) if (event.type === 'response.output_text.delta') onToken(event.delta);
        },
      },
      {
        name: 'Anthropic Messages',
        model: new ChatAnthropic({ client: anthropic, model: 'claude-haiku-4-5', maxTokens: 4096 }),
        raw: async (onToken) => {
          const stream = await anthropic.messages.create({ model: 'claude-haiku-4-5', max_tokens: 4096, messages, stream: true });
          for await (const event of stream) {
            if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') onToken(event.delta.text);
          }
        },
      },
    ];

    const rows: (string | number)[][] = [];
    const targets_: BenchReport['targets'] = [];
    for (const target of targets) {
      console.log(`[bench] adapter-overhead: ${target.name}`);
      const { raw, sluice } = await measure(target);
      const rawTtft = median(raw.map((item) => item.ttftMs));
      const sluiceTtft = median(sluice.map((item) => item.ttftMs));
      const rawChunk = median(raw.map((item) => item.perChunkUs));
      const sluiceChunk = median(sluice.map((item) => item.perChunkUs));
      const ttftOverhead = (sluiceTtft / rawTtft - 1) * 100;
      const chunkOverhead = (sluiceChunk / rawChunk - 1) * 100;
      const rawCpu = median(raw.map((item) => item.cpuPerChunkUs));
      const sluiceCpu = median(sluice.map((item) => item.cpuPerChunkUs));
      const cpuOverhead = (sluiceCpu / rawCpu - 1) * 100;
      rows.push([
        target.name,
        fixed(rawTtft, 3),
        fixed(sluiceTtft, 3),
        `${fixed(ttftOverhead)} %`,
        fixed(rawChunk, 2),
        fixed(sluiceChunk, 2),
        `${fixed(chunkOverhead)} %`,
        fixed(rawCpu, 2),
        fixed(sluiceCpu, 2),
        `${fixed(cpuOverhead)} %`,
      ]);
      targets_.push({ description: `${target.name}: the adapter adds at most 5% to time to first token (${fixed(ttftOverhead)} %)`, met: ttftOverhead <= 5 });
      targets_.push({ description: `${target.name}: the adapter adds at most 5% to time per chunk (${fixed(chunkOverhead)} %)`, met: chunkOverhead <= 5 });
    }
    const markdown = [
      `The same ${TOKENS.length}-token reply from \`@sluice/testing\`'s fake server (in its own process, as a provider is; 127.0.0.1, no delay), consumed`,
      '(a) by iterating the official SDK\'s stream and (b) through the sluice adapter\'s `.stream()` with one sync',
      '`onChatNewMessage` handler, both over the same SDK client. Medians of ' + `${RUNS} interleaved runs per side after ${WARMUP} warm-up runs;`,
      'time to first token is from the call to the first text token; time per chunk is from the first to the last token',
      'divided by the gaps between them. Every run checks all tokens arrived, in order, and the handler saw each.',
      `Machine load (1-minute load average) at the start: ${fixed(loadBefore, 2)} on ${availableParallelism()} cores.`,
      '',
      'CPU per chunk is the client process\'s CPU time per token: it does not count time the',
      'process waited for a core, so it is the steadier figure on a shared machine. The targets are checked on the wall-clock figures.',
      '',
      table(
        ['API', 'raw TTFT (ms)', 'sluice TTFT (ms)', 'TTFT overhead', 'raw per chunk (µs)', 'sluice per chunk (µs)', 'per-chunk overhead', 'raw CPU/chunk (µs)', 'sluice CPU/chunk (µs)', 'CPU overhead'],
        rows,
      ),
    ].join('\n');
    return { title: 'Adapter overhead (raw SDK stream vs sluice adapter)', markdown, targets: targets_ };
  } finally {
    servers.send({ type: 'exit' });
    await new Promise((resolve) => servers.once('exit', resolve));
  }
}
