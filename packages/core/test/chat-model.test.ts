import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  AIMessage,
  ChatModel,
  FakeChatModel,
  HumanMessage,
  InvalidArgumentError,
  ModelError,
  SluiceError,
  StreamingStdOutCallbackHandler,
  SystemMessage,
  ToolMessage,
  sparklingWaterSong,
  textOf,
  tokenize,
  type CallbackHandler,
  type ChatResult,
  type ContentPart,
  type Message,
  type ModelStreamPart,
  type StreamEvent,
} from '../src/index.ts';

const words = (count: number) => Array.from({ length: count }, (_, index) => ` w${index}`);

async function collect(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

describe('messages', () => {
  it('constructors make plain role/content objects that survive JSON', () => {
    const messages: Message[] = [
      new SystemMessage('Be brief.'),
      new HumanMessage('Hi'),
      new AIMessage({ content: 'Hello', toolCalls: [{ id: 'c1', name: 'f', arguments: '{}' }] }),
      new ToolMessage({ content: '42', toolCallId: 'c1' }),
    ];
    expect(JSON.parse(JSON.stringify(messages))).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello', toolCalls: [{ id: 'c1', name: 'f', arguments: '{}' }] },
      { role: 'tool', content: '42', toolCallId: 'c1' },
    ]);
  });
});

describe('ChatModel input', () => {
  const model = new FakeChatModel();

  it('accepts a prompt string as one user message', async () => {
    const stream = model.stream('Write me a song about sparkling water.');
    const result = await stream;
    expect(result.text).toBe(sparklingWaterSong);
  });

  it('rejects bad messages synchronously with a clear error, before anything runs', () => {
    expect(() => model.stream([])).toThrowError(InvalidArgumentError);
    expect(() => model.stream([{ role: 'robot', content: 'x' } as never])).toThrowError(/messages\[0\]\.role must be one of/);
    expect(() => model.stream([new HumanMessage('ok'), { role: 'user', content: 7 } as never])).toThrowError(
      /messages\[1\]\.content must be a string or an array of content parts/,
    );
  });

  it('accepts content parts and reads the prompt with textOf: the fake model answers the text parts', async () => {
    const parts: ContentPart[] = [
      { type: 'text', text: 'What is ' },
      { type: 'image', data: 'iVBORw0KGgo=', mediaType: 'image/png' },
      { type: 'text', text: 'in this picture?' },
    ];
    expect(textOf(parts)).toBe('What is in this picture?');
    expect(textOf('plain')).toBe('plain');
    const result = await new FakeChatModel({ rate: 0 }).invoke([new HumanMessage(parts)]);
    expect(result.content).toContain('You said: "What is in this picture?"');
  });

  it('rejects a malformed content part, naming the message and the part', () => {
    const user = (content: unknown): Message => ({ role: 'user', content }) as Message;
    const refused = (message: Message): InvalidArgumentError => {
      try {
        model.stream([new HumanMessage('ok'), message]);
      } catch (error) {
        if (InvalidArgumentError.isInstance(error)) return error;
        throw error;
      }
      throw new Error('expected an InvalidArgumentError');
    };
    expect(refused(user([{ type: 'text', text: 'a' }, { type: 'video', url: 'x' }]))).toMatchObject({
      argument: 'messages[1].content[1]',
      message: expect.stringContaining('messages[1].content[1] has an unknown type "video"'),
    });
    expect(refused(user([{ type: 'text' }])).argument).toBe('messages[1].content[0]');
    expect(refused(user([{ type: 'image', data: 'AAAA' }])).message).toMatch(/without a `mediaType`/);
    expect(refused(user([{ type: 'image', mediaType: 'image/png' }])).message).toMatch(/exactly one of a non-empty `url` or base64 `data`/);
    expect(refused(user([{ type: 'file', url: 'https://example.com/a.pdf' }])).message).toMatch(/without a `mediaType`/);
    expect(refused(user([null])).message).toMatch(/must be a content part object/);
    expect(refused({ role: 'system', content: [{ type: 'image', url: 'https://example.com/a.png' }] }).message).toMatch(/image and file parts go in user messages/);
    expect(refused(user({ type: 'text', text: 'not a list' })).argument).toBe('messages[1].content');
  });

  it('rejects a negative rate', () => {
    expect(() => new FakeChatModel({ rate: -1 })).toThrowError(/rate must be a number >= 0/);
  });
});

