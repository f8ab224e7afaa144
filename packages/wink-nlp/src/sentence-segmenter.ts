import { InvalidArgumentError, SluiceError } from '@sluice/core';
import type { ItemSentence, Sentences } from 'wink-nlp';
import type { NamedEntity } from './sentiment-data.js';
import { assertWinkPipe, sharedWinkNlp, type WinkNlp } from './wink-pipeline.js';

/** A complete sentence of a message, with wink-nlp's sentiment score. */
export interface Sentence {
  /** Position of the sentence in the message, from 0. */
  index: number;
  text: string;
  /** Offsets in the message text (UTF-16 code units): `message.slice(start, end) === text`. */
  start: number;
  end: number;
  /** wink-nlp's sentiment score for the sentence, from -1 to 1. */
  score: number;
  /** Named entities of the kinds asked for (only when `entities` is set). */
  entities?: NamedEntity[];
}

/** Options of `SentenceSegmenter`; every one is optional. */
export interface SentenceSegmenterOptions {
  /**
   * A wink-nlp instance whose pipe has `sbd`, `negation` and `sentiment` (and `ner` for
   * entities). Default: one shared instance over `wink-eng-lite-web-model`.
   */
  nlp?: WinkNlp;
  /**
   * The longest window, in characters, wink is asked to read. A sentence still open past this
   * length is cut at the next word's end and emitted as it is, which keeps the cost of a chunk
   * bounded whatever the text (a code block or table with no sentence end). Default 1000.
   */
  maxSentenceChars?: number;
  /**
   * Also report wink's named entities per sentence: `true` for dates, money, e-mails, URLs and
   * hashtags, or the list of wink entity types to keep (e.g. `['DATE', 'TIME', 'MENTION']`).
   * Default: none.
   */
  entities?: boolean | readonly string[];
}

/** What a segmenter has done so far: what wink was asked to read, and how often. */
export interface SegmenterStats {
  /** Times wink read the window. */
  scans: number;
  /** Characters wink read, summed over every scan. */
  scannedChars: number;
  /** Sentences emitted. */
  sentences: number;
  /** Sentences cut at `maxSentenceChars` rather than at a sentence end. */
  forced: number;
}

/** The entity types `entities: true` keeps: the ones a chat transcript most often carries. */
export const DEFAULT_ENTITY_TYPES: readonly string[] = ['DATE', 'MONEY', 'EMAIL', 'URL', 'HASHTAG'];

const DEFAULT_MAX_SENTENCE_CHARS = 1000;
const MIN_MAX_SENTENCE_CHARS = 16;
const NO_SENTENCES: readonly Sentence[] = Object.freeze([]);

const FULL_STOP = 46;
const EXCLAMATION = 33;
const QUESTION = 63;
const LINE_FEED = 10;
const SPACE = 32;
const LOWER_A = 97;
const LOWER_Z = 122;

/**
 * Characters that end a word for the segmenter: the window is only ever cut after a complete
 * word, because wink's boundary decision depends on the word after it ("U.S. Army" stays one
 * sentence, "U.S. A" would not).
 */
function isWordBreak(code: number): boolean {
  return code === SPACE || (code >= 9 && code <= 13);
}

/** Marks that may follow a sentence's final `.`, `!` or `?` inside its last word: `."`, `!)`, `?**`. */
function isClosingMark(code: number): boolean {
  switch (code) {
    case 34: // "
    case 39: // '
    case 41: // )
    case 93: // ]
    case 125: // }
    case 42: // *
    case 95: // _
    case 96: // `
    case 0xbb: // »
    case 0x2019: // ’
    case 0x201d: // ”
    case 0x203a: // ›
      return true;
    default:
      return false;
  }
}

/** The whitespace `String.prototype.trim` removes, which wink trims off a sentence's text. */
function isTrimmed(code: number): boolean {
  if (code <= 32) return code === SPACE || (code >= 9 && code <= 13);
  if (code < 0xa0) return false;
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

function isAsciiAlphanumeric(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= LOWER_A && code <= LOWER_Z);
}

function skipTrimmed(text: string, from: number): number {
  let index = from;
  while (index < text.length && isTrimmed(text.charCodeAt(index))) index++;
  return index;
}

/**
 * Where each of wink's sentences after the first starts in `window` (the offset of its first
 * token), into `starts`. wink's tokens are lossless (the text is their values, each after its
 * preceding spaces), so walking token values back from the window's end places them; only the
 * tokens after the first sentence are read, in the common case the one or two words of the
 * pending sentence. False should a token's value not be found (a contraction wink expands).
 */
