import { parseStructuredOutput, type CallSettings } from './call-settings.js';
import type { CallbackHandler, HandlerContext, HandlerErrorListener } from './callback-handler.js';
import type { ChatResult } from './chat-result.js';
import { HandlerError } from './errors/handler-error.js';
import { InvalidArgumentError } from './errors/invalid-argument-error.js';
import { SluiceError } from './errors/sluice-error.js';
import { flushStep, HandlerLane, startStep, type LaneHost } from './handler-lane.js';
import { defineJoinedOnRead } from './joined-on-read.js';
import { AIMessage, type Message, type ReasoningBlock, type ToolCall } from './messages.js';
import { driveProviderStream, type DrivenProviderStream, type PartSink } from './provider-stream.js';
import type { RunMetrics } from './run-metrics.js';
import type { DataEvent, FinishReason, ModelStreamPart, StreamEvent, Usage } from './stream-event.js';

/** What the run passes to a model's `_stream`. */
export interface ModelCallOptions {
  /** Aborts when the run is stopped: pass it to the provider request. */
  signal: AbortSignal;
  /** False when `invoke()` runs on a model built with `streaming: false`. */
  streaming: boolean;
  runId: string;
  conversationId: string | undefined;
  /**
   * The call's model settings: the model's defaults overridden by the call's, already checked
   * (ranges, types). The adapter maps each onto its request, and refuses with an
   * `InvalidArgumentError` one its provider cannot honour.
   */
  settings: CallSettings;
}

/** Everything a `ChatStream` is made from (built by `ChatModel.stream`). */
export interface ChatStreamInit {
  model: string;
  provider: string;
  messages: readonly Message[];
  handlers: readonly CallbackHandler[];
  open: (options: ModelCallOptions) => AsyncIterable<ModelStreamPart>;
  streaming: boolean;
  /** The call's checked settings (`resolveCallSettings`). Default: none. */
  settings?: CallSettings;
  runId?: string;
  conversationId?: string;
  metadata?: Readonly<Record<string, string>>;
  signal?: AbortSignal;
  onHandlerError?: HandlerErrorListener;
}

const IDLE = 0;
const STREAMING = 1;
const FINISHING = 2;
const DONE = 3;

// Runs a callback after the current turn of the event loop (Node, Bun, Deno); without it the
// clock is simply read for every chunk.
const scheduleNextTurn = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;

const NO_METADATA: Readonly<Record<string, string>> = Object.freeze({});
const NO_SETTINGS: CallSettings = Object.freeze({});
const NO_LANES: HandlerLane[] = Object.freeze([]) as unknown as HandlerLane[];

const DONE_RESULT: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

interface ToolCallParts {
  id: string;
  name: string;
  parts: string[];
}

function logHandlerError(error: HandlerError): void {
  console.error(error.message, error.cause);
}

/**
 * One run of a chat model: an `AsyncIterable<StreamEvent>` that is also awaitable for its
 * `ChatResult`.
 *
 * The run is lazy: it starts when you iterate it or await it. Iterate it once, or await it
 * (awaiting while or after iterating gives the result once the run has ended). Iteration ends
 * after the `finish` event, once every handler has drained; if the model failed, the `error`
 * and `finish` events are yielded first and then the iterator throws the error, so a failure
 * is never silent. Breaking out of the loop aborts the run (handlers still get `onChatEnd`).
 * Concurrent `next()` calls on its iterator are queued, as with an async generator: they settle
 * in call order with consecutive events, and those past the end with `done: true`.
 *
 * Because it is thenable, an `async` function that returns a `ChatStream` hands its caller
 * the result, not the stream: return it from a plain function to pass the stream on.
 *
 * @example
 * ```ts
 * const stream = model.stream([new HumanMessage('Hi!')]);
 * for await (const event of stream) if (event.type === 'text-delta') process.stdout.write(event.text);
 * const { text, usage, finishReason } = await stream;
 * ```
 */
export class ChatStream<TObject = unknown> implements AsyncIterable<StreamEvent>, PromiseLike<ChatResult<TObject>>, LaneHost {
  readonly conversationId: string | undefined;
  /** Aborts when the run is stopped. */
  readonly signal: AbortSignal;