describe('FakeChatModel', () => {
  it('is deterministic: the same input streams the same tokens', async () => {
    const model = new FakeChatModel();
    const first = await collect(model.stream('hello'));
    const second = await collect(model.stream('hello'));
    const texts = (events: StreamEvent[]) => events.flatMap((event) => (event.type === 'text-delta' ? [event.text] : []));
    expect(texts(first)).toEqual(texts(second));
    expect(texts(first).length).toBeGreaterThan(10);
  });

  it('cycles through scripted responses, one per run', async () => {
    const model = new FakeChatModel({ responses: ['one', 'two'] });
    expect((await model.invoke('a')).content).toBe('one');
    expect((await model.invoke('a')).content).toBe('two');
    expect((await model.invoke('a')).content).toBe('one');
  });

  it('tokenize() splits into word tokens that join back to the text exactly', () => {
    const text = '  Hello,  world!\nNew line\ttab  ';
    expect(tokenize(text).join('')).toBe(text);
    expect(tokenize('a b')).toEqual(['a', ' b']);
  });

  it('streams at the configured rate', async () => {
    const started = performance.now();
    const result = await new FakeChatModel({ tokens: words(20), rate: 200 }).stream('x');
    const elapsed = performance.now() - started;
    // 20 tokens at 200/s: the last is due after 95 ms.
    expect(elapsed).toBeGreaterThanOrEqual(90);
    expect(result.metrics.chunks).toBe(20);
    expect(result.metrics.meanChunkGapMs).toBeGreaterThan(3);
  });

  it('streams reasoning, then text, then tool calls, and finishes with tool-calls', async () => {
    const model = new FakeChatModel({
      reasoning: 'Think first.',
      tokens: ['Let me check.'],
      toolCalls: [{ id: 'call_a', name: 'weather', arguments: '{"city":"Paris","unit":"celsius"}' }],
    });
    const stream = model.stream('weather?');
    const events = await collect(stream);
    const result = await stream;
    expect(events.filter((event) => event.type === 'reasoning-delta').length).toBe(2);
    expect(events.filter((event) => event.type === 'tool-call-delta').length).toBeGreaterThan(1);
    expect(result.reasoning).toBe('Think first.');
    expect(result.toolCalls).toEqual([{ id: 'call_a', name: 'weather', arguments: '{"city":"Paris","unit":"celsius"}' }]);
    expect(result.finishReason).toBe('tool-calls');
    expect(result.message.toolCalls).toEqual(result.toolCalls);
  });

  it('reports usage and response metadata', async () => {
    const result = await new FakeChatModel({ tokens: ['a', ' b'] }).stream([new HumanMessage('one two three')], { runId: 'r1' });
    expect(result.usage).toEqual({ inputTokens: 3, outputTokens: 2, totalTokens: 5 });
    expect(result.responseId).toBe('fake-r1');
    expect(result.message.usage).toEqual(result.usage);
  });
});

describe('failures', () => {
  it('a model error yields error and finish events, then the iterator throws it', async () => {
    const stream = new FakeChatModel({ tokens: words(10), errorAfter: 4 }).stream('x');
    const events: StreamEvent[] = [];
    let thrown: unknown;
    try {
      for await (const event of stream) events.push(event);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ModelError);
    expect(SluiceError.isInstance(thrown)).toBe(true);
    expect((thrown as ModelError).retryable).toBe(true);
    expect(events.map((event) => event.type).slice(-2)).toEqual(['error', 'finish']);
    expect(events.at(-2)).toMatchObject({ type: 'error', error: { code: 'fake_fault', retryable: true } });
    expect(events.at(-1)).toMatchObject({ type: 'finish', reason: 'error', message: { content: words(4).join('') } });
    await expect(stream).rejects.toBe(thrown);
  });

  it('invoke() rejects with the error; handlers get onChatError and onChatEnd with the partial message', async () => {
    const calls: string[] = [];
    let ended: ChatResult | undefined;
    const handler: CallbackHandler = {
      onChatError: (error) => void calls.push(`error:${error.code}`),
      onChatEnd: (result) => {
        calls.push('end');
        ended = result;
      },
    };
    await expect(new FakeChatModel({ tokens: words(6), errorAfter: 3 }).invoke('x', { callbacks: [handler] })).rejects.toMatchObject({
      code: 'fake_fault',
    });
    expect(calls).toEqual(['error:fake_fault', 'end']);
    expect(ended?.finishReason).toBe('error');
    expect(ended?.text).toBe(words(3).join(''));
    expect(ended?.error?.code).toBe('fake_fault');
  });

  it('wraps a plain error thrown by an adapter into a SluiceError with its cause', async () => {
    class Broken extends ChatModel {
      readonly provider = 'broken';
      readonly model = 'b';
      // eslint-disable-next-line require-yield
      protected async *_stream(): AsyncGenerator<ModelStreamPart> {
        throw new TypeError('socket hang up');
      }
    }
    const error = await new Broken().invoke('x').catch((caught: unknown) => caught);
    expect(SluiceError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ code: 'model_error', message: 'socket hang up' });
    expect((error as SluiceError).cause).toBeInstanceOf(TypeError);
  });

  it('an adapter part of unknown type fails the run with a clear error', async () => {
    class Odd extends ChatModel {
      readonly provider = 'odd';
      readonly model = 'o';
      protected async *_stream(): AsyncGenerator<ModelStreamPart> {
        yield { type: 'text-delta', text: 'a' };
        yield { type: 'mystery' } as never;
      }
    }
    await expect(new Odd().invoke('x')).rejects.toMatchObject({ code: 'invalid_model_part' });
  });
});

