// Three sluice server processes on loopback sharing PostgreSQL, once with the PostgreSQL run hub
// and once with the Redis run hub. Runs whose clients are cut at random points resume on random
// instances; cancels go to random instances; one instance is killed with SIGKILL mid-run and its
// runs end within the lease timeout. Every run: no gap, no duplicate, and what the client
// assembled equals the stored message. Then quick follow-up turns in a row, each prompt holding
// every earlier reply. Sizes: SLUICE_CLUSTER_RUNS (default 200 per hub).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { ChatHistoryStore, dropChatHistoryTables } from '@sluice/kysely';
import { textOf, type FinishEvent, type StreamEvent } from '@sluice/core';
import { Redis } from 'ioredis';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnInstance, type InstanceProcess } from '../../examples/cluster/src/spawn-instance.ts';

const RUNS = Number(process.env.SLUICE_CLUSTER_RUNS ?? 200);
const CONCURRENCY = 25;
const LEASE_MS = 1500;
const connection = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
const auth = { Authorization: 'Bearer cluster-user' };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForRedis(url: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      if ((await redis.ping()) === 'PONG') return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      redis.disconnect();
    }
  }
}

/** A deterministic generator, so a failing round can be replayed with its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

interface RunOutcome {
  runId: string;
  conversationId: string;
  seqs: number[];
  text: string;
  finish: FinishEvent;
  resumes: number;
  cancelled: boolean;
}

/** Reads SSE frames from a response body, calling `onEvent` for each run event. */
async function readStream(response: Response, onEvent: (event: StreamEvent) => boolean | void, signal: AbortSignal): Promise<'finish' | 'cut' | 'ended'> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch {
        return signal.aborted ? 'cut' : 'ended';
      }
      if (chunk.done) return 'ended';
      buffer += decoder.decode(chunk.value, { stream: true });
      let boundary = buffer.indexOf('\n\n');
      while (boundary !== -1) {
        const frame = buffer.slice(0, boundary);
        buffer = buffer.slice(boundary + 2);
        boundary = buffer.indexOf('\n\n');
        if (frame.includes('event: run-error')) throw new Error(`run-error frame: ${frame}`);
        const data = frame.split('\n').find((line) => line.startsWith('data: '));
        if (data === undefined) continue;
        const event = JSON.parse(data.slice(6)) as StreamEvent;
        if (onEvent(event) === true) return event.type === 'finish' ? 'finish' : 'cut';
        if (event.type === 'finish') return 'finish';
      }
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

