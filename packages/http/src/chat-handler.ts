import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallbackHandler, ChatModel, ChatResult, ExpiredRun, FinishEvent, Message, MessageContent, RunHub, SerializedError, StreamEvent } from '@sluice/core';
import { InvalidArgumentError, MemoryRunHub } from '@sluice/core';
import { chatRequestSchemaWith, parseChatRequest, isValidId, type ChatRequest } from './chat-request.js';
import { MemoryConversations, type ChatStorage } from './chat-storage.js';
import { HttpError, notFound } from './http-error.js';
import { readJsonBody } from './read-json-body.js';
import { interruptedFinish } from './interrupted-finish.js';
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
  /**
   * Largest accepted request body. Default 1 MiB: raise it with `maxPartBytes` to accept
   * images and files (a body past it is refused with 413 before it is parsed).
   */
  maxBodyBytes?: number;
  /** Most content parts in one message of `POST /chat`. Default 10; past it a 400 `invalid_request`. */
  maxParts?: number;
  /**
   * Most base64 characters of image and file `data` in one `POST /chat`, all parts together.
   * Default 4 MiB; past it a 400 `invalid_request` naming the part.
   */
  maxPartBytes?: number;
  /** How long a client may take to send its body. Default 10 s. */
  bodyTimeoutMs?: number;
  /** Live runs a principal may have at once, across every instance sharing the hub. Default 4. */
  maxConcurrentRuns?: number;
  /**
   * Whether a conversation may have more than one live run. Default false: a new turn while a
   * run is live answers `409 conversation_busy` with that run's id (resume or cancel it).
   */
  concurrentTurns?: boolean;
  /**
   * How long `POST /chat` (and `GET /conversations/:id`) waits for the conversation's previous
   * run to be committed once its `finish` was sent, so a prompt always holds every finished
   * reply. Default 10 s; past it the turn answers `409 conversation_busy`.
   */
  turnWaitMs?: number;
  /**
   * How often this instance looks for runs whose lease expired (their instance died) and ends
   * them. Default 2 s. Only hubs over a shared engine have leases.
   */
  expiredRunsCheckMs?: number;
  /** Heartbeat comment interval on SSE responses. Default 15 s. */
  heartbeatMs?: number;
  /** Backlog after which a slow SSE client is disconnected (it can resume). Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Origins allowed to call cross-origin. Default: none (same-origin only). */
  cors?: { origins: readonly string[] };
  /** Where runs publish and responses subscribe. Default: a `MemoryRunHub`. */
  hub?: RunHub;
  /**
   * A run that only storage knows of (no hub follows it) and that is still `streaming` is
   * polled this often while its stored log grows. Default 250 ms.
   */
  storagePollMs?: number;
  /**
   * Such a run whose stored log has not grown for this long ends the resuming response with a
   * `run-error` frame (`run_stalled`). Default 30 s.
   */
  storageStallMs?: number;
  /** Events read from storage per page when a run is replayed from there. Default 500. */
  replayPageSize?: number;
  /** Receives unexpected errors (answered as 500). Default: `console.error`. */
  onError?: (error: unknown) => void;
}

/** A node:http request listener serving the sluice routes; `next` is called for other paths. */
export interface ChatHandler {
  (request: IncomingMessage, response: ServerResponse, next?: (error?: unknown) => void): Promise<void>;
  /** The hub the handler publishes runs to. */
  readonly hub: RunHub;
  /**
   * Shuts down: stops accepting runs (`503 shutting_down`), lets live runs finish within
   * `graceMs` (default 10 s), aborts the rest (they finish with reason `aborted`, stored and
   * sent to every open response), waits for their handlers (storage) to drain, ends every open
   * response and stops the timers. A hub the handler made itself is closed too.
   */
  close(options?: { graceMs?: number }): Promise<void>;
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
  const ownsHub = options.hub === undefined;
  const hub: RunHub = options.hub ?? new MemoryRunHub();
  const memory = storage === undefined ? new MemoryConversations() : undefined;
  const disconnect = options.disconnect ?? (storage === undefined ? 'abort' : 'continue');
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const requestSchema = chatRequestSchemaWith({ maxParts: options.maxParts, maxPartBytes: options.maxPartBytes });
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 10_000;
  const maxConcurrentRuns = options.maxConcurrentRuns ?? 4;
  const concurrentTurns = options.concurrentTurns ?? false;
  const turnWaitMs = options.turnWaitMs ?? 10_000;
  const storagePollMs = options.storagePollMs ?? 250;
  const storageStallMs = options.storageStallMs ?? 30_000;
  const replayPageSize = options.replayPageSize ?? 500;
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