  private readonly init: ChatStreamInit;
  private readonly controller = new AbortController();
  // Made as the run starts, once its provider request is on its way (see begin()).
  private lanes: HandlerLane[] = NO_LANES;
  private id: string | undefined;
  private readonly reportListener: HandlerErrorListener;
  private state = IDLE;
  private consumer: 'none' | 'iterator' | 'self' = 'none';
  private source: AsyncIterator<ModelStreamPart> | undefined;
  // Set when the model returned a `retryingProviderStream`: the run then pulls the SDK's events
  // itself and accepts each part in the step that read its event (one promise step per chunk
  // instead of two).
  private driven: DrivenProviderStream<IteratorResult<StreamEvent>> | undefined;
  private seq = 0;

  // Events waiting for the consumer, in seq order (handler emissions, lifecycle events).
  private out: (StreamEvent | undefined)[] = [];
  private outHead = 0;
  private outWaiter: (() => void) | undefined;
  // Handler emissions made while an event is being dispatched wait for it to reach every lane.
  private dispatching = false;
  private deferred: { event: DataEvent; from: HandlerLane }[] = [];
  private closed = false;

  // The message being assembled: parts are joined once, at the end.
  private readonly textParts: string[] = [];
  private reasoningParts: string[] | undefined;
  private reasoningBlocks: ReasoningBlock[] | undefined;
  private toolCalls: Map<number, ToolCallParts> | undefined;
  private usage: Usage | undefined;
  private providerReason: Exclude<FinishReason, 'aborted' | 'error'> | undefined;
  private providerFinishReason: string | undefined;
  private responseId: string | undefined;
  private responseModel: string | undefined;
  private error: SluiceError | undefined;
  private aborted = false;
  // Mirrors signal.aborted as a plain field: it is read once per part.
  private abortRequested = false;
  private errorThrown = false;
  private readonly handlerErrors: HandlerError[] = [];
  private reportedLanes: Set<HandlerLane> | undefined;

  // Metrics.
  private startedAt = 0;
  private firstChunkAt = 0;
  private lastChunkAt = 0;
  private chunks = 0;
  private maxGap = 0;
  private fullLanes = 0;
  private roomWaiters: (() => void)[] = [];
  private backpressureMs = 0;
  private clockTime = 0;
  private clockStale = true;
  private readonly markClockStale = (): void => {
    this.clockStale = true;
  };

  private result: ChatResult | undefined;
  private settledWaiters: { resolve: (result: ChatResult) => void; reject: (error: unknown) => void }[] = [];

  private readonly pull = (): Promise<IteratorResult<StreamEvent>> => this.next();

  // The iterator's next() calls, one at a time: a call made while another is pending waits its
  // turn, as with the platform's async generators (the run itself can read one step at a time).
  private nextPending = false;
  private queuedNexts: { resolve: (step: Promise<IteratorResult<StreamEvent>>) => void }[] = [];
  private queuedHead = 0;
  private readonly iteratorNext = (): Promise<IteratorResult<StreamEvent>> => {
    if (this.nextPending) return new Promise((resolve) => this.queuedNexts.push({ resolve }));
    return this.startNext();
  };
  private readonly nextSettled = (): void => {
    const queued = this.queuedNexts[this.queuedHead];
    if (queued === undefined) {
      this.nextPending = false;
      return;
    }
    this.queuedNexts[this.queuedHead++] = undefined as never;
    if (this.queuedHead === this.queuedNexts.length) {
      this.queuedNexts.length = 0;
      this.queuedHead = 0;
    }
    queued.resolve(this.startNext());
  };
  private readonly onPart = (step: IteratorResult<ModelStreamPart>): Promise<IteratorResult<StreamEvent>> | IteratorResult<StreamEvent> => {
    if (step.done === true) {
      this.beginFinish(undefined);
      return this.next();
    }
    if (this.abortRequested) {
      // The adapter ignored the signal: stop reading it ourselves.
      this.stopSource();
      this.beginFinish(undefined);
      return this.next();
    }
    return this.accept(step.value, step);
  };
  private readonly onSourceError = (error: unknown): Promise<IteratorResult<StreamEvent>> => {
    this.beginFinish(error);
    return this.next();
  };
  private readonly sink: PartSink<IteratorResult<StreamEvent>> = {
    part: (part) => {
      if (this.abortRequested) {
        this.stopSource();
        this.beginFinish(undefined);
        return this.next();
      }
      return this.accept(part, undefined);
    },
    end: () => {
      this.beginFinish(undefined);
      return this.next();
    },
    fail: this.onSourceError,
  };

