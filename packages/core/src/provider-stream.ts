// The request loop every HTTP provider adapter needs: retry before the first delta, an idle
// watchdog, abort, and the end-of-stream check. Written as a plain AsyncIterator rather than an
// `async function*`: a generator wrapping the SDK's stream costs several promise hops per chunk,
// which is most of what an adapter adds to the SDK's own decoding.
import { delay } from './delay.js';
import { InvalidArgumentError } from './errors/invalid-argument-error.js';
import { ModelError } from './errors/model-error.js';
import type { BufferedEventSource } from './server-sent-events.js';
import type { ModelStreamPart } from './stream-event.js';

/** How failed requests are retried. */
export interface RetryOptions {
  /** Retries of a request that failed before its first delta. Default 2. */
  maxRetries?: number;
  /** First backoff; doubles per retry, with jitter. Default 500. */
  initialDelayMs?: number;
  /** Longest backoff. Default 8000. */
  maxDelayMs?: number;
}

/**
 * One opened provider response, as an adapter reads it: the SDK's events and how each becomes
 * sluice parts.
 */
export interface ProviderStream<TEvent> {
  /**
   * The events one at a time: the SDK's stream, or `[body]` for a response that was not
   * streamed. Give either this or `source`.
   */
  events?: AsyncIterable<TEvent> | Iterable<TEvent>;
  /**
   * The events read a network read at a time and taken one by one (see `sdkStreamEvents`):
   * one promise step per read, however many events it holds. Give either this or `events`.
   */
  source?: BufferedEventSource<TEvent>;
  /**
   * Parts for one event: one part (the common case: return it bare, not in an array), several,
   * or none. May throw (e.g. an error event): the request then fails as if the SDK had thrown.
   */
  translate(event: TEvent): ModelStreamPart | readonly ModelStreamPart[] | undefined;
  /** Called once the events end: throws if the stream ended without its terminator. */
  end(): void;
}

/** What `retryingProviderStream` needs from an adapter. */
export interface RetryingProviderStreamOptions<TEvent> {
  /** The provider's name, for errors (`openai`, `anthropic`). */
  provider: string;
  /** The run's signal (`ModelCallOptions.signal`). */
  signal: AbortSignal;
  /** Retries and backoff; see `resolveRetryOptions`. Default: 2 retries from 500 ms. */
  retry?: RetryOptions;
  /**
   * Fails the request with a retryable `stream_idle_timeout` when the provider sent nothing for
   * this long while the run was waiting for it, counting from the request. Only time spent
   * waiting on the provider counts: while the consumer or a blocking handler holds the run
   * back, no read is pending and the watchdog is paused. Default 0 (off).
   */
  idleTimeoutMs?: number;
  /**
   * Sends the request. Pass `signal` to the SDK: it aborts when the run is stopped, when the
   * stream is idle too long, and after a failed attempt (releasing its connection).
   */
  open(signal: AbortSignal): Promise<ProviderStream<TEvent>>;
  /** Turns whatever the SDK threw (or `translate`/`end` threw) into a `ModelError`. */
  toModelError(error: unknown): ModelError;
}

const DEFAULT_RETRY: Required<RetryOptions> = { maxRetries: 2, initialDelayMs: 500, maxDelayMs: 8000 };

/**
 * Checks and fills retry options, for an adapter's constructor. `maxRetries` (the adapter's
 * top-level option) takes precedence over `options.maxRetries`.
 */
export function resolveRetryOptions(options: RetryOptions | undefined, maxRetries: number | undefined, packageName: string): Required<RetryOptions> {
  const resolved = {
    maxRetries: maxRetries ?? options?.maxRetries ?? DEFAULT_RETRY.maxRetries,
    initialDelayMs: options?.initialDelayMs ?? DEFAULT_RETRY.initialDelayMs,
    maxDelayMs: options?.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isFinite(value) || value < 0 || (name === 'maxRetries' && !Number.isInteger(value))) {
      throw new InvalidArgumentError({ argument: name, message: `[${packageName}] ${name} must be a ${name === 'maxRetries' ? 'whole number' : 'number'} >= 0 (got ${String(value)})` });
    }
  }
  return resolved;
}

