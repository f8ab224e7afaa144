// One sluice instance of the cluster: the chat API on node:http, history in PostgreSQL, and a
// run hub shared with the other instances (PostgreSQL LISTEN/NOTIFY or Redis Streams).
// Run directly (`node src/instance.ts`) it reads its settings from the environment, prints
// `listening <url>` and shuts down gracefully on SIGTERM.
import { createServer, type Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { FakeChatModel, type ChatModel, type Message, type RunHub } from '@sluice/core';
import { createChatHandler, type ChatHandler } from '@sluice/http';
import { ChatHistoryHandler, ChatHistoryStore, migrateToLatest } from '@sluice/kysely';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';

/** Which engine the instances share for live runs. */
export type HubKind = 'postgres' | 'redis';

/** Settings of one instance; each falls back to the environment, then to a default. */
export interface InstanceOptions {
  /** Default `PORT`, else 0 (a free port). */
  port?: number;
  /** Default `SLUICE_HUB`, else `postgres`. */
  hub?: HubKind;
  /** Default `DATABASE_URL`, else the local PostgreSQL's `test` database. */
  databaseUrl?: string;
  /** Default `REDIS_URL`, else the local Redis. */
  redisUrl?: string;
  /** Prefix of the tables and Redis keys. Default `SLUICE_PREFIX`, else `cluster_`. */
  prefix?: string;
  /** A live run's lease. Default `SLUICE_LEASE_MS`, else 5000. */
  leaseMs?: number;
  /** The fake model's tokens per second. Default `SLUICE_FAKE_RATE`, else 50. */
  rate?: number;
  /** Filler tokens after the model's count of messages. Default `SLUICE_REPLY_TOKENS`, else 40. */
  replyTokens?: number;
  /** Default: a fake model whose reply starts by saying how many messages it was sent. */
  model?: ChatModel;
}

/** A running instance. */
export interface RunningInstance {
  url: string;
  server: Server;
  chat: ChatHandler;
  hub: RunHub;
  close(graceMs?: number): Promise<void>;
}

/**
 * The cluster's model: it says how many messages it was sent (so a client can check that
 * every earlier reply was in the prompt), then streams numbered filler tokens.
 */
export function countingModel(rate: number, replyTokens: number): FakeChatModel {
  return new FakeChatModel({
    rate,
    reply: (messages: readonly Message[]) => `I was sent ${messages.length} messages.${Array.from({ length: replyTokens }, (_, index) => ` w${index}`).join('')}`,
  });
}

function numberFrom(value: string | undefined, fallback: number): number {
  const number = value === undefined || value === '' ? Number.NaN : Number(value);
  return Number.isFinite(number) ? number : fallback;
}

/** Starts one instance: migrations, storage, the hub, the chat API. */
export async function startInstance(options: InstanceOptions = {}): Promise<RunningInstance> {
  const env = process.env;
  const hubKind = options.hub ?? ((env.SLUICE_HUB as HubKind | undefined) ?? 'postgres');
  const prefix = options.prefix ?? env.SLUICE_PREFIX ?? 'cluster_';
  const leaseMs = options.leaseMs ?? numberFrom(env.SLUICE_LEASE_MS, 5000);
  const databaseUrl = options.databaseUrl ?? env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const model = options.model ?? countingModel(options.rate ?? numberFrom(env.SLUICE_FAKE_RATE, 50), options.replyTokens ?? numberFrom(env.SLUICE_REPLY_TOKENS, 40));

  const pool = new pg.Pool({ connectionString: databaseUrl, max: 8, application_name: `sluice-cluster-${process.pid}` });
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
  await migrateToLatest(db, { tablePrefix: prefix });
  const channel = `${prefix}events`;
  // With the PostgreSQL hub, each committed batch announces itself: other instances tail the log.
  const history = new ChatHistoryHandler({ db, tablePrefix: prefix, flushIntervalMs: hubKind === 'postgres' ? 2 : 5, ...(hubKind === 'postgres' ? { notifyChannel: channel } : {}) });
  const store = new ChatHistoryStore({ db, tablePrefix: prefix });

  // Each hub is loaded only when chosen: a PostgreSQL deployment needs no Redis client.
  let redis: { disconnect(): void } | undefined;
  let hub: RunHub;
  if (hubKind === 'redis') {
    const [{ Redis }, { RedisRunHub }] = await Promise.all([import('ioredis'), import('@sluice/redis-hub')]);
    const client = new Redis(options.redisUrl ?? env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    redis = client;
    hub = new RedisRunHub({ redis: client, keyPrefix: `${prefix}:`, leaseMs });
  } else {
    const { PostgresRunHub } = await import('@sluice/postgres-hub');
    const postgresHub = new PostgresRunHub({ pool, log: store, channel, tablePrefix: prefix, leaseMs });
    await postgresHub.migrate();
    hub = postgresHub;
  }

  const chat = createChatHandler({
    model,
    hub,
    storage: { handler: history, store },
    authenticate: (request) => request.headers.authorization?.replace(/^Bearer /, '') || undefined,
    maxConcurrentRuns: 1000,
    expiredRunsCheckMs: Math.max(100, Math.floor(leaseMs / 4)),
    heartbeatMs: 5000,
  });
  const server = createServer((request, response) => void chat(request, response));
  await new Promise<void>((resolve) => server.listen(options.port ?? numberFrom(env.PORT, 0), '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    server,
    chat,
    hub,
    close(graceMs = 5000) {
      closing ??= (async () => {
        await chat.close({ graceMs });
        await new Promise((resolve) => server.close(resolve));
        await hub.close();
        await history.close();
        await store.close();
        redis?.disconnect();
        await db.destroy();
      })();
      return closing;
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const running = await startInstance();
  console.log(`listening ${running.url}`);
  const stop = async (): Promise<void> => {
    await running.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