  // Runs read on this instance: what shutdown waits for and aborts.
  const localRuns = new Map<string, { abort(reason?: unknown): void; done: Promise<unknown> }>();
  let accepting = true;

  // Runs of dead instances: any instance ends them, once each (the hub's claim decides who).
  let checkingExpired: Promise<void> | undefined;
  const checkExpired = (): Promise<void> => {
    checkingExpired ??= endExpiredRuns()
      .catch(reportError)
      .finally(() => {
        checkingExpired = undefined;
      });
    return checkingExpired;
  };
  const expiredTimer = setInterval(() => void checkExpired(), options.expiredRunsCheckMs ?? 2000);
  expiredTimer.unref();
  // A restarted instance ends what a crash left behind at once.
  void checkExpired();

  // Claimed runs whose ending failed (storage down): this instance holds their claim, so it
  // tries again at every check until they are ended.
  const unended = new Map<string, ExpiredRun>();
  async function endExpiredRuns(): Promise<void> {
    const expired = await hub.claimExpired();
    for (const run of [...unended.values(), ...expired]) {
      try {
        await endExpiredRun(run);
        unended.delete(run.runId);
      } catch (error) {
        unended.set(run.runId, run);
        reportError(error);
      }
    }
  }

  async function endExpiredRun(run: ExpiredRun): Promise<void> {
    const error: SerializedError = {
      name: 'RunInterruptedError',
      code: 'run_interrupted',
      message: 'the instance serving this run stopped before it finished: the reply is partial',
      retryable: true,
    };
    // The partial reply is what the hub's log holds: what clients saw, which may run ahead of
    // what the dead instance's storage writer had committed.
    const events: StreamEvent[] = [];
    const subscription = await hub.subscribe(run.runId, -1, { event: (event) => events.push(event), end: () => undefined });
    subscription?.unsubscribe();
    const logged = subscription === undefined ? [] : [...subscription.replay, ...events];
    // An earlier attempt (or the dead instance itself) may have published the finish already.
    const published = logged.some((event) => event.type === 'finish');
    const fromHub = subscription === undefined ? undefined : interruptedFinish(logged, run.lastSeq + 1, error);
    let finish: FinishEvent | undefined;
    if (storage !== undefined) {
      finish = await storage.store.interruptRun(run.runId, {
        seq: run.lastSeq + 1,
        error,
        // A run storage never heard of (its instance died before its first commit) is stored too.
        ...(fromHub === undefined ? {} : { finish: fromHub, conversationId: run.conversationId }),
      });
    }
    finish ??= fromHub ?? interruptedFinish([], run.lastSeq + 1, error);
    if (!published && finish.seq > run.lastSeq) hub.publish(run.runId, finish);
    await hub.end(run.runId);
  }

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

  /** Makes the conversation the principal's if it is new, in one atomic step; 404 when it is someone else's. */
  async function claimConversation(conversationId: string, principal: Principal): Promise<void> {
    const owner = memory !== undefined ? memory.claim(conversationId, principal) : await (storage as ChatStorage).store.claimConversation(conversationId, principal);
    if (owner !== principal) throw notFound('conversation');
  }

  /** Waits (bounded) for a conversation's run whose `finish` was sent to be committed. */
  async function waitForFinishedTurn(conversationId: string): Promise<void> {
    const run = await hub.conversationRun?.(conversationId);
    if (run?.state === 'finishing') await hub.waitForEnd(run.runId, turnWaitMs);
  }

