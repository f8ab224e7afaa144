import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChatModel } from '@sluice/core';
import { openDatabase } from '@sluice/example-databases';
import { modelFromEnv } from '@sluice/example-providers';
import { chatRouter } from '@sluice/express';
import type { ChatStorage } from '@sluice/http';
import { ChatHistoryHandler, ChatHistoryStore, migrateToLatest } from '@sluice/kysely';
import { SentimentHandler } from '@sluice/wink-nlp';
import express from 'express';
import type { Kysely } from 'kysely';

const here = dirname(fileURLToPath(import.meta.url));

/** Options of `startServer`; each falls back to the environment, then to a default. */
export interface StartServerOptions {
  /** Default `PORT`, else 3000; 0 picks a free port. */
  port?: number;
  /** Default `HOST`, else 127.0.0.1. */
  host?: string;
  /** Default `DATABASE_URL`, else `sqlite:.data/sluice.db`; `memory` keeps no storage. */
  databaseUrl?: string;
  /** Prefix of the chat history tables. Default `SLUICE_TABLE_PREFIX`, else `sluice_`. */
  tablePrefix?: string;
  /** Default: `modelFromEnv()` (the fake model unless a provider key is set). */
  model?: ChatModel;
}

/** A running demo server. */
export interface RunningServer {
  url: string;
  server: Server;
  /** Cuts every open connection (a dropped network, for resume tests). */
  dropConnections(): void;
  close(): Promise<void>;
}

/**
 * Starts the demo: the chat API at `/api` (fake model or a real provider, sentiment events,
 * history in SQLite/PostgreSQL/MySQL) and the demo page at `/`.
 */
export async function startServer(options: StartServerOptions = {}): Promise<RunningServer> {
  const model = options.model ?? (await modelFromEnv());
  const databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? 'sqlite:.data/sluice.db';
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let db: Kysely<any> | undefined;
  let history: ChatHistoryHandler | undefined;
  let storage: ChatStorage | undefined;
  if (databaseUrl !== 'memory') {
    const tablePrefix = options.tablePrefix ?? process.env.SLUICE_TABLE_PREFIX ?? 'sluice_';
    if (databaseUrl.startsWith('sqlite:')) mkdirSync(dirname(resolve(databaseUrl.slice('sqlite:'.length))), { recursive: true });
    db = openDatabase(databaseUrl);
    await migrateToLatest(db, { tablePrefix });
    history = new ChatHistoryHandler({ db, tablePrefix });
    storage = { handler: history, store: new ChatHistoryStore({ db, tablePrefix }) };
  }

  const router = chatRouter({ model, storage, handlers: [new SentimentHandler()] });
  const app = express();
  app.disable('x-powered-by');
  app.use('/api', router);
  app.get('/vendor/sluice-client.js', (_request, response) => {
    response.sendFile(fileURLToPath(import.meta.resolve('@sluice/client')));
  });
  // The parser is split into modules that import each other: serve its whole folder.
  app.use('/vendor/eventsource-parser', express.static(dirname(fileURLToPath(import.meta.resolve('eventsource-parser')))));
  app.use(express.static(join(here, '..', 'public')));

  const server = createServer(app);
  // Against slow clients: the request (headers and body) must arrive in time; SSE responses
  // are not bounded by these.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const port = options.port ?? Number(process.env.PORT ?? 3000);
  const host = options.host ?? process.env.HOST ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const url = `http://${host}:${typeof address === 'object' && address !== null ? address.port : port}`;

  return {
    url,
    server,
    dropConnections(): void {
      for (const socket of sockets) socket.destroy();
    },
    async close(): Promise<void> {
      // Live replies finish (or are stopped and stored) before the connections go.
      await router.chat.close({ graceMs: 5000 });
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await history?.close();
      await db?.destroy();
    },
  };
}
