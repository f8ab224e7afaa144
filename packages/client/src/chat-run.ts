import type { ErrorEvent, FinishEvent, FinishReason, Message, StreamEvent, Usage } from '@sluice/core';
import { createParser, type EventSourceMessage, type ParseError } from 'eventsource-parser';
import type { Endpoint } from './endpoint.js';
import { errorFromResponse } from './error-from-response.js';
import { invalidArgument } from './invalid-argument.js';
import { backoffDelay, type ResumeAttempt, type ResumePolicy } from './resume-options.js';
import { SluiceClientError } from './sluice-client-error.js';

/**
 * Where a run's connection stands, for the UI:
 * `connecting` → `streaming` → (`reconnecting` → `streaming`)* → `done`, or `error` when it
 * failed (an HTTP error, a failed run, resume gave up), or `detached` when the caller stopped
 * listening (its `signal` aborted, or it left the `for await` loop).
 */
export type ChatStatus = 'connecting' | 'streaming' | 'reconnecting' | 'done' | 'error' | 'detached';

/** What a finished run produced: `await chat.done` gives this. */
export interface ChatRunResult {
  runId: string;
  conversationId: string | undefined;
  /** From the run's `start` event (undefined when it was not received, e.g. `resumeRun` past it). */
  model: string | undefined;
  provider: string | undefined;
  /** The assistant's whole text, as the server assembled it (the final message's content). */
  text: string;
  /** The final (possibly partial) assistant message from the `finish` event. */
  message: Message;
  /** `stop`, `length`, `tool-calls`, `content-filter` or `aborted` (`error` rejects instead). */
  finishReason: FinishReason;
  usage: Usage | undefined;
}

/** Callbacks for what the event stream does not carry: the connection's state. */
export interface ChatRunCallbacks {
  /**
   * Called with the first status (`connecting`) and on every change (a UI can show
   * `reconnecting`). Errors it throws are logged.
   */
  onStatusChange?: (status: ChatStatus, run: ChatRun) => void;
  /** Called before each attempt to resume a dropped connection. Errors it throws are logged. */
  onResume?: (attempt: ResumeAttempt) => void;
}

/** How a run starts: by posting a chat, or by reattaching to a run. */
export type ChatRunStart =
  | { method: 'POST'; body: string }
  | { method: 'GET'; runId: string; lastEventId: number | undefined };

/** Everything a `ChatRun` is made from (built by `streamChat` and `resumeRun`). */
export interface ChatRunInit extends ChatRunCallbacks {
  endpoint: Endpoint;
  start: ChatRunStart;
  conversationId: string | undefined;
  signal: AbortSignal | undefined;
  resume: ResumePolicy;
  /** How often a POST answered with 429 and `Retry-After` is sent again. */
  maxRetries: number;
}

/** A `next()` call waiting for an event or the end. */
interface PendingRead {
  resolve: (result: IteratorResult<StreamEvent>) => void;
  reject: (error: unknown) => void;
}

type Outcome = { status: 'done'; result: ChatRunResult } | { status: 'error' | 'detached'; error: unknown };

// A Retry-After longer than this is not waited for: the 429 is reported instead.
const MAX_RETRY_AFTER_MS = 10_000;
// A single event (one SSE frame) larger than this is not the sluice protocol.
const MAX_FRAME_CHARS = 16 * 1024 * 1024;