  constructor(init: ChatStreamInit) {
    this.init = init;
    this.id = init.runId;
    this.conversationId = init.conversationId;
    this.reportListener = init.onHandlerError ?? this.logFirstErrorPerHandler;
    if (init.signal === undefined) {
      // Only the run's own controller aborts it, and every call to it sets the flag: no listener.
      this.signal = this.controller.signal;
    } else {
      this.signal = AbortSignal.any([this.controller.signal, init.signal]);
      if (this.signal.aborted) this.abortRequested = true;
      else this.signal.addEventListener('abort', this.onAbortRequested, { once: true });
    }
  }

  private readonly readRunId = (): string => this.runId;

  /** The run's id: the `runId` it was given, else a UUID, made on first use. */
  get runId(): string {
    return (this.id ??= crypto.randomUUID());
  }

  private createLanes(): void {
    const init = this.init;
    const runId = this.readRunId;
    this.lanes = init.handlers.map((handler, index) => {
      const name =
        handler.name ??
        (handler.constructor !== Object && handler.constructor?.name ? handler.constructor.name : `handler-${index}`);
      const context: HandlerContext = {
        get runId() {
          return runId();
        },
        conversationId: this.conversationId,
        metadata: init.metadata ?? NO_METADATA,
        model: init.model,
        provider: init.provider,
        messages: init.messages,
        signal: this.signal,
        emit: (event) => this.emitFrom(lane, event),
      };
      const lane: HandlerLane = new HandlerLane(handler, name, this, context);
      return lane;
    });
  }

  /** Stops the run: the provider request is cancelled and the run finishes as `aborted`. */
  abort(reason?: unknown): void {
    this.controller.abort(reason);
    this.onAbortRequested();
  }

  // Every way the run is stopped ends here: abort(), the consumer leaving, the caller's signal.
  private readonly onAbortRequested = (): void => {
    if (this.abortRequested) return;
    this.abortRequested = true;
    this.driven?.abort();
  };

