import { describe, expect, it } from 'vitest';
import {
  ChatModel,
  InvalidArgumentError,
  ModelError,
  resolveIdleTimeoutMs,
  resolveRetryOptions,
  retryingProviderStream,
  type BufferedEventSource,
  type Message,
  type ModelCallOptions,
  type ModelStreamPart,
  type ProviderStream,
  type StreamEvent,
  type RetryingProviderStreamOptions,
} from '../src/index.ts';

/** What one scripted request does: its events, in order, then how it ends. */
interface Attempt {
  /** Each event is its own parts; a `ModelError` event makes `translate` throw it. */
  events?: readonly (ModelStreamPart | readonly ModelStreamPart[] | ModelError | undefined)[];
  /** How the events end: complete, cut (end() throws), a thrown error, or a stall until aborted. */
  ending?: 'complete' | 'truncated' | 'stall' | ModelError;
  /** The request itself fails (before any event). */
  rejects?: ModelError;
}

type ScriptedEvent = NonNullable<Attempt['events']>[number];

interface Recorded {
  /** The signal each request was sent with. */
  signals: AbortSignal[];
  /** Whether the events' iterator was closed by `return()`. */
  closed: boolean[];
  /** Resolves once the events' iterator of each attempt is closed. */
  whenClosed: Promise<void>[];
}

const retryable = (code = 'server_error', retryAfterMs?: number) => new ModelError({ code, provider: 'test', retryable: true, message: `[test] ${code}`, retryAfterMs });
const fatal = (code = 'invalid_request') => new ModelError({ code, provider: 'test', retryable: false, message: `[test] ${code}` });
const truncated = () => new ModelError({ code: 'stream_truncated', provider: 'test', retryable: true, message: '[test] cut' });

const meta: ModelStreamPart = { type: 'response-metadata', responseId: 'r1', model: 'm' };
const text = (value: string): ModelStreamPart => ({ type: 'text-delta', text: value });
const finish: ModelStreamPart = { type: 'finish', reason: 'stop' };

/** A provider that answers each request with the next scripted attempt; events are the parts themselves. */
function scriptedProvider(attempts: Attempt[], options: Partial<RetryingProviderStreamOptions<unknown>> & { signal?: AbortSignal } = {}) {
  const recorded: Recorded = { signals: [], closed: [], whenClosed: [] };
  const stream = retryingProviderStream<ScriptedEvent>({
    provider: 'test',
    signal: options.signal ?? new AbortController().signal,
    retry: { initialDelayMs: 1, maxDelayMs: 5, ...options.retry },
    idleTimeoutMs: options.idleTimeoutMs,
    toModelError: (error) => (error instanceof ModelError ? error : new ModelError({ code: 'model_error', provider: 'test', message: String(error), cause: error })),
    open: async (signal) => {
      const index = recorded.signals.length;
      recorded.signals.push(signal);
      recorded.closed.push(false);
      let markClosed: () => void = () => undefined;
      recorded.whenClosed.push(new Promise<void>((resolve) => (markClosed = resolve)));
      const attempt = attempts[index];
      if (attempt === undefined) throw new Error(`unexpected request ${index + 1}`);
      if (attempt.rejects !== undefined) throw attempt.rejects;
      async function* events() {
        try {
          for (const event of attempt?.events ?? []) {
            await Promise.resolve();
            yield event;
          }
          const ending = attempt?.ending ?? 'complete';
          if (ending instanceof ModelError) throw ending;
          if (ending === 'stall' && !signal.aborted) {
            await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          }
        } finally {
          recorded.closed[index] = true;
          markClosed();
        }
      }
      let ended = attempt.ending !== 'truncated';
      const provider: ProviderStream<ScriptedEvent> = {
        events: events(),
        translate: (event) => {
          if (event instanceof ModelError) throw event; // e.g. a provider's error event
          if (Array.isArray(event) ? event.some((part: ModelStreamPart) => part.type === 'finish') : (event as ModelStreamPart | undefined)?.type === 'finish') ended = true;
          return event;
        },
        end: () => {
          if (!ended) throw truncated();
        },
      };
      return provider;
    },
  });
  return { stream, recorded };
}

