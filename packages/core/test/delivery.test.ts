import { describe, expect, it } from 'vitest';
import {
  ChatModel,
  FakeChatModel,
  HandlerError,
  type CallbackHandler,
  type HandlerContext,
  type MessageChunk,
  type ModelStreamPart,
  type StreamEvent,
} from '../src/index.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const words = (count: number) => Array.from({ length: count }, (_, index) => ` w${index}`);

/** A model that streams exactly these parts, all at once (as from one network read). */
class PartsModel extends ChatModel {
  readonly provider = 'test';
  readonly model = 'parts';
  private readonly parts: () => ModelStreamPart[];

  constructor(parts: () => ModelStreamPart[]) {
    super();
    this.parts = parts;
  }

  protected async *_stream(): AsyncGenerator<ModelStreamPart> {
    for (const part of this.parts()) yield part;
  }
}

describe('delivery: one ordered lane per handler', () => {
  it('keeps per-handler order when async handlers take random time', async () => {
    const tokens = words(200);
    const seen: number[][] = [[], [], []];
    const handlers: CallbackHandler[] = seen.map((log, index) => ({
      delivery: { capacity: 10_000 },
      async onChatEvent(event: StreamEvent) {
        // Handler 0 is slow and jittery, handler 1 sometimes async, handler 2 always sync.
        if (index === 0) await sleep(event.seq % 3);
        if (index === 1 && event.seq % 2 === 0) await Promise.resolve();
        log.push(event.seq);
      },
    }));
    handlers[2] = { onChatEvent: (event) => void (seen[2] as number[]).push(event.seq) };
    const result = await new FakeChatModel({ tokens }).stream('go', { callbacks: handlers });
    const expected = Array.from({ length: result.metrics.events }, (_, index) => index);
    for (const log of seen) expect(log).toEqual(expected);
  });

  it('calls the hooks in lifecycle order: start, events, flush, end', async () => {
    const calls: string[] = [];
    const handler: CallbackHandler = {
      onChatStart: () => void calls.push('start'),
      onChatEvent: (event) => void calls.push(event.type),
      onChatNewMessage: (chunk) => void calls.push(`chunk:${chunk.content}`),
      onChatFlush: () => void calls.push('flush'),
      onChatEnd: (result) => void calls.push(`end:${result.finishReason}`),
    };
    await new FakeChatModel({ tokens: ['a', 'b'] }).invoke('x', { callbacks: [handler] });
    expect(calls).toEqual([
      'start',
      'start',
      'text-delta',
      'chunk:a',
      'text-delta',
      'chunk:b',
      'usage',
      'flush',
      'finish',
      'end:stop',
    ]);
  });

  it('gives onChatNewMessage the role and content delta of every text chunk, as in the seed', async () => {
    const chunks: MessageChunk[] = [];
    await new FakeChatModel({ tokens: ['Hel', 'lo', '!'] }).invoke('x', {
      callbacks: [{ onChatNewMessage: (chunk) => void chunks.push(chunk) }],
    });
    expect(chunks.map(({ role, content }) => ({ role, content }))).toEqual([
      { role: 'assistant', content: 'Hel' },
      { role: 'assistant', content: 'lo' },
      { role: 'assistant', content: '!' },
    ]);
    expect(chunks.map((chunk) => chunk.seq)).toEqual([1, 2, 3]);
  });
});

