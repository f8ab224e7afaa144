import { InvalidArgumentError, type CallbackHandler, type DeliveryOptions, type HandlerContext, type MessageChunk } from '@sluice/core';
import { SentenceSegmenter, type Sentence } from './sentence-segmenter.js';
import { ConversationAggregates, SentimentAggregate } from './sentiment-aggregate.js';
import {
  SENTIMENT_EVENT,
  sentimentLabel,
  type ConversationSentiment,
  type MessageSentiment,
  type SentenceSentiment,
} from './sentiment-data.js';
import { assertWinkPipe, sharedWinkNlp, type WinkNlp } from './wink-pipeline.js';

/** Options of `SentimentHandler`; every one is optional. */
export interface SentimentHandlerOptions {
  /**
   * A wink-nlp instance whose pipe has `sbd`, `negation` and `sentiment` (and `ner` with
   * `entities`). Default: one shared instance over `wink-eng-lite-web-model`.
   */
  nlp?: WinkNlp;
  /** Scores within ±`neutralThreshold` are labelled neutral. Default 0.05. */
  neutralThreshold?: number;
  /** Sentences the conversation trend looks back over. Default 10. */
  trendWindow?: number;
  /** Conversations whose aggregate is kept; past it the least recently active is forgotten. Default 10,000. */
  maxConversations?: number;
  /** See `SentenceSegmenterOptions.maxSentenceChars`. Default 1000. */
  maxSentenceChars?: number;
  /**
   * Sentences that may wait for one wink read while text arrives in a burst. Default 8: wink
   * reads up to 8 sentences in one read, which costs less, since each read has a fixed cost of
   * a few µs. Sentences that wait are read as soon as the event loop gets a turn (the stream is
   * waiting for the network, as a live model's stream mostly is: there each sentence is out
   * before the next chunk arrives), at the latest when this many wait, and always before the
   * message event: none is ever dropped, and sentences and scores are the same. 1 reads, scores
   * and emits each sentence as soon as the first word after it is complete, even in a burst.
   */
  maxPendingSentences?: number;
  /**
   * Add wink's named entities to each sentence event: `true` for dates, money, e-mails, URLs
   * and hashtags, or a list of wink entity types. Default: none.
   */
  entities?: boolean | readonly string[];
}

// A replayed reply, a cached one or a fake model at rate 0 arrives in one burst: up to 8
// sentences per wink read there cut wink's fixed cost per read by about 8.
const DEFAULT_MAX_PENDING_SENTENCES = 8;

interface RunState {
  readonly context: HandlerContext;
  readonly segmenter: SentenceSegmenter;
  // A drain of waiting sentences is scheduled for the next event-loop turn.
  drainScheduled: boolean;
  // Until onChatFlush: after it, the run's events are closed.
  open: boolean;
  // A drain outside a hook failed: onChatFlush throws it, so the run reports it.
  drainError: unknown;
  // The run's own aggregate when it has no conversationId (not kept after the run).
  readonly ownAggregate: SentimentAggregate | undefined;
  positive: number;
  neutral: number;
  negative: number;
}

/**
 * Real-time sentiment on a chat stream, with wink-nlp. Attach it to a model or a run; it adds
 * `data` events named `sentiment` to the run, so the consumer, HTTP clients and storage get
 * them like any other event:
 * - `{ scope: 'sentence', index, text, score, label, start, end }` as soon as each sentence
 *   of the reply is complete (see `SentenceSegmenter`);
 * - `{ scope: 'message', score, label, sentences, ... }` once the model's stream has ended;
 * - `{ scope: 'conversation', ... }`: the running aggregate of the run's conversation, also
 *   readable at any time with `aggregate(conversationId)`.
 *
 * Every hook is synchronous, so the handler runs inline with the stream and never queues: it
 * cannot stall the token stream behind a backlog or drop a sentence. Its work per chunk is a
 * scan of the chunk's characters, plus a wink read of one bounded window when a sentence may
 * have ended: one read per run of up to `maxPendingSentences` sentences while text arrives in
 * a burst, the sentences waiting read as soon as the event loop gets a turn. One handler serves
 * any number of concurrent runs.
 *
 * @example
 * ```ts
 * import { FakeChatModel } from '@sluice/core';
 * import { SentimentHandler, isSentimentEvent } from '@sluice/wink-nlp';
 *
 * const sentiment = new SentimentHandler();
 * const model = new FakeChatModel({ reply: 'I love this. The ending was awful, sadly.' });
 * for await (const event of model.stream('Review?', { callbacks: [sentiment], conversationId: 'c1' })) {
 *   if (isSentimentEvent(event) && event.data.scope === 'sentence') {
 *     console.log(event.data.label, event.data.score.toFixed(2), event.data.text);
 *   }
 * }
 * console.log(sentiment.aggregate('c1'));
 * ```
 */