async function drain(stream: AsyncIterable<ModelStreamPart>, onPart?: (part: ModelStreamPart) => void): Promise<{ parts: ModelStreamPart[]; error: unknown }> {
  const parts: ModelStreamPart[] = [];
  try {
    for await (const part of stream) {
      parts.push(part);
      onPart?.(part);
    }
  } catch (error) {
    return { parts, error };
  }
  return { parts, error: undefined };
}

describe('retryingProviderStream: streaming', () => {
  it('gives every part in order, single parts as they are and several from one event, skipping events with none', async () => {
    const delta = text('Hello');
    const { stream } = scriptedProvider([{ events: [meta, undefined, delta, [text(' there'), text('!')], undefined, finish] }]);
    const { parts, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(parts).toEqual([meta, text('Hello'), text(' there'), text('!'), finish]);
    expect(parts[1]).toBe(delta); // passed on, not copied
  });

  it('holds parts back until the first delta, and gives them at the end of a reply with no delta', async () => {
    const { stream } = scriptedProvider([{ events: [meta, { type: 'usage', usage: { inputTokens: 3 } }, finish] }]);
    const { parts } = await drain(stream);
    expect(parts.map((part) => part.type)).toEqual(['response-metadata', 'usage', 'finish']);
  });

  it('reads a response that was not streamed (a plain iterable of one body)', async () => {
    const stream = retryingProviderStream<{ answer: string }>({
      provider: 'test',
      signal: new AbortController().signal,
      open: async () => ({ events: [{ answer: 'Whole.' }], translate: (body) => [meta, text(body.answer), finish], end: () => undefined }),
      toModelError: (error) => error as ModelError,
    });
    expect((await drain(stream)).parts).toEqual([meta, text('Whole.'), finish]);
  });
});

describe('retryingProviderStream: retries before the first delta, never after', () => {
  it('retries a retryable failure before the first delta, invisibly: the held parts of the failed attempt are dropped', async () => {
    const { stream, recorded } = scriptedProvider([
      { events: [{ ...meta, responseId: 'failed' }], ending: retryable() },
      { events: [meta, text('ok'), finish] },
    ]);
    const { parts, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(parts).toEqual([meta, text('ok'), finish]);
    expect(recorded.signals).toHaveLength(2);
    expect(recorded.signals[0]?.aborted).toBe(true); // the failed request's connection is released
  });

  it('retries a request that was rejected, a stream cut before its terminator, and one that failed in translate', async () => {
    const { stream, recorded } = scriptedProvider(
      [{ rejects: retryable('rate_limited') }, { events: [meta], ending: 'truncated' }, { events: [meta, retryable('stream_error')] }, { events: [text('fourth'), finish] }],
      { retry: { maxRetries: 3 } },
    );
    const { parts, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(parts).toEqual([text('fourth'), finish]);
    expect(recorded.signals).toHaveLength(4);
  }, 10_000);

  it('waits retryAfterMs when the provider asked for it', async () => {
    const { stream } = scriptedProvider([{ rejects: retryable('rate_limited', 60) }, { events: [text('later'), finish] }]);
    const started = performance.now();
    const { parts } = await drain(stream);
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    expect(parts).toEqual([text('later'), finish]);
  });

  it('never retries once a delta was given: the run fails with the error and keeps what it got', async () => {
    const { stream, recorded } = scriptedProvider([{ events: [meta, text('partial')], ending: retryable() }, { events: [text('never')] }]);
    const { parts, error } = await drain(stream);
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).code).toBe('server_error');
    expect(parts).toEqual([meta, text('partial')]);
    expect(recorded.signals).toHaveLength(1);
  });

  it('reports a stream cut after a delta through end(), without a retry', async () => {
    const { stream, recorded } = scriptedProvider([{ events: [text('a')], ending: 'truncated' }, { events: [text('never')] }]);
    const { error } = await drain(stream);
    expect((error as ModelError).code).toBe('stream_truncated');
    expect(recorded.signals).toHaveLength(1);
  });

  it('does not retry an error that is not retryable, and stops after maxRetries', async () => {
    const first = scriptedProvider([{ rejects: fatal() }, { events: [text('never')] }]);
    expect(((await drain(first.stream)).error as ModelError).code).toBe('invalid_request');
    expect(first.recorded.signals).toHaveLength(1);

    const second = scriptedProvider([{ rejects: retryable('a') }, { rejects: retryable('b') }, { events: [text('never')] }], { retry: { maxRetries: 1 } });
    expect(((await drain(second.stream)).error as ModelError).code).toBe('b');
    expect(second.recorded.signals).toHaveLength(2);
  });

  it('does not wait a retry-after longer than a minute: the caller decides', async () => {
    const { stream, recorded } = scriptedProvider([{ rejects: retryable('rate_limited', 120_000) }, { events: [text('never')] }]);
    expect(((await drain(stream)).error as ModelError).code).toBe('rate_limited');
    expect(recorded.signals).toHaveLength(1);
  });
});

describe('retryingProviderStream: idle timeout', () => {
  it('fails a stream stalled after a delta with a retryable stream_idle_timeout and aborts its request', async () => {
    const { stream, recorded } = scriptedProvider([{ events: [text('a')], ending: 'stall' }, { events: [text('never')] }], { idleTimeoutMs: 80 });
    const started = performance.now();
    const { parts, error } = await drain(stream);
    expect(performance.now() - started).toBeGreaterThanOrEqual(75);
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ code: 'stream_idle_timeout', retryable: true, provider: 'test' });
    expect(parts).toEqual([text('a')]);
    expect(recorded.signals).toHaveLength(1);
    expect(recorded.signals[0]?.aborted).toBe(true);
  });

  it('times out a stream with a short idle timeout on time while one with a long timeout is open too', async () => {
    const longRun = new AbortController();
    const patient = scriptedProvider([{ events: [text('a')], ending: 'stall' }], { idleTimeoutMs: 120_000, signal: longRun.signal });
    const patientDone = drain(patient.stream);
    // Its request went out as drain() asked for the first part: the long-timeout stream is watched first.
    expect(patient.recorded.signals).toHaveLength(1);
    const { stream } = scriptedProvider([{ events: [text('b')], ending: 'stall' }], { idleTimeoutMs: 80 });
    const started = performance.now();
    const { error } = await drain(stream);
    expect(error).toMatchObject({ code: 'stream_idle_timeout' });
    expect(performance.now() - started).toBeLessThan(1_000);
    longRun.abort();
    expect((await patientDone).error).toBeUndefined();
  });

  it('retries a stream stalled before its first delta', async () => {
    const { stream, recorded } = scriptedProvider([{ events: [meta], ending: 'stall' }, { events: [text('fresh'), finish] }], { idleTimeoutMs: 60 });
    const { parts, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(parts).toEqual([text('fresh'), finish]);
    expect(recorded.signals).toHaveLength(2);
  });

  it('does not fire while events keep arriving, even when the whole reply takes longer than the timeout', async () => {
    async function* slow() {
      for (let index = 0; index < 8; index++) {
        await new Promise((resolve) => setTimeout(resolve, 15));
        yield text(String(index));
      }
    }
    const stream = retryingProviderStream<ModelStreamPart>({
      provider: 'test',
      signal: new AbortController().signal,
      idleTimeoutMs: 60,
      open: async () => ({ events: slow(), translate: (part) => part, end: () => undefined }),
      toModelError: (error) => error as ModelError,
    });
    const { parts, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(parts).toHaveLength(8);
  });
});

describe('retryingProviderStream: abort', () => {
  it('ends the parts without an error when the run aborts mid-stream, and aborts the request', async () => {
    const controller = new AbortController();
    const { stream, recorded } = scriptedProvider([{ events: [text('a'), text('b')], ending: 'stall' }], { signal: controller.signal });
    const { parts, error } = await drain(stream, (part) => {
      if (part.type === 'text-delta' && part.text === 'b') controller.abort();
    });
    expect(error).toBeUndefined();
    expect(parts).toEqual([text('a'), text('b')]);
    expect(recorded.signals[0]?.aborted).toBe(true);
  });

  it('ends during a retry backoff without sending the retry', async () => {
    const controller = new AbortController();
    const { stream, recorded } = scriptedProvider([{ rejects: retryable('rate_limited', 5_000) }, { events: [text('never')] }], { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const started = performance.now();
    const { parts, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(parts).toEqual([]);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(recorded.signals).toHaveLength(1);
  });

  it('sends no request when the run is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const { stream, recorded } = scriptedProvider([{ events: [text('never')] }], { signal: controller.signal });
    expect((await drain(stream)).parts).toEqual([]);
    expect(recorded.signals).toHaveLength(0);
  });

  it('aborts the request and closes the events when the consumer stops early', async () => {
    const { stream, recorded } = scriptedProvider([{ events: [text('a'), text('b'), text('c')], ending: 'stall' }]);
    for await (const part of stream) {
      expect(part).toEqual(text('a'));
      break;
    }
    await recorded.whenClosed[0];
    expect(recorded.signals[0]?.aborted).toBe(true);
    expect(recorded.closed[0]).toBe(true);
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });
});

/** A model whose `_stream` returns the scripted provider stream: the run drives it itself. */
class ScriptedModel extends ChatModel {
  readonly provider = 'test';
  readonly model = 'test-1';
  recorded: Recorded | undefined;
  private readonly attempts: Attempt[];
  private readonly idleTimeoutMs: number | undefined;

  constructor(attempts: Attempt[], options: { idleTimeoutMs?: number } = {}) {
    super();
    this.attempts = attempts;
    this.idleTimeoutMs = options.idleTimeoutMs;
  }

  protected _stream(_messages: readonly Message[], call: ModelCallOptions): AsyncIterable<ModelStreamPart> {
    const { stream, recorded } = scriptedProvider(this.attempts, { signal: call.signal, idleTimeoutMs: this.idleTimeoutMs });
    this.recorded = recorded;
    return stream;
  }
}

/** Runs the model with one sync handler; gives what the consumer and the handler saw. */
async function runDriven(model: ChatModel, options: { signal?: AbortSignal; onEvent?: (event: StreamEvent) => void } = {}) {
  const handled: StreamEvent[] = [];
  const consumed: StreamEvent[] = [];
  const stream = model.stream('Hi', { signal: options.signal, callbacks: [{ onChatEvent: (event) => void handled.push(event) }] });
  let error: unknown;
  try {
    for await (const event of stream) {
      consumed.push(event);
      options.onEvent?.(event);
    }
  } catch (caught) {
    error = caught;
  }
  const result = await stream.then(
    (value) => value,
    () => undefined,
  );
  return { handled, consumed, error, result };
}

describe('retryingProviderStream driven by a run (one promise step per SDK event)', () => {
  it('stamps several parts from one event in order and gives consumer and handler the same events', async () => {
    const model = new ScriptedModel([{ events: [meta, { type: 'usage', usage: { inputTokens: 3 } }, text('Hello'), [text(' there'), text('!')], undefined, [{ type: 'usage', usage: { outputTokens: 4 } }, finish]] }]);
    const { handled, consumed, error, result } = await runDriven(model);
    expect(error).toBeUndefined();
    expect(consumed.map((event) => event.type)).toEqual(['start', 'usage', 'text-delta', 'text-delta', 'text-delta', 'usage', 'finish']);
    expect(consumed.map((event) => event.seq)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(handled).toEqual(consumed);
    expect(result?.text).toBe('Hello there!');
    expect(result?.responseId).toBe('r1');
    expect(result?.usage).toEqual({ inputTokens: 3, outputTokens: 4 });
  });

  it('retries before the first delta invisibly, and fails the run on an error after it', async () => {
    const retried = new ScriptedModel([{ events: [{ ...meta, responseId: 'failed' }], ending: retryable() }, { events: [meta, text('ok'), finish] }]);
    const first = await runDriven(retried);
    expect(first.error).toBeUndefined();
    expect(first.consumed.map((event) => event.type)).toEqual(['start', 'text-delta', 'finish']);
    expect(first.result?.responseId).toBe('r1');
    expect(retried.recorded?.signals).toHaveLength(2);

    const failed = new ScriptedModel([{ events: [text('partial')], ending: retryable() }, { events: [text('never')] }]);
    const second = await runDriven(failed);
    expect((second.error as ModelError).code).toBe('server_error');
    expect(second.consumed.map((event) => event.type)).toEqual(['start', 'text-delta', 'error', 'finish']);
    expect(second.consumed.at(-1)).toMatchObject({ type: 'finish', reason: 'error' });
    expect(failed.recorded?.signals).toHaveLength(1);
  });

  it('finishes as aborted with the partial message when the run is stopped, aborting the request', async () => {
    const controller = new AbortController();
    const model = new ScriptedModel([{ events: [text('a'), text('b')], ending: 'stall' }]);
    const { consumed, error, result } = await runDriven(model, {
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'text-delta' && event.text === 'b') controller.abort();
      },
    });
    expect(error).toBeUndefined();
    expect(result?.finishReason).toBe('aborted');
    expect(result?.text).toBe('ab');
    expect(consumed.at(-1)).toMatchObject({ type: 'finish', reason: 'aborted' });
    expect(model.recorded?.signals[0]?.aborted).toBe(true);
  });

  it('aborts the request and closes the events when the consumer leaves the loop', async () => {
    const model = new ScriptedModel([{ events: [text('a'), text('b'), text('c')], ending: 'stall' }]);
    for await (const event of model.stream('Hi')) {
      if (event.type === 'text-delta') break;
    }
    await model.recorded?.whenClosed[0];
    expect(model.recorded?.signals[0]?.aborted).toBe(true);
    expect(model.recorded?.closed[0]).toBe(true);
  });
});

describe('idle timeout of a driven stream: only time spent waiting on the provider counts', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const whole = (): Attempt => ({ events: [meta, text('a'), text('b'), text('c'), finish] });

  it('does not time out while a consumer takes longer than the timeout per event', async () => {
    const model = new ScriptedModel([whole(), whole()], { idleTimeoutMs: 80 });
    const stream = model.stream('Hi');
    for await (const _event of stream) await sleep(200);
    const result = await stream;
    expect(result.finishReason).toBe('stop');
    expect(result.text).toBe('abc');
    expect(model.recorded?.signals).toHaveLength(1);
  });

  it('does not time out while a blocking handler holds the run back longer than the timeout', async () => {
    const model = new ScriptedModel([whole(), whole()], { idleTimeoutMs: 80 });
    const result = await model.stream('Hi', {
      callbacks: [{ delivery: { capacity: 1, overflow: 'block' }, onChatEvent: async () => void (await sleep(150)) }],
    });
    expect(result.finishReason).toBe('stop');
    expect(result.text).toBe('abc');
    expect(result.metrics.backpressureMs).toBeGreaterThan(80);
    expect(model.recorded?.signals).toHaveLength(1);
  });

  it('still times out a provider that stalls after a slow consumer', async () => {
    const model = new ScriptedModel([{ events: [text('a')], ending: 'stall' }], { idleTimeoutMs: 80 });
    const stream = model.stream('Hi');
    const consumed: StreamEvent[] = [];
    let error: unknown;
    let readFrom = 0;
    let failedAt = 0;
    try {
      for await (const event of stream) {
        consumed.push(event);
        if (event.type === 'error') failedAt = performance.now();
        if (event.type !== 'text-delta') continue;
        await sleep(200);
        readFrom = performance.now(); // the run reads the provider again from here
      }
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'stream_idle_timeout', retryable: true });
    expect(failedAt - readFrom).toBeGreaterThanOrEqual(75);
    expect(consumed.map((event) => event.type)).toEqual(['start', 'text-delta', 'error', 'finish']);
    expect(model.recorded?.signals[0]?.aborted).toBe(true);
  });
});