// How long the rest of a response is read after its `finish` event before it is cancelled.
const DRAIN_MS = 1000;

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // undici says "fetch failed" / "terminated" and puts the reason (ECONNREFUSED, "other side closed") in `cause`.
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error.message}${cause}`;
}

/**
 * Reads what follows the `finish` event (the server ends the response right after it) so the
 * connection can be reused; cancelling instead would close it. Gives up after a second.
 */
function drain(reader: ReadableStreamDefaultReader<Uint8Array>): void {
  const timer = setTimeout(() => void reader.cancel().catch(() => undefined), DRAIN_MS);
  const step = (result: ReadableStreamReadResult<Uint8Array>): Promise<void> | undefined =>
    result.done ? undefined : reader.read().then(step);
  reader
    .read()
    .then(step)
    .catch(() => undefined)
    .finally(() => clearTimeout(timer));
}

function isStreamEvent(value: unknown): value is StreamEvent {
  if (typeof value !== 'object' || value === null) return false;
  const { type, seq } = value as { type?: unknown; seq?: unknown };
  return typeof type === 'string' && typeof seq === 'number' && Number.isInteger(seq) && seq >= 0;
}

/**
 * One chat run on a sluice server, as the client sees it: an `AsyncIterable<StreamEvent>` (each
 * `seq` exactly once, in order, across any number of resumed connections), the text so far, the
 * connection's status, `cancel()`, and `done` for the result. Made by `streamChat` and `resumeRun`;
 * the request starts at once, and events are buffered until you iterate.
 *
 * Iterate it once. Iteration ends after the `finish` event. If the run failed, the `error` and
 * `finish` events are yielded and then the iterator throws a `SluiceClientError` with the error
 * event's `code` (as `@sluice/core`'s `ChatStream` does); `done` rejects with the same error.
 * Leaving the loop early (`break`) closes the connection and stops listening: whether the run
 * goes on is the server's disconnect policy; use `cancel()` to stop the generation.
 */
export class ChatRun implements AsyncIterable<StreamEvent> {
  /**
   * Settles when the run has ended: resolves with the result of a run that finished (also when
   * it was cancelled: `finishReason: 'aborted'`), rejects with a `SluiceClientError` otherwise.
   */
  readonly done: Promise<ChatRunResult>;

  private readonly endpoint: Endpoint;
  private readonly init: ChatRunInit;
  private readonly policy: ResumePolicy;
  private statusValue: ChatStatus = 'connecting';
  private runIdValue: string | undefined;
  private conversationIdValue: string | undefined;
  private model: string | undefined;
  private provider: string | undefined;
  private nextSeq = 0;
  // The text is joined on read, not per delta.
  private readonly textParts: string[] = [];
  private errorEvent: ErrorEvent | undefined;
  private finishEvent: FinishEvent | undefined;

  // Events received and not yet taken by the iterator.
  private readonly queue: (StreamEvent | undefined)[] = [];
  private head = 0;
  // `next()` calls waiting for an event, oldest first: concurrent calls settle in call order.
  private readonly reads: PendingRead[] = [];
  private iterated = false;
  private errorDelivered = false;
  private outcome: Outcome | undefined;
  private resolveDone!: (result: ChatRunResult) => void;
  private rejectDone!: (error: unknown) => void;
  private runIdWaiters: ((runId: string | undefined) => void)[] = [];

  // The connection.
  private attempts = 0;
  private serverRetryMs: number | undefined;
  private connection: AbortController | undefined;
  // The request the current connection answers, for error messages (`GET http://…/events`).
  private connectionRequest = '';
  private lastActivity = 0;
  private watchdog: ReturnType<typeof setTimeout> | undefined;
  private stopReason: SluiceClientError | undefined;
  private stopWaiting: (() => void) | undefined;
  // Rejects with `stopReason` when the caller stops listening: whatever the loop awaits
  // (a `headers()` callback, a `fetch` that ignores its signal, a body read) is raced with it.
  private readonly stopped: Promise<never>;
  private rejectStopped!: (reason: SluiceClientError) => void;
  // The body being read, cancelled on stop.
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  private readonly onAbort = (): void => {
    this.stop(
      new SluiceClientError({
        code: 'aborted',
        message: `[sluice/client] stopped listening to ${this.describeRun()}: the signal aborted`,
        runId: this.runIdValue,
        cause: this.init.signal?.reason,
      }),
    );
  };

  /** @internal Use `streamChat()` or `resumeRun()`. */
  constructor(init: ChatRunInit) {
    this.init = init;
    this.endpoint = init.endpoint;
    this.policy = init.resume;
    this.conversationIdValue = init.conversationId;
    if (init.start.method === 'GET') {
      this.runIdValue = init.start.runId;
      if (init.start.lastEventId !== undefined) this.nextSeq = init.start.lastEventId + 1;
    }
    this.done = new Promise<ChatRunResult>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // A caller that only iterates gets the error from the iterator: no unhandled rejection.
    this.done.catch(() => undefined);
    this.stopped = new Promise<never>((_, reject) => {
      this.rejectStopped = reject;
    });
    this.stopped.catch(() => undefined);
    const { signal } = init;
    if (signal?.aborted === true) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
    // Started after the caller's `const chat = streamChat(...)` has completed, so callbacks can use `chat`.
    queueMicrotask(() => void this.pump());
  }

  /** The run's id: known once the server answered (undefined before, or if it never did). */
  get runId(): string | undefined {
    return this.runIdValue;
  }

  /** The conversation the run belongs to (the server names a new one when none was given). */
  get conversationId(): string | undefined {
    return this.conversationIdValue;
  }

  /**
   * The text received so far: the concatenated `text-delta`s (for `resumeRun` with a
   * `lastEventId`, those after it).
   */
  get text(): string {
    const parts = this.textParts;
    if (parts.length > 1) {
      const joined = parts.join('');
      parts.length = 1;
      parts[0] = joined;
    }
    return parts[0] ?? '';
  }

  /** Where the connection stands; `onStatusChange` reports each change. */
  get status(): ChatStatus {
    return this.statusValue;
  }

  /** The `seq` of the last event received: pass it to `resumeRun` to reattach later. */
  get lastEventId(): number | undefined {
    return this.nextSeq > 0 ? this.nextSeq - 1 : undefined;
  }

  /**
   * Asks the server to stop the run (`POST /runs/:id/cancel`); the stream then ends with a
   * `finish` event whose reason is `aborted`, and `done` resolves with the partial message.
   * Resolves once the server accepted (waiting for the run's id if the request is still in
   * flight); does nothing when the run has already ended. Rejects with a `SluiceClientError`
   * when the server refuses.
   */
  async cancel(): Promise<void> {
    if (this.outcome !== undefined) return;
    const runId = this.runIdValue ?? (await new Promise<string | undefined>((resolve) => this.runIdWaiters.push(resolve)));
    if (runId === undefined) return; // the request failed before a run was started
    const url = this.endpoint.url('runs', runId, 'cancel');
    const headers = await this.endpoint.headers({ Accept: 'application/json' });
    let response: Response;
    try {
      response = await this.endpoint.fetch(url, { method: 'POST', headers });
    } catch (cause) {
      throw new SluiceClientError({
        code: 'network_error',
        message: `[sluice/client] POST ${url} failed: ${describeError(cause)}`,
        retryable: true,
        runId,
        cause,
      });
    }
    if (!response.ok) throw await errorFromResponse(response, `POST ${url}`, runId);
    await response.body?.cancel();
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    if (this.iterated) {
      throw invalidArgument('a chat run can be iterated once: keep the events you need, or read chat.text and await chat.done');
    }
    this.iterated = true;
    const iterator: AsyncIterableIterator<StreamEvent> = {
      next: () => this.next(),
      return: () => this.leave(),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * The iterator's `next()`. Not async, so calls made before any settles (`Promise.all` of
   * several) are answered in call order: each takes the next event; once the run has ended, the
   * first call past the last event gets the run's error (if it failed) and the rest `done`, as
   * the platform's async generators do.
   */
  private next(): Promise<IteratorResult<StreamEvent>> {
    return new Promise<IteratorResult<StreamEvent>>((resolve, reject) => {
      this.reads.push({ resolve, reject });
      this.wake();
    });
  }

  /** Answers the waiting `next()` calls with the buffered events, then with the end once there is one. */
  private wake(): void {
    const reads = this.reads;
    let index = 0;
    while (index < reads.length && this.head < this.queue.length) {
      const value = this.queue[this.head] as StreamEvent;
      this.queue[this.head++] = undefined;
      (reads[index++] as PendingRead).resolve({ value, done: false });
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
    const outcome = this.outcome;
    if (outcome !== undefined) {
      for (; index < reads.length; index++) {
        const read = reads[index] as PendingRead;
        if (outcome.status !== 'done' && !this.errorDelivered) {
          this.errorDelivered = true;
          read.reject(outcome.error);
        } else {
          read.resolve(DONE);
        }
      }
    }
    reads.splice(0, index);
  }

  /** The consumer left the loop: stop listening (the server's disconnect policy decides the rest). */
  private leave(): Promise<IteratorResult<StreamEvent>> {
    this.queue.length = 0;
    this.head = 0;
    this.errorDelivered = true;
    // `next()` calls still waiting end with the loop.
    for (const read of this.reads.splice(0)) read.resolve(DONE);
    if (this.outcome === undefined) {
      this.stop(
        new SluiceClientError({
          code: 'aborted',
          message: `[sluice/client] stopped listening to ${this.describeRun()}: the loop was left before the finish event (resumeRun() reattaches; cancel() stops a run)`,
          runId: this.runIdValue,
        }),
      );
    }
    return Promise.resolve(DONE);
  }

  private describeRun(): string {
    return this.runIdValue === undefined ? 'the chat request' : `run ${this.runIdValue}`;
  }

  private setStatus(status: ChatStatus, announce = false): void {
    if (this.statusValue === status && !announce) return;
    this.statusValue = status;
    const listener = this.init.onStatusChange;
    if (listener === undefined) return;
    try {
      listener(status, this);
    } catch (error) {
      console.error('[sluice/client] onStatusChange threw', error);
    }
  }

  private setRunId(runId: string | null | undefined): void {
    if (this.runIdValue !== undefined || typeof runId !== 'string' || runId === '') return;
    this.runIdValue = runId;
    const waiters = this.runIdWaiters;
    this.runIdWaiters = [];
    for (const resolve of waiters) resolve(runId);
  }

  // ---- the connection loop ----

  private async pump(): Promise<void> {
    try {
      // The first status is reported too, so a UI can render from the callback alone.
      if (this.outcome === undefined) this.setStatus('connecting', true);
      let response = await this.open();
      for (;;) {
        let failure: unknown;
        try {
          if (await this.read(response)) {
            this.complete();
            return;
          }
          failure = new SluiceClientError({
            code: 'connection_closed',
            message: `[sluice/client] the event stream of ${this.describeRun()} ended before its finish event`,
            retryable: true,
            runId: this.runIdValue,
          });
        } catch (error) {
          if (!this.canResume(error)) throw error;
          failure = error;
        }
        response = await this.reconnect(failure);
      }
    } catch (error) {
      this.fail(error);
    }
  }

  private canResume(error: unknown): boolean {
    return this.stopReason === undefined && SluiceClientError.isInstance(error) && error.retryable;
  }

  private async open(): Promise<Response> {
    const { start } = this.init;
    if (start.method === 'POST') return this.post(start.body);
    try {
      return await this.requestEvents();
    } catch (error) {
      if (!this.canResume(error)) throw error;
      return this.reconnect(error);
    }
  }

  /**
   * `POST /chat`. Never sent twice, except after a 429 with `Retry-After`: the server said no
   * run was started and when to come back. A network error or a 5xx may have started a run
   * the client cannot name, so those are reported, not retried.
   */
  private async post(body: string): Promise<Response> {
    const url = this.endpoint.url('chat');
    for (let retries = 0; ; retries++) {
      const response = await this.request('POST', url, { Accept: 'text/event-stream', 'Content-Type': 'application/json' }, body);
      if (response.ok) {
        this.acceptResponse(response, `POST ${url}`);
        return response;
      }
      this.stopWatchdog();
      const error = await this.untilStopped(errorFromResponse(response, `POST ${url}`));
      if (
        response.status === 429 &&
        retries < this.init.maxRetries &&
        error.retryAfterMs !== undefined &&
        error.retryAfterMs <= MAX_RETRY_AFTER_MS
      ) {
        await this.wait(error.retryAfterMs);
        continue;
      }
      throw error;
    }
  }

  /** `GET /runs/:id/events`, from the event after the last one received. */
  private async requestEvents(): Promise<Response> {
    const runId = this.runIdValue as string;
    const url = this.endpoint.url('runs', runId, 'events');
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    const { lastEventId } = this;
    if (lastEventId !== undefined) headers['Last-Event-ID'] = String(lastEventId);
    const response = await this.request('GET', url, headers, undefined);
    if (!response.ok) {
      this.stopWatchdog();
      throw await this.untilStopped(errorFromResponse(response, `GET ${url}`, runId));
    }
    this.acceptResponse(response, `GET ${url}`);
    return response;
  }

  private async reconnect(failure: unknown): Promise<Response> {
    const runId = this.runIdValue;
    if (runId === undefined || !this.policy.enabled) {
      throw new SluiceClientError({
        code: 'connection_lost',
        message:
          runId === undefined
            ? `[sluice/client] the connection dropped before the server named the run, so it cannot be resumed: ${describeError(failure)}`
            : `[sluice/client] the connection to run ${runId} dropped and resume is off: resumeRun({ runId, lastEventId }) reattaches`,
        runId,
        retryable: true,
        cause: failure,
      });
    }
    this.setStatus('reconnecting');
    const { maxAttempts } = this.policy;
    for (;;) {
      this.attempts++;
      if (this.attempts > maxAttempts) {
        throw new SluiceClientError({
          code: 'resume_failed',
          message: `[sluice/client] could not resume run ${runId} after ${maxAttempts} attempt${maxAttempts === 1 ? '' : 's'} (last error: ${describeError(failure)}); resumeRun({ runId, lastEventId: ${this.lastEventId} }) tries again later`,
          runId,
          retryable: true,
          cause: failure,
        });
      }
      const delayMs = backoffDelay(this.policy, this.attempts, this.serverRetryMs);
      const listener = this.init.onResume;
      if (listener !== undefined) {
        try {
          listener({ runId, attempt: this.attempts, maxAttempts, lastEventId: this.lastEventId, delayMs, error: failure });
        } catch (error) {
          console.error('[sluice/client] onResume threw', error);
        }
      }
      await this.wait(delayMs);
      try {
        return await this.requestEvents();
      } catch (error) {
        if (!this.canResume(error)) throw error;
        failure = error;
      }
    }
  }

  /** `promise`, unless the caller stops listening first: then `stopReason`. */
  private untilStopped<TValue>(promise: Promise<TValue>): Promise<TValue> {
    if (this.stopReason !== undefined) return Promise.reject(this.stopReason);
    return Promise.race([promise, this.stopped]);
  }

  /**
   * Sends a request on a fresh connection, watched for stalls until it is read to its end.
   * Nothing is sent once the caller has stopped listening, even if it stopped while `headers()`
   * was pending.
   */
  private async request(method: 'GET' | 'POST', url: string, extra: Record<string, string>, body: string | undefined): Promise<Response> {
    const headers = await this.untilStopped(this.endpoint.headers(extra));
    if (this.stopReason !== undefined) throw this.stopReason;
    const connection = new AbortController();
    this.connection = connection;
    this.connectionRequest = `${method} ${url}`;
    this.startWatchdog(connection, this.connectionRequest);
    try {
      return await this.untilStopped(this.endpoint.fetch(url, { method, headers, body, signal: connection.signal }));
    } catch (error) {
      this.stopWatchdog();
      throw this.connectionError(error, connection, `${method} ${url}`);
    }
  }

  /** A 2xx answer: it must be an event stream; it names the run and its conversation. */
  private acceptResponse(response: Response, request: string): void {
    const type = response.headers.get('content-type') ?? '';
    if (!type.toLowerCase().includes('text/event-stream')) {
      this.stopWatchdog();
      void response.body?.cancel().catch(() => undefined);
      throw new SluiceClientError({
        code: 'invalid_response',
        message: `[sluice/client] ${request} answered ${response.status} with ${type === '' ? 'no content type' : `"${type}"`}, not an event stream: does baseURL point at the sluice router?`,
        status: response.status,
        runId: this.runIdValue,
      });
    }
    this.setRunId(response.headers.get('x-sluice-run-id'));
    this.conversationIdValue ??= response.headers.get('x-sluice-conversation-id') ?? undefined;
    this.setStatus('streaming');
  }

  /**
   * Reads one response's events. True when the run's `finish` event arrived; false when the
   * body ended first; throws when the connection broke or the server broke the protocol.
   */
  private async read(response: Response): Promise<boolean> {
    const connection = this.connection as AbortController;
    const request = this.connectionRequest;
    const body = response.body;
    if (body === null) {
      this.stopWatchdog();
      return false;
    }
    const reader = body.getReader();
    this.reader = reader;
    const decoder = new TextDecoder();
    const messages: EventSourceMessage[] = [];
    let parseError: ParseError | undefined;
    const parser = createParser({
      onEvent: (message) => messages.push(message),
      onRetry: (retryMs) => {
        this.serverRetryMs = retryMs;
      },
      onError: (error) => {
        if (error.type === 'max-buffer-size-exceeded') parseError = error;
      },
      maxBufferSize: MAX_FRAME_CHARS,
    });
    let finished = false;
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (error) {
          throw this.connectionError(error, connection, request);
        }
        if (chunk.done) {
          if (this.stopReason !== undefined) throw this.stopReason; // cancelled by stop()
          return false;
        }
        this.lastActivity = performance.now();
        parser.feed(decoder.decode(chunk.value, { stream: true }));
        if (parseError !== undefined) {
          throw new SluiceClientError({
            code: 'invalid_response',
            message: `[sluice/client] ${this.describeRun()} sent an event over ${MAX_FRAME_CHARS} characters: not the sluice protocol`,
            runId: this.runIdValue,
            cause: parseError,
          });
        }
        for (let index = 0; index < messages.length; index++) {
          if (this.accept(messages[index] as EventSourceMessage)) {
            finished = true;
            return true;
          }
        }
        messages.length = 0;
      }
    } finally {
      this.reader = undefined;
      this.stopWatchdog();
      if (finished) drain(reader);
      else reader.cancel().catch(() => undefined);
    }
  }

  /** Takes one SSE message: yields its event unless it is a replayed duplicate. True on `finish`. */
  private accept(message: EventSourceMessage): boolean {
    if (message.event === 'run-error') throw this.runError(message.data);
    let event: unknown;
    try {
      event = JSON.parse(message.data);
    } catch (cause) {
      throw this.protocolError(`an event whose data is not JSON (id ${message.id ?? 'none'}, event ${message.event ?? 'none'})`, cause);
    }
    if (!isStreamEvent(event)) {
      throw this.protocolError(`an event without a type and seq (id ${message.id ?? 'none'}, event ${message.event ?? 'none'})`);
    }
    if (event.seq < this.nextSeq) return false; // replayed again after a resume: already yielded
    if (event.seq > this.nextSeq) {
      throw new SluiceClientError({
        code: 'sequence_gap',
        message: `[sluice/client] ${this.describeRun()} skipped events: expected seq ${this.nextSeq}, got ${event.seq} (the server did not replay from Last-Event-ID)`,
        runId: this.runIdValue,
      });
    }
    this.nextSeq = event.seq + 1;
    this.attempts = 0; // progress: a later drop gets its full count of attempts
    switch (event.type) {
      case 'start':
        this.setRunId(event.runId);
        this.conversationIdValue ??= event.conversationId;
        this.model = event.model;
        this.provider = event.provider;
        break;
      case 'text-delta':
        this.textParts.push(event.text);
        break;
      case 'error':
        this.errorEvent = event;
        break;
      case 'finish':
        this.finishEvent = event;
        break;
    }
    this.queue.push(event);
    this.wake();
    return event.type === 'finish';
  }

  /**
   * The server says the run can produce no more events (`run_interrupted`, `run_stalled`,
   * `run_log_incomplete`, ...): resuming again would get the same answer.
   */
  private runError(data: string): SluiceClientError {
    let error: { code?: unknown; message?: unknown } | undefined;
    try {
      error = (JSON.parse(data) as { error?: { code?: unknown; message?: unknown } }).error;
    } catch (cause) {
      return this.protocolError('a run-error frame whose data is not JSON', cause);
    }
    return new SluiceClientError({
      code: typeof error?.code === 'string' ? error.code : 'run_error',
      message: `[sluice/client] ${this.describeRun()} cannot continue: ${typeof error?.message === 'string' ? error.message : 'the server ended it'}`,
      runId: this.runIdValue,
      retryable: false,
    });
  }

  private protocolError(what: string, cause?: unknown): SluiceClientError {
    return new SluiceClientError({
      code: 'invalid_response',
      message: `[sluice/client] ${this.describeRun()} sent ${what}: not the sluice protocol`,
      runId: this.runIdValue,
      cause,
    });
  }

  /** What a failed fetch or body read means: the caller stopped, a stall, or a broken connection. */
  private connectionError(error: unknown, connection: AbortController, request: string): unknown {
    if (this.stopReason !== undefined) return this.stopReason;
    if (connection.signal.aborted) return connection.signal.reason; // the watchdog's `stalled`
    if (SluiceClientError.isInstance(error)) return error;
    return new SluiceClientError({
      code: 'network_error',
      message: `[sluice/client] ${request} failed: ${describeError(error)}`,
      retryable: true,
      runId: this.runIdValue,
      cause: error,
    });
  }

  // One timer per connection, re-armed only when it fires: a chunk costs a clock read, not a timer.
  private startWatchdog(connection: AbortController, request: string): void {
    const idleMs = this.policy.idleTimeoutMs;
    if (idleMs <= 0) return;
    this.lastActivity = performance.now();
    const check = (): void => {
      const quietMs = performance.now() - this.lastActivity;
      if (quietMs < idleMs) {
        this.watchdog = setTimeout(check, idleMs - quietMs);
        return;
      }
      this.watchdog = undefined;
      connection.abort(
        new SluiceClientError({
          code: 'stalled',
          message: `[sluice/client] ${request} sent nothing for ${idleMs} ms (no event, no heartbeat)`,
          retryable: true,
          runId: this.runIdValue,
        }),
      );
    };
    this.watchdog = setTimeout(check, idleMs);
  }

  private stopWatchdog(): void {
    if (this.watchdog !== undefined) clearTimeout(this.watchdog);
    this.watchdog = undefined;
  }

  private wait(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.stopReason !== undefined) {
        reject(this.stopReason);
        return;
      }
      const timer = setTimeout(() => {
        this.stopWaiting = undefined;
        resolve();
      }, ms);
      this.stopWaiting = () => {
        clearTimeout(timer);
        reject(this.stopReason);
      };
    });
  }

  /** Stops listening: closes the connection and any wait for a reconnection. */
  private stop(reason: SluiceClientError): void {
    if (this.stopReason !== undefined || this.outcome !== undefined) return;
    this.stopReason = reason;
    this.rejectStopped(reason);
    this.connection?.abort(reason);
    // A body that ignores the connection's signal (a custom fetch) is cancelled too.
    void this.reader?.cancel(reason).catch(() => undefined);
    const stopWaiting = this.stopWaiting;
    this.stopWaiting = undefined;
    stopWaiting?.();
  }

  // ---- the end ----

  private complete(): void {
    const finish = this.finishEvent as FinishEvent;
    const runId = this.runIdValue as string;
    if (finish.reason === 'error' || this.errorEvent !== undefined) {
      const serialized = this.errorEvent?.error;
      this.fail(
        new SluiceClientError({
          code: serialized?.code ?? 'run_failed',
          message: `[sluice/client] run ${runId} failed: ${serialized?.message ?? 'the server finished it with reason "error"'}`,
          status: serialized?.status,
          retryable: serialized?.retryable ?? false,
          runId,
        }),
      );
      return;
    }
    const content = (finish.message as Partial<Message> | undefined)?.content;
    this.settle({
      status: 'done',
      result: {
        runId,
        conversationId: this.conversationIdValue,
        model: this.model,
        provider: this.provider,
        text: typeof content === 'string' ? content : this.text,
        message: finish.message,
        finishReason: finish.reason,
        usage: finish.usage,
      },
    });
  }

  private fail(error: unknown): void {
    const stopped = this.stopReason;
    this.settle({ status: stopped === undefined ? 'error' : 'detached', error: stopped ?? error });
  }

  private settle(outcome: Outcome): void {
    if (this.outcome !== undefined) return;
    this.outcome = outcome;
    this.stopWatchdog();
    this.init.signal?.removeEventListener('abort', this.onAbort);
    const waiters = this.runIdWaiters;
    this.runIdWaiters = [];
    for (const resolve of waiters) resolve(undefined);
    this.setStatus(outcome.status);
    if (outcome.status === 'done') this.resolveDone(outcome.result);
    else this.rejectDone(outcome.error);
    this.wake();
  }
}