describe.each(['postgres', 'redis'] as const)('three instances with the %s hub', (hubKind) => {
  const prefix = `mi_${hubKind.slice(0, 2)}_${process.pid}_${Math.floor(Math.random() * 1e6)}_`;
  let instances: (InstanceProcess & { alive: boolean })[] = [];
  let db: Kysely<unknown>;
  let store: ChatHistoryStore;
  const next = random(hubKind === 'postgres' ? 7 : 11);

  const alive = (): (InstanceProcess & { alive: boolean })[] => instances.filter((instance) => instance.alive);
  const pick = (): InstanceProcess => {
    const live = alive();
    return live[Math.floor(next() * live.length)] as InstanceProcess;
  };

  let redisServer: ChildProcess | undefined;
  let redisUrl = 'redis://127.0.0.1:6379';

  beforeAll(async () => {
    if (hubKind === 'redis') {
      // A Redis of this test's own: another suite restarts the shared one on purpose.
      const port = await freePort();
      redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      redisUrl = `redis://127.0.0.1:${port}`;
      await waitForRedis(redisUrl);
    }
    const env = { REDIS_URL: redisUrl, SLUICE_HUB: hubKind, SLUICE_PREFIX: prefix, SLUICE_LEASE_MS: String(LEASE_MS), SLUICE_FAKE_RATE: '300', SLUICE_REPLY_TOKENS: '30', SLUICE_CLUSTER_QUIET: '1' };
    // The first migrates; the others find the tables there.
    const first = await spawnInstance(env);
    instances = [first, ...(await Promise.all([spawnInstance(env), spawnInstance(env)]))].map((instance) => ({ ...instance, alive: true }));
    db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool: new pg.Pool({ ...connection, max: 4 }) }) });
    store = new ChatHistoryStore({ db, tablePrefix: prefix });
  });

  afterAll(async () => {
    for (const instance of instances) {
      if (!instance.alive) continue;
      const exited = new Promise((resolve) => instance.child.once('exit', resolve));
      instance.child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (instance.child.exitCode === null) instance.child.kill('SIGKILL');
    }
    await dropChatHistoryTables(db, { tablePrefix: prefix });
    await db.schema.dropTable(`${prefix}runs`).ifExists().execute();
    await db.destroy();
    if (redisServer !== undefined) {
      const exited = new Promise((resolve) => redisServer?.once('exit', resolve));
      redisServer.kill('SIGTERM');
      await exited;
    }
  });

  /** One client: POST on a random instance, cut at random points, resume on random instances. */
  async function runClient(index: number, options: { cancel: boolean }): Promise<RunOutcome | undefined> {
    const seqs: number[] = [];
    const text: string[] = [];
    let finish: FinishEvent | undefined;
    let runId: string | undefined;
    let conversationId = '';
    let resumes = 0;
    let cancelled = false;
    const take = (event: StreamEvent): void => {
      const last = seqs.at(-1) ?? -1;
      if (event.seq <= last) throw new Error(`duplicate seq ${event.seq} after ${last} in run ${runId}`);
      if (event.seq !== last + 1) throw new Error(`gap: seq ${event.seq} after ${last} in run ${runId}`);
      seqs.push(event.seq);
      if (event.type === 'text-delta') text.push(event.text);
      if (event.type === 'finish') finish = event;
    };
    const deadline = Date.now() + 30_000;
    while (finish === undefined) {
      if (Date.now() > deadline) throw new Error(`run ${runId ?? '(not started)'} did not finish within 30 s (seqs up to ${seqs.at(-1)})`);
      const controller = new AbortController();
      const cutAfter = next() < 0.6 ? 1 + Math.floor(next() * 25) : Number.POSITIVE_INFINITY;
      let seen = 0;
      let response: Response;
      try {
        if (runId === undefined) {
          // A fresh conversation per attempt: a POST lost with a killed instance may have taken one.
          conversationId = `mi-${index}-${resumes}-${Date.now()}-${Math.floor(next() * 1e9)}`;
          response = await fetch(`${pick().url}/chat`, {
            method: 'POST',
            headers: { ...auth, 'Content-Type': 'application/json' },
            body: JSON.stringify({ conversationId, messages: [{ role: 'user', content: `run ${index}` }] }),
            signal: controller.signal,
          });
          if (response.status !== 200) throw new Error(`POST /chat answered ${response.status}: ${await response.text()}`);
          runId = response.headers.get('x-sluice-run-id') as string;
          conversationId = response.headers.get('x-sluice-conversation-id') as string;
        } else {
          resumes++;
          response = await fetch(`${pick().url}/runs/${runId}/events`, { headers: { ...auth, 'Last-Event-ID': String(seqs.at(-1) ?? -1) }, signal: controller.signal });
          if (response.status !== 200) throw new Error(`GET /runs/${runId}/events answered ${response.status}: ${await response.text()}`);
        }
      } catch (error) {
        // The instance was killed under the request: a run that never started is posted again.
        if ((error as Error).message.startsWith('POST') || (error as Error).message.startsWith('GET')) throw error;
        continue;
      }
      await readStream(
        response,
        (event) => {
          take(event);
          seen++;
          if (options.cancel && !cancelled && seqs.length === 5) {
            cancelled = true;
            // A cancel sent to an instance killed a moment ago is refused by the kernel: that is all.
            void fetch(`${pick().url}/runs/${runId}/cancel`, { method: 'POST', headers: auth }).then(
              async (answer) => {
                if (answer.status !== 202 && answer.status !== 200) throw new Error(`cancel answered ${answer.status}: ${await answer.text()}`);
              },
              () => undefined,
            );
          }
          if (seen >= cutAfter && event.type !== 'finish') {
            controller.abort();
            return true;
          }
          return false;
        },
        controller.signal,
      );
    }
    return { runId: runId as string, conversationId, seqs, text: text.join(''), finish, resumes, cancelled };
  }

  it('100 quick follow-up turns on random instances: every prompt holds every earlier reply, and the history read on another instance right after finish has it', async () => {
    const conversationId = `turns-${hubKind}-${Date.now()}`;
    for (let turn = 0; turn < 100; turn++) {
      const response = await fetch(`${pick().url}/chat`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ conversationId, messages: [{ role: 'user', content: `turn ${turn}` }] }),
      });
      expect(response.status).toBe(200);
      let finish: FinishEvent | undefined;
      await readStream(response, (event) => void (event.type === 'finish' && (finish = event)), new AbortController().signal);
      const reply = textOf((finish as FinishEvent | undefined)?.message.content ?? '');
      expect(reply.startsWith(`I was sent ${2 * turn + 1} messages.`)).toBe(true);
      // Right after the finish frame, on whichever instance: the reply is in the history.
      const history = await fetch(`${pick().url}/conversations/${conversationId}`, { headers: auth });
      const { messages } = (await history.json()) as { messages: { role: string; content: string }[] };
      expect(messages).toHaveLength(2 * turn + 2);
      expect(messages.at(-1)).toEqual(expect.objectContaining({ role: 'assistant', content: reply }));
    }
  });

  it(`${RUNS} runs cut and resumed on random instances, cancels on random instances, one instance killed mid-run: no gap, no duplicate, client text equals the stored message`, async () => {
    const outcomes: RunOutcome[] = [];
    let started = 0;
    let killedAt = -1;
    const worker = async (): Promise<void> => {
      while (started < RUNS) {
        const index = started++;
        if (index === Math.floor(RUNS / 3) && killedAt === -1) {
          // Kill an instance while runs are live on it: its runs end through lease expiry.
          killedAt = index;
          const victim = instances[2] as InstanceProcess & { alive: boolean };
          victim.alive = false;
          victim.child.kill('SIGKILL');
        }
        const outcome = await runClient(index, { cancel: next() < 0.15 });
        if (outcome !== undefined) outcomes.push(outcome);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    expect(killedAt).toBeGreaterThan(0);
    expect(outcomes).toHaveLength(RUNS);

    let interrupted = 0;
    for (const outcome of outcomes) {
      expect(outcome.seqs).toEqual(Array.from({ length: outcome.seqs.length }, (_, seq) => seq));
      expect(outcome.finish.message.content).toBe(outcome.text);
      const stored = await store.waitForRun(outcome.runId, { timeoutMs: 15_000 });
      expect(stored.finishReason).toBe(outcome.finish.reason);
      const messages = await store.messages(outcome.conversationId, { statuses: ['complete', 'aborted', 'error'] });
      expect(messages.at(-1)?.content).toBe(outcome.text);
      if (outcome.finish.error?.code === 'run_interrupted') interrupted++;
      else if (!outcome.cancelled) expect(outcome.finish.reason).toBe('stop');
    }
    // Runs that were live on the killed instance ended through their expired lease.
    expect(interrupted).toBeGreaterThan(0);
    expect(outcomes.some((outcome) => outcome.cancelled && outcome.finish.reason === 'aborted')).toBe(true);
    expect(outcomes.reduce((sum, outcome) => sum + outcome.resumes, 0)).toBeGreaterThan(RUNS / 2);
  }, 180_000);
});