describe('retry and idle timeout options', () => {
  it('fills defaults, lets maxRetries win over retry.maxRetries, and says what is wrong with a bad value', () => {
    expect(resolveRetryOptions(undefined, undefined, 'sluice/test')).toEqual({ maxRetries: 2, initialDelayMs: 500, maxDelayMs: 8000 });
    expect(resolveRetryOptions({ maxRetries: 5, initialDelayMs: 10 }, 1, 'sluice/test')).toEqual({ maxRetries: 1, initialDelayMs: 10, maxDelayMs: 8000 });
    expect(() => resolveRetryOptions({ maxRetries: 1.5 }, undefined, 'sluice/test')).toThrow(/\[sluice\/test\] maxRetries must be a whole number >= 0/);
    expect(() => resolveRetryOptions({ maxDelayMs: -1 }, undefined, 'sluice/test')).toThrow(InvalidArgumentError);
  });

  it('turns an idle timeout of Infinity off (0) and refuses a negative one', () => {
    expect(resolveIdleTimeoutMs(undefined, 120_000, 'sluice/test')).toBe(120_000);
    expect(resolveIdleTimeoutMs(Number.POSITIVE_INFINITY, 120_000, 'sluice/test')).toBe(0);
    expect(() => resolveIdleTimeoutMs(-1, 120_000, 'sluice/test')).toThrow(/idleTimeoutMs must be a number >= 0/);
  });
});

