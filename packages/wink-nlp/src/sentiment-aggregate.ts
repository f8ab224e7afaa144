import type { ConversationSentiment, SentimentLabel, SentimentTrend } from './sentiment-data.js';

// A slope smaller than this (score per sentence) reads as steady.
const STEADY_SLOPE = 0.01;

/**
 * The running sentiment of one conversation, in constant memory: sums, extremes, counts and a
 * ring of the last `trendWindow` scores.
 */
export class SentimentAggregate {
  readonly conversationId: string | undefined;
  private messages = 0;
  private sentences = 0;
  private weightedSum = 0;
  private weights = 0;
  private min = Infinity;
  private max = -Infinity;
  private positive = 0;
  private neutral = 0;
  private negative = 0;
  private readonly recent: Float64Array;
  private recentNext = 0;
  private recentCount = 0;

  constructor(conversationId: string | undefined, trendWindow: number) {
    this.conversationId = conversationId;
    this.recent = new Float64Array(trendWindow);
  }

  /** Adds a sentence; `weight` is its word count. */
  addSentence(score: number, label: SentimentLabel, weight: number): void {
    this.sentences++;
    this.weightedSum += score * weight;
    this.weights += weight;
    if (score < this.min) this.min = score;
    if (score > this.max) this.max = score;
    if (label === 'positive') this.positive++;
    else if (label === 'negative') this.negative++;
    else this.neutral++;
    const recent = this.recent;
    recent[this.recentNext] = score;
    this.recentNext = (this.recentNext + 1) % recent.length;
    if (this.recentCount < recent.length) this.recentCount++;
  }

  addMessage(): void {
    this.messages++;
  }

  /** A JSON-safe copy of the aggregate as it is now. */
  snapshot(): ConversationSentiment {
    const empty = this.sentences === 0;
    return {
      scope: 'conversation',
      conversationId: this.conversationId,
      messages: this.messages,
      sentences: this.sentences,
      mean: this.weights === 0 ? 0 : this.weightedSum / this.weights,
      min: empty ? null : this.min,
      max: empty ? null : this.max,
      positive: this.positive,
      neutral: this.neutral,
      negative: this.negative,
      trend: this.trend(),
    };
  }

  private trend(): SentimentTrend {
    const count = this.recentCount;
    const capacity = this.recent.length;
    const scores: number[] = new Array<number>(count);
    const first = count < capacity ? 0 : this.recentNext;
    let sum = 0;
    for (let index = 0; index < count; index++) {
      const score = this.recent[(first + index) % capacity] as number;
      scores[index] = score;
      sum += score;
    }
    const mean = count === 0 ? 0 : sum / count;
    let slope = 0;
    if (count > 1) {
      // Least squares over x = 0..count-1.
      const meanX = (count - 1) / 2;
      let covariance = 0;
      let variance = 0;
      for (let index = 0; index < count; index++) {
        const dx = index - meanX;
        covariance += dx * ((scores[index] as number) - mean);
        variance += dx * dx;
      }
      slope = covariance / variance;
    }
    const direction = slope > STEADY_SLOPE ? 'rising' : slope < -STEADY_SLOPE ? 'falling' : 'steady';
    return { scores, mean, slope, direction };
  }
}

/**
 * Aggregates per conversation, bounded: past `capacity` conversations, the one least recently
 * touched is forgotten (a Map keeps insertion order; touching re-inserts).
 */
export class ConversationAggregates {
  private readonly capacity: number;
  private readonly trendWindow: number;
  private readonly byConversation = new Map<string, SentimentAggregate>();
  // The most recently touched: touching it again (every sentence of a reply) changes no order.
  private newest: SentimentAggregate | undefined;

  constructor(capacity: number, trendWindow: number) {
    this.capacity = capacity;
    this.trendWindow = trendWindow;
  }

  get size(): number {
    return this.byConversation.size;
  }

  /** The conversation's aggregate, created if new, marked most recently used. */
  touch(conversationId: string): SentimentAggregate {
    const newest = this.newest;
    if (newest !== undefined && newest.conversationId === conversationId) return newest;
    const map = this.byConversation;
    let aggregate = map.get(conversationId);
    if (aggregate !== undefined) {
      map.delete(conversationId);
    } else {
      aggregate = new SentimentAggregate(conversationId, this.trendWindow);
      if (map.size >= this.capacity) {
        const oldest = map.keys().next();
        if (oldest.done !== true) map.delete(oldest.value);
      }
    }
    map.set(conversationId, aggregate);
    this.newest = aggregate;
    return aggregate;
  }

  get(conversationId: string): SentimentAggregate | undefined {
    return this.byConversation.get(conversationId);
  }

  delete(conversationId: string): boolean {
    if (this.newest?.conversationId === conversationId) this.newest = undefined;
    return this.byConversation.delete(conversationId);
  }
}