/** Checks an idle timeout option, for an adapter's constructor: 0 and `Infinity` turn it off. */
export function resolveIdleTimeoutMs(value: number | undefined, fallback: number, packageName: string): number {
  const resolved = value ?? fallback;
  if (!(resolved >= 0)) {
    throw new InvalidArgumentError({ argument: 'idleTimeoutMs', message: `[${packageName}] idleTimeoutMs must be a number >= 0 (0 turns it off; got ${String(value)})` });
  }
  return resolved === Number.POSITIVE_INFINITY ? 0 : resolved;
}

/**
 * Streams a provider's response as sluice parts: the helper behind an HTTP adapter's `_stream`.
 *
 * - A request that fails before its first delta (text, reasoning or tool-call) is retried if
 *   its `ModelError` is `retryable`, after `retryAfterMs` when the provider sent one (up to a
 *   minute), else with exponential backoff. Parts before the first delta (metadata, usage) are
 *   held back until it arrives, so a retry is invisible. After the first delta, never.
 * - No event for `idleTimeoutMs` while a read is pending aborts the request: a retryable
 *   `stream_idle_timeout`. Time the run spends elsewhere (a slow consumer, a handler's lane
 *   holding it back) does not count: the provider is not to blame for it.
 * - When the run's signal aborts, the request is aborted and the parts end, without an error.
 * - When the events end, `end()` checks the stream was complete (else it throws, e.g.
 *   `stream_truncated`), and the parts end.
 *
 * Returned from `ChatModel._stream`, it is driven by the run itself (`driveProviderStream`):
 * each event is translated and its parts dispatched in the promise step that brought it: one
 * step per network read with a `source` (see `sdkStreamEvents`), one per event with `events`.
 * It can also be iterated like any async iterable.
 *
 * The per-chunk path reads no clock, sets no timer, reads no (possibly composite) signal and
 * allocates nothing but the iterator result: return parts bare from `translate`, not in an
 * array, and give a `source` where the SDK allows it (else the SDK's stream itself as
 * `events`). Like a generator, it is iterated once, one `next()` at a time.
 *
 * @example
 * ```ts
 * class ChatAcme extends ChatModel {
 *   readonly provider = 'acme';
 *   readonly model = 'acme-1';
 *   protected _stream(messages: readonly Message[], call: ModelCallOptions): AsyncIterable<ModelStreamPart> {
 *     return retryingProviderStream({
 *       provider: 'acme',
 *       signal: call.signal,
 *       idleTimeoutMs: 120_000,
 *       open: async (signal) => {
 *         const events = await acme.chat({ messages, stream: true }, { signal });
 *         let finished = false;
 *         return {
 *           events,
 *           translate: (event) => {
 *             if (event.type === 'done') finished = true;
 *             return event.type === 'text' ? { type: 'text-delta', text: event.text } : undefined;
 *           },
 *           end: () => {
 *             if (!finished) throw new ModelError({ code: 'stream_truncated', provider: 'acme', retryable: true, message: '[acme] the stream was cut' });
 *           },
 *         };
 *       },
 *       toModelError: (error) => (error instanceof ModelError ? error : new ModelError({ code: 'model_error', provider: 'acme', message: String(error), cause: error })),
 *     });
 *   }
 * }
 * ```
 */
export function retryingProviderStream<TEvent>(options: RetryingProviderStreamOptions<TEvent>): AsyncIterableIterator<ModelStreamPart> {
  return new RetryingProviderStream(options);
}

type Step = IteratorResult<ModelStreamPart>;

/**
 * Where a provider stream's parts go. Iterated, each becomes an iterator result; driven by a
 * run (`driveProviderStream`), each goes straight into the run, in the same promise step as
 * the SDK event it came from.
 */
export interface PartSink<TResult> {
  /** One part, in order. */
  part(part: ModelStreamPart): Promise<TResult> | TResult;
  /** The parts ended: complete, or stopped by the run's signal. */
  end(): Promise<TResult> | TResult;
  /** The request failed for good (after any retries). */
  fail(error: ModelError): Promise<TResult>;
}