describe('abort', () => {
  it('abort() mid-stream finishes the run as aborted with the partial message, and every handler is told', async () => {
    const ends: ChatResult[] = [];
    const handlers: CallbackHandler[] = [
      { onChatEnd: (result) => void ends.push(result) },
      { onChatEnd: async (result) => void ends.push(result) },
    ];
    const stream = new FakeChatModel({ tokens: words(1000), rate: 1000 }).stream('x', { callbacks: handlers });
    const events: StreamEvent[] = [];
    for await (const event of stream) {
      events.push(event);
      if (event.type === 'text-delta' && event.seq === 5) stream.abort();
    }
    const result = await stream;
    expect(result.finishReason).toBe('aborted');
    expect(result.text).toBe(words(5).join(''));
    expect(events.at(-1)).toMatchObject({ type: 'finish', reason: 'aborted' });
    expect(ends).toHaveLength(2);
    expect(ends.every((end) => end.finishReason === 'aborted')).toBe(true);
    expect(stream.signal.aborted).toBe(true);
  });

  it('an external signal aborts a stalled model; invoke() resolves with the partial message', async () => {
    const controller = new AbortController();
    const model = new FakeChatModel({ tokens: words(10), stallAfter: 3 });
    setTimeout(() => controller.abort(), 30);
    const message = await model.invoke('x', { signal: controller.signal });
    expect(message.finishReason).toBe('aborted');
    expect(message.content).toBe(words(3).join(''));
  });

  it('a signal aborted before the run starts still gives start and finish events', async () => {
    const events = await collect(new FakeChatModel().stream('x', { signal: AbortSignal.abort() }));
    expect(events.map((event) => event.type)).toEqual(['start', 'finish']);
    expect(events[1]).toMatchObject({ reason: 'aborted' });
  });

  it('breaking out of the loop aborts the run and still ends the handlers', async () => {
    let ended: ChatResult | undefined;
    const stream = new FakeChatModel({ tokens: words(100) }).stream('x', {
      callbacks: [{ onChatEnd: (result) => void (ended = result) }],
    });
    for await (const event of stream) if (event.seq === 3) break;
    const result = await stream;
    expect(result.finishReason).toBe('aborted');
    expect(ended?.finishReason).toBe('aborted');
    expect(result.text).toBe(words(3).join(''));
  });

  it('return() before the first next() runs the lifecycle of a run aborted before it started: start and end, no request', async () => {
    const hooks = (log: string[]): CallbackHandler => ({
      onChatStart: () => void log.push('onChatStart'),
      onChatEvent: (event) => void log.push(`${event.seq}:${event.type}`),
      onChatFlush: () => void log.push('onChatFlush'),
      onChatEnd: (result) => void log.push(`onChatEnd:${result.finishReason}`),
    });
    let opened = 0;
    class Counted extends FakeChatModel {
      protected override _stream(...args: Parameters<FakeChatModel['_stream']>) {
        opened++;
        return super._stream(...args);
      }
    }
    const left: string[] = [];
    const stream = new Counted({ tokens: ['a'] }).stream('x', { callbacks: [hooks(left)] });
    const iterator = stream[Symbol.asyncIterator]();
    const before = performance.now();
    expect(await iterator.return?.()).toEqual({ done: true, value: undefined });
    const result = await stream;
    const elapsed = performance.now() - before;
    expect(result.finishReason).toBe('aborted');
    expect(opened).toBe(0);
    expect(await iterator.next()).toEqual({ done: true, value: undefined });
    // The same hooks, in the same order, as a run whose signal was aborted before it started.
    const preAborted: string[] = [];
    await new FakeChatModel({ tokens: ['a'] }).stream('x', { signal: AbortSignal.abort(), callbacks: [hooks(preAborted)] });
    expect(left).toEqual(['onChatStart', '0:start', 'onChatFlush', '1:finish', 'onChatEnd:aborted']);
    expect(left).toEqual(preAborted);
    // Measured from the moment the run was stopped, not from 0.
    expect(result.metrics.durationMs).toBeGreaterThanOrEqual(0);
    expect(result.metrics.durationMs).toBeLessThanOrEqual(elapsed);
    expect(result.metrics.events).toBe(2);
  });

  it('stops reading an adapter that ignores the signal: its generator is closed', async () => {
    let yielded = 0;
    let markClosed: () => void = () => undefined;
    const closed = new Promise<void>((resolve) => (markClosed = resolve));
    class Deaf extends ChatModel {
      readonly provider = 'deaf';
      readonly model = 'd';
      protected async *_stream(): AsyncGenerator<ModelStreamPart> {
        try {
          for (;;) {
            yielded++;
            await Promise.resolve();
            yield { type: 'text-delta', text: 'x' };
          }
        } finally {
          markClosed();
        }
      }
    }
    const stream = new Deaf().stream('x');
    for await (const event of stream) if (event.type === 'text-delta' && event.seq === 3) stream.abort();
    const result = await stream;
    expect(result.finishReason).toBe('aborted');
    expect(result.text).toBe('xxx');
    // The generator ran its finally: it can never yield again. At most the part it was making
    // when the abort came was read (and dropped).
    await closed;
    expect(yielded).toBeLessThanOrEqual(4);
  });
});