describe('delivery: failing handlers', () => {
  it('a sync handler that throws leaves the stream and the other handlers intact, and is reported', async () => {
    const tokens = words(50);
    const reported: HandlerError[] = [];
    const good: string[] = [];
    const stream = new FakeChatModel({ tokens }).stream('x', {
      callbacks: [
        {
          name: 'broken',
          onChatNewMessage(chunk) {
            if (chunk.seq % 10 === 0) throw new Error(`boom ${chunk.seq}`);
          },
        },
        { onChatNewMessage: (chunk) => void good.push(chunk.content) },
      ],
      onHandlerError: (error) => reported.push(error),
    });
    const consumed: string[] = [];
    for await (const event of stream) if (event.type === 'text-delta') consumed.push(event.text);
    const result = await stream;
    expect(consumed).toEqual(tokens);
    expect(good).toEqual(tokens);
    expect(result.text).toBe(tokens.join(''));
    expect(reported).toHaveLength(5);
    expect(reported[0]).toBeInstanceOf(HandlerError);
    expect(reported[0]?.handler).toBe('broken');
    expect(reported[0]?.hook).toBe('onChatNewMessage');
    expect((reported[0]?.cause as Error).message).toBe('boom 10');
    expect(result.metrics.handlerErrors).toBe(5);
    expect(result.handlerErrors).toHaveLength(5);
    expect(result.metrics.handlers.find((handler) => handler.name === 'broken')?.errors).toBe(5);
  });

  it('an async handler that rejects leaves the stream and the other handlers intact, and is reported', async () => {
    const tokens = words(30);
    const reported: HandlerError[] = [];
    const good: string[] = [];
    const result = await new FakeChatModel({ tokens }).stream('x', {
      callbacks: [
        {
          name: 'rejecting',
          async onChatEvent(event) {
            await Promise.resolve();
            if (event.type === 'text-delta') throw new Error('nope');
          },
          async onChatEnd() {
            throw new Error('end failed too');
          },
        },
        { onChatNewMessage: async (chunk) => void good.push(chunk.content) },
      ],
      onHandlerError: (error) => reported.push(error),
    });
    expect(good).toEqual(tokens);
    expect(result.text).toBe(tokens.join(''));
    expect(result.finishReason).toBe('stop');
    expect(reported.filter((error) => error.hook === 'onChatEvent')).toHaveLength(30);
    expect(reported.filter((error) => error.hook === 'onChatEnd')).toHaveLength(1);
  });

  it('an onHandlerError listener that throws neither breaks the run nor hides the failure: both are logged', async () => {
    const logged: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    const tokens = words(6);
    const good: string[] = [];
    let result;
    try {
      const stream = new FakeChatModel({ tokens }).stream('x', {
        callbacks: [
          { name: 'failing', onChatNewMessage: () => { throw new Error('handler broke'); } },
          { onChatNewMessage: (chunk) => void good.push(chunk.content) },
        ],
        onHandlerError: () => {
          throw new Error('listener broke');
        },
      });
      const consumed: string[] = [];
      for await (const event of stream) if (event.type === 'text-delta') consumed.push(event.text);
      expect(consumed).toEqual(tokens);
      result = await stream;
    } finally {
      console.error = original;
    }
    expect(result.finishReason).toBe('stop');
    expect(result.text).toBe(tokens.join(''));
    expect(good).toEqual(tokens);
    expect(result.handlerErrors).toHaveLength(6);
    expect(result.metrics.handlerErrors).toBe(6);
    // Every failure the listener could not take is logged with the listener's own error.
    expect(logged).toHaveLength(6);
    expect(logged[0]?.[1]).toBe(result.handlerErrors[0]);
    expect((logged[0]?.[2] as Error).message).toBe('listener broke');
  });

  it('without a listener, a failing handler is logged once per run, never silently', async () => {
    const logged: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    try {
      const result = await new FakeChatModel({ tokens: words(5) }).stream('x', {
        callbacks: [{ name: 'loud', onChatNewMessage: () => { throw new Error('again'); } }],
      });
      expect(result.metrics.handlerErrors).toBe(5);
    } finally {
      console.error = original;
    }
    expect(logged).toHaveLength(1);
    expect(String(logged[0]?.[0])).toContain('handler "loud" failed in onChatNewMessage');
  });
});