/** A provider stream a run pulls from itself: see `driveProviderStream`. */
export interface DrivenProviderStream<TResult> {
  /** Reads until the sink has a result: one part, the end, or the failure. */
  advance(): Promise<TResult>;
  /**
   * Sends the request now, before the first `advance()`, which then reads its response: the
   * run calls it as it starts, so the request is not held back while the consumer handles the
   * `start` event.
   */
  prefetch(): void;
  /**
   * The run was stopped (its signal aborted): the request is aborted and the parts end without
   * an error. A driven stream does not listen on the run's signal: the run calls this.
   */
  abort(): void;
}

/**
 * Lets a run drive a `retryingProviderStream` itself: the parts go to `sink` as each SDK event
 * is translated, saving the iterator's promise step per chunk. Returns undefined for any
 * other iterable, or one already iterated: the run then iterates it.
 */
export function driveProviderStream<TResult>(parts: AsyncIterable<ModelStreamPart>, sink: PartSink<TResult>): DrivenProviderStream<TResult> | undefined {
  if (!(parts instanceof RetryingProviderStream) || !parts.drive(sink)) return undefined;
  return parts as DrivenProviderStream<unknown> as DrivenProviderStream<TResult>;
}

/**
 * One timer for the idle watchdog of every open request, rather than one per request: setting
 * and clearing a timer per request cost more than the rest of a request's setup here (tens of
 * µs in front of every request). It ticks at a quarter of the shortest idle timeout watched,
 * is unref'd (it never keeps a process alive), and stops at the first tick with nothing to watch.
 */
class IdleWatchdog {
  private readonly streams = new Set<{ checkIdle(now: number): void }>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private periodMs = Number.POSITIVE_INFINITY;

