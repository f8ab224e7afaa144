import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeChatModel, ModelError, type Message, type StreamEvent } from '@sluice/core';
import { createChatHandler, type ChatHandler, type ChatStorage } from '@sluice/http';
import { ProtocolServer } from './protocol-server.ts';

/**
 * A sluice server the client's contract scenarios run against: the hand-written
 * `ProtocolServer` (mounted at `/api`) or a real `createChatHandler` of `@sluice/http` on
 * node:http (mounted at the root). Both serve the models by name:
 * - `quick`: `Hello, world!` at once;
 * - `slow`: 40 tokens, 100 a second (slow enough to cut or cancel mid-run);
 * - `failing`: one token, then a `model_error`.
 */
export interface ServerFixture {
  name: string;
  start(options?: { maxConcurrentRuns?: number }): Promise<RunningServer>;
}

/** A request the server received (its path relative to where the routes are mounted). */
export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

export interface RunningServer {
  baseURL: string;
  /** The requests whose path (relative to the mount) starts with `pathPrefix`. */
  requestsTo(method: string, pathPrefix: string): SeenRequest[];
  /** Destroys every open TCP connection: a real cut, the server keeps listening. */
  cutConnections(): void;
  /**
   * A run left `streaming` by an instance that died, with `deltas` generated: resuming it
   * replays them and ends with a `run-error` frame `run_stalled`.
   */
  abandonedRun(deltas: string[]): Promise<{ baseURL: string; runId: string }>;
  close(): Promise<void>;
}

export const slowTokens = Array.from({ length: 40 }, (_, index) => ` word${index}`);

export const protocolServerFixture: ServerFixture = {
  name: 'the hand-written protocol server',
  async start(options = {}) {
    const server = new ProtocolServer();
    const baseURL = await server.start();
    server
      .setModel('quick', { deltas: ['Hello', ', ', 'world', '!'] })
      .setModel('slow', { deltas: slowTokens, intervalMs: 10 })
      .setModel('failing', { deltas: [' word0'], fail: { code: 'model_error', message: 'the provider failed' } });
    if (options.maxConcurrentRuns !== undefined) server.setMaxConcurrentRuns(options.maxConcurrentRuns);
    return {
      baseURL,
      requestsTo: (method, pathPrefix) =>
        server.requestsTo(method, pathPrefix).map((request) => ({ ...request, path: request.path.slice('/api'.length) })),
      cutConnections: () => server.cutConnections(),
      abandonedRun: (deltas) => Promise.resolve({ baseURL, runId: server.abandonedRun(deltas) }),
      close: () => server.close(),
    };
  },
};

/**
 * Storage holding one run that an instance left `streaming` when it died (no hub follows it):
 * the state the real server answers with a `run-error` frame. Nothing else is stored.
 */
function abandonedRunStorage(runId: string, conversationId: string, deltas: string[]): ChatStorage {
  const events: StreamEvent[] = [
    { type: 'start', seq: 0, runId, conversationId, model: 'slow', provider: 'fake', createdAt: Date.now() },
    ...deltas.map((text, index): StreamEvent => ({ type: 'text-delta', seq: index + 1, text })),
  ];
  return {
    handler: { name: 'abandoned-run-storage' },
    store: {
      messages: (): Promise<Message[]> => Promise.resolve([]),
      eventsAfter: (id, afterSeq, options) =>
        Promise.resolve(id === runId ? events.filter((event) => event.seq > afterSeq).slice(0, options?.limit ?? events.length) : []),
      runStatus: (id) => Promise.resolve(id === runId ? { conversationId, status: 'streaming' } : undefined),
      conversationOwner: (id) => Promise.resolve(id === conversationId ? 'anonymous' : undefined),
      claimConversation: (_id, owner) => Promise.resolve(owner),
      interruptRun: () => Promise.resolve(undefined),
    },
  };
}

async function listen(handler: ChatHandler, seen: SeenRequest[]) {
  const server = createServer((request, response) => {
    seen.push({ method: request.method ?? '', path: new URL(request.url ?? '/', 'http://127.0.0.1').pathname, headers: request.headers });
    void handler(request, response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    server,
    // Mounted at the root: the client's routes go straight after the origin.
    baseURL: `http://127.0.0.1:${port}`,
    async close() {
      await handler.close({ graceMs: 0 });
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

export const realServerFixture: ServerFixture = {
  name: 'a real @sluice/http server',
  async start(options = {}) {
    const seen: SeenRequest[] = [];
    const handler = createChatHandler({
      models: {
        quick: new FakeChatModel({ model: 'quick', tokens: ['Hello', ',', ' world', '!'] }),
        slow: new FakeChatModel({ model: 'slow', tokens: slowTokens, rate: 100 }),
        failing: new FakeChatModel({ model: 'failing', tokens: [' word0', ' word1'], errorAfter: 1, error: new ModelError({ code: 'model_error', message: 'the provider failed', provider: 'fake' }) }),
      },
      // A cut POST leaves its run going, as with storage, so the client can resume it.
      disconnect: 'continue',
      maxConcurrentRuns: options.maxConcurrentRuns,
    });
    const main = await listen(handler, seen);
    const others: { close(): Promise<void> }[] = [];
    return {
      baseURL: main.baseURL,
      requestsTo: (method, pathPrefix) => seen.filter((request) => request.method === method && request.path.startsWith(pathPrefix)),
      cutConnections: () => main.server.closeAllConnections(),
      async abandonedRun(deltas) {
        const runId = `abandoned-${others.length + 1}`;
        const storage = abandonedRunStorage(runId, `${runId}-conversation`, deltas);
        const instance = await listen(createChatHandler({ model: new FakeChatModel(), storage, storageStallMs: 100, storagePollMs: 20 }), []);
        others.push(instance);
        return { baseURL: instance.baseURL, runId };
      },
      async close() {
        for (const instance of others) await instance.close();
        await main.close();
      },
    };
  },
};

export const serverFixtures: ServerFixture[] = [protocolServerFixture, realServerFixture];