function placeSentences(window: string, sentences: Sentences, count: number, starts: number[]): boolean {
  let position = window.length;
  for (let sentence = count - 1; sentence > 0; sentence--) {
    const values = sentences.itemAt(sentence).tokens().out() as string[];
    for (let token = values.length - 1; token >= 0; token--) {
      const value = values[token] as string;
      const at = window.lastIndexOf(value, position - value.length);
      if (at < 0) return false;
      position = at;
    }
    starts[sentence] = position;
  }
  return true;
}

/** The slow way, should a token value not be found: search each sentence's text. */
function searchSentences(window: string, sentences: Sentences, count: number, starts: number[]): void {
  let cursor = 0;
  for (let index = 0; index < count; index++) {
    const text = sentences.itemAt(index).out();
    const at = text.length === 0 ? -1 : window.indexOf(text, cursor);
    starts[index] = at < 0 ? cursor : at;
    if (at >= 0) cursor = at + text.length;
  }
}

/**
 * Incremental sentence segmentation with wink-nlp, over text that arrives in pieces.
 *
 * A sentence is emitted as soon as it is complete: once wink, reading the open window, finds
 * it followed by the first complete word of the next sentence. The window starts at the first
 * sentence not yet emitted, so wink never reads a sentence twice in the common case and the
 * cost of a chunk does not grow with the message. wink only reads the window when a sentence
 * end is likely: a word ending in `.`, `!` or `?` (maybe with closing quotes or brackets), or a
 * blank line (`\n\n`, wink's paragraph break), followed by another word; otherwise a chunk
 * costs a pass over its own characters. (wink also splits inside a word, `example.com`: such
 * a split is found, the same, at the next read.) The window is
 * read only at word ends, positions fixed by the text alone, so the sentences (and scores)
 * are the same however the text was split into chunks, and match wink on the whole text.
 * `flush()` emits the rest at the end of the message.
 *
 * One segmenter per message. Scores come from the same wink read that found the sentence:
 * wink scores each sentence on its own tokens (negation does not cross a sentence end).
 *
 * @example
 * ```ts
 * const segmenter = new SentenceSegmenter();
 * for (const chunk of ['I love th', 'is. It is gr', 'eat! Is it', '?']) {
 *   for (const sentence of segmenter.push(chunk)) console.log(sentence.text, sentence.score);
 * }
 * for (const sentence of segmenter.flush()) console.log(sentence.text, sentence.score);
 * console.log(segmenter.messageScore());
 * ```
 */
export class SentenceSegmenter {
  /** What wink was asked to read so far. */
  readonly stats: SegmenterStats = { scans: 0, scannedChars: 0, sentences: 0, forced: 0 };

  private readonly nlp: WinkNlp;
  private readonly maxSentenceChars: number;
  private readonly entityTypes: ReadonlySet<string> | undefined;
  private readonly sentimentOf: (spanItem: number[]) => number;
  private readonly detail: () => unknown;

  // The open window: message text from `windowStart` on, as parts joined when wink reads it.
  private parts: string[] = [];
  private windowStart = 0;
  private length = 0;
  private previousCode = SPACE;
  // The current word has a `.`, `!` or `?` followed by nothing but closing marks so far.
  private endSeen = false;
  // A word ended that way, or a blank line: a sentence may end there.
  private endedWord = false;
  // ... and the next word has started: wink reads the window when it ends.
  private armed = false;
  // Where the window may split: the starts of words after possible sentence ends, and
  // `.`, `!`, `?` inside a word. With exactly one and wink finding two sentences, the split
  // is there and no token walk is needed.
  private candidates = 0;
  private inWordEnds = 0;
  private candidateStart = 0;
  private candidateCode = 0;
  // Where each sentence of the last read starts in its window (reused from read to read).
  private readonly starts: number[] = [];
  private scoreSum = 0;
  // wink's empty sentences (a trailing tab or newline token): not emitted, but wink's message
  // score divides by them too, and ours matches wink's.
  private blankSentences = 0;
  private flushed = false;