  watch(stream: { checkIdle(now: number): void }, idleTimeoutMs: number): void {
    this.streams.add(stream);
    const periodMs = Math.max(1, idleTimeoutMs / 4);
    if (this.timer !== undefined && periodMs >= this.periodMs) return;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.periodMs = periodMs;
    this.timer = setInterval(this.tick, periodMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  unwatch(stream: { checkIdle(now: number): void }): void {
    this.streams.delete(stream);
  }

  private readonly tick = (): void => {
    if (this.streams.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.periodMs = Number.POSITIVE_INFINITY;
      return;
    }
    const now = performance.now();
    for (const stream of this.streams) stream.checkIdle(now);
  };
}

const watchdog = new IdleWatchdog();

const IDLE = 0;
const OPENING = 1;
const STREAMING = 2;
const WAITING = 3;
const DONE = 4;

const DONE_STEP: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

const ITERATOR_SINK: PartSink<Step> = {
  part: (part) => ({ value: part, done: false }),
  end: () => DONE_STEP,
  fail: (error) => Promise.reject(error),
};

function isDelta(part: ModelStreamPart): boolean {
  return part.type === 'text-delta' || part.type === 'reasoning-delta' || part.type === 'tool-call-delta';
}

function backoff(attempt: number, error: ModelError, retry: Required<RetryOptions>): number | undefined {
  if (error.retryAfterMs !== undefined) {
    // Wait as asked, unless it is longer than a minute: then the caller decides.
    return error.retryAfterMs <= 60_000 ? error.retryAfterMs : undefined;
  }
  return Math.min(retry.initialDelayMs * 2 ** attempt, retry.maxDelayMs) * (1 - Math.random() * 0.25);
}

// Written once for both uses: each method returns what the sink makes of a part, the end or
// the failure (an iterator result when iterated, the run's own result when driven), or a
// promise of it.
type Outcome = unknown;

class RetryingProviderStream<TEvent> implements AsyncIterableIterator<ModelStreamPart>, DrivenProviderStream<unknown> {
  private readonly options: RetryingProviderStreamOptions<TEvent>;
  private sink: PartSink<unknown> = ITERATOR_SINK;
  private readonly retry: Required<RetryOptions>;
  private readonly idleTimeoutMs: number;
  private state = IDLE;
  // Driven by a run (see drive()), which reports its abort by calling abort().
  private driven = false;
  // A request sent by prefetch(), whose response the next advance() reads.
  private prefetched: Promise<ProviderStream<TEvent>> | undefined;
  private attempt = 0;
  // Set by a listener: the run's signal may be an AbortSignal.any() composite, whose `aborted`
  // recomputes its state on every read.
  private aborted = false;

  // The current attempt.
  private controller: AbortController | undefined;
  private stream: ProviderStream<TEvent> | undefined;
  // One of: the SDK's events one at a time, a response that was not streamed, a buffered source.
  private events: AsyncIterator<TEvent> | undefined;
  private syncEvents: Iterator<TEvent> | undefined;
  private source: BufferedEventSource<TEvent> | undefined;
  private sourceEnded = false;
  private delivered = false;

  // Parts not yet returned: those held back before the first delta, and the rest of an event
  // that gave several. Until the first delta, none may be returned.
  private queue: ModelStreamPart[] = [];
  private head = 0;
  private draining = false;

  // The idle watchdog: an event, or a read starting, only bumps `eventCount`; the shared
  // watchdog timer compares it a few times per period (see `IdleWatchdog`). `reading` is true
  // only while the run waits on the provider (the request, or a read of its events): at any
  // other time the run is held back by its consumer or its handlers, and the clock is paused.
  private eventCount = 0;
  private reading = false;
  private seenCount = 0;
  private lastActivity = 0;
  private idleFired = false;

  constructor(options: RetryingProviderStreamOptions<TEvent>) {
    this.options = options;
    const retry = options.retry;
    this.retry = {
      maxRetries: retry?.maxRetries ?? DEFAULT_RETRY.maxRetries,
      initialDelayMs: retry?.initialDelayMs ?? DEFAULT_RETRY.initialDelayMs,
      maxDelayMs: retry?.maxDelayMs ?? DEFAULT_RETRY.maxDelayMs,
    };
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ModelStreamPart> {
    return this;
  }

  next(): Promise<Step> {
    return this.advance() as Promise<Step>;
  }

  /** Sends the parts to `sink` instead of returning them; only before the first `next()`. */
  drive(sink: PartSink<unknown>): boolean {
    if (this.state !== IDLE) return false;
    this.sink = sink;
    this.driven = true;
    return true;
  }

  advance(): Promise<unknown> {
    if (this.head < this.queue.length && (this.delivered || this.draining)) return Promise.resolve(this.sink.part(this.takeQueued()));
    const prefetched = this.prefetched;
    if (prefetched !== undefined) {
      this.prefetched = undefined;
      return prefetched.then(this.onOpen, this.onFailure);
    }
    switch (this.state) {
      case STREAMING:
        return this.pull();
      case IDLE:
        if (this.options.signal.aborted) {
          this.state = DONE;
          return Promise.resolve(this.sink.end());
        }
        this.listenForAbort();
        return this.start();
      default:
        return Promise.resolve(this.sink.end());
    }
  }

  prefetch(): void {
    if (this.state !== IDLE || this.options.signal.aborted) return;
    this.listenForAbort();
    const opened = this.send();
    // The response is here (or failed): until the run asks for it, nothing is waited on. A
    // failure is handled by the next advance(), or dropped with the run.
    opened.then(this.readEnded, this.readEnded);
    this.prefetched = opened;
  }

  /** The consumer stopped: abort the request and let the SDK release it. */
  return(): Promise<Step> {
    this.prefetched = undefined;
    if (this.state !== DONE) {
      const events = this.events;
      this.source?.cancel();
      this.finish();
      this.endAttempt(true);
      if (events?.return !== undefined) {
        try {
          Promise.resolve(events.return()).catch(() => undefined);
        } catch {
          // The request is aborted either way.
        }
      }
    }
    return Promise.resolve(DONE_STEP);
  }

  abort(): void {
    this.onAbort();
  }

  private listenForAbort(): void {
    // A run driving the stream calls abort() itself; adding a listener costs more than the rest
    // of a request's setup here.
    if (!this.driven) this.options.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly readEnded = (): void => {
    this.reading = false;
  };

  /** A read of the provider (the request, or its events) is pending from now on. */
  private readStarted(): void {
    this.reading = true;
    this.eventCount++;
  }

  private readonly onAbort = (): void => {
    this.aborted = true;
    const controller = this.controller;
    if (controller !== undefined && !controller.signal.aborted) controller.abort(this.options.signal.reason);
  };

  private start(): Promise<unknown> {
    return this.send().then(this.onOpen, this.onFailure);
  }

  /** Sends one attempt's request. */
  private send(): Promise<ProviderStream<TEvent>> {
    const controller = new AbortController();
    this.controller = controller;
    this.state = OPENING;
    this.idleFired = false;
    let opened: Promise<ProviderStream<TEvent>>;
    this.readStarted();
    try {
      opened = this.options.open(controller.signal);
    } catch (error) {
      opened = Promise.reject(error);
    }
    // Armed once the request is on its way: nothing but the request itself comes before it.
    if (this.idleTimeoutMs > 0) {
      this.eventCount = 0;
      this.seenCount = 0;
      this.lastActivity = performance.now();
      watchdog.watch(this, this.idleTimeoutMs);
    }
    return opened;
  }

  private readonly onOpen = (stream: ProviderStream<TEvent>): Outcome => {
    this.reading = false;
    if (this.state !== OPENING) return this.sink.end(); // returned meanwhile: the request is aborted
    this.stream = stream;
    const events = stream.events;
    if (stream.source !== undefined) {
      this.source = stream.source;
      this.sourceEnded = false;
    } else if (events === undefined) return this.fail(new TypeError('[sluice/core] a ProviderStream needs events or a source'));
    else if (Symbol.asyncIterator in events) this.events = events[Symbol.asyncIterator]();
    else this.syncEvents = events[Symbol.iterator]();
    this.state = STREAMING;
    return this.pull();
  };

  private pull(): Promise<unknown> {
    if (this.source !== undefined) return Promise.resolve(this.takeFromSource());
    const events = this.events;
    if (events !== undefined) {
      this.readStarted();
      try {
        return events.next().then(this.onEvent, this.onFailure);
      } catch (error) {
        return Promise.resolve().then(() => this.fail(error));
      }
    }
    // A response that was not streamed: its one event is already here.
    return Promise.resolve().then(this.pullSync);
  }

  private readonly pullSync = (): Outcome => {
    let step: IteratorResult<TEvent>;
    try {
      step = (this.syncEvents as Iterator<TEvent>).next();
    } catch (error) {
      return this.fail(error);
    }
    return this.onEvent(step);
  };

  private readonly onEvent = (step: IteratorResult<TEvent>): Outcome => {
    this.reading = false;
    if (this.state !== STREAMING) return this.sink.end();
    if (step.done === true) return this.endOfEvents();
    this.eventCount++;
    if (this.aborted) return this.stop();
    let parts: ModelStreamPart | readonly ModelStreamPart[] | undefined;
    try {
      parts = (this.stream as ProviderStream<TEvent>).translate(step.value);
    } catch (error) {
      return this.fail(error);
    }
    if (parts === undefined) return this.advance();
    // The hot path: one part, after the first delta.
    if (this.delivered && !Array.isArray(parts)) return this.sink.part(parts as ModelStreamPart);
    this.hold(parts);
    return this.advance();
  };

  /** Queues an event's parts; the first delta among them lets the queue go out. */
  private hold(parts: ModelStreamPart | readonly ModelStreamPart[]): void {
    if (!Array.isArray(parts)) {
      const part = parts as ModelStreamPart;
      this.queue.push(part);
      if (!this.delivered && isDelta(part)) this.delivered = true;
      return;
    }
    for (const part of parts as readonly ModelStreamPart[]) {
      if (!this.delivered && isDelta(part)) this.delivered = true;
      this.queue.push(part);
    }
  }

  /**
   * Takes buffered events until one gives a part that may go out, which goes out in this same
   * step (no promise of its own); reads more of the body only when none is buffered.
   */
  private takeFromSource(): Outcome {
    const source = this.source as BufferedEventSource<TEvent>;
    const stream = this.stream as ProviderStream<TEvent>;
    for (;;) {
      if (this.aborted) return this.stop();
      let parts: ModelStreamPart | readonly ModelStreamPart[] | undefined;
      try {
        const event = source.take();
        if (event === undefined) break;
        parts = stream.translate(event);
      } catch (error) {
        return this.fail(error);
      }
      if (parts === undefined) continue;
      // The hot path: one part, after the first delta.
      if (this.delivered && !Array.isArray(parts)) return this.sink.part(parts as ModelStreamPart);
      this.hold(parts);
      if (this.delivered) return this.sink.part(this.takeQueued());
    }
    if (this.sourceEnded) return this.endOfEvents();
    this.readStarted();
    return source.read().then(this.onSourceRead, this.onFailure);
  }

  private readonly onSourceRead = (more: boolean): Outcome => {
    this.reading = false;
    if (this.state !== STREAMING) return this.sink.end();
    this.eventCount++;
    if (!more) this.sourceEnded = true;
    return this.takeFromSource();
  };

  private readonly onFailure = (error: unknown): Outcome => {
    this.reading = false;
    if (this.state !== OPENING && this.state !== STREAMING) return this.sink.end();
    return this.fail(error);
  };

  private endOfEvents(): Outcome {
    if (this.aborted) return this.stop();
    if (this.idleFired) return this.fail(undefined);
    try {
      (this.stream as ProviderStream<TEvent>).end();
    } catch (error) {
      return this.fail(error);
    }
    this.endAttempt(false);
    this.finish();
    this.draining = true;
    return this.advance();
  }

  private fail(error: unknown): Outcome {
    this.endAttempt(true);
    if (this.aborted) return this.stop();
    const failure = this.idleFired ? this.idleError() : this.options.toModelError(error);
    const wait = this.delivered || !failure.retryable || this.attempt >= this.retry.maxRetries ? undefined : backoff(this.attempt, failure, this.retry);
    if (wait === undefined) {
      this.finish();
      return this.sink.fail(failure);
    }
    this.attempt++;
    this.queue.length = 0; // held parts of the failed attempt: the retry sends its own
    this.head = 0;
    this.state = WAITING;
    return delay(wait, this.options.signal).then(
      () => (this.state === WAITING ? this.start() : this.sink.end()),
      () => this.stop(),
    );
  }

  /** The run was aborted: the parts end without an error. */
  private stop(): Outcome {
    this.endAttempt(true);
    this.finish();
    this.queue.length = 0;
    this.head = 0;
    return this.sink.end();
  }

  private finish(): void {
    this.state = DONE;
    if (!this.driven) this.options.signal.removeEventListener('abort', this.onAbort);
  }

  /** Ends the current attempt: stops the watchdog; aborting releases a failed request's connection. */
  private endAttempt(abortRequest: boolean): void {
    if (this.idleTimeoutMs > 0) watchdog.unwatch(this);
    const controller = this.controller;
    if (abortRequest && controller !== undefined && !controller.signal.aborted) controller.abort();
    this.stream = undefined;
    this.events = undefined;
    this.syncEvents = undefined;
    this.source = undefined;
  }

  private takeQueued(): ModelStreamPart {
    const part = this.queue[this.head] as ModelStreamPart;
    this.queue[this.head++] = undefined as unknown as ModelStreamPart;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
    return part;
  }

  /**
   * Called by the watchdog a few times per idle period: aborts the attempt once it has waited
   * on the provider too long. While no read is pending the clock restarts at every tick, and a
   * read starting bumps `eventCount`, so only the wait of the current read is measured.
   */
  checkIdle(now: number): void {
    if (this.state !== OPENING && this.state !== STREAMING) return;
    if (!this.reading || this.eventCount !== this.seenCount) {
      this.seenCount = this.eventCount;
      this.lastActivity = now;
    } else if (now - this.lastActivity >= this.idleTimeoutMs) {
      this.idleFired = true;
      watchdog.unwatch(this);
      (this.controller as AbortController).abort(new Error('idle timeout'));
    }
  }

  private idleError(): ModelError {
    const { provider } = this.options;
    return new ModelError({
      code: 'stream_idle_timeout',
      provider,
      retryable: true,
      message: `[sluice/${provider}] no data from ${provider} for ${this.idleTimeoutMs} ms: the stream was stalled and has been closed (raise idleTimeoutMs for slow models, 0 turns it off)`,
    });
  }
}
