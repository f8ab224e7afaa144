/**
 * The provider conformance suite: the streaming scenarios every sluice provider adapter must
 * pass, through its real SDK client, against a fake server that speaks the provider's wire
 * format (`@sluice/testing`). A new adapter runs the whole suite by calling
 * `describeProviderConformance` from one test file.
 *
 * @example
 * ```ts
 * describeProviderConformance({
 *   name: 'ChatOpenAI (chat)',
 *   startServer: () => startFakeOpenAI(),
 *   createModel: (server, options) => new ChatOpenAI({ apiKey: 'test', baseURL: server.baseURL, ...options }),
 *   promptOf: (body) => ...,
 *   midStreamErrorCode: 'server_error',
 * });
 * ```
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ModelError,
  ResponseFormatError,
  type CallbackHandler,
  type ChatModel,
  type ChatResult,
  type MessageChunk,
  type SchemaLike,
  type StreamEvent,
} from '@sluice/core';

/** A scripted turn, as `@sluice/testing` takes it (the subset this suite uses). */
export type ConformanceTurn =
  | {
      text?: string | readonly string[];
      reasoning?: string;
      toolCalls?: readonly { id?: string; name: string; arguments: string; chunks?: readonly string[] }[];
      finishReason?: 'stop' | 'length' | 'tool-calls' | 'content-filter';
      usage?: { inputTokens?: number; outputTokens?: number };
      tokenDelayMs?: number;
      fault?:
        | { type: 'error-event'; afterChunks?: number }
        | { type: 'truncate'; afterChunks?: number }
        | { type: 'stall'; afterChunks?: number; stallMs?: number }
        | { type: 'reset'; afterChunks?: number };
    }
  | { status: number; retryAfter?: number; retryAfterMs?: number };

/** The fake server, as this suite uses it (`@sluice/testing`'s servers fit). */
export interface ConformanceServer {
  readonly requests: readonly { readonly body: unknown; readonly outcome: string | undefined; readonly settled: Promise<string> }[];
  script(...turns: ConformanceTurn[]): unknown;
  reset(): void;
  close(): Promise<void>;
}

/** What the suite asks of the model it builds. */
export interface ConformanceModelOptions {
  /** Small in the fault scenarios. */
  idleTimeoutMs?: number;
  maxRetries?: number;
  /** Backoff for retries: tests keep it to a few milliseconds. */
  retry: { initialDelayMs: number; maxDelayMs: number };
  streaming?: boolean;
  callbacks?: readonly CallbackHandler[];
  /** The model's default temperature (the per-call settings scenarios). */
  temperature?: number;
  /** The model's default token limit (the per-call settings scenarios). */
  maxTokens?: number;
}

/** An adapter under test. */
export interface ProviderConformanceTarget {
  name: string;
  startServer(): Promise<ConformanceServer>;
  /** The adapter, through its real SDK client, pointed at `server`, with `options` applied. */
  createModel(server: ConformanceServer, options: ConformanceModelOptions): ChatModel;
  /** The last user message's text in a recorded request body. */
  promptOf(body: unknown): string | undefined;
  /** The `code` of the error the provider's default mid-stream error event becomes. */
  midStreamErrorCode: string;
  /** Whether the adapter streams reasoning (default true). */
  reasoning?: boolean;
  /**
   * Capabilities whose scenarios run only for adapters that declare them, so a capability can
   * land in core and in one adapter before the others catch up (the suite stays green).
   */
  supports?: {
    /**
     * Per-call settings (`temperature`, `maxTokens`, ... in `stream()`'s options) reach the
     * request, and `responseFormat: json-schema` gives `result.object` or a `ResponseFormatError`.
     * Needs `settingsOf`.
     */
    perCallSettings?: boolean;
    /**
     * Content parts: a user message's text, image (URL and base64) and PDF parts reach the
     * request in order; a file type the provider cannot take is refused before any request.
     * Needs `partsOf`.
     */
    contentParts?: boolean;
  };
  /** The kinds of the last user message's content parts in a recorded request body, in order. */
  partsOf?(body: unknown): ('text' | 'image' | 'file' | 'other')[];
  /** The temperature and token limit a recorded request body carries, under sluice's names (e.g. `max_tokens` → `maxTokens`). */
  settingsOf?(body: unknown): { temperature?: number | undefined; maxTokens?: number | undefined };
}

