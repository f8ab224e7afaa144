/**
 * One sluice instance of the cluster benchmark, in a process of its own (forked by
 * `cluster-tail.bench.ts`): PostgreSQL storage, the chosen run hub, the chat API on loopback.
 * Instance A's model writes into each text delta the time it produced it (milliseconds since
 * the epoch, with microseconds), so a client in another process measures publish-to-frame
 * latency on the machine's one clock. It answers `stats` (its hub's queries) and `close` over IPC.
 */
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ChatModel, FakeChatModel, delay, type Message, type ModelCallOptions, type ModelStreamPart, type RunHub } from '@sluice/core';
import { createChatHandler } from '@sluice/http';
import { ChatHistoryHandler, ChatHistoryStore } from '@sluice/kysely';
import { PostgresRunHub } from '@sluice/postgres-hub';
import { RedisRunHub } from '@sluice/redis-hub';
import { Redis } from 'ioredis';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';

const kind = process.env.HUB_KIND as 'postgres' | 'redis';
const prefix = process.env.PREFIX as string;
const tokens = Number(process.env.TOKENS ?? 200);
const rate = Number(process.env.RATE ?? 40);
const connection = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };

/** Streams `tokens` deltas at `rate` per second (0: at once), each holding the time it was produced. */
class StampModel extends ChatModel {
  readonly provider = 'bench';
  readonly model = 'stamp';

  protected async *_stream(_messages: readonly Message[], call: ModelCallOptions): AsyncIterable<ModelStreamPart> {
    const interval = rate === 0 ? 0 : 1000 / rate;
    const startedAt = performance.now();
    for (let index = 0; index < tokens; index++) {
      if (interval !== 0) {
        const wait = startedAt + index * interval - performance.now();
        if (wait >= 1) await delay(wait, call.signal);
      }
      if (call.signal.aborted) return;
      yield { type: 'text-delta', text: (performance.timeOrigin + performance.now()).toFixed(3) };
    }
    yield { type: 'finish', reason: 'stop', providerReason: 'stop' };
  }
}

/** Counts the queries the hub sends through its pool (the lease's cost). */
const counter = { queries: 0 };
function countingPool(pool: pg.Pool): pg.Pool {
  const count = <TFunction extends (...parameters: never[]) => unknown>(target: object, method: TFunction): TFunction =>
    ((...parameters: never[]) => {
      counter.queries++;
      return method.apply(target, parameters);
    }) as TFunction;
  return new Proxy(pool, {
    get(target, property) {
      if (property === 'query') return count(target, target.query);
      if (property === 'connect') {
        return async () => {
          const client = await target.connect();
          return new Proxy(client, {
            get(inner, name) {
              const value = Reflect.get(inner, name, inner) as unknown;
              if (name === 'query') return count(inner, inner.query);
              return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(inner) : value;
            },
          });
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const pool = new pg.Pool({ ...connection, max: 8 });
const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
const channel = `${prefix}events`;
const history = new ChatHistoryHandler({ db, tablePrefix: prefix, flushIntervalMs: 2, ...(kind === 'postgres' ? { notifyChannel: channel } : {}) });
const store = new ChatHistoryStore({ db, tablePrefix: prefix });
let redis: Redis | undefined;
let hub: RunHub;
if (kind === 'redis') {
  redis = new Redis('redis://127.0.0.1:6379');
  hub = new RedisRunHub({ redis, keyPrefix: `${prefix}:` });
} else {
  const postgresHub = new PostgresRunHub({ pool: countingPool(pool), log: store, channel, tablePrefix: prefix });
  await postgresHub.migrate();
  hub = postgresHub;
}
const chat = createChatHandler({
  model: process.env.ROLE === 'a' ? new StampModel() : new FakeChatModel({ reply: 'unused' }),
  hub,
  storage: { handler: history, store },
  authenticate: () => 'bench',
  maxConcurrentRuns: 10_000,
});
const server = createServer((request, response) => void chat(request, response));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
counter.queries = 0;
// How long this process's event loop was held up: a share of every latency the clients see.
const loop = monitorEventLoopDelay({ resolution: 5 });
loop.enable();

process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') {
    process.send?.({ type: 'stats', queries: counter.queries, loopP99: loop.percentile(99) / 1e6, loopMax: loop.max / 1e6 });
  } else if (message.type === 'close') {
    void (async () => {
      await chat.close({ graceMs: 0 });
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await hub.close();
      await history.close();
      redis?.disconnect();
      await db.destroy();
      process.send?.({ type: 'closed' });
      process.exit(0);
    })();
  }
});
process.send?.({ type: 'listening', url: `http://127.0.0.1:${(server.address() as { port: number }).port}` });