describe('ChatStream', () => {
  it('can be awaited without iterating, and then gives the whole result', async () => {
    const result = await new FakeChatModel({ tokens: ['a', 'b'] }).stream('x', { conversationId: 'c1', runId: 'r1' });
    expect(result).toMatchObject({ runId: 'r1', conversationId: 'c1', text: 'ab', finishReason: 'stop', provider: 'fake', model: 'fake-chat' });
  });

  it('the finish event and the result serialise with the whole text (joined once, on first read)', async () => {
    const stream = new FakeChatModel({ tokens: ['a', 'b', 'c'] }).stream('x');
    const events = await collect(stream);
    const finish = JSON.parse(JSON.stringify(events.at(-1)));
    expect(finish.message).toEqual({ role: 'assistant', content: 'abc', finishReason: 'stop', usage: { inputTokens: 1, outputTokens: 3, totalTokens: 4 } });
    const result = await stream;
    expect(JSON.parse(JSON.stringify(result)).text).toBe('abc');
    expect({ ...result.message }.content).toBe('abc');
    result.message.content = 'edited';
    expect(result.message.content).toBe('edited');
  });

  it('queues concurrent next() calls: they settle in order with consecutive events, then done', async () => {
    for (const rate of [0, 500]) {
      const iterator = new FakeChatModel({ tokens: ['a', 'b', 'c'], rate }).stream('x')[Symbol.asyncIterator]();
      const steps = await Promise.all(Array.from({ length: 9 }, () => iterator.next()));
      // start, three text deltas, usage, finish: six events, then done for the three calls past the end.
      expect(steps.map((step) => (step.done === true ? 'done' : `${step.value.seq}:${step.value.type}`))).toEqual([
        '0:start',
        '1:text-delta',
        '2:text-delta',
        '3:text-delta',
        '4:usage',
        '5:finish',
        'done',
        'done',
        'done',
      ]);
    }
  });

  it('queues concurrent next() calls on a failing model: the events, then the error once, then done', async () => {
    const iterator = new FakeChatModel({ tokens: words(4), errorAfter: 2 }).stream('x')[Symbol.asyncIterator]();
    const steps = await Promise.allSettled(Array.from({ length: 7 }, () => iterator.next()));
    expect(
      steps.map((step) =>
        step.status === 'rejected' ? `throws:${(step.reason as SluiceError).code}` : step.value.done === true ? 'done' : step.value.value.type,
      ),
    ).toEqual(['start', 'text-delta', 'text-delta', 'error', 'finish', 'throws:fake_fault', 'done']);
  });

  it('can be consumed once: a second iteration is a clear error', async () => {
    const stream = new FakeChatModel({ tokens: ['a'] }).stream('x');
    await collect(stream);
    expect(() => stream[Symbol.asyncIterator]()).toThrowError(/consumed once/);
    expect((await stream).text).toBe('a');
  });

  it('is lazy: nothing runs until it is iterated or awaited', async () => {
    const log: string[] = [];
    class Logged extends FakeChatModel {
      protected override _stream(...args: Parameters<FakeChatModel['_stream']>) {
        log.push('request');
        return super._stream(...args);
      }
    }
    const model = new Logged({ tokens: ['a'] });
    const stream = model.stream('x', { callbacks: [{ onChatStart: () => void log.push('onChatStart') }] });
    // Another whole run, start to end, paced by timers (several turns of the event loop), while
    // this one is left alone.
    await new FakeChatModel({ tokens: ['b', 'c', 'd'], rate: 1000 }).invoke('y');
    log.push('awaited');
    await stream;
    expect(log).toEqual(['awaited', 'request', 'onChatStart']);
  });

  it('reports metrics: chunks, events, time to first chunk, gaps, handler time', async () => {
    const result = await new FakeChatModel({ tokens: words(30), rate: 1000 }).stream('x', {
      callbacks: [{ name: 'counter', onChatNewMessage: () => undefined }],
    });
    const { metrics } = result;
    expect(metrics.chunks).toBe(30);
    expect(metrics.events).toBe(33);
    expect(metrics.timeToFirstChunkMs).toBeGreaterThanOrEqual(0);
    expect(metrics.maxChunkGapMs).toBeGreaterThanOrEqual(metrics.meanChunkGapMs ?? Infinity);
    expect(metrics.durationMs).toBeGreaterThan(0);
    expect(metrics.handlers[0]).toMatchObject({ name: 'counter', calls: 30, errors: 0, dropped: 0 });
    expect(metrics.handlers[0]?.timeMs).toBeGreaterThanOrEqual(0);
  });

  it('hands the call metadata to every handler', async () => {
    const seen: unknown[] = [];
    await new FakeChatModel({ tokens: ['a'] }).invoke('x', {
      metadata: { owner: 'alice' },
      callbacks: [{ onChatStart: (ctx) => void seen.push(ctx.metadata) }],
    });
    await new FakeChatModel({ tokens: ['a'] }).invoke('x', { callbacks: [{ onChatStart: (ctx) => void seen.push(ctx.metadata) }] });
    expect(seen).toEqual([{ owner: 'alice' }, {}]);
  });

  it('combines the model callbacks with per-call callbacks, model ones first', async () => {
    const order: string[] = [];
    const model = new FakeChatModel({ tokens: ['a'], callbacks: [{ onChatStart: () => void order.push('model') }] });
    await model.invoke('x', { callbacks: [{ onChatStart: () => void order.push('call') }] });
    expect(order).toEqual(['model', 'call']);
  });
});

describe('StreamingStdOutCallbackHandler', () => {
  it('writes every chunk to the writable, then a newline', async () => {
    const written: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        written.push(String(chunk));
        done();
      },
    });
    const model = new FakeChatModel({ callbacks: [new StreamingStdOutCallbackHandler({ stream: sink })] });
    const reply = await model.invoke([new HumanMessage('Write me a song about sparkling water.')]);
    expect(written.join('')).toBe(`${reply.content}\n`);
    expect(reply.content).toBe(sparklingWaterSong);
  });

  it('waits for drain on a full writable without losing or reordering text', async () => {
    const written: string[] = [];
    const slowSink = new Writable({
      highWaterMark: 8,
      write(chunk, _encoding, done) {
        written.push(String(chunk));
        setTimeout(done, 1);
      },
    });
    const tokens = words(300);
    const result = await new FakeChatModel({ tokens }).stream('x', {
      callbacks: [new StreamingStdOutCallbackHandler({ stream: slowSink })],
    });
    expect(written.join('')).toBe(`${tokens.join('')}\n`);
    // The slow terminal made the lane queue and merge text rather than hold the model back.
    expect(result.metrics.handlers[0]?.coalesced).toBeGreaterThan(0);
  });
});