interface ConformanceWeather {
  city: string;
  celsius: number;
}

/** A schema of zod 4's shape, by hand: the suite depends on no schema library. */
const weatherSchema: SchemaLike<ConformanceWeather> = {
  safeParse(value) {
    const candidate = value as Partial<ConformanceWeather> | null;
    const issues: { path: string[]; message: string }[] = [];
    if (typeof candidate?.city !== 'string') issues.push({ path: ['city'], message: 'expected string' });
    if (typeof candidate?.celsius !== 'number') issues.push({ path: ['celsius'], message: 'expected number' });
    return issues.length === 0 ? { success: true, data: candidate as ConformanceWeather } : { success: false, error: { issues } };
  },
  toJSONSchema: () => ({
    type: 'object',
    properties: { city: { type: 'string' }, celsius: { type: 'number' } },
    required: ['city', 'celsius'],
    additionalProperties: false,
  }),
};

interface Outcome {
  events: StreamEvent[];
  result: ChatResult;
  error: unknown;
}

const FAST_RETRY = { initialDelayMs: 2, maxDelayMs: 10 };

/** Runs a stream to its end, keeping the events, the result and the error it failed with. */
async function run(model: ChatModel, prompt = 'Say hello', options: { signal?: AbortSignal; abortAfterDeltas?: number; controller?: AbortController } = {}): Promise<Outcome> {
  const stream = model.stream(prompt, { signal: options.signal });
  const events: StreamEvent[] = [];
  let error: unknown;
  let deltas = 0;
  try {
    for await (const event of stream) {
      events.push(event);
      if (event.type === 'text-delta' && ++deltas === options.abortAfterDeltas) options.controller?.abort();
    }
  } catch (thrown) {
    error = thrown;
  }
  const result = await stream.then(
    (value) => value,
    () => undefined,
  );
  const finish = events.find((event) => event.type === 'finish');
  return { events, result: result ?? ({ finishReason: finish?.type === 'finish' ? finish.reason : undefined, text: textOf(events) } as ChatResult), error };
}

function textOf(events: readonly StreamEvent[]): string {
  return events.map((event) => (event.type === 'text-delta' ? event.text : '')).join('');
}

function expectModelError(error: unknown, code: string): ModelError {
  expect(error).toBeInstanceOf(ModelError);
  expect((error as ModelError).code).toBe(code);
  return error as ModelError;
}

