import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallbackHandler, ChatModel, ChatResult, Message, StreamEvent } from '@sluice/core';
import { InvalidArgumentError } from '@sluice/core';
import { parseChatRequest, isValidId, type ChatRequest } from './chat-request.js';
import { MemoryConversations, type ChatStorage } from './chat-storage.js';
import { HttpError, notFound } from './http-error.js';
import { readJsonBody } from './read-json-body.js';
import { MemoryRunHub, type RunHub } from './run-hub.js';
import { SseWriter } from './sse-writer.js';

/** Who a request comes from: a stable id. Conversations and runs belong to one principal. */
export type Principal = string;

/** Options of `createChatHandler`. */
export interface ChatHandlerOptions {
  /** The model to serve (or use `models`). */
  model?: ChatModel;
  /** The allow-list: models a client may ask for by name. The first is the default. */
  models?: Readonly<Record<string, ChatModel>>;
  /** Persists runs and serves history and resume from the database (e.g. `@sluice/kysely`). */
  storage?: ChatStorage;
  /** Handlers attached to every run (after the storage handler), e.g. a `SentimentHandler`. */
  handlers?: readonly CallbackHandler[];
  /**
   * Gives the request's principal, or undefined to answer 401. Default: every request is the
   * principal `anonymous` (fine for a demo; give one for anything shared).
   */
  authenticate?: (request: IncomingMessage) => Principal | undefined | Promise<Principal | undefined>;
  /**
   * What a client that disconnects from `POST /chat` does to its run: `continue` (it finishes,
   * is stored, and the client can resume) or `abort` (the provider request is cancelled).
   * Default `continue` with storage, `abort` without.
   */
  disconnect?: 'continue' | 'abort';
  /** Largest accepted request body. Default 1 MiB. */
  maxBodyBytes?: number;
  /** How long a client may take to send its body. Default 10 s. */
  bodyTimeoutMs?: number;
  /** Live runs a principal may have at once. Default 4. */
  maxConcurrentRuns?: number;
  /** Heartbeat comment interval on SSE responses. Default 15 s. */
  heartbeatMs?: number;
  /** Backlog after which a slow SSE client is disconnected (it can resume). Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Origins allowed to call cross-origin. Default: none (same-origin only). */
  cors?: { origins: readonly string[] };
  /** Where runs publish and responses subscribe. Default: a `MemoryRunHub`. */
  hub?: RunHub;
  /** How often a resumed run that lives elsewhere is polled from storage. Default 250 ms. */
  storagePollMs?: number;
  /** Receives unexpected errors (answered as 500). Default: `console.error`. */
  onError?: (error: unknown) => void;
}

/** A node:http request listener serving the sluice routes; `next` is called for other paths. */
export interface ChatHandler {
  (request: IncomingMessage, response: ServerResponse, next?: (error?: unknown) => void): Promise<void>;
  /** The hub the handler publishes runs to. */
  readonly hub: RunHub;
  /** Stops heartbeats and aborts live runs (for shutdown). */
  close(): void;
}

interface Route {
  name: 'chat' | 'events' | 'cancel' | 'conversation';
  id?: string;
}

function matchRoute(method: string, path: string): Route | undefined {
  if (method === 'POST' && path === '/chat') return { name: 'chat' };
  const parts = path.split('/');
  if (parts.length === 4 && parts[1] === 'runs' && parts[3] === 'events' && method === 'GET') return { name: 'events', id: parts[2] as string };
  if (parts.length === 4 && parts[1] === 'runs' && parts[3] === 'cancel' && method === 'POST') return { name: 'cancel', id: parts[2] as string };
  if (parts.length === 3 && parts[1] === 'conversations' && method === 'GET') return { name: 'conversation', id: parts[2] as string };
  return undefined;
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (response.headersSent) {
    response.end();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...headers });
  response.end(text);
}

function mountPath(request: IncomingMessage): string {
  // Express sets baseUrl to where the router is mounted; plain node:http has none.
  return (request as IncomingMessage & { baseUrl?: string }).baseUrl ?? '';
}