type BufferedEvent = ModelStreamPart | ModelError;
/** A read that brings nothing until the request is aborted (a stalled body). */
const STALL: readonly BufferedEvent[] = Object.freeze([]);

/**
 * A provider read a network read at a time (as `sdkStreamEvents` reads an SDK's response):
 * each attempt is a list of reads, each read the events it brings; a `ModelError` event is an
 * error event, thrown by `take()` as a decoder does.
 */
function bufferedProvider(attempts: (readonly (readonly BufferedEvent[])[])[], signal: AbortSignal) {
  const recorded = { reads: [] as number[], taken: [] as number[], cancelled: [] as boolean[], signals: [] as AbortSignal[] };
  const stream = retryingProviderStream<BufferedEvent>({
    provider: 'test',
    signal,
    retry: { initialDelayMs: 1, maxDelayMs: 5 },
    toModelError: (error) => (error instanceof ModelError ? error : new ModelError({ code: 'model_error', provider: 'test', message: String(error), cause: error })),
    open: async (attemptSignal) => {
      const index = recorded.signals.length;
      recorded.signals.push(attemptSignal);
      recorded.reads.push(0);
      recorded.taken.push(0);
      recorded.cancelled.push(false);
      const reads = attempts[index];
      if (reads === undefined) throw new Error(`unexpected request ${index + 1}`);
      const buffered: BufferedEvent[] = [];
      let finished = false;
      const source: BufferedEventSource<BufferedEvent> = {
        take: () => {
          const event = buffered.shift();
          if (event === undefined) return undefined;
          recorded.taken[index]!++;
          if (event instanceof ModelError) throw event;
          return event;
        },
        read: async () => {
          const next = reads[recorded.reads[index]!];
          if (next === undefined) return false;
          if (next === STALL) {
            await new Promise((resolve) => attemptSignal.addEventListener('abort', resolve, { once: true }));
            throw new DOMException('This operation was aborted', 'AbortError');
          }
          recorded.reads[index]!++;
          buffered.push(...next);
          return true;
        },
        cancel: () => {
          recorded.cancelled[index] = true;
        },
      };
      return {
        source,
        translate: (event) => {
          if ((event as ModelStreamPart).type === 'finish') finished = true;
          return event as ModelStreamPart;
        },
        end: () => {
          if (!finished) throw truncated();
        },
      };
    },
  });
  return { stream, recorded };
}