  constructor(options: SentenceSegmenterOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError({ argument: 'options', message: '[sluice/wink-nlp] SentenceSegmenter options must be an object' });
    }
    const max = options.maxSentenceChars ?? DEFAULT_MAX_SENTENCE_CHARS;
    if (!Number.isInteger(max) || max < MIN_MAX_SENTENCE_CHARS) {
      throw new InvalidArgumentError({
        argument: 'maxSentenceChars',
        message: `[sluice/wink-nlp] maxSentenceChars must be an integer >= ${MIN_MAX_SENTENCE_CHARS} (got ${String(max)})`,
      });
    }
    this.entityTypes = entityTypesOf(options.entities);
    const wantsEntities = this.entityTypes !== undefined;
    this.nlp = options.nlp ?? sharedWinkNlp(wantsEntities);
    if (options.nlp !== undefined) assertWinkPipe(options.nlp, wantsEntities);
    this.maxSentenceChars = max;
    this.sentimentOf = this.nlp.its.sentiment;
    this.detail = this.nlp.its.detail;
  }

  /** Characters of the message received so far. */
  get receivedChars(): number {
    return this.length;
  }

  /**
   * Takes the next piece of the message; gives the sentences it completed, in order (a shared
   * empty array when none, the common case).
   */
  push(text: string): readonly Sentence[] {
    if (typeof text !== 'string') {
      throw new InvalidArgumentError({ argument: 'text', message: `[sluice/wink-nlp] push() takes a string (got ${text === null ? 'null' : typeof text})` });
    }
    if (this.flushed) {
      throw new SluiceError({ code: 'segmenter_flushed', message: '[sluice/wink-nlp] this segmenter was flushed: use a new SentenceSegmenter per message' });
    }
    let found: Sentence[] | undefined;
    const base = this.length;
    // Characters of `text` before `taken` are already in `parts`.
    let taken = 0;
    // The scan state lives in locals for the loop (a read changes none of these three).
    let previous = this.previousCode;
    let endSeen = this.endSeen;
    let endedWord = this.endedWord;
    // A word ending past this index of `text` makes the window too long.
    let limit = this.windowStart + this.maxSentenceChars - base;
    for (let index = 0; index < text.length; index++) {
      const code = text.charCodeAt(index);
      if (code <= QUESTION) {
        if (isWordBreak(code)) {
          if (!isWordBreak(previous)) {
            if (this.armed || index > limit) {
              found = this.scan(this.window(text, taken, index), base + index, index > limit, found);
              taken = index;
              limit = this.windowStart + this.maxSentenceChars - base;
            }
            // The word just ended with `.`, `!` or `?` (and closing marks): the next word may
            // start a sentence.
            if (endSeen) {
              endSeen = false;
              endedWord = true;
            }
          }
          // wink's paragraph break: a line feed right after another.
          if (code === LINE_FEED && previous === LINE_FEED) endedWord = true;
          previous = code;
          continue;
        }
        if (code === FULL_STOP || code === EXCLAMATION || code === QUESTION) {
          endSeen = true;
          previous = code;
          continue;
        }
      }
      // Any other character: it matters only right after a possible sentence end.
      if (endedWord) {
        endedWord = false;
        this.candidates++;
        this.candidateStart = base + index;
        this.candidateCode = code;
        // A sentence hardly ever starts in lower case, while "e.g. this", "approx. five" and
        // "5 p.m. today" are common: wink reads the window at the next likely end instead,
        // which finds the same sentences, a little later.
        if (code < LOWER_A || code > LOWER_Z) this.armed = true;
      } else if (endSeen && !isClosingMark(code)) {
        endSeen = false;
        this.inWordEnds++;
      }
      previous = code;
    }
    this.previousCode = previous;
    this.endSeen = endSeen;
    this.endedWord = endedWord;
    if (taken < text.length) this.parts.push(taken === 0 ? text : text.slice(taken));
    this.length = base + text.length;
    return found ?? NO_SENTENCES;
  }

  /** Ends the message: gives the sentences still open (wink reads the rest of the text). */
  flush(): readonly Sentence[] {
    if (this.flushed) return NO_SENTENCES;
    this.flushed = true;
    const window = this.parts.join('');
    this.parts = [];
    if (window.length === 0) return NO_SENTENCES;
    return this.scan(window, this.length, true, undefined) ?? NO_SENTENCES;
  }

  /**
   * wink-nlp's score for the whole message so far: the mean of its sentences' scores, as wink
   * computes a document's score (0 for an empty message). Final after `flush()`.
   */
  messageScore(): number {
    const count = this.stats.sentences + this.blankSentences;
    return count === 0 ? 0 : this.scoreSum / count;
  }

  /** The window's text up to `end` in the current chunk, as one string. */
  private window(text: string, taken: number, end: number): string {
    const parts = this.parts;
    if (taken < end) parts.push(text.slice(taken, end));
    const window = parts.length === 1 ? (parts[0] as string) : parts.join('');
    parts.length = 0;
    return window;
  }

  /**
   * wink reads the window `[windowStart, end)`, once: the same read finds the sentences and
   * scores them. Every sentence but the last is complete (the last may still grow); `all` emits
   * the last too (end of message, or the window is too long).
   */
  private scan(window: string, end: number, all: boolean, found: Sentence[] | undefined): Sentence[] | undefined {
    const stats = this.stats;
    stats.scans++;
    stats.scannedChars += window.length;
    this.armed = false;
    // wink's API is closures made per document, and the first call of each costs more than
    // the call's own work: the sentences' scores give their count too, so in the common case
    // this is the only call.
    const sentences = this.nlp.readDoc(window).sentences();
    const scores = sentences.out(this.sentimentOf) as unknown as number[];
    const count = scores.length;
    if (count === 1 && !all) {
      // No sentence end after all (an abbreviation, say): keep reading.
      this.parts.push(window);
      return found;
    }
    const starts = this.starts;
    starts[0] = 0;
    if (!all && count === 2 && this.candidates === 1 && this.inWordEnds === 0 && isAsciiAlphanumeric(this.candidateCode)) {
      // wink splits only after `.`, `!`, `?` or a blank line, keeps closing marks with the
      // sentence they close, and begins the next at its first token: with one candidate and
      // the next word starting with a letter or digit, the split is at that word.
      starts[1] = this.candidateStart - this.windowStart;
    } else if (count > 1 && !placeSentences(window, sentences, count, starts)) {
      searchSentences(window, sentences, count, starts);
    }
    this.candidates = 0;
    this.inWordEnds = 0;
    const complete = all ? count : count - 1;
    for (let index = 0; index < complete; index++) {
      const score = scores[index] as number;
      this.scoreSum += score;
      // A sentence's text is its stretch of the window, trimmed, as wink's own `out()` gives it.
      const offset = skipTrimmed(window, starts[index] as number);
      let textEnd = index + 1 < count ? (starts[index + 1] as number) : window.length;
      while (textEnd > offset && isTrimmed(window.charCodeAt(textEnd - 1))) textEnd--;
      if (textEnd <= offset) {
        // wink's empty sentence (a lone tab or line break token): wink's message score counts it.
        this.blankSentences++;
        continue;
      }
      const start = this.windowStart + offset;
      const sentence: Sentence = { index: stats.sentences++, text: window.slice(offset, textEnd), start, end: this.windowStart + textEnd, score };
      if (this.entityTypes !== undefined) sentence.entities = this.entitiesOf(sentences.itemAt(index), sentence.text, start);
      if (found === undefined) found = [sentence];
      else found.push(sentence);
    }
    if (all) {
      if (!this.flushed) stats.forced++;
      this.windowStart = end;
      return found;
    }
    const keep = skipTrimmed(window, starts[count - 1] as number);
    this.windowStart += keep;
    const kept = window.slice(keep);
    this.parts.push(kept);
    this.countSplits(kept);
    return found;
  }

  /** Counts the possible splits in the window kept after a read (usually a word or two). */
  private countSplits(kept: string): void {
    let endSeen = false;
    let endedWord = false;
    let previous = SPACE;
    for (let index = 0; index < kept.length; index++) {
      const code = kept.charCodeAt(index);
      if (isWordBreak(code)) {
        if (endSeen && !isWordBreak(previous)) endedWord = true;
        endSeen = false;
        if (code === LINE_FEED && previous === LINE_FEED) endedWord = true;
      } else if (code === FULL_STOP || code === EXCLAMATION || code === QUESTION) {
        endSeen = true;
      } else if (endedWord) {
        endedWord = false;
        this.candidates++;
        this.candidateStart = this.windowStart + index;
        this.candidateCode = code;
      } else if (endSeen && !isClosingMark(code)) {
        endSeen = false;
        this.inWordEnds++;
      }
      previous = code;
    }
  }

  private entitiesOf(item: ItemSentence, text: string, start: number): NamedEntity[] {
    const entities: NamedEntity[] = [];
    const details = item.entities().out(this.detail as never) as unknown as { value: string; type: string }[];
    let cursor = 0;
    for (const detail of details) {
      if (!(this.entityTypes as ReadonlySet<string>).has(detail.type)) continue;
      const at = text.indexOf(detail.value, cursor);
      const offset = at === -1 ? cursor : at;
      if (at !== -1) cursor = at + detail.value.length;
      entities.push({ type: detail.type, value: detail.value, start: start + offset, end: start + offset + detail.value.length });
    }
    return entities;
  }
}

function entityTypesOf(entities: boolean | readonly string[] | undefined): ReadonlySet<string> | undefined {
  if (entities === undefined || entities === false) return undefined;
  if (entities === true) return new Set(DEFAULT_ENTITY_TYPES);
  if (!Array.isArray(entities) || entities.length === 0 || entities.some((type) => typeof type !== 'string' || type === '')) {
    throw new InvalidArgumentError({
      argument: 'entities',
      message: "[sluice/wink-nlp] entities must be true, false or a non-empty list of wink entity types, e.g. ['DATE', 'MONEY']",
    });
  }
  return new Set(entities.map((type) => type.toUpperCase()));
}