/** Registers the conformance scenarios for one adapter. */
export function describeProviderConformance(target: ProviderConformanceTarget): void {
  describe(`${target.name}: provider conformance`, () => {
    let server: ConformanceServer;
    const model = (options: Partial<ConformanceModelOptions> = {}): ChatModel =>
      target.createModel(server, { retry: FAST_RETRY, ...options });

    beforeAll(async () => {
      server = await target.startServer();
    });
    afterEach(() => server.reset());
    afterAll(() => server.close());

    describe('streaming', () => {
      it('streams plain text as text-delta events whose concatenation is the reply, then finishes with stop', async () => {
        server.script({ text: 'Hello there, friend.' });
        const { events, result, error } = await run(model());
        expect(error).toBeUndefined();
        expect(events[0]?.type).toBe('start');
        expect(events.filter((event) => event.type === 'text-delta').map((event) => (event as { text: string }).text)).toEqual(['Hello', ' there,', ' friend.']);
        expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
        expect(events.at(-1)).toMatchObject({ type: 'finish', reason: 'stop', message: { role: 'assistant', content: 'Hello there, friend.' } });
        expect(result.text).toBe('Hello there, friend.');
        expect(result.responseId).toEqual(expect.any(String));
      });

      it('sends the prompt to the provider through its SDK', async () => {
        server.script({ text: 'ok' });
        await run(model(), 'What is the capital of France?');
        expect(server.requests).toHaveLength(1);
        expect(target.promptOf(server.requests[0]?.body)).toBe('What is the capital of France?');
      });

      it('delivers a long reply (2,000 chunks) completely and in order', async () => {
        const tokens = Array.from({ length: 2000 }, (_, index) => ` t${index}`);
        server.script({ text: tokens });
        const { events, result, error } = await run(model());
        expect(error).toBeUndefined();
        expect(events.filter((event) => event.type === 'text-delta')).toHaveLength(2000);
        expect(result.text).toBe(tokens.join(''));
        expect(result.metrics.chunks).toBe(2000);
      });

      it('assembles streamed tool calls (id, name, arguments) and finishes with tool-calls', async () => {
        server.script({
          text: 'Let me check.',
          toolCalls: [
            { id: 'call_weather', name: 'get_weather', arguments: '{"city":"Paris"}', chunks: ['{"ci', 'ty":"Pa', 'ris"}'] },
            { id: 'call_time', name: 'get_time', arguments: '{"tz":"CET"}' },
          ],
        });
        const { events, result, error } = await run(model());
        expect(error).toBeUndefined();
        expect(events.filter((event) => event.type === 'tool-call-delta').length).toBeGreaterThanOrEqual(4);
        expect(result.toolCalls).toEqual([
          { id: 'call_weather', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { id: 'call_time', name: 'get_time', arguments: '{"tz":"CET"}' },
        ]);
        expect(result.text).toBe('Let me check.');
        expect(result.finishReason).toBe('tool-calls');
      });

      if (target.reasoning !== false) {
        it('streams reasoning as reasoning-delta events before the text', async () => {
          server.script({ reasoning: 'The user wants a greeting.', text: 'Hello!' });
          const { events, result } = await run(model());
          const types = events.map((event) => event.type);
          expect(types.indexOf('reasoning-delta')).toBeGreaterThan(-1);
          expect(types.lastIndexOf('reasoning-delta')).toBeLessThan(types.indexOf('text-delta'));
          expect(result.reasoning).toBe('The user wants a greeting.');
          expect(result.text).toBe('Hello!');
        });
      }

      it('reports usage normalised to input, output and total tokens', async () => {
        server.script({ text: 'one two three', usage: { inputTokens: 11 } });
        const { result, events } = await run(model());
        expect(result.usage).toMatchObject({ inputTokens: 11, outputTokens: 3, totalTokens: 14 });
        expect(events.some((event) => event.type === 'usage')).toBe(true);
        expect(events.at(-1)).toMatchObject({ type: 'finish', usage: { inputTokens: 11, outputTokens: 3 } });
      });

      it('normalises a reply cut by its token limit to finish reason length', async () => {
        server.script({ text: 'cut short', finishReason: 'length' });
        const { result } = await run(model());
        expect(result.finishReason).toBe('length');
        expect(result.providerFinishReason).toEqual(expect.any(String));
      });

      it('calls onChatNewMessage with every text chunk, in order', async () => {
        const chunks: MessageChunk[] = [];
        server.script({ text: 'a b c' });
        const reply = await model({ callbacks: [{ onChatNewMessage: (chunk) => void chunks.push(chunk) }] }).invoke('Hi');
        expect(chunks.map((chunk) => chunk.content)).toEqual(['a', ' b', ' c']);
        expect(chunks.every((chunk) => chunk.role === 'assistant')).toBe(true);
        expect(reply.content).toBe('a b c');
      });

      it('answers invoke() on a non-streaming model with the same message, from one non-streamed request', async () => {
        server.script({ text: 'Whole answer.', usage: { inputTokens: 2 } });
        const reply = await model({ streaming: false }).invoke('Hi');
        expect(reply.content).toBe('Whole answer.');
        expect(reply.finishReason).toBe('stop');
        expect(reply.usage).toMatchObject({ inputTokens: 2, outputTokens: 2 });
        expect((server.requests[0]?.body as { stream?: boolean }).stream).not.toBe(true);
      });
    });

    describe('abort', () => {
      it('stops mid-stream on abort: finish reason aborted, the partial text, and the HTTP request closed', async () => {
        server.script({ text: 'one two three four five six seven eight', tokenDelayMs: 25 });
        const controller = new AbortController();
        const { result, error } = await run(model(), 'Count', { signal: controller.signal, controller, abortAfterDeltas: 2 });
        expect(error).toBeUndefined();
        expect(result.finishReason).toBe('aborted');
        expect(result.text).toBe('one two');
        expect(await server.requests[0]?.settled).toBe('client-closed');
      });
    });

    describe('faults before the first delta are retried', () => {
      it('retries a 429 after its retry-after-ms and succeeds', async () => {
        server.script({ status: 429, retryAfterMs: 40 }, { text: 'Made it.' });
        const started = performance.now();
        const { result, error } = await run(model({ maxRetries: 2 }));
        expect(error).toBeUndefined();
        expect(result.text).toBe('Made it.');
        expect(server.requests).toHaveLength(2);
        expect(performance.now() - started).toBeGreaterThanOrEqual(35);
      });

      it('retries a 500 and a 529 before the stream and succeeds', async () => {
        server.script({ status: 500 }, { status: 529 }, { text: 'Third time.' });
        const { result } = await run(model({ maxRetries: 2 }));
        expect(result.text).toBe('Third time.');
        expect(server.requests).toHaveLength(3);
      });

      it('retries a stream that fails before its first delta (mid-stream error event, reset, stall)', async () => {
        server.script(
          { text: 'x', fault: { type: 'error-event', afterChunks: 0 } },
          { text: 'x', fault: { type: 'reset', afterChunks: 0 } },
          { text: 'x', fault: { type: 'stall', afterChunks: 0 } },
          { text: 'Recovered.' },
        );
        const { result, events, error } = await run(model({ maxRetries: 3, idleTimeoutMs: 100 }));
        expect(error).toBeUndefined();
        expect(result.text).toBe('Recovered.');
        expect(server.requests).toHaveLength(4);
        // A retry is invisible: one start, no error event.
        expect(events.filter((event) => event.type === 'start' || event.type === 'error').map((event) => event.type)).toEqual(['start']);
      });

      it('fails after maxRetries with the last error', async () => {
        server.script({ status: 500 }, { status: 500 });
        const { error } = await run(model({ maxRetries: 1 }));
        expectModelError(error, 'server_error');
        expect(server.requests).toHaveLength(2);
      });
    });

    describe('errors are typed', () => {
      it('types a 429 as rate_limited with status, request id and retry-after', async () => {
        server.script({ status: 429, retryAfter: 2 });
        const { error, result, events } = await run(model({ maxRetries: 0 }));
        const failure = expectModelError(error, 'rate_limited');
        expect(failure).toMatchObject({ status: 429, retryable: true, retryAfterMs: 2000 });
        expect(failure.requestId).toEqual(expect.stringMatching(/^req_/));
        expect(result.finishReason).toBe('error');
        expect(events.slice(-2).map((event) => event.type)).toEqual(['error', 'finish']);
      });

      it('types a 500 as server_error and a 529 as overloaded, both retryable', async () => {
        server.script({ status: 500 }, { status: 529 });
        expect(expectModelError((await run(model({ maxRetries: 0 }))).error, 'server_error')).toMatchObject({ status: 500, retryable: true });
        expect(expectModelError((await run(model({ maxRetries: 0 }))).error, 'overloaded')).toMatchObject({ status: 529, retryable: true });
      });

      it('types a 401 as authentication_failed and never retries it', async () => {
        server.script({ status: 401 });
        const { error } = await run(model({ maxRetries: 2 }));
        expect(expectModelError(error, 'authentication_failed')).toMatchObject({ status: 401, retryable: false });
        expect(server.requests).toHaveLength(1);
      });
    });

    describe('faults after the first delta fail the run, never retried', () => {
      it('fails on a mid-stream error event, keeping the partial text', async () => {
        server.script({ text: 'a b c d', fault: { type: 'error-event', afterChunks: 2 } });
        const { error, result, events } = await run(model({ maxRetries: 2 }));
        expectModelError(error, target.midStreamErrorCode);
        expect(result.text).toBe('a b');
        expect(result.finishReason).toBe('error');
        expect(events.find((event) => event.type === 'error')).toMatchObject({ error: { code: target.midStreamErrorCode } });
        expect(server.requests).toHaveLength(1);
      });

      it('reports a stream that ends without its terminator as stream_truncated, not success', async () => {
        server.script({ text: 'a b c d', fault: { type: 'truncate', afterChunks: 2 } });
        const { error, result } = await run(model({ maxRetries: 2 }));
        expect(expectModelError(error, 'stream_truncated').retryable).toBe(true);
        expect(result.finishReason).toBe('error');
        expect(result.text).toBe('a b');
        expect(server.requests).toHaveLength(1);
      });

      it('ends a stalled stream after idleTimeoutMs with a retryable stream_idle_timeout and closes the request', async () => {
        server.script({ text: 'a b c', fault: { type: 'stall', afterChunks: 1 } });
        const started = performance.now();
        const { error, result } = await run(model({ maxRetries: 2, idleTimeoutMs: 150 }));
        expect(expectModelError(error, 'stream_idle_timeout').retryable).toBe(true);
        expect(performance.now() - started).toBeGreaterThanOrEqual(140);
        expect(result.text).toBe('a');
        expect(await server.requests[0]?.settled).toBe('client-closed');
        expect(server.requests).toHaveLength(1);
      });

      it('types a connection reset mid-stream as connection_reset, retryable, and does not retry it', async () => {
        server.script({ text: 'a b c', fault: { type: 'reset', afterChunks: 2 } });
        const { error, result } = await run(model({ maxRetries: 2 }));
        expect(expectModelError(error, 'connection_reset').retryable).toBe(true);
        expect(result.text).toBe('a b');
        expect(server.requests).toHaveLength(1);
      });
    });

    if (target.supports?.contentParts === true) {
      describe('content parts', () => {
        const pixel = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
        const pdf = Buffer.from('%PDF-1.4\n%%EOF\n').toString('base64');

        it("sends a user message's text, image and PDF parts, in order", async () => {
          server.script({ text: 'seen' });
          const result = await model().stream([
            {
              role: 'user',
              content: [
                { type: 'text', text: 'What is in these?' },
                { type: 'image', url: 'https://example.com/cat.png' },
                { type: 'image', data: pixel, mediaType: 'image/png' },
                { type: 'file', data: pdf, mediaType: 'application/pdf', filename: 'report.pdf' },
              ],
            },
          ]);
          expect(result.text).toBe('seen');
          if (target.partsOf === undefined) throw new Error(`${target.name}: supports.contentParts needs partsOf(body)`);
          expect(target.partsOf(server.requests[0]?.body)).toEqual(['text', 'image', 'image', 'file']);
        });

        it('refuses a file type the provider cannot take with an InvalidArgumentError, before any request', async () => {
          const attempt = async () => model().stream([{ role: 'user', content: [{ type: 'file', data: 'aGVsbG8=', mediaType: 'text/x-unknown', filename: 'a.bin' }] }]);
          await expect(attempt()).rejects.toMatchObject({ code: 'invalid_argument' });
          expect(server.requests).toHaveLength(0);
        });
      });
    }

    if (target.supports?.perCallSettings === true) {
      describe('per-call settings', () => {
        const settingsOf = (index: number) => {
          if (target.settingsOf === undefined) throw new Error(`${target.name}: supports.perCallSettings needs settingsOf(body)`);
          return target.settingsOf(server.requests[index]?.body);
        };

        it("sends a call's temperature and maxTokens over the model's, and the model's when the call sets none", async () => {
          server.script({ text: 'one' }, { text: 'two' });
          const chat = model({ temperature: 0.9, maxTokens: 300 });
          await chat.stream('Say hello', { temperature: 0.1, maxTokens: 64 });
          await chat.stream('Say hello');
          expect(settingsOf(0)).toMatchObject({ temperature: 0.1, maxTokens: 64 });
          expect(settingsOf(1)).toMatchObject({ temperature: 0.9, maxTokens: 300 });
        });

        it('refuses a bad per-call setting with an InvalidArgumentError naming it, before any request', () => {
          expect(() => model().stream('Say hello', { maxTokens: 0 })).toThrow(expect.objectContaining({ code: 'invalid_argument', argument: 'maxTokens' }));
          expect(server.requests).toHaveLength(0);
        });

        it('gives a json-schema reply that fits as result.object', async () => {
          server.script({ text: ['{"city":', '"Paris",', '"celsius":18}'] });
          const result = await model().stream('Weather in Paris as JSON', {
            responseFormat: { type: 'json-schema', name: 'weather', schema: weatherSchema },
          });
          expect(result.error).toBeUndefined();
          expect(result.object).toEqual({ city: 'Paris', celsius: 18 });
          expect(result.text).toBe('{"city":"Paris","celsius":18}');
        });

        it('fails the run with a ResponseFormatError (text and issues) when the json-schema reply does not fit', async () => {
          server.script({ text: ['{"city":', '"Paris"}'] });
          const error = await model()
            .stream('Weather in Paris as JSON', { responseFormat: { type: 'json-schema', name: 'weather', schema: weatherSchema } })
            .then(
              () => undefined,
              (caught: unknown) => caught,
            );
          expect(ResponseFormatError.isInstance(error)).toBe(true);
          expect(error).toMatchObject({ code: 'response_format_mismatch', text: '{"city":"Paris"}', issues: [{ path: ['celsius'] }] });
        });
      });
    }
  });
}
