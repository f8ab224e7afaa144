import type { DataEvent, StreamEvent } from '@sluice/core';

/** The `name` of every `data` event `SentimentHandler` adds to a run. */
export const SENTIMENT_EVENT = 'sentiment';

/** How a score reads: above `+threshold` positive, below `-threshold` negative, else neutral. */
export type SentimentLabel = 'positive' | 'neutral' | 'negative';

/**
 * A named entity wink-nlp found in a sentence. `start` and `end` are offsets in the message
 * text (UTF-16 code units, as `String.prototype.slice` counts), so
 * `message.slice(start, end) === value`.
 */
export interface NamedEntity {
  /** wink's entity type: `DATE`, `MONEY`, `EMAIL`, `URL`, `HASHTAG`, `TIME`, ... */
  type: string;
  value: string;
  start: number;
  end: number;
}

/**
 * A sentence's sentiment, emitted as soon as the sentence is complete. `start` and `end` are
 * offsets in the message text (UTF-16 code units): `message.slice(start, end) === text`.
 */
export interface SentenceSentiment {
  scope: 'sentence';
  /** Position of the sentence in the message, from 0. */
  index: number;
  text: string;
  /** wink-nlp's score for the sentence, from -1 to 1. */
  score: number;
  label: SentimentLabel;
  start: number;
  end: number;
  /** Named entities in the sentence (only when the handler's `entities` option is set). */
  entities?: NamedEntity[];
}

/** The whole message's sentiment, emitted once the model's stream has ended. */
export interface MessageSentiment {
  scope: 'message';
  /** wink-nlp's score for the whole message text (the mean of its sentences' scores). */
  score: number;
  label: SentimentLabel;
  /** Sentences emitted for the message. */
  sentences: number;
  positive: number;
  neutral: number;
  negative: number;
}

/** Where the last few sentences' scores are heading. */
export interface SentimentTrend {
  /** The scores of the last sentences, oldest first (at most the handler's `trendWindow`). */
  scores: number[];
  /** Their mean. */
  mean: number;
  /** Least-squares slope of those scores, per sentence (0 with fewer than two). */
  slope: number;
  /** `rising` or `falling` when the slope is beyond ±0.01 per sentence, else `steady`. */
  direction: 'rising' | 'falling' | 'steady';
}

/**
 * The running sentiment of a conversation, over every sentence of every message the handler
 * has seen in it. Emitted after each message, and readable at any time with
 * `SentimentHandler.aggregate(conversationId)`.
 */
export interface ConversationSentiment {
  scope: 'conversation';
  /** The run's `conversationId` (undefined: the run had none, so this covers the run alone). */
  conversationId: string | undefined;
  /** Messages finished. */
  messages: number;
  /** Sentences scored, including those of messages still streaming. */
  sentences: number;
  /** Mean sentence score weighted by each sentence's word count (0 with no sentences). */
  mean: number;
  /** Lowest and highest sentence score (null with no sentences). */
  min: number | null;
  max: number | null;
  positive: number;
  neutral: number;
  negative: number;
  trend: SentimentTrend;
}

/** The payload of a `sentiment` data event. */
export type SentimentData = SentenceSentiment | MessageSentiment | ConversationSentiment;

/**
 * True for the `data` events `SentimentHandler` emits: narrows `event.data` to `SentimentData`.
 *
 * @example
 * ```ts
 * for await (const event of model.stream('Hi', { callbacks: [sentiment] })) {
 *   if (isSentimentEvent(event) && event.data.scope === 'sentence') console.log(event.data.label);
 * }
 * ```
 */
export function isSentimentEvent(event: StreamEvent): event is DataEvent<SentimentData> {
  return event.type === 'data' && event.name === SENTIMENT_EVENT;
}

/** The label of a score for a neutral band of ±`threshold`. */
export function sentimentLabel(score: number, threshold: number): SentimentLabel {
  if (score > threshold) return 'positive';
  if (score < -threshold) return 'negative';
  return 'neutral';
}