export class SentimentHandler implements CallbackHandler {
  readonly name = 'SentimentHandler';
  /**
   * The hooks never return a promise, so this lane never queues; if it ever did, merging
   * adjacent text deltas loses nothing here (the sentences do not depend on how the text was
   * split) and never blocks the stream, where `drop` would lose sentences.
   */
  readonly delivery: DeliveryOptions = { overflow: 'coalesce' };

  private readonly nlp: WinkNlp;
  private readonly neutralThreshold: number;
  private readonly trendWindow: number;
  private readonly maxSentenceChars: number | undefined;
  private readonly maxPendingSentences: number;
  private readonly entities: boolean | readonly string[] | undefined;
  private readonly conversations: ConversationAggregates;
  // Per run, keyed by the run's handler context (one object per run and handler): no lookup
  // by id per chunk, and nothing left behind should a run never end (but for `lastRun`, until
  // another run's chunk).
  private readonly runs = new WeakMap<HandlerContext, RunState>();
  // The run of the last chunk: chunks mostly come run after run, so most need no lookup.
  private lastRun: RunState | undefined;

  constructor(options: SentimentHandlerOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError({ argument: 'options', message: '[sluice/wink-nlp] SentimentHandler options must be an object' });
    }
    this.neutralThreshold = numberOption('neutralThreshold', options.neutralThreshold, 0.05, (value) => value >= 0 && value < 1, 'a number from 0 to below 1');
    this.trendWindow = numberOption('trendWindow', options.trendWindow, 10, (value) => Number.isInteger(value) && value >= 2, 'an integer >= 2');
    const maxConversations = numberOption('maxConversations', options.maxConversations, 10_000, (value) => Number.isInteger(value) && value >= 1, 'an integer >= 1');
    this.maxSentenceChars = options.maxSentenceChars;
    this.maxPendingSentences = options.maxPendingSentences ?? DEFAULT_MAX_PENDING_SENTENCES;
    this.entities = options.entities;
    const wantsEntities = options.entities !== undefined && options.entities !== false;
    if (options.nlp !== undefined) assertWinkPipe(options.nlp, wantsEntities);
    this.nlp = options.nlp ?? sharedWinkNlp(wantsEntities);
    this.conversations = new ConversationAggregates(maxConversations, this.trendWindow);
    // Checks the segmenter options now rather than in the middle of a run.
    this.segmenter();
  }

  /**
   * The running sentiment of a conversation (a snapshot), or undefined if the handler has not
   * seen it (or has forgotten it, past `maxConversations`).
   */
  aggregate(conversationId: string): ConversationSentiment | undefined {
    return this.conversations.get(conversationId)?.snapshot();
  }

  /** Forgets a conversation's aggregate; true if there was one. */
  forget(conversationId: string): boolean {
    return this.conversations.delete(conversationId);
  }

  onChatStart(context: HandlerContext): void {
    this.runs.set(context, {
      context,
      segmenter: this.segmenter(),
      drainScheduled: false,
      open: true,
      drainError: undefined,
      ownAggregate: context.conversationId === undefined ? new SentimentAggregate(undefined, this.trendWindow) : undefined,
      positive: 0,
      neutral: 0,
      negative: 0,
    });
  }

  onChatNewMessage(chunk: MessageChunk, context: HandlerContext): void {
    let run = this.lastRun;
    if (run === undefined || run.context !== context) {
      run = this.runs.get(context);
      if (run === undefined) return;
      this.lastRun = run;
    }
    const segmenter = run.segmenter;
    const sentences = segmenter.push(chunk.content);
    for (let index = 0; index < sentences.length; index++) this.emitSentence(sentences[index] as Sentence, run, context);
    if (segmenter.pendingSentences > 0 && !run.drainScheduled) {
      // Sentences wait for a wink read: read them when the event loop gets a turn, unless the
      // burst reads them first.
      run.drainScheduled = true;
      const waiting = run;
      scheduleTurn(() => this.drain(waiting));
    }
  }

  onChatFlush(context: HandlerContext): void {
    const run = this.runs.get(context);
    if (run === undefined) return;
    run.open = false;
    const segmenter = run.segmenter;
    for (const sentence of segmenter.flush()) this.emitSentence(sentence, run, context);
    const score = segmenter.messageScore();
    const message: MessageSentiment = {
      scope: 'message',
      score,
      label: sentimentLabel(score, this.neutralThreshold),
      sentences: segmenter.stats.sentences,
      positive: run.positive,
      neutral: run.neutral,
      negative: run.negative,
    };
    context.emit({ type: 'data', name: SENTIMENT_EVENT, data: message });
    const aggregate = this.aggregateOf(run, context);
    aggregate.addMessage();
    context.emit({ type: 'data', name: SENTIMENT_EVENT, data: aggregate.snapshot() });
    if (run.drainError !== undefined) throw run.drainError;
  }

  onChatEnd(_result: unknown, context: HandlerContext): void {
    this.runs.delete(context);
    if (this.lastRun?.context === context) this.lastRun = undefined;
  }

  private segmenter(): SentenceSegmenter {
    return new SentenceSegmenter({
      nlp: this.nlp,
      maxSentenceChars: this.maxSentenceChars,
      maxPendingSentences: this.maxPendingSentences,
      entities: this.entities,
    });
  }

  /** On an event-loop turn: reads and emits the sentences waiting, if the run is still open. */
  private drain(run: RunState): void {
    run.drainScheduled = false;
    if (!run.open) return; // onChatFlush read them
    try {
      const sentences = run.segmenter.drain();
      for (let index = 0; index < sentences.length; index++) this.emitSentence(sentences[index] as Sentence, run, run.context);
    } catch (error) {
      // Outside a hook nobody would see it: onChatFlush throws it, so the run reports it.
      run.drainError ??= error;
    }
  }

  private aggregateOf(run: RunState, context: HandlerContext): SentimentAggregate {
    return run.ownAggregate ?? this.conversations.touch(context.conversationId as string);
  }

  private emitSentence(sentence: Sentence, run: RunState, context: HandlerContext): void {
    const label = sentimentLabel(sentence.score, this.neutralThreshold);
    if (label === 'positive') run.positive++;
    else if (label === 'negative') run.negative++;
    else run.neutral++;
    this.aggregateOf(run, context).addSentence(sentence.score, label, wordCount(sentence.text));
    const data: SentenceSentiment = {
      scope: 'sentence',
      index: sentence.index,
      text: sentence.text,
      score: sentence.score,
      label,
      start: sentence.start,
      end: sentence.end,
    };
    if (sentence.entities !== undefined) data.entities = sentence.entities;
    context.emit({ type: 'data', name: SENTIMENT_EVENT, data });
  }
}

/** Runs `task` on the event loop's next turn (setImmediate where there is one). */
function scheduleTurn(task: () => void): void {
  const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  if (immediate !== undefined) immediate(task);
  else setTimeout(task, 0);
}

function numberOption(name: string, value: number | undefined, fallback: number, valid: (value: number) => boolean, expected: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || !valid(value)) {
    throw new InvalidArgumentError({ argument: name, message: `[sluice/wink-nlp] ${name} must be ${expected} (got ${String(value)})` });
  }
  return value;
}

/** Words in a sentence: runs of non-space characters. The weight of its score in the mean. */
function wordCount(text: string): number {
  let words = 0;
  let inWord = false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    const space = code === 32 || (code >= 9 && code <= 13);
    if (!space && !inWord) words++;
    inWord = !space;
  }
  return Math.max(1, words);
}
