/**
 * HTTP: 50 concurrent clients, 400 requests of 2,000 text events each, through `chatRouter`
 * (fake model at rate 0), against a bare Express route writing the same SSE frames and against
 * the Vercel AI SDK's `pipeUIMessageStreamToResponse` on the same mock stream, in the same run.
 * The server runs in a child process: its CPU time per event is measured there. Then the
 * memory of 2,000 open idle streams.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { check, fixed, median, table, type BenchReport } from './bench-report.ts';

const EVENTS_PER_RUN = 2000;
const REQUESTS = 400;
const CONCURRENCY = 50;
const IDLE_STREAMS = 2000;

interface Target {
  name: string;
  path: string;
  /** Counts the text events in a response body. */
  count: (body: string) => number;
  body: unknown;
}

function occurrences(text: string, needle: string): number {
  let count = 0;
  for (let index = text.indexOf(needle); index !== -1; index = text.indexOf(needle, index + needle.length)) count++;
  return count;
}

const targets: Target[] = [
  { name: 'sluice: chatRouter (@sluice/express)', path: '/api/chat', count: (body) => occurrences(body, 'event: text-delta\n'), body: { messages: [{ role: 'user', content: 'go' }], model: 'fast' } },
  { name: 'bare Express route, same frames, honours drain', path: '/bare', count: (body) => occurrences(body, 'event: text-delta\n'), body: {} },
  { name: 'Vercel AI SDK: pipeUIMessageStreamToResponse', path: '/ai-sdk', count: (body) => occurrences(body, '"type":"text-delta"'), body: {} },
];

function request(child: ChildProcess, message: { type: string }, reply: string): Promise<Record<string, number>> {
  return new Promise((resolve) => {
    const listener = (answer: { type: string } & Record<string, number>) => {
      if (answer.type !== reply) return;
      child.off('message', listener);
      resolve(answer);
    };
    child.on('message', listener);
    child.send(message);
  });
}

async function load(base: string, target: Target, requests = REQUESTS): Promise<number> {
  let next = 0;
  let events = 0;
  const worker = async () => {
    while (next < requests) {
      next++;
      const response = await fetch(`${base}${target.path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: JSON.stringify(target.body),
      });
      const received = target.count(await response.text());
      check(received === EVENTS_PER_RUN, `${target.name}: a response carried ${received} of ${EVENTS_PER_RUN} text events`);
      events += received;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return events;
}

export default async function httpServer(): Promise<BenchReport> {
  const child = fork(fileURLToPath(new URL('./http-bench-server.ts', import.meta.url)), [], {
    execArgv: ['--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ port: number }>((resolve) => child.once('message', resolve as (message: unknown) => void));
  const base = `http://127.0.0.1:${ready.port}`;
  try {
    // Warm up every route, then three interleaved rounds.
    for (const target of targets) await load(base, target, 100);
    const rates = new Map<string, number[]>();
    const cpu = new Map<string, number[]>();
    for (let round = 0; round < 3; round++) {
      for (const target of targets) {
        await request(child, { type: 'cpu-start' }, 'cpu-started');
        const started = performance.now();
        const events = await load(base, target);
        const seconds = (performance.now() - started) / 1000;
        const { micros } = await request(child, { type: 'cpu-stop' }, 'cpu');
        check(events === REQUESTS * EVENTS_PER_RUN, `${target.name}: ${events} events`);
        (rates.get(target.name) ?? rates.set(target.name, []).get(target.name))?.push(events / seconds);
        (cpu.get(target.name) ?? cpu.set(target.name, []).get(target.name))?.push(((micros as number) * 1000) / events);
      }
    }
    const rate = (name: string) => median(rates.get(name) as number[]);
    const cpuPerEvent = (name: string) => median(cpu.get(name) as number[]);
    const [ours, bare, vercel] = targets.map((target) => target.name) as [string, string, string];
    const rows = targets.map((target) => [
      target.name,
      Math.round(rate(target.name)).toLocaleString('en-US'),
      fixed(cpuPerEvent(target.name), 0),
      `${fixed(rate(target.name) / rate(bare), 2)}×`,
    ]);

    // Memory per open idle stream: 2,000 runs that stall after their start event.
    const before = await request(child, { type: 'memory' }, 'memory');
    const controllers: AbortController[] = [];
    const open = async (): Promise<number> => {
      const controller = new AbortController();
      controllers.push(controller);
      const response = await fetch(`${base}/api/chat`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'wait' }], model: 'idle' }),
        signal: controller.signal,
      });
      await (response.body as ReadableStream<Uint8Array>).getReader().read();
      return response.status;
    };
    const opened: number[] = [];
    // In batches, so the listen backlog never overflows.
    for (let batch = 0; batch < IDLE_STREAMS / 100; batch++) opened.push(...(await Promise.all(Array.from({ length: 100 }, open))));
    check(opened.every((status) => status === 200), 'an idle stream failed to open');
    const during = await request(child, { type: 'memory' }, 'memory');
    for (const controller of controllers) controller.abort();
    const heapPerStream = ((during.heapUsed as number) - (before.heapUsed as number)) / IDLE_STREAMS;
    const rssPerStream = ((during.rss as number) - (before.rss as number)) / IDLE_STREAMS;

    const markdown = [
      `${CONCURRENCY} concurrent clients, ${REQUESTS} requests of ${EVENTS_PER_RUN.toLocaleString('en-US')} text events each per case, three interleaved rounds (median), after a warm-up. The server runs in its own process (its CPU time is measured there); every response is checked to carry all ${EVENTS_PER_RUN} text events.`,
      '',
      table(['server', 'events / s', 'server CPU ns / event', 'vs bare route'], rows),
      '',
      `Open idle streams: ${IDLE_STREAMS.toLocaleString('en-US')} SSE responses of stalled runs held open at once: **${fixed(heapPerStream / 1024, 1)} KiB of heap per stream** (each with its run, lanes, hub entry and response), server process, after GC; ${
        rssPerStream >= 512 ? `${fixed(rssPerStream / 1024, 1)} KiB of RSS per stream` : 'its RSS did not grow measurably (the heap fit in pages it already had)'
      }.`,
    ].join('\n');
    return {
      title: 'HTTP streaming (chatRouter vs bare Express vs AI SDK)',
      markdown,
      targets: [
        { description: `sluice at least 0.8× the bare route's events/s: ${fixed(rate(ours) / rate(bare), 2)}×`, met: rate(ours) >= 0.8 * rate(bare) },
        { description: `sluice at least 8× the AI SDK's events/s: ${fixed(rate(ours) / rate(vercel), 1)}×`, met: rate(ours) >= 8 * rate(vercel) },
        {
          description: `server CPU per event, sluice vs AI SDK: ${fixed(cpuPerEvent(vercel) / cpuPerEvent(ours), 1)}× less`,
          met: true,
        },
      ],
    };
  } finally {
    child.send({ type: 'exit' });
    await new Promise((resolve) => child.once('exit', resolve));
  }
}
