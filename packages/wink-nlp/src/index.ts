/**
 * Real-time sentiment for sluice streams with wink-nlp: per sentence as soon as it is
 * complete, per message, and a running aggregate per conversation.
 *
 * @example
 * ```ts
 * import { FakeChatModel } from '@sluice/core';
 * import { SentimentHandler, isSentimentEvent } from '@sluice/wink-nlp';
 *
 * const sentiment = new SentimentHandler();
 * const model = new FakeChatModel({ reply: 'What a lovely day. The traffic was terrible.' });
 * for await (const event of model.stream('How was it?', { callbacks: [sentiment], conversationId: 'c1' })) {
 *   if (isSentimentEvent(event)) console.log(event.data);
 * }
 * ```
 *
 * @packageDocumentation
 */
export { SentimentHandler, type SentimentHandlerOptions } from './sentiment-handler.js';
export {
  DEFAULT_ENTITY_TYPES,
  SentenceSegmenter,
  type SegmenterStats,
  type Sentence,
  type SentenceSegmenterOptions,
} from './sentence-segmenter.js';
export {
  SENTIMENT_EVENT,
  isSentimentEvent,
  sentimentLabel,
  type ConversationSentiment,
  type MessageSentiment,
  type NamedEntity,
  type SentenceSentiment,
  type SentimentData,
  type SentimentLabel,
  type SentimentTrend,
} from './sentiment-data.js';
export { sharedWinkNlp, type WinkNlp } from './wink-pipeline.js';
