import {
  ChatModel,
  FakeChatModel,
  InvalidArgumentError,
  tokenize,
  type CallbackHandler,
  type ChatCallOptions,
  type ChatResult,
  type DataEvent,
  type ModelStreamPart,
  type StreamEvent,
} from '@sluice/core';
import { describe, expect, it } from 'vitest';
import {
  SENTIMENT_EVENT,
  SentimentHandler,
  isSentimentEvent,
  sharedWinkNlp,
  type ConversationSentiment,
  type MessageSentiment,
  type SentenceSentiment,
  type SentimentData,
} from '../src/index.ts';

const nlp = sharedWinkNlp();
const its = nlp.its;

const review =
  'I love this phone. The battery life is terrible, sadly! Dr. Lee said the screen is fine at 5 p.m. sharp. ' +
  'Would I buy it again? Probably not. Still, the camera is wonderful.';

async function collect(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** Streams the model, aborting the run after its `deltas`-th text delta; the events and the result. */
async function streamAbortingAfter(model: FakeChatModel, deltas: number, options: ChatCallOptions): Promise<{ events: StreamEvent[]; result: ChatResult }> {
  const controller = new AbortController();
  const stream = model.stream('Review?', { ...options, signal: controller.signal });
  const events: StreamEvent[] = [];
  let seen = 0;
  for await (const event of stream) {
    events.push(event);
    if (event.type === 'text-delta' && ++seen === deltas) controller.abort();
  }
  return { events, result: await stream };
}

/** Each sentence's event (but the last's) came at most two chunks after the sentence's last one. */
function expectEachSentenceWithinTwoChunks(events: readonly StreamEvent[], text: string): void {
  let received = 0;
  const chunkEnds: number[] = []; // message length after each chunk
  for (const event of events) {
    if (event.type === 'text-delta') {
      received += event.text.length;
      chunkEnds.push(received);
    } else if (isSentimentEvent(event) && event.data.scope === 'sentence' && event.data.end < text.length) {
      const lastChunk = chunkEnds.findIndex((end) => end >= (event.data as SentenceSentiment).end);
      expect(lastChunk).toBeGreaterThanOrEqual(0);
      expect(chunkEnds.length - 1 - lastChunk).toBeLessThanOrEqual(2);
    }
  }
}

function sentimentData(events: readonly StreamEvent[]): SentimentData[] {
  return events.filter(isSentimentEvent).map((event) => event.data);
}

function byScope<TScope extends SentimentData['scope']>(events: readonly StreamEvent[], scope: TScope): Extract<SentimentData, { scope: TScope }>[] {
  return sentimentData(events).filter((data): data is Extract<SentimentData, { scope: TScope }> => data.scope === scope);
}

describe('SentimentHandler: events in the run', () => {
  it("adds a sentiment event per sentence with wink-nlp's score, then the message and the conversation", async () => {
    const sentiment = new SentimentHandler();
    const model = new FakeChatModel({ reply: review });
    const events = await collect(model.stream('Review?', { callbacks: [sentiment], conversationId: 'c1' }));
    const sentences = byScope(events, 'sentence');
    const doc = nlp.readDoc(review);
    expect(sentences.map((sentence) => sentence.text)).toEqual(doc.sentences().out());
    for (const sentence of sentences) {
      expect(sentence.score).toBe(nlp.readDoc(sentence.text).out(its.sentiment));
      expect(review.slice(sentence.start, sentence.end)).toBe(sentence.text);
      expect(sentence.label).toBe(sentence.score > 0.05 ? 'positive' : sentence.score < -0.05 ? 'negative' : 'neutral');
    }
    const [message] = byScope(events, 'message');
    expect(message).toMatchObject({ scope: 'message', score: doc.out(its.sentiment), sentences: sentences.length });
    expect((message as MessageSentiment).positive + (message as MessageSentiment).neutral + (message as MessageSentiment).negative).toBe(sentences.length);
    const [conversation] = byScope(events, 'conversation');
    expect(conversation).toMatchObject({ scope: 'conversation', conversationId: 'c1', messages: 1, sentences: sentences.length });
    // Message and conversation come last, just before `finish`, in that order.
    const tail = events.slice(-3).map((event) => (isSentimentEvent(event) ? event.data.scope : event.type));
    expect(tail).toEqual(['message', 'conversation', 'finish']);
  });

  it('with maxPendingSentences: 1, emits each sentence while the reply is still streaming, at most two chunks after its last one, even in a burst', async () => {
    const sentiment = new SentimentHandler({ maxPendingSentences: 1 });
    const tokens = tokenize(review);
    const events = await collect(new FakeChatModel({ tokens }).stream('Review?', { callbacks: [sentiment] }));
    expectEachSentenceWithinTwoChunks(events, review);
    expect(byScope(events, 'sentence').length).toBe(6);
  });

  it('emits a sentence ending in a closing quote or bracket right after the delta that completes the next word, as for a plain "."', async () => {
    for (const first of ['He said "stop."', '(We met as planned.)', 'He said stop.']) {
      const reply = `${first} Then he left. Later he said "bye."`;
      const sentiment = new SentimentHandler({ maxPendingSentences: 1 });
      const events = await collect(new FakeChatModel({ tokens: tokenize(reply) }).stream('Story?', { callbacks: [sentiment] }));
      // What the consumer had received, as text, when each sentence event came.
      let received = '';
      const receivedAt: Record<string, string> = {};
      for (const event of events) {
        if (event.type === 'text-delta') received += event.text;
        else if (isSentimentEvent(event) && event.data.scope === 'sentence') receivedAt[event.data.text] = received;
      }
      expect(receivedAt).toEqual({
        [first]: `${first} Then he`,
        'Then he left.': `${first} Then he left. Later he`,
        'Later he said "bye."': reply,
      });
    }
  });

  it('reaches every other handler and the consumer, as storage and HTTP would see it', async () => {
    const seenByOther: DataEvent[] = [];
    const storage: CallbackHandler = {
      onChatEvent(event) {
        if (event.type === 'data') seenByOther.push(event);
      },
    };
    const stream = new FakeChatModel({ reply: review }).stream('Review?', { callbacks: [new SentimentHandler(), storage] });
    const events = await collect(stream);
    const consumed = events.filter((event): event is DataEvent => event.type === 'data');
    expect(seenByOther).toEqual(consumed);
    expect(consumed.every((event) => event.name === SENTIMENT_EVENT)).toBe(true);
    // Each takes the run's next seq, like any token.
    const seqs = events.map((event) => event.seq);
    expect(seqs).toEqual(seqs.map((_, index) => index));
  });

  it('never queues, so it never stalls the stream and drops nothing, even behind a slow handler', async () => {
    const sentiment = new SentimentHandler();
    const slow: CallbackHandler = {
      delivery: { capacity: 4, overflow: 'block' },
      async onChatNewMessage() {
        await new Promise((resolve) => setTimeout(resolve, 0));
      },
    };
    const stream = new FakeChatModel({ reply: review.repeat(3) }).stream('Review?', { callbacks: [sentiment, slow] });
    const events = await collect(stream);
    const result = await stream;
    const metrics = result.metrics.handlers.find((handler) => handler.name === 'SentimentHandler');
    expect(metrics).toMatchObject({ maxQueueDepth: 0, dropped: 0, errors: 0 });
    expect(byScope(events, 'sentence').length).toBe(nlp.readDoc(review.repeat(3)).sentences().length());
  });

  it('flushes the last sentence of an aborted reply', async () => {
    const sentiment = new SentimentHandler();
    const { events, result } = await streamAbortingAfter(new FakeChatModel({ reply: review }), 12, { callbacks: [sentiment] });
    expect(result.finishReason).toBe('aborted');
    const sentences = byScope(events, 'sentence');
    expect(sentences.map((sentence) => sentence.text)).toEqual(nlp.readDoc(result.text).sentences().out());
    expect(byScope(events, 'message')[0]?.score).toBe(nlp.readDoc(result.text).out(its.sentiment));
  });

  it("adds wink's named entities to sentence events when asked", async () => {
    const reply = 'I paid $30 on 5 March 2024, which was great. Write to help@example.com with #feedback!';
    const events = await collect(new FakeChatModel({ reply }).stream('Receipt?', { callbacks: [new SentimentHandler({ entities: true })] }));
    const entities = byScope(events, 'sentence').flatMap((sentence) => sentence.entities ?? []);
    expect(entities.map((entity) => [entity.type, entity.value])).toEqual([
      ['MONEY', '$30'],
      ['DATE', '5 March 2024'],
      ['EMAIL', 'help@example.com'],
      ['HASHTAG', '#feedback'],
    ]);
    for (const entity of entities) expect(reply.slice(entity.start, entity.end)).toBe(entity.value);
    const plain = await collect(new FakeChatModel({ reply }).stream('Receipt?', { callbacks: [new SentimentHandler()] }));
    expect(byScope(plain, 'sentence').every((sentence) => sentence.entities === undefined)).toBe(true);
  });
});

describe('SentimentHandler: conversation aggregates', () => {
  it('aggregates every sentence of every message of a conversation, readable at any time', async () => {
    const sentiment = new SentimentHandler({ trendWindow: 4 });
    const replies = ['I love it. It is wonderful!', 'This is terrible. I hate the noise. It is awful.', 'The box is brown.'];
    const model = new FakeChatModel({ responses: replies });
    const scores: number[] = [];
    const weights: number[] = [];
    for (const reply of replies) {
      const events = await collect(model.stream('Go on', { callbacks: [sentiment], conversationId: 'talk' }));
      for (const sentence of byScope(events, 'sentence')) {
        scores.push(sentence.score);
        weights.push(sentence.text.split(/\s+/).length);
      }
      const emitted = byScope(events, 'conversation')[0] as ConversationSentiment;
      expect(emitted).toEqual(sentiment.aggregate('talk'));
      expect(events.filter((event) => event.type === 'text-delta').map((event) => (event as { text: string }).text).join('')).toBe(reply);
    }
    const aggregate = sentiment.aggregate('talk') as ConversationSentiment;
    const weightedMean = scores.reduce((sum, score, index) => sum + score * (weights[index] as number), 0) / weights.reduce((a, b) => a + b, 0);
    expect(aggregate.messages).toBe(3);
    expect(aggregate.sentences).toBe(6);
    expect(aggregate.mean).toBeCloseTo(weightedMean, 12);
    expect(aggregate.min).toBe(Math.min(...scores));
    expect(aggregate.max).toBe(Math.max(...scores));
    expect(aggregate.positive + aggregate.neutral + aggregate.negative).toBe(6);
    expect(aggregate.positive).toBe(scores.filter((score) => score > 0.05).length);
    expect(aggregate.negative).toBe(scores.filter((score) => score < -0.05).length);
    // The trend looks at the last four sentences only, oldest first.
    expect(aggregate.trend.scores).toEqual(scores.slice(-4));
    expect(aggregate.trend.direction).toBe(aggregate.trend.slope > 0.01 ? 'rising' : aggregate.trend.slope < -0.01 ? 'falling' : 'steady');
  });

  it('updates the aggregate sentence by sentence while the reply streams', async () => {
    const sentiment = new SentimentHandler();
    const seen: number[] = [];
    const reader: CallbackHandler = {
      onChatEvent(event) {
        if (isSentimentEvent(event) && event.data.scope === 'sentence') seen.push(sentiment.aggregate('live')?.sentences ?? 0);
      },
    };
    await new FakeChatModel({ reply: review }).stream('Review?', { callbacks: [sentiment, reader], conversationId: 'live' });
    expect(seen).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('keeps conversations apart, and a run without conversationId to itself', async () => {
    const sentiment = new SentimentHandler();
    await new FakeChatModel({ reply: 'I love it.' }).stream('a', { callbacks: [sentiment], conversationId: 'happy' });
    await new FakeChatModel({ reply: 'I hate it.' }).stream('b', { callbacks: [sentiment], conversationId: 'sad' });
    const loose = await collect(new FakeChatModel({ reply: 'It is fine. Really fine.' }).stream('c', { callbacks: [sentiment] }));
    expect(sentiment.aggregate('happy')).toMatchObject({ sentences: 1, positive: 1, negative: 0 });
    expect(sentiment.aggregate('sad')).toMatchObject({ sentences: 1, positive: 0, negative: 1 });
    expect(byScope(loose, 'conversation')[0]).toMatchObject({ conversationId: undefined, messages: 1, sentences: 2 });
    expect(sentiment.forget('happy')).toBe(true);
    expect(sentiment.aggregate('happy')).toBeUndefined();
  });

  it('keeps memory bounded: past maxConversations the least recently active is forgotten', async () => {
    const sentiment = new SentimentHandler({ maxConversations: 3 });
    const model = new FakeChatModel({ reply: 'Nice.' });
    for (const id of ['a', 'b', 'c']) await model.stream('x', { callbacks: [sentiment], conversationId: id });
    await model.stream('x', { callbacks: [sentiment], conversationId: 'a' }); // a is active again
    await model.stream('x', { callbacks: [sentiment], conversationId: 'd' });
    expect(sentiment.aggregate('b')).toBeUndefined();
    expect(sentiment.aggregate('a')?.messages).toBe(2);
    expect(sentiment.aggregate('c')?.messages).toBe(1);
    expect(sentiment.aggregate('d')?.messages).toBe(1);
    // Forgetting the most recent conversation forgets it: its next reply starts afresh.
    expect(sentiment.forget('d')).toBe(true);
    await model.stream('x', { callbacks: [sentiment], conversationId: 'd' });
    expect(sentiment.aggregate('d')).toMatchObject({ messages: 1, sentences: 1 });
  });

  it('serves concurrent runs of one handler without mixing their sentences', async () => {
    const sentiment = new SentimentHandler();
    const first = new FakeChatModel({ reply: 'I love sunny days. They are wonderful.', rate: 400 });
    const second = new FakeChatModel({ reply: 'Rain is awful. I hate cold feet.', rate: 400 });
    const [a, b] = await Promise.all([
      collect(first.stream('x', { callbacks: [sentiment], conversationId: 'one' })),
      collect(second.stream('y', { callbacks: [sentiment], conversationId: 'two' })),
    ]);
    expect(byScope(a, 'sentence').map((sentence) => sentence.text)).toEqual(['I love sunny days.', 'They are wonderful.']);
    expect(byScope(b, 'sentence').map((sentence) => sentence.text)).toEqual(['Rain is awful.', 'I hate cold feet.']);
    expect(sentiment.aggregate('one')?.negative).toBe(0);
    expect(sentiment.aggregate('two')?.positive).toBe(0);
  });
});

/** A model whose stream waits for the next event-loop turn before each chunk, as a live stream waits on the network. */
class NetworkPacedModel extends ChatModel {
  readonly provider = 'test';
  readonly model = 'network-paced';
  private readonly tokens: readonly string[];
  constructor(tokens: readonly string[]) {
    super();
    this.tokens = tokens;
  }
  protected async *_stream(): AsyncIterable<ModelStreamPart> {
    for (const token of this.tokens) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      yield { type: 'text-delta', text: token };
    }
  }
}

describe('SentimentHandler: maxPendingSentences', () => {
  const longReply = Array.from({ length: 6 }, () => review).join('\n\n');

  function countingNlp(): { nlp: typeof nlp; reads: () => number } {
    let reads = 0;
    const counting = { ...nlp, readDoc: (text: string) => (reads++, nlp.readDoc(text)) } as typeof nlp;
    return { nlp: counting, reads: () => reads };
  }

  it('by default, in a burst, reads a run of sentences per wink read, with the same sentences, spans and scores as one read per sentence, all before the message', async () => {
    const tokens = tokenize(longReply);
    const reference = await collect(new FakeChatModel({ tokens }).stream('Review?', { callbacks: [new SentimentHandler({ maxPendingSentences: 1 })] }));
    const counting = countingNlp();
    const batched = new SentimentHandler({ nlp: counting.nlp });
    const before = counting.reads();
    const events = await collect(new FakeChatModel({ tokens }).stream('Review?', { callbacks: [batched] }));
    const sentences = byScope(events, 'sentence');
    expect(sentences).toEqual(byScope(reference, 'sentence'));
    expect(sentences.map((sentence) => sentence.text)).toEqual(nlp.readDoc(longReply).sentences().out());
    expect(byScope(events, 'message')).toEqual(byScope(reference, 'message'));
    // At rate 0 the event loop never turns during the stream: the bound alone batches.
    expect(counting.reads() - before).toBeLessThan(sentences.length / 2);
    const scopes = sentimentData(events).map((data) => data.scope);
    expect(scopes.indexOf('message')).toBe(sentences.length);
  });

  it('by default reads what waits as soon as the event loop gets a turn: on a stream that waits between chunks each sentence is at most two chunks late', async () => {
    const sentiment = new SentimentHandler();
    const events = await collect(new NetworkPacedModel(tokenize(review)).stream('Review?', { callbacks: [sentiment] }));
    expectEachSentenceWithinTwoChunks(events, review);
    expect(byScope(events, 'sentence').map((sentence) => sentence.text)).toEqual(nlp.readDoc(review).sentences().out());
  });

  it('reports a failed read on an event-loop turn as a handler error of the run, not silently', async () => {
    let reads = 0;
    const failing = {
      ...nlp,
      readDoc: (text: string) => {
        reads++;
        if (reads === 3) throw new Error('wink failed');
        return nlp.readDoc(text);
      },
    } as typeof nlp;
    const sentiment = new SentimentHandler({ nlp: failing, maxPendingSentences: 8 });
    reads = 0; // the constructor's check of the pipe
    const stream = new NetworkPacedModel(tokenize(review)).stream('Review?', { callbacks: [sentiment], onHandlerError: () => {} });
    const events = await collect(stream);
    const result = await stream;
    expect(result.finishReason).toBe('stop');
    expect(result.handlerErrors.map((error) => [error.hook, (error.cause as Error).message])).toEqual([['onChatFlush', 'wink failed']]);
    expect(byScope(events, 'message')).toHaveLength(1);
    // The window the failed read had is read again later: no sentence is lost.
    expect(byScope(events, 'sentence').map((sentence) => sentence.text)).toEqual(nlp.readDoc(review).sentences().out());
  });

  it('flushes the sentences still waiting when the reply ends or is aborted, and updates the aggregate with each', async () => {
    const sentiment = new SentimentHandler({ maxPendingSentences: 50 });
    const { events, result } = await streamAbortingAfter(new FakeChatModel({ tokens: tokenize(longReply) }), 150, { callbacks: [sentiment], conversationId: 'wait' });
    expect(result.finishReason).toBe('aborted');
    const sentences = byScope(events, 'sentence');
    expect(sentences.map((sentence) => sentence.text)).toEqual(nlp.readDoc(result.text).sentences().out());
    expect(sentiment.aggregate('wait')?.sentences).toBe(sentences.length);
    expect(byScope(events, 'message')[0]?.score).toBe(nlp.readDoc(result.text).out(its.sentiment));
  });
});

describe('SentimentHandler: options', () => {
  it('rejects bad options with a message that says what to pass', () => {
    expect(() => new SentimentHandler({ neutralThreshold: -1 })).toThrowError(InvalidArgumentError);
    expect(() => new SentimentHandler({ neutralThreshold: 2 })).toThrowError(/neutralThreshold must be a number from 0 to below 1/);
    expect(() => new SentimentHandler({ trendWindow: 1 })).toThrowError(/trendWindow must be an integer >= 2/);
    expect(() => new SentimentHandler({ maxConversations: 0 })).toThrowError(/maxConversations must be an integer >= 1/);
    expect(() => new SentimentHandler({ maxSentenceChars: 2 })).toThrowError(/maxSentenceChars/);
    expect(() => new SentimentHandler({ maxPendingSentences: 0 })).toThrowError(/maxPendingSentences must be an integer >= 1/);
    expect(() => new SentimentHandler({ entities: 'dates' as never })).toThrowError(/entities must be/);
  });

  it('labels with the neutral band it is given', async () => {
    const wide = new SentimentHandler({ neutralThreshold: 0.9 });
    const events = await collect(new FakeChatModel({ reply: 'I love it.' }).stream('x', { callbacks: [wide] }));
    expect(byScope(events, 'sentence')[0]).toMatchObject({ label: 'neutral' });
    expect(byScope(events, 'sentence')[0]?.score).toBeGreaterThan(0.05);
  });
});