class BufferedModel extends ChatModel {
  readonly provider = 'test';
  readonly model = 'test-1';
  recorded: ReturnType<typeof bufferedProvider>['recorded'] | undefined;
  private readonly attempts: (readonly (readonly BufferedEvent[])[])[];

  constructor(attempts: (readonly (readonly BufferedEvent[])[])[]) {
    super();
    this.attempts = attempts;
  }

  protected _stream(_messages: readonly Message[], call: ModelCallOptions): AsyncIterable<ModelStreamPart> {
    const { stream, recorded } = bufferedProvider(this.attempts, call.signal);
    this.recorded = recorded;
    return stream;
  }
}

describe('retryingProviderStream over a buffered source (one promise step per network read)', () => {
  it('gives every event of every read in order, reading only when the buffered events are used up', async () => {
    const model = new BufferedModel([[[meta, text('a'), text('b')], [], [text('c'), finish]]]);
    const { consumed, error, result } = await runDriven(model);
    expect(error).toBeUndefined();
    expect(consumed.map((event) => (event.type === 'text-delta' ? event.text : event.type))).toEqual(['start', 'a', 'b', 'c', 'finish']);
    expect(result?.text).toBe('abc');
    expect(model.recorded?.reads).toEqual([3]);
  });

  it('gives the parts before an error event of the same read, then fails the run with it (no retry after a delta)', async () => {
    const overloaded = retryable('overloaded');
    const model = new BufferedModel([[[meta, text('a'), text('b'), overloaded, text('never')]], [[text('retried')]]]);
    const { consumed, error, result } = await runDriven(model);
    expect(consumed.filter((event) => event.type === 'text-delta').map((event) => (event as { text: string }).text)).toEqual(['a', 'b']);
    expect(error).toBe(overloaded);
    expect(result).toBeUndefined();
    expect(model.recorded?.signals).toHaveLength(1);
    expect(model.recorded?.signals[0]?.aborted).toBe(true); // the failed request is released
  });

  it('retries an error event that comes before the first delta, invisibly', async () => {
    const model = new BufferedModel([[[{ ...meta, responseId: 'failed' }, retryable('overloaded')]], [[meta, text('ok'), finish]]]);
    const { consumed, error, result } = await runDriven(model);
    expect(error).toBeUndefined();
    expect(result?.text).toBe('ok');
    expect(consumed.filter((event) => event.type === 'text-delta')).toHaveLength(1);
    expect(model.recorded?.signals).toHaveLength(2);
  });

  it('stops at an abort with events still buffered: none of them goes out, and the run finishes as aborted', async () => {
    const controller = new AbortController();
    const model = new BufferedModel([[[meta, text('a'), text('b'), text('c'), finish]]]);
    const { consumed, result } = await runDriven(model, {
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'text-delta' && event.text === 'a') controller.abort();
      },
    });
    expect(consumed.filter((event) => event.type === 'text-delta')).toHaveLength(1);
    expect(result?.finishReason).toBe('aborted');
    expect(result?.text).toBe('a');
    expect(model.recorded?.signals[0]?.aborted).toBe(true);
  });

  it('stops on stream.abort() while a read is pending (no signal of the caller): aborted, with the partial message', async () => {
    const model = new BufferedModel([[[meta, text('a')], STALL]]);
    const stream = model.stream('Hi');
    const consumed: StreamEvent[] = [];
    for await (const event of stream) {
      consumed.push(event);
      if (event.type === 'text-delta') setTimeout(() => stream.abort(), 5);
    }
    const result = await stream;
    expect(result.finishReason).toBe('aborted');
    expect(result.text).toBe('a');
    expect(consumed.at(-1)?.type).toBe('finish');
    expect(model.recorded?.signals[0]?.aborted).toBe(true);
  });

  it('cancels the source and aborts the request when the consumer leaves the loop', async () => {
    const model = new BufferedModel([[[meta, text('a'), text('b')], [text('c'), finish]]]);
    for await (const event of model.stream('Hi')) {
      if (event.type === 'text-delta') break;
    }
    expect(model.recorded?.cancelled).toEqual([true]);
    expect(model.recorded?.signals[0]?.aborted).toBe(true);
    expect(model.recorded?.taken[0]).toBe(2); // nothing was decoded past what went out
  });

  it('sends the request as the run starts, before the consumer has handled the start event', async () => {
    const model = new BufferedModel([[[meta, text('a'), finish]]]);
    let requestsAtStart = -1;
    for await (const event of model.stream('Hi')) {
      if (event.type === 'start') requestsAtStart = model.recorded?.signals.length ?? 0;
    }
    expect(requestsAtStart).toBe(1);
  });

  it('aborts the request sent at the start when the consumer leaves on the start event', async () => {
    const model = new BufferedModel([[[meta, text('a'), finish]]]);
    for await (const event of model.stream('Hi')) {
      expect(event.type).toBe('start');
      break;
    }
    expect(model.recorded?.signals).toHaveLength(1);
    expect(model.recorded?.signals[0]?.aborted).toBe(true);
  });

  it('fails with stream_truncated when the body ends before the terminator', async () => {
    const model = new BufferedModel([[[meta, text('a')]]]);
    const { error, result } = await runDriven(model);
    expect((error as ModelError).code).toBe('stream_truncated');
    expect(result).toBeUndefined();
  });
});