/**
 * The framework-agnostic core of sluice's HTTP API (see PROTOCOL.md): a node:http request
 * listener for `POST /chat`, `GET /runs/:id/events`, `POST /runs/:id/cancel` and
 * `GET /conversations/:id`. Bindings (`@sluice/express`) only mount it.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { FakeChatModel } from '@sluice/core';
 * import { createChatHandler } from '@sluice/http';
 *
 * const handler = createChatHandler({ model: new FakeChatModel({ rate: 30 }) });
 * createServer((request, response) => void handler(request, response)).listen(3000, '127.0.0.1');
 * ```
 */
export function createChatHandler(options: ChatHandlerOptions): ChatHandler {
  const models: Record<string, ChatModel> = { ...(options.models ?? {}) };
  if (options.model !== undefined && Object.keys(models).length === 0) models[options.model.model] = options.model;
  const modelNames = Object.keys(models);
  if (modelNames.length === 0) {
    throw new InvalidArgumentError({ argument: 'model', message: '[sluice/http] createChatHandler needs a model (or models)' });
  }
  const defaultModel = models[modelNames[0] as string] as ChatModel;
  const storage = options.storage;
  const hub = options.hub ?? new MemoryRunHub();
  const memory = storage === undefined ? new MemoryConversations() : undefined;
  const disconnect = options.disconnect ?? (storage === undefined ? 'abort' : 'continue');
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 10_000;
  const maxConcurrentRuns = options.maxConcurrentRuns ?? 4;
  const storagePollMs = options.storagePollMs ?? 250;
  const writerOptions = { maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024 };
  const allowedOrigins = new Set(options.cors?.origins ?? []);
  const authenticate = options.authenticate ?? (() => 'anonymous');
  const reportError = options.onError ?? ((error: unknown) => console.error('[sluice/http]', error));
  const baseHandlers = [...(storage === undefined ? [] : [storage.handler]), ...(options.handlers ?? [])];

  // One heartbeat timer for every open SSE response.
  const openWriters = new Set<SseWriter>();
  const heartbeat = setInterval(() => {
    for (const writer of openWriters) writer.comment('ping');
  }, options.heartbeatMs ?? 15_000);
  heartbeat.unref();

  async function principalOf(request: IncomingMessage): Promise<Principal> {
    const principal = await authenticate(request);
    if (typeof principal !== 'string' || principal === '') {
      throw new HttpError({ status: 401, code: 'unauthorized', message: 'authentication required' });
    }
    return principal;
  }

  async function conversationOwner(conversationId: string): Promise<string | undefined> {
    if (memory !== undefined) return memory.owner(conversationId);
    return storage?.store.conversationOwner(conversationId);
  }

  /** Applies the CORS allow-list; true when the request was a preflight and is answered. */
  function cors(request: IncomingMessage, response: ServerResponse): boolean {
    const origin = request.headers.origin;
    if (origin === undefined) return false;
    const host = request.headers.host;
    const sameOrigin = host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
    if (allowedOrigins.has(origin)) {
      response.setHeader('Access-Control-Allow-Origin', origin);
      response.setHeader('Vary', 'Origin');
      response.setHeader('Access-Control-Expose-Headers', 'X-Sluice-Run-Id, X-Sluice-Conversation-Id, Location, Retry-After');
    } else if (!sameOrigin) {
      throw new HttpError({ status: 403, code: 'origin_not_allowed', message: `origin ${origin} is not allowed` });
    }
    if (request.method === 'OPTIONS') {
      response.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
        'Access-Control-Allow-Headers': 'Content-Type, Authorization, Last-Event-ID',
        'Access-Control-Max-Age': '600',
      });
      response.end();
      return true;
    }
    return false;
  }

  async function startChat(request: IncomingMessage, response: ServerResponse, principal: Principal): Promise<void> {
    const body: ChatRequest = parseChatRequest(await readJsonBody(request, { maxBytes: maxBodyBytes, timeoutMs: bodyTimeoutMs }));
    const model = body.model === undefined ? defaultModel : models[body.model];
    if (model === undefined) {
      throw new HttpError({
        status: 400,
        code: 'model_not_allowed',
        message: `model ${JSON.stringify(body.model)} is not allowed; use one of ${modelNames.join(', ')}`,
        details: { allowed: modelNames },
      });
    }
    if (hub.liveRuns(principal) >= maxConcurrentRuns) {
      throw new HttpError({
        status: 429,
        code: 'too_many_runs',
        message: `at most ${maxConcurrentRuns} runs at once: wait for one to finish`,
        headers: { 'Retry-After': '1' },
      });
    }
    let conversationId = body.conversationId;
    let history: Message[] = [];
    if (conversationId === undefined) {
      conversationId = crypto.randomUUID();
    } else {
      const owner = await conversationOwner(conversationId);
      if (owner !== undefined && owner !== principal) throw notFound('conversation');
      if (owner !== undefined) history = memory !== undefined ? memory.messages(conversationId) : await (storage as ChatStorage).store.messages(conversationId);
    }
    memory?.claim(conversationId, principal);
    const runId = crypto.randomUUID();
    const newMessages: Message[] = body.messages.map((message) => ({ role: message.role, content: message.content }));
    const stream = model.stream([...history, ...newMessages], {
      runId,
      conversationId,
      callbacks: baseHandlers,
      // The first `historyLength` input messages are already stored: storage records only the rest.
      metadata: { owner: principal, historyLength: String(history.length) },
    });
    hub.start({ runId, conversationId, owner: principal, finished: false, stream });
    const completion = pump(runId, conversationId, stream, newMessages);

    const accept = request.headers.accept ?? '';
    if (accept.includes('application/json') && !accept.includes('text/event-stream')) {
      if (disconnect === 'abort') response.once('close', () => !response.writableFinished && stream.abort());
      const result = await completion;
      sendJson(response, 200, {
        runId,
        conversationId,
        message: result?.message,
        finishReason: result?.finishReason ?? 'error',
        usage: result?.usage,
      });
      return;
    }
    const base = mountPath(request);
    streamRun(request, response, runId, -1, {
      'X-Sluice-Run-Id': runId,
      'X-Sluice-Conversation-Id': conversationId,
      Location: `${base}/runs/${runId}/events`,
    });
    if (disconnect === 'abort') {
      response.once('close', () => {
        if (hub.get(runId)?.finished === false) hub.cancel(runId, new Error('client disconnected'));
      });
    }
  }

  /** Reads the run to its end, publishing every event; the run never waits on a client. */
  async function pump(runId: string, conversationId: string, stream: AsyncIterable<StreamEvent> & PromiseLike<ChatResult>, newMessages: Message[]): Promise<ChatResult | undefined> {
    try {
      for await (const event of stream) hub.publish(runId, event);
    } catch {
      // A failed run has published its error and finish events; the result says the rest.
    }
    // Resolves once every handler (storage included) has finished with the run.
    const result = await Promise.resolve(stream).catch(() => undefined);
    if (memory !== undefined) {
      const reply = result?.message;
      memory.append(conversationId, reply === undefined ? newMessages : [...newMessages, reply]);
    }
    hub.end(runId);
    return result;
  }

  /** Sends the run's events after `afterSeq` as SSE: from the hub, else from storage. */
  function streamRun(request: IncomingMessage, response: ServerResponse, runId: string, afterSeq: number, headers: Record<string, string>): void {
    const writer = new SseWriter(response, writerOptions);
    writer.open(headers);
    openWriters.add(writer);
    let stopped = false;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      openWriters.delete(writer);
      subscription?.unsubscribe();
      writer.end();
    };
    const subscription = hub.subscribe(runId, afterSeq, {
      event: (event) => {
        // The response ends with the finish event: it never waits for the run's handlers.
        if (!writer.send(event) || event.type === 'finish') stop();
      },
      end: stop,
    });
    if (subscription === undefined) return stop();
    writer.replay(subscription.replay);
    if (subscription.ended || subscription.replay.at(-1)?.type === 'finish') stop();
    response.once('close', stop);
  }

  async function streamStoredRun(response: ServerResponse, runId: string, afterSeq: number): Promise<void> {
    const store = (storage as ChatStorage).store;
    const writer = new SseWriter(response, writerOptions);
    writer.open();
    openWriters.add(writer);
    let closed = false;
    response.once('close', () => {
      closed = true;
    });
    let last = afterSeq;
    try {
      // The run lives elsewhere (or ended): read the durable log until its finish event.
      for (;;) {
        const events = await store.eventsAfter(runId, last);
        let finished = false;
        for (const event of events) {
          if (event.seq !== last + 1) break;
          writer.send(event);
          last = event.seq;
          if (event.type === 'finish') finished = true;
        }
        if (finished || closed) break;
        const status = await store.runStatus(runId);
        if (status === undefined || (status.status !== 'streaming' && events.length === 0)) break;
        await new Promise((resolve) => setTimeout(resolve, storagePollMs));
      }
    } finally {
      openWriters.delete(writer);
      writer.end();
    }
  }

  async function resume(request: IncomingMessage, response: ServerResponse, principal: Principal, runId: string): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const raw = request.headers['last-event-id'] ?? url.searchParams.get('after') ?? '-1';
    const afterSeq = Number(Array.isArray(raw) ? raw[0] : raw);
    if (!Number.isInteger(afterSeq) || afterSeq < -1) {
      throw new HttpError({
        status: 400,
        code: 'invalid_request',
        message: 'Last-Event-ID (or ?after=) must be an event seq: an integer >= -1',
        details: [{ path: 'Last-Event-ID', message: 'expected an integer >= -1' }],
      });
    }
    const live = hub.get(runId);
    if (live !== undefined) {
      if (live.owner !== principal) throw notFound('run');
      streamRun(request, response, runId, afterSeq, { 'X-Sluice-Run-Id': runId, 'X-Sluice-Conversation-Id': live.conversationId });
      return;
    }
    const stored = await storage?.store.runStatus(runId);
    if (stored === undefined || (await conversationOwner(stored.conversationId)) !== principal) throw notFound('run');
    await streamStoredRun(response, runId, afterSeq);
  }

  async function cancel(response: ServerResponse, principal: Principal, runId: string): Promise<void> {
    const live = hub.get(runId);
    if (live !== undefined) {
      if (live.owner !== principal) throw notFound('run');
      if (!live.finished && hub.cancel(runId, new Error('cancelled by the client'))) {
        sendJson(response, 202, { runId, status: 'cancelling' });
      } else {
        sendJson(response, 200, { runId, status: 'finished' });
      }
      return;
    }
    const stored = await storage?.store.runStatus(runId);
    if (stored === undefined || (await conversationOwner(stored.conversationId)) !== principal) throw notFound('run');
    if (stored.status === 'streaming') {
      throw new HttpError({ status: 409, code: 'run_not_here', message: 'the run is live on another instance: cancel it there' });
    }
    sendJson(response, 200, { runId, status: 'finished' });
  }

  async function conversation(response: ServerResponse, principal: Principal, conversationId: string): Promise<void> {
    const owner = await conversationOwner(conversationId);
    if (owner !== principal) throw notFound('conversation');
    const messages = memory !== undefined ? memory.messages(conversationId) : await (storage as ChatStorage).store.messages(conversationId);
    sendJson(response, 200, { conversationId, messages });
  }

  const handler = async (request: IncomingMessage, response: ServerResponse, next?: (error?: unknown) => void): Promise<void> => {
    const path = (request.url ?? '/').split('?')[0] as string;
    const route = request.method === 'OPTIONS' ? undefined : matchRoute(request.method ?? 'GET', path);
    if (route === undefined && request.method !== 'OPTIONS') {
      if (next !== undefined) return next();
      return sendJson(response, 404, notFound(`route ${request.method} ${path}`).toBody());
    }
    try {
      if (cors(request, response)) return;
      if (route === undefined) return sendJson(response, 404, notFound(`route ${path}`).toBody());
      if (route.id !== undefined && !isValidId(route.id)) throw notFound(route.name === 'conversation' ? 'conversation' : 'run');
      const principal = await principalOf(request);
      switch (route.name) {
        case 'chat':
          return await startChat(request, response, principal);
        case 'events':
          return await resume(request, response, principal, route.id as string);
        case 'cancel':
          return await cancel(response, principal, route.id as string);
        case 'conversation':
          return await conversation(response, principal, route.id as string);
      }
    } catch (error) {
      if (error instanceof HttpError) return sendJson(response, error.status, error.toBody(), { ...error.headers });
      reportError(error);
      sendJson(response, 500, new HttpError({ status: 500, code: 'internal_error', message: 'internal error' }).toBody());
    }
  };

  return Object.assign(handler, {
    hub,
    close(): void {
      clearInterval(heartbeat);
      for (const writer of openWriters) writer.end();
      openWriters.clear();
    },
  });
}