  /** Admits the run on the hub: the cap and the conversation's live run, checked and taken in one step. */
  async function admit(runId: string, conversationId: string, principal: Principal): Promise<void> {
    const deadline = performance.now() + turnWaitMs;
    for (;;) {
      const admission = await hub.admit({ runId, conversationId, owner: principal, maxConcurrentRuns, concurrentTurns });
      if (admission.accepted) return;
      if (admission.reason === 'too_many_runs') {
        throw new HttpError({
          status: 429,
          code: 'too_many_runs',
          message: `at most ${maxConcurrentRuns} runs at once: wait for one to finish`,
          headers: { 'Retry-After': '1' },
        });
      }
      const remaining = deadline - performance.now();
      // The previous turn has sent its finish and is being stored: its reply belongs in this prompt.
      if (admission.state === 'finishing' && remaining > 0 && (await hub.waitForEnd(admission.runId, remaining))) continue;
      throw new HttpError({
        status: 409,
        code: 'conversation_busy',
        message: `the conversation has a live run (${admission.runId}): resume it (GET /runs/${admission.runId}/events) or cancel it before the next turn`,
        details: { runId: admission.runId },
      });
    }
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

  function refuseWhileClosing(): void {
    if (!accepting) {
      throw new HttpError({ status: 503, code: 'shutting_down', message: 'the server is shutting down: retry on another instance', headers: { 'Retry-After': '1' } });
    }
  }

  async function startChat(request: IncomingMessage, response: ServerResponse, principal: Principal): Promise<void> {
    refuseWhileClosing();
    const body: ChatRequest = parseChatRequest(await readJsonBody(request, { maxBytes: maxBodyBytes, timeoutMs: bodyTimeoutMs }), requestSchema);
    const model = body.model === undefined ? defaultModel : models[body.model];
    if (model === undefined) {
      throw new HttpError({
        status: 400,
        code: 'model_not_allowed',
        message: `model ${JSON.stringify(body.model)} is not allowed; use one of ${modelNames.join(', ')}`,
        details: { allowed: modelNames },
      });
    }
    const conversationId = body.conversationId ?? crypto.randomUUID();
    await claimConversation(conversationId, principal);
    refuseWhileClosing();
    const runId = crypto.randomUUID();
    await admit(runId, conversationId, principal);
    let stream: ReturnType<ChatModel['stream']>;
    // The schema checked each part has the fields of one ContentPart shape.
    const newMessages: Message[] = body.messages.map((message) => ({ role: message.role, content: message.content as MessageContent }));
    try {
      // Admitted after the previous turn was committed: the history holds every finished reply.
      const history = memory !== undefined ? memory.messages(conversationId) : await (storage as ChatStorage).store.messages(conversationId);
      // close() may have begun meanwhile: from here to localRuns.set nothing awaits, so a run
      // either starts where shutdown sees it or not at all.
      refuseWhileClosing();
      stream = model.stream([...history, ...newMessages], {
        runId,
        conversationId,
        callbacks: baseHandlers,
        // The first `historyLength` input messages are already stored: storage records only the rest.
        metadata: { owner: principal, historyLength: String(history.length) },
      });
    } catch (error) {
      await hub.end(runId);
      throw error;
    }
    hub.attach(runId, { abort: (reason) => stream.abort(reason) });
    const completion = pump(runId, conversationId, stream, newMessages);
    localRuns.set(runId, { abort: (reason) => stream.abort(reason), done: completion });

    const accept = request.headers.accept ?? '';
    if (accept.includes('application/json') && !accept.includes('text/event-stream')) {
      if (disconnect === 'abort') response.once('close', () => !response.writableFinished && stream.abort(new Error('client disconnected')));
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
    const delivery: Delivery = { finishSent: false };
    if (disconnect === 'abort') {
      // Only a response that closed before its finish event was sent stops the run.
      response.once('close', () => {
        if (!delivery.finishSent) stream.abort(new Error('client disconnected'));
      });
    }
    await streamRun(
      response,
      runId,
      -1,
      { 'X-Sluice-Run-Id': runId, 'X-Sluice-Conversation-Id': conversationId, Location: `${base}/runs/${runId}/events` },
      false,
      delivery,
    );
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
    try {
      await hub.end(runId);
    } catch (error) {
      reportError(error);
    }
    localRuns.delete(runId);
    return result;
  }

  /** An SSE response following a run; `finishSent` turns true once its finish event is queued. */
  interface Delivery {
    finishSent: boolean;
  }

  /**
   * Sends the run's events after `afterSeq` as SSE: first what storage holds (in pages, as the
   * socket takes them), then the hub's replay and live tail. Resolves once the response is set up.
   */
  async function streamRun(
    response: ServerResponse,
    runId: string,
    afterSeq: number,
    headers: Record<string, string>,
    fromStorage = false,
    delivery: Delivery = { finishSent: false },
  ): Promise<Delivery> {
    const writer = new SseWriter(response, writerOptions);
    writer.open(headers);
    openWriters.add(writer);
    let last = afterSeq;
    let subscription: Awaited<ReturnType<RunHub['subscribe']>>;
    let stopped = false;
    // Until the replay is written, live events and the end wait their turn here.
    let early: StreamEvent[] | undefined = [];
    let earlyEnd: { lost?: boolean } | undefined;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      openWriters.delete(writer);
      subscription?.unsubscribe();
      writer.end();
    };
    const send = (event: StreamEvent): void => {
      if (early !== undefined) return void early.push(event);
      if (event.seq !== last + 1 || stopped) return;
      last = event.seq;
      if (event.type === 'finish') delivery.finishSent = true;
      // The response ends with the finish event: it never waits for the run's handlers.
      if (!writer.send(event) || event.type === 'finish') stop();
    };
    const ended = (outcome: { lost?: boolean } = {}): void => {
      if (early !== undefined) return void (earlyEnd = outcome);
      if (stopped || delivery.finishSent) return stop();
      // The hub lost the run (its engine forgot it): what storage has is all there is.
      if (outcome.lost === true && storage !== undefined) return void followStored(writer, runId, last).finally(stop);
      writer.fail('run_log_incomplete', `run ${runId} ended without a finish event after seq ${last}: its reply is in GET /conversations/:id`);
      stop();
    };
    response.once('close', stop);
    try {
      if (fromStorage && storage !== undefined) {
        const outcome = await replayStored(writer, runId, last);
        last = outcome.last;
        if (outcome.finished || writer.closed) {
          delivery.finishSent = outcome.finished;
          stop();
          return delivery;
        }
      }
      subscription = await hub.subscribe(runId, last, { event: send, end: ended });
      if (stopped) return delivery;
      if (subscription === undefined) {
        early = undefined;
        if (storage !== undefined) await followStored(writer, runId, last);
        else writer.fail('run_not_found', `run ${runId} is no longer available: it ended before the server kept it`);
        stop();
        return delivery;
      }
      const replay: StreamEvent[] = [];
      for (const event of subscription.replay) {
        if (event.seq !== last + 1) continue;
        replay.push(event);
        last = event.seq;
        if (event.type === 'finish') delivery.finishSent = true;
      }
      writer.replay(replay);
      const live = early;
      early = undefined;
      for (const event of live) send(event);
      if (delivery.finishSent) stop();
      else if (subscription.ended || earlyEnd !== undefined) ended(earlyEnd);
    } catch (error) {
      reportError(error);
      early = undefined;
      if (!stopped) writer.fail('internal_error', 'the run could not be read: resume later');
      stop();
    }
    return delivery;
  }

  /** Writes the stored events after `afterSeq`, a page at a time; stops at a gap. */
  async function replayStored(writer: SseWriter, runId: string, afterSeq: number): Promise<{ last: number; finished: boolean }> {
    const store = (storage as ChatStorage).store;
    let last = afterSeq;
    for (;;) {
      const page = await store.eventsAfter(runId, last, { limit: replayPageSize });
      let contiguous = 0;
      while (contiguous < page.length && (page[contiguous] as StreamEvent).seq === last + 1 + contiguous) contiguous++;
      const events = contiguous === page.length ? page : page.slice(0, contiguous);
      if (events.length === 0) return { last, finished: false };
      if (!(await writer.sendPage(events))) return { last, finished: false };
      last = (events.at(-1) as StreamEvent).seq;
      if (events.at(-1)?.type === 'finish') return { last, finished: true };
      if (page.length < replayPageSize || contiguous < page.length) return { last, finished: false };
    }
  }

  /**
   * A run no hub follows: read what storage has; while its row says `streaming` and its log
   * grows, poll it; a run that can produce no more events ends the response with a `run-error`.
   */
  async function followStored(writer: SseWriter, runId: string, afterSeq: number): Promise<void> {
    const store = (storage as ChatStorage).store;
    let last = afterSeq;
    let lastProgress = performance.now();
    while (!writer.closed) {
      const outcome = await replayStored(writer, runId, last);
      if (outcome.finished || writer.closed) return;
      if (outcome.last > last) lastProgress = performance.now();
      last = outcome.last;
      const status = await store.runStatus(runId);
      if (status === undefined || status.status !== 'streaming') {
        // It may have ended between the two reads: its finish is then in the log now.
        const after = await replayStored(writer, runId, last);
        if (after.finished || writer.closed) return;
        last = after.last;
        // Ended, yet its finish is not in the log after `last`: a gap the writer reported.
        return writer.fail('run_log_incomplete', `run ${runId} ended but its stored events stop at seq ${last}: its reply is in GET /conversations/:id`);
      }
      if (performance.now() - lastProgress > storageStallMs) {
        return writer.fail('run_stalled', `run ${runId} has stored nothing for ${storageStallMs} ms and no instance follows it: it was interrupted`);
      }
      await new Promise((resolve) => setTimeout(resolve, storagePollMs));
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
    const live = await hub.get(runId);
    let conversationId: string;
    if (live !== undefined) {
      if (live.owner !== principal) throw notFound('run');
      conversationId = live.conversationId;
    } else {
      const stored = await storage?.store.runStatus(runId);
      if (stored === undefined || (await conversationOwner(stored.conversationId)) !== principal) throw notFound('run');
      conversationId = stored.conversationId;
    }
    // Storage first where it has the run: its log is read a page at a time, whatever the run's size.
    await streamRun(response, runId, afterSeq, { 'X-Sluice-Run-Id': runId, 'X-Sluice-Conversation-Id': conversationId }, storage !== undefined && !localRuns.has(runId));
  }

  async function cancel(response: ServerResponse, principal: Principal, runId: string): Promise<void> {
    const live = await hub.get(runId);
    if (live !== undefined) {
      if (live.owner !== principal) throw notFound('run');
      const outcome = live.state === 'live' ? await hub.cancel(runId, new Error('cancelled by the client')) : 'finished';
      if (outcome === 'cancelling') sendJson(response, 202, { runId, status: 'cancelling' });
      else sendJson(response, 200, { runId, status: 'finished' });
      return;
    }
    const stored = await storage?.store.runStatus(runId);
    if (stored === undefined || (await conversationOwner(stored.conversationId)) !== principal) throw notFound('run');
    sendJson(response, 200, { runId, status: stored.status === 'streaming' ? 'interrupted' : 'finished' });
  }

  async function conversation(response: ServerResponse, principal: Principal, conversationId: string): Promise<void> {
    const owner = await conversationOwner(conversationId);
    if (owner !== principal) throw notFound('conversation');
    // A reply whose finish was sent is in the history, even if its commit is a moment behind.
    await waitForFinishedTurn(conversationId);
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

  let closing: Promise<void> | undefined;
  async function shutdown(graceMs: number): Promise<void> {
    accepting = false;
    clearInterval(expiredTimer);
    const runs = [...localRuns.values()];
    const allDone = Promise.allSettled(runs.map((run) => run.done));
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'grace-over'>((resolve) => {
      timer = setTimeout(() => resolve('grace-over'), graceMs);
    });
    if ((await Promise.race([allDone, graceOver])) === 'grace-over') {
      // Each aborted run still publishes its finish (reason aborted) and stores it.
      for (const run of localRuns.values()) run.abort(new Error('the server is shutting down'));
    }
    clearTimeout(timer);
    await Promise.allSettled([...localRuns.values()].map((run) => run.done));
    await allDone;
    await checkingExpired;
    // Responses end once they have written what they were sent (every finish included).
    clearInterval(heartbeat);
    for (const writer of openWriters) writer.end();
    openWriters.clear();
    const flush = (storage?.handler as { flush?: () => Promise<void> } | undefined)?.flush;
    if (flush !== undefined) await flush.call(storage?.handler);
    if (ownsHub) await hub.close();
  }

  return Object.assign(handler, {
    hub,
    close(closeOptions: { graceMs?: number } = {}): Promise<void> {
      closing ??= shutdown(closeOptions.graceMs ?? 10_000);
      return closing;
    },
  });
}