describe('delivery: overflow policies', () => {
  it('block keeps the queue bounded under a slow handler and slows the producer', async () => {
    const tokens = words(300);
    let produced = 0;
    let handled = 0;
    let maxAhead = 0;
    const slow: CallbackHandler = {
      delivery: { capacity: 8, overflow: 'block' },
      async onChatNewMessage() {
        await sleep(0);
        handled++;
      },
    };
    const stream = new FakeChatModel({ tokens }).stream('x', { callbacks: [slow] });
    for await (const event of stream) {
      if (event.type !== 'text-delta') continue;
      produced++;
      maxAhead = Math.max(maxAhead, produced - handled);
    }
    const result = await stream;
    expect(handled).toBe(300);
    const lane = result.metrics.handlers[0];
    // The lane never held more than its capacity (+1 for the event that filled it).
    expect(lane?.maxQueueDepth).toBeLessThanOrEqual(9);
    // The producer was held back: it never ran more than capacity + in-flight ahead of the handler.
    expect(maxAhead).toBeLessThanOrEqual(11);
    expect(result.metrics.backpressureMs).toBeGreaterThan(0);
    expect(lane?.dropped).toBe(0);
  });

  it('coalesce merges adjacent text deltas under a slow handler without losing a character', async () => {
    const tokens = words(2000);
    const received: string[] = [];
    let calls = 0;
    const slow: CallbackHandler = {
      delivery: { capacity: 4, overflow: 'coalesce' },
      async onChatNewMessage(chunk) {
        calls++;
        received.push(chunk.content);
        await sleep(1);
      },
    };
    const stream = new FakeChatModel({ tokens }).stream('x', { callbacks: [slow] });
    let consumed = 0;
    for await (const event of stream) if (event.type === 'text-delta') consumed++;
    const result = await stream;
    expect(received.join('')).toBe(tokens.join(''));
    expect(calls).toBeLessThan(2000);
    expect(consumed).toBe(2000);
    const lane = result.metrics.handlers[0];
    expect(lane?.coalesced).toBe(2000 - calls);
    // Deltas merge at capacity; only the usage event may go past it.
    expect(lane?.maxQueueDepth).toBeLessThanOrEqual(8);
    // Coalescing never holds the model back for text.
    expect(result.metrics.backpressureMs).toBe(0);
  });

  it('coalesce gives the merged chunk the seq of the last piece it holds', async () => {
    const seqs: number[] = [];
    await new FakeChatModel({ tokens: words(50) }).invoke('x', {
      callbacks: [
        {
          delivery: { capacity: 1, overflow: 'coalesce' },
          async onChatNewMessage(chunk) {
            seqs.push(chunk.seq);
            await sleep(1);
          },
        },
      ],
    });
    expect(seqs.at(-1)).toBe(50);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  it('coalesce never merges the deltas of two different tool calls, even interleaved and without ids', async () => {
    // Two parallel calls whose argument pieces alternate, as a provider may send them: only the
    // first piece of each call has its id and name; the others have just the index.
    const pieces = Array.from({ length: 40 }, (_, index) => `p${index};`);
    const parts = (): ModelStreamPart[] => [
      { type: 'tool-call-delta', index: 0, id: 'call_a', name: 'first', argumentsDelta: '' },
      { type: 'tool-call-delta', index: 1, id: 'call_b', name: 'second', argumentsDelta: '' },
      ...pieces.flatMap((piece, index): ModelStreamPart[] => {
        // Runs of two pieces of the same call, so adjacent pieces of one call do merge.
        const call = Math.floor(index / 2) % 2;
        return [{ type: 'tool-call-delta', index: call, argumentsDelta: piece }];
      }),
      { type: 'finish', reason: 'tool-calls' },
    ];
    const received = new Map<number, string[]>();
    const result = await new PartsModel(parts).stream('x', {
      callbacks: [
        {
          delivery: { capacity: 1, overflow: 'coalesce' },
          async onChatEvent(event) {
            if (event.type === 'tool-call-delta') {
              const list = received.get(event.index) ?? [];
              list.push(event.argumentsDelta);
              received.set(event.index, list);
            }
            await sleep(1);
          },
        },
      ],
    });
    expect(result.metrics.handlers[0]?.coalesced).toBeGreaterThan(0);
    expect(result.toolCalls.map((call) => call.arguments)).toEqual([0, 1].map((call) => pieces.filter((_, index) => Math.floor(index / 2) % 2 === call).join('')));
    expect([0, 1].map((index) => received.get(index)?.join(''))).toEqual(result.toolCalls.map((call) => call.arguments));
  });

  it('coalesce holds the model back once events that cannot merge fill twice the capacity', async () => {
    // Usage events never merge: they queue past the capacity, up to twice it, then the run waits.
    const parts = (): ModelStreamPart[] => [
      ...Array.from({ length: 60 }, (_, index): ModelStreamPart => ({ type: 'usage', usage: { outputTokens: index + 1 } })),
      { type: 'finish', reason: 'stop' },
    ];
    let handled = 0;
    const result = await new PartsModel(parts).stream('x', {
      callbacks: [
        {
          delivery: { capacity: 4, overflow: 'coalesce' },
          async onChatEvent() {
            await sleep(1);
            handled++;
          },
        },
      ],
    });
    const lane = result.metrics.handlers[0];
    expect(handled).toBe(62); // start, 60 usage events, finish: nothing lost
    expect(lane?.coalesced).toBe(0);
    expect(lane?.maxQueueDepth).toBe(8);
    expect(result.metrics.backpressureMs).toBeGreaterThan(0);
  });

  it('drop counts what it drops and still delivers start, finish and end', async () => {
    const tokens = words(500);
    const types: string[] = [];
    let ended = false;
    const stream = new FakeChatModel({ tokens }).stream('x', {
      callbacks: [
        {
          delivery: { capacity: 4, overflow: 'drop' },
          async onChatEvent(event) {
            types.push(event.type);
            await sleep(1);
          },
          onChatEnd: () => void (ended = true),
        },
      ],
    });
    for await (const _event of stream);
    const result = await stream;
    const lane = result.metrics.handlers[0];
    const delivered = types.filter((type) => type === 'text-delta' || type === 'usage').length;
    expect(lane?.dropped).toBeGreaterThan(0);
    expect(delivered + (lane?.dropped ?? 0)).toBe(501);
    expect(result.metrics.dropped).toBe(lane?.dropped);
    expect(types[0]).toBe('start');
    expect(types.at(-1)).toBe('finish');
    expect(ended).toBe(true);
    expect(result.metrics.backpressureMs).toBe(0);
  });
});

describe('delivery: completion', () => {
  it('invoke() resolves only after every lane has drained', async () => {
    let handled = 0;
    let endedAt = -1;
    const message = await new FakeChatModel({ tokens: words(20) }).invoke('x', {
      callbacks: [
        {
          async onChatNewMessage() {
            await sleep(2);
            handled++;
          },
          async onChatEnd() {
            await sleep(5);
            endedAt = handled;
          },
        },
      ],
    });
    expect(handled).toBe(20);
    expect(endedAt).toBe(20);
    expect(message.content).toBe(words(20).join(''));
  });

  it('iteration ends only after every lane has drained', async () => {
    let ended = false;
    const stream = new FakeChatModel({ tokens: words(5) }).stream('x', {
      callbacks: [{ onChatEnd: async () => { await sleep(10); ended = true; } }],
    });
    for await (const _event of stream);
    expect(ended).toBe(true);
  });

  it('the final text equals the concatenated deltas, and seq grows by one per event', async () => {
    const tokens = ['Hé', 'llo ', '👋🏽', ' "quoted"', '\n', 'done.'];
    const stream = new FakeChatModel({ tokens }).stream('x');
    const events: StreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const result = await stream;
    const deltas = events.flatMap((event) => (event.type === 'text-delta' ? [event.text] : []));
    expect(deltas.join('')).toBe(result.text);
    expect(result.text).toBe(tokens.join(''));
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
    expect(events[0]?.type).toBe('start');
    expect(events.at(-1)).toMatchObject({ type: 'finish', reason: 'stop', message: { role: 'assistant', content: result.text } });
  });
});

describe('handler emissions', () => {
  it('ctx.emit adds a data event with the next seq that reaches the consumer and the other handlers, in order', async () => {
    const other: StreamEvent[] = [];
    const emitter: CallbackHandler = {
      onChatNewMessage(chunk, ctx) {
        if (chunk.content.includes('.')) ctx.emit({ type: 'data', name: 'sentence', data: { upTo: chunk.seq } });
      },
      onChatFlush(ctx) {
        ctx.emit({ type: 'data', name: 'summary', data: { done: true } });
      },
    };
    const stream = new FakeChatModel({ tokens: ['One.', ' Two', '.', ' Three'] }).stream('x', {
      callbacks: [emitter, { onChatEvent: (event) => void other.push(event) }],
    });
    const events: StreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index));
    expect(events.map((event) => (event.type === 'data' ? `data:${event.name}` : event.type))).toEqual([
      'start',
      'text-delta',
      'data:sentence',
      'text-delta',
      'text-delta',
      'data:sentence',
      'text-delta',
      'usage',
      'data:summary',
      'finish',
    ]);
    expect(other.map((event) => event.seq)).toEqual(events.map((event) => event.seq));
  });

  it('an async handler emitting while the model is read never reorders seq for the consumer', async () => {
    const stream = new FakeChatModel({ tokens: words(100), rate: 2000 }).stream('x', {
      callbacks: [
        {
          async onChatNewMessage(chunk, ctx: HandlerContext) {
            await sleep(0);
            if (chunk.seq % 10 === 0) ctx.emit({ type: 'data', name: 'tick', data: chunk.seq });
          },
        },
      ],
    });
    const seqs: number[] = [];
    for await (const event of stream) seqs.push(event.seq);
    expect(seqs).toEqual(seqs.map((_, index) => index));
    const result = await stream;
    expect(result.metrics.events).toBe(seqs.length);
  });

  it('emit() from onChatStart queues the data event right after start: start is seq 0, the data seq 1', async () => {
    const other: string[] = [];
    const stream = new FakeChatModel({ tokens: ['a'] }).stream('x', {
      callbacks: [
        { onChatStart: (ctx) => ctx.emit({ type: 'data', name: 'greeting', data: 'hi' }) },
        { onChatStart: () => void other.push('onChatStart'), onChatEvent: (event) => void other.push(`${event.seq}:${event.type}`) },
      ],
    });
    const events: StreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.slice(0, 3).map((event) => `${event.seq}:${event.type}`)).toEqual(['0:start', '1:data', '2:text-delta']);
    expect(events[1]).toMatchObject({ name: 'greeting', data: 'hi' });
    expect(other.slice(0, 4)).toEqual(['onChatStart', '0:start', '1:data', '2:text-delta']);
  });

  it('emit() after the run finished throws a clear error', async () => {
    let saved: HandlerContext | undefined;
    await new FakeChatModel({ tokens: ['a'] }).invoke('x', { callbacks: [{ onChatStart: (ctx) => void (saved = ctx) }] });
    expect(() => saved?.emit({ type: 'data', name: 'late', data: 1 })).toThrowError(/has finished/);
  });

  it('emit() from onChatEvent on finish is refused with run_closed: finish is the last event', async () => {
    const errors: HandlerError[] = [];
    const seenByOther: string[] = [];
    const stream = new FakeChatModel({ tokens: ['a'] }).stream('x', {
      callbacks: [
        {
          name: 'late-emitter',
          onChatEvent: (event, ctx) => {
            if (event.type === 'finish') ctx.emit({ type: 'data', name: 'too-late', data: 1 });
          },
        },
        { onChatEvent: (event) => void seenByOther.push(event.type) },
      ],
      onHandlerError: (error) => errors.push(error),
    });
    const events: StreamEvent[] = [];
    for await (const event of stream) events.push(event);
    const result = await stream;
    expect(events.at(-1)?.type).toBe('finish');
    expect(events.some((event) => event.type === 'data')).toBe(false);
    expect(seenByOther.at(-1)).toBe('finish');
    expect(result.metrics.events).toBe(events.length);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ handler: 'late-emitter', hook: 'onChatEvent' });
    expect(errors[0]?.cause).toMatchObject({ code: 'run_closed' });
    expect((errors[0]?.cause as Error).message).toMatch(/has finished/);
  });

  it('emit() rejects an event that is not a named data event', async () => {
    const errors: HandlerError[] = [];
    await new FakeChatModel({ tokens: ['a'] }).invoke('x', {
      callbacks: [{ onChatStart: (ctx) => ctx.emit({ type: 'text-delta', name: '', data: 1 } as never) }],
      onHandlerError: (error) => errors.push(error),
    });
    expect(errors[0]?.cause).toMatchObject({ code: 'invalid_argument' });
  });
});