  [Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    if (this.consumer !== 'none') {
      throw new InvalidArgumentError({
        argument: 'stream',
        message: '[sluice/core] a ChatStream can be consumed once: iterate it, or await it, not both from the start',
      });
    }
    this.consumer = 'iterator';
    const iterator: AsyncIterator<StreamEvent> & AsyncIterable<StreamEvent> = {
      next: this.iteratorNext,
      return: () => this.leave(),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /** Awaits the whole run (starting it if nobody iterates it) and gives its result. */
  then<TResult1 = ChatResult<TObject>, TResult2 = never>(
    onfulfilled?: ((value: ChatResult<TObject>) => TResult1 | PromiseLike<TResult1>) | null,
    onrejected?: ((reason: unknown) => TResult2 | PromiseLike<TResult2>) | null,
  ): Promise<TResult1 | TResult2> {
    return (this.settled() as Promise<ChatResult<TObject>>).then(onfulfilled, onrejected);
  }

  private settled(): Promise<ChatResult> {
    if (this.state === DONE) {
      return this.error === undefined ? Promise.resolve(this.result as ChatResult) : Promise.reject(this.error);
    }
    const promise = new Promise<ChatResult>((resolve, reject) => this.settledWaiters.push({ resolve, reject }));
    if (this.consumer === 'none') {
      this.consumer = 'self';
      void this.consumeToEnd();
    }
    return promise;
  }

  private async consumeToEnd(): Promise<void> {
    try {
      while (!(await this.next()).done);
    } catch {
      // The error reaches the awaiting caller through settled().
    }
  }

  private next(): Promise<IteratorResult<StreamEvent>> {
    if (this.outHead < this.out.length) return Promise.resolve(this.takeOut());
    switch (this.state) {
      case STREAMING:
        if (this.fullLanes > 0) return this.waitForRoom().then(this.pull);
        if (this.driven !== undefined) return this.driven.advance();
        return (this.source as AsyncIterator<ModelStreamPart>).next().then(this.onPart, this.onSourceError);
      case IDLE:
        this.begin();
        return this.next();
      case FINISHING:
        return new Promise<void>((resolve) => {
          this.outWaiter = resolve;
        }).then(this.pull);
      default:
        if (this.error !== undefined && this.consumer === 'iterator' && !this.errorThrown) {
          this.errorThrown = true;
          return Promise.reject(this.error);
        }
        return Promise.resolve(DONE_RESULT);
    }
  }

  private startNext(): Promise<IteratorResult<StreamEvent>> {
    this.nextPending = true;
    const step = this.next();
    // Registered before the caller's own reaction: the flag is clear by the time the caller
    // (one call at a time, like `for await`) asks again.
    step.then(this.nextSettled, this.nextSettled);
    return step;
  }

  private takeOut(): IteratorResult<StreamEvent> {
    const value = this.out[this.outHead] as StreamEvent;
    this.out[this.outHead++] = undefined;
    if (this.outHead === this.out.length) {
      this.out.length = 0;
      this.outHead = 0;
    }
    return { value, done: false };
  }

  private pushOut(event: StreamEvent): void {
    if (this.consumer === 'self') return; // nobody reads the events; the result is assembled anyway
    this.out.push(event);
    this.wakeConsumer();
  }

  private wakeConsumer(): void {
    const waiter = this.outWaiter;
    if (waiter !== undefined) {
      this.outWaiter = undefined;
      waiter();
    }
  }

  private begin(): void {
    this.state = STREAMING;
    this.startedAt = performance.now();
    const aborted = this.signal.aborted;
    let openError: unknown;
    if (!aborted) {
      try {
        const runId = this.readRunId;
        const parts = this.init.open({
          signal: this.signal,
          streaming: this.init.streaming,
          get runId() {
            return runId();
          },
          conversationId: this.conversationId,
          settings: this.init.settings ?? NO_SETTINGS,
        });
        this.driven = driveProviderStream(parts, this.sink);
        this.source = parts[Symbol.asyncIterator]();
        // The request goes out first: not after the start event, nor once the consumer has
        // handled it. Nothing of the response is read before the consumer asks.
        this.driven?.prefetch();
      } catch (error) {
        openError = error ?? new Error('the model threw undefined');
      }
    }
    // The handlers, the run's id and the start event come after the request: none of them is
    // needed to send it, and each costs time in front of it.
    this.createLanes();
    this.startLanes();
    if (aborted) this.beginFinish(undefined);
    else if (openError !== undefined) this.beginFinish(openError);
  }

  /**
   * Calls every `onChatStart`, then publishes `start`. `start` is seq 0 whatever the hooks do: it
   * is stamped and queued for the consumer first, and what `onChatStart` emits is held back
   * (like any emission during a dispatch) until every lane has had `start`, so it follows it.
   */
  private startLanes(): void {
    const start: StreamEvent = {
      type: 'start',
      seq: this.seq++,
      runId: this.runId,
      conversationId: this.conversationId,
      model: this.init.model,
      provider: this.init.provider,
      createdAt: Date.now(),
    };
    this.pushOut(start);
    const lanes = this.lanes;
    if (lanes.length > 0) {
      this.dispatching = true;
      for (const lane of lanes) lane.deliver(startStep);
      this.dispatching = false;
    }
    this.dispatch(start, undefined);
  }

  /**
   * Takes one part from the model: folds it into the message, stamps it and dispatches it.
   * `step` is the source's iterator result holding the part, if any: once the part is stamped it
   * is the event, so the same result object goes on to the consumer rather than a copy.
   */
  private accept(part: ModelStreamPart, step: IteratorResult<ModelStreamPart> | undefined): Promise<IteratorResult<StreamEvent>> | IteratorResult<StreamEvent> {
    switch (part.type) {
      case 'text-delta':
        this.countChunk();
        this.textParts.push(part.text);
        break;
      case 'reasoning-delta':
        this.countChunk();
        (this.reasoningParts ??= []).push(part.text);
        break;
      case 'tool-call-delta': {
        this.countChunk();
        const calls = (this.toolCalls ??= new Map());
        let call = calls.get(part.index);
        if (call === undefined) {
          call = { id: part.id ?? '', name: part.name ?? '', parts: [] };
          calls.set(part.index, call);
        } else {
          if (part.id !== undefined) call.id = part.id;
          if (part.name !== undefined) call.name = part.name;
        }
        call.parts.push(part.argumentsDelta);
        break;
      }
      case 'usage':
        this.usage = { ...this.usage, ...part.usage };
        part.usage = this.usage;
        break;
      case 'data':
        break;
      case 'finish':
        this.providerReason = part.reason;
        this.providerFinishReason = part.providerReason;
        return this.next();
      case 'response-metadata':
        if (part.responseId !== undefined) this.responseId = part.responseId;
        if (part.model !== undefined) this.responseModel = part.model;
        return this.next();
      case 'reasoning-block':
        (this.reasoningBlocks ??= []).push(part.block);
        return this.next();
      default: {
        this.stopSource();
        const type = (part as { type?: unknown }).type;
        this.beginFinish(
          new SluiceError({
            code: 'invalid_model_part',
            message: `[sluice/core] the ${this.init.provider} adapter yielded a part of unknown type ${JSON.stringify(type)}`,
          }),
        );
        return this.next();
      }
    }
    const event = part as StreamEvent;
    event.seq = this.seq++;
    // Events already waiting (a handler emitted while the model was read) go first.
    if (this.outHead < this.out.length) {
      this.out.push(event);
      this.dispatch(event, undefined);
      return this.takeOut();
    }
    this.dispatch(event, undefined);
    return step === undefined ? { value: event, done: false } : (step as IteratorResult<StreamEvent>);
  }

  /**
   * The arrival time of the current chunk. Reading the clock costs as much as the rest of a
   * chunk's dispatch, and chunks that arrive within one turn of the event loop (parsed from
   * one network read, or a model at rate 0) arrive together: so the clock is read once per turn.
   */
  private arrivalTime(): number {
    if (this.clockStale) {
      this.clockTime = performance.now();
      if (scheduleNextTurn !== undefined) {
        this.clockStale = false;
        scheduleNextTurn(this.markClockStale);
      }
    }
    return this.clockTime;
  }

  private countChunk(): void {
    const now = this.arrivalTime();
    if (this.chunks === 0) {
      this.firstChunkAt = now;
    } else if (now - this.lastChunkAt > this.maxGap) {
      this.maxGap = now - this.lastChunkAt;
    }
    this.lastChunkAt = now;
    this.chunks++;
  }

  /** Sends an event to the consumer and to every lane. */
  private publish(event: StreamEvent): void {
    this.pushOut(event);
    this.dispatch(event, undefined);
  }

  private dispatch(event: StreamEvent, from: HandlerLane | undefined): void {
    const lanes = this.lanes;
    if (lanes.length === 0) return;
    this.dispatching = true;
    for (let index = 0; index < lanes.length; index++) {
      const lane = lanes[index] as HandlerLane;
      if (lane !== from) lane.deliver(event);
    }
    this.dispatching = false;
    if (this.deferred.length > 0) {
      const deferred = this.deferred;
      this.deferred = [];
      for (const item of deferred) this.dispatch(item.event, item.from);
    }
  }

  private emitFrom(lane: HandlerLane, input: { type: 'data'; name: string; data: unknown }): void {
    if (this.closed || this.state === IDLE) {
      throw new SluiceError({
        code: 'run_closed',
        message: `[sluice/core] run ${this.runId} has ${this.closed ? 'finished' : 'not started'}: emit() works from onChatStart until onChatFlush`,
      });
    }
    if (input === null || typeof input !== 'object' || input.type !== 'data' || typeof input.name !== 'string' || input.name === '') {
      throw new InvalidArgumentError({
        argument: 'event',
        message: "[sluice/core] ctx.emit() takes { type: 'data', name: string, data }",
      });
    }
    const event: DataEvent = { type: 'data', seq: this.seq++, name: input.name, data: input.data };
    this.pushOut(event);
    if (this.dispatching) this.deferred.push({ event, from: lane });
    else this.dispatch(event, lane);
  }

  // LaneHost: lanes report when the run must wait for them, and when they failed.
  laneFull(): void {
    this.fullLanes++;
  }

  laneHasRoom(): void {
    this.fullLanes--;
    if (this.fullLanes === 0 && this.roomWaiters.length > 0) {
      const waiters = this.roomWaiters;
      this.roomWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  reportHandlerError(lane: HandlerLane, hook: string, cause: unknown): void {
    const error = new HandlerError({ handler: lane.metrics.name, hook, runId: this.runId, cause });
    this.handlerErrors.push(error);
    try {
      this.reportListener(error);
    } catch (listenerError) {
      console.error('[sluice/core] onHandlerError threw while reporting', error, listenerError);
    }
  }

  private readonly logFirstErrorPerHandler = (error: HandlerError): void => {
    // Without a listener, each failing handler is logged once per run; metrics count the rest.
    const lane = this.lanes.find((candidate) => candidate.metrics.name === error.handler);
    if (lane === undefined) return logHandlerError(error);
    this.reportedLanes ??= new Set();
    if (this.reportedLanes.has(lane)) return;
    this.reportedLanes.add(lane);
    logHandlerError(error);
  };

  private waitForRoom(): Promise<void> {
    const started = performance.now();
    return new Promise<void>((resolve) => this.roomWaiters.push(resolve)).then(() => {
      this.backpressureMs += performance.now() - started;
    });
  }

  private stopSource(): void {
    const source = this.source;
    if (source?.return !== undefined) {
      // Lets the adapter's generator run its `finally` (closing the HTTP response).
      Promise.resolve()
        .then(() => source.return?.())
        .catch(() => undefined);
    }
  }

  /** The consumer left the loop early: stop the model, finish the run for the handlers. */
  private leave(): Promise<IteratorResult<StreamEvent>> {
    this.consumer = 'self';
    this.out.length = 0;
    this.outHead = 0;
    if (this.state < FINISHING) {
      this.controller.abort(new SluiceError({ code: 'consumer_left', message: '[sluice/core] the consumer stopped iterating' }));
      this.onAbortRequested();
      this.stopSource();
      // Left before the first next(): the run starts already aborted, as with a signal aborted
      // before it started. No request goes out; handlers get the whole lifecycle (onChatStart,
      // start, finish as aborted, onChatEnd) and the metrics are measured from now.
      if (this.state === IDLE) this.begin();
      else this.beginFinish(undefined);
    }
    return this.settled().then(
      () => DONE_RESULT,
      () => DONE_RESULT,
    );
  }

  private beginFinish(error: unknown): void {
    if (this.state >= FINISHING) return;
    this.state = FINISHING;
    this.aborted = this.signal.aborted;
    if (error !== undefined && !this.aborted) this.error = SluiceError.from(error, 'model_error');
    void this.finish();
  }

  private async finish(): Promise<void> {
    for (const lane of this.lanes) lane.deliver(flushStep);
    await this.lanesIdle();

    // Structured output: the reply is read as the call's responseFormat asks, once it is whole.
    // A reply that does not fit fails the run, as a model error would.
    let object: unknown;
    const responseFormat = this.init.settings?.responseFormat;
    if (responseFormat !== undefined && responseFormat.type !== 'text' && this.error === undefined && !this.aborted && this.toolCalls === undefined) {
      try {
        object = parseStructuredOutput(this.textParts.join(''), responseFormat);
      } catch (error) {
        this.error = SluiceError.from(error, 'response_format_mismatch');
      }
    }

    if (this.error !== undefined) this.publish({ type: 'error', seq: this.seq++, error: this.error.toJSON() });
    const finishReason: FinishReason =
      this.error !== undefined
        ? 'error'
        : this.aborted
          ? 'aborted'
          : (this.providerReason ?? (this.toolCalls !== undefined ? 'tool-calls' : 'stop'));
    const toolCalls: ToolCall[] = [];
    if (this.toolCalls !== undefined) {
      for (const call of this.toolCalls.values()) toolCalls.push({ id: call.id, name: call.name, arguments: call.parts.join('') });
    }
    const reasoning = this.reasoningParts?.join('');
    const message = new AIMessage({ content: '', finishReason });
    defineJoinedOnRead(message, 'content', this.textParts);
    if (toolCalls.length > 0) message.toolCalls = toolCalls;
    if (reasoning !== undefined) message.reasoning = reasoning;
    if (this.reasoningBlocks !== undefined) message.reasoningBlocks = this.reasoningBlocks;
    if (this.usage !== undefined) message.usage = this.usage;
    // Closed before finish goes out: finish is the last event, so an emit from a hook that
    // handles it (or from anything later) is refused like any emit after the run.
    this.closed = true;
    this.publish({ type: 'finish', seq: this.seq++, reason: finishReason, message, usage: this.usage });

    const result: ChatResult = {
      runId: this.runId,
      conversationId: this.conversationId,
      model: this.responseModel ?? this.init.model,
      provider: this.init.provider,
      text: '',
      message,
      reasoning,
      toolCalls,
      usage: this.usage,
      finishReason,
      providerFinishReason: this.providerFinishReason,
      responseId: this.responseId,
      error: this.error,
      ...(object === undefined ? {} : { object }),
      handlerErrors: this.handlerErrors,
      metrics: this.metrics(),
    };
    // The text is the message's content, joined on first read of either.
    Object.defineProperty(result, 'text', { enumerable: true, get: () => message.content });
    this.result = result;
    if (this.error !== undefined) {
      const step = { type: '@error' as const, error: this.error };
      for (const lane of this.lanes) lane.deliver(step);
    }
    const end = { type: '@end' as const, result };
    for (const lane of this.lanes) lane.deliver(end);
    await this.lanesIdle();

    // Final figures, now that every handler has finished.
    Object.assign(result.metrics, this.metrics());
    this.state = DONE;
    this.wakeConsumer();
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const waiter of waiters) {
      if (this.error === undefined) waiter.resolve(result);
      else waiter.reject(this.error);
    }
  }

  private async lanesIdle(): Promise<void> {
    for (const lane of this.lanes) {
      const idle = lane.whenIdle();
      if (idle !== undefined) await idle;
    }
    // A lane may have received events emitted by a later lane meanwhile.
    if (this.lanes.some((lane) => !lane.idle)) await this.lanesIdle();
  }

  private metrics(): RunMetrics {
    const handlers = this.lanes.map((lane) => ({ ...lane.metrics }));
    let maxQueueDepth = 0;
    let dropped = 0;
    let handlerErrors = 0;
    for (const handler of handlers) {
      if (handler.maxQueueDepth > maxQueueDepth) maxQueueDepth = handler.maxQueueDepth;
      dropped += handler.dropped;
      handlerErrors += handler.errors;
    }
    const chunks = this.chunks;
    return {
      timeToFirstChunkMs: chunks > 0 ? this.firstChunkAt - this.startedAt : undefined,
      durationMs: performance.now() - this.startedAt,
      chunks,
      events: this.seq,
      meanChunkGapMs: chunks > 1 ? (this.lastChunkAt - this.firstChunkAt) / (chunks - 1) : undefined,
      maxChunkGapMs: chunks > 1 ? this.maxGap : undefined,
      backpressureMs: this.backpressureMs,
      maxQueueDepth,
      dropped,
      handlerErrors,
      handlers,
    };
  }
}
