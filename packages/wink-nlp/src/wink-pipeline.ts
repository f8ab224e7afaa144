import { InvalidArgumentError } from '@sluice/core';
import model from 'wink-eng-lite-web-model';
import winkNLP, { type WinkMethods } from 'wink-nlp';

/** A wink-nlp instance, as `winkNLP(model, pipe)` returns it. */
export type WinkNlp = WinkMethods;

// Sentence detection, negation (it flips sentiment) and sentiment: all scoring needs. POS
// tagging, the costliest step of wink's default pipe, changes none of these scores.
const SENTIMENT_PIPE = ['sbd', 'negation', 'sentiment'];

let sentimentOnly: WinkNlp | undefined;
let withEntities: WinkNlp | undefined;

/**
 * The shared wink-nlp instance (with `wink-eng-lite-web-model`) the handler uses by default:
 * sentence detection, negation and sentiment, plus named entities when `entities` is true.
 * Built on first use (loading the model takes ~100 ms) and shared by every handler.
 */
export function sharedWinkNlp(entities = false): WinkNlp {
  if (entities) return (withEntities ??= winkNLP(model, [...SENTIMENT_PIPE, 'ner']));
  return (sentimentOnly ??= winkNLP(model, SENTIMENT_PIPE));
}

/** Throws a clear error unless `nlp`'s pipe has every annotation sentiment (and entities) need. */
export function assertWinkPipe(nlp: WinkNlp, entities: boolean): void {
  if (nlp === null || typeof nlp !== 'object' || typeof nlp.readDoc !== 'function' || typeof nlp.its !== 'object') {
    throw new InvalidArgumentError({
      argument: 'nlp',
      message: "[sluice/wink-nlp] nlp must be a wink-nlp instance: winkNLP(model, ['sbd', 'negation', 'sentiment'])",
    });
  }
  // wink's types say string[]; wink 2.x returns an object of flags. Accept both.
  const config = nlp.readDoc('').pipeConfig() as unknown;
  const has = (annotation: string): boolean =>
    Array.isArray(config) ? config.includes(annotation) : (config as Record<string, unknown>)[annotation] === true;
  const needed = entities ? [...SENTIMENT_PIPE, 'ner'] : SENTIMENT_PIPE;
  const missing = needed.filter((annotation) => !has(annotation));
  if (missing.length > 0) {
    throw new InvalidArgumentError({
      argument: 'nlp',
      message: `[sluice/wink-nlp] the wink-nlp instance's pipe lacks ${missing.join(', ')}: build it with winkNLP(model, ${JSON.stringify(needed)})`,
    });
  }
}
