import { InvalidArgumentError, SluiceError } from '@sluice/core';
import type { Document, ItemSentence, Sentences } from 'wink-nlp';
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
  /**
   * How many possible sentence ends may wait for one wink read. Default 1: wink reads the
   * window as soon as the first word after a possible end is complete, so each sentence comes
   * out right then. With more, wink reads a run of up to this many sentences in one go (each
   * read has a fixed cost of a few µs, whatever its length), so a burst of text costs less;
   * `drain()` reads whatever is waiting, whenever the caller chooses (`SentimentHandler` does
   * when the event loop gets a turn). Sentences, spans and scores are the same either way.
   */
  maxPendingSentences?: number;
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

const DEFAULT_MAX_PENDING_SENTENCES = 1;
const FULL_STOP = 46;
const EXCLAMATION = 33;
const QUESTION = 63;
const LINE_FEED = 10;
const SPACE = 32;
const LOWER_A = 97;
const LOWER_Z = 122;
const UPPER_A = 65;
const UPPER_Z = 90;
// A word this short ending in `.` and starting in upper case may be an abbreviation ("Dr.",
// "Mrs.", "St."): the word after it is a doubtful sentence start.
const ABBREVIATION_CHARS = 4;

/**
 * Characters that end a word for the segmenter: the window is only ever cut after a complete
 * word, because wink's boundary decision depends on the word after it ("U.S. Army" stays one
 * sentence, "U.S. A" would not).
 */
function isWordBreak(code: number): boolean {
  return code === SPACE || (code >= 9 && code <= 13);
}

/*
 * Closing marks may follow a sentence's final `.`, `!` or `?` inside its last word (`."`, `!)`,
 * `?**`): the next word may then start a sentence, as after a bare `.`.
 */

/** Closing marks wink keeps with the sentence they close: `He said "stop."`, `(as planned.)`. */
function isKeptMark(code: number): boolean {
  switch (code) {
    case 34: // "
    case 39: // '
    case 41: // )
    case 93: // ]
    case 125: // }
    case 0x2019: // ’
    case 0x201d: // ”
      return true;
    default:
      return false;
  }
}

/**
 * Closing marks wink does not keep with the sentence: after `**bold.**` or `«Oui.»` it begins
 * the next sentence at the mark. A possible split there is recorded as doubtful, so the
 * sentences' starts come from wink's tokens.
 */
function isLeadingMark(code: number): boolean {
  switch (code) {
    case 42: // *
    case 95: // _
    case 96: // `
    case 0xbb: // »
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

/** The slow way, should a token value not be found in the text: search each sentence's text. */
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
 * a split is found, the same, at the next read.) The window is only ever read up to a word
 * end, so every sentence but the window's last is followed by a complete word, all wink needs
 * to decide it: the sentences (and scores) are the same however the text was split into
 * chunks, and match wink on the whole text. `flush()` emits the rest at the end of the message.
 *
 * With `maxPendingSentences` above 1, wink reads a run of several sentences in one read instead
 * of one read per sentence (cheaper: a read has a fixed cost), and `drain()` reads what waits.
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
  private readonly maxPendingSentences: number;
  private readonly entityTypes: ReadonlySet<string> | undefined;
  private readonly sentimentOf: (spanItem: number[]) => number;
  private readonly spanOf: (spanItem: number[]) => number[];
  private readonly detail: () => unknown;

  // The open window: message text from `windowStart` on, as parts joined when wink reads it.
  private parts: string[] = [];
  private windowStart = 0;
  private length = 0;
  private previousCode = SPACE;
  // Where the current word starts in the message.
  private wordStart = 0;
  // The current word has a `.`, `!` or `?` followed by nothing but closing marks so far.
  private endSeen = false;
  // ...the last of those marks, and whether it followed a `.` ("Wait...").
  private lastMark = 0;
  private ellipsis = false;
  // A word ended that way, or a blank line: a sentence may end there.
  private endedWord = false;
  // ...and that end is doubtful (an ellipsis, a bare blank line), or an abbreviation such as
  // "Dr." most likely is no end at all.
  private endDoubtful = false;
  private endAbbreviated = false;
  // ...and the next word has started, not in lower case nor after an abbreviation: the end is
  // due for a wink read once that word ends.
  private armed = false;
  // Possible ends whose next word is complete, not yet read; and where the last of those words ended.
  private due = 0;
  private dueEnd = 0;
  // Where the window may split, in message offsets, in order: the starts of words after
  // possible sentence ends, and the characters after `.`, `!`, `?` inside a word. A doubtful
  // one is stored as its bitwise complement (negative). While the window holds no doubtful
  // split and wink finds exactly one sentence per split, the splits are the sentence starts
  // and no token walk is needed.
  private readonly splits: number[] = [];
  private doubtfulSplits = 0;
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
    const pending = options.maxPendingSentences ?? DEFAULT_MAX_PENDING_SENTENCES;
    if (!Number.isInteger(pending) || pending < 1) {
      throw new InvalidArgumentError({
        argument: 'maxPendingSentences',
        message: `[sluice/wink-nlp] maxPendingSentences must be an integer >= 1 (got ${String(pending)})`,
      });
    }
    this.entityTypes = entityTypesOf(options.entities);
    const wantsEntities = this.entityTypes !== undefined;
    this.nlp = options.nlp ?? sharedWinkNlp(wantsEntities);
    if (options.nlp !== undefined) assertWinkPipe(options.nlp, wantsEntities);
    this.maxSentenceChars = max;
    this.maxPendingSentences = pending;
    this.sentimentOf = this.nlp.its.sentiment;
    this.spanOf = this.nlp.its.span;
    this.detail = this.nlp.its.detail;
  }

  /** Characters of the message received so far. */
  get receivedChars(): number {
    return this.length;
  }

  /**
   * Possible sentence ends waiting for a wink read (always 0 with `maxPendingSentences` 1):
   * `drain()` reads them.
   */
  get pendingSentences(): number {
    return this.due;
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
    // The scan state lives in locals for the loop (a read changes none of these).
    let previous = this.previousCode;
    let endSeen = this.endSeen;
    let endedWord = this.endedWord;
    // A word ending past this index of `text` makes the window too long: sentences waiting for
    // a read are read first, so that only a sentence itself too long is ever cut.
    let limit = this.windowStart + this.maxSentenceChars - base;
    for (let index = 0; index < text.length; index++) {
      const code = text.charCodeAt(index);
      if (code <= QUESTION) {
        if (isWordBreak(code)) {
          if (!isWordBreak(previous)) {
            // A word ends here.
            if (this.armed) {
              this.armed = false;
              this.due++;
              this.dueEnd = base + index;
            }
            if (this.due > 0 && (this.due >= this.maxPendingSentences || index > limit)) {
              // As many likely ends as may wait, or a window about to be too long: wink reads it.
              found = this.scan(this.window(text, taken, index), base + index, false, found);
              taken = index;
              limit = this.windowStart + this.maxSentenceChars - base;
            }
            if (index > limit) {
              found = this.scan(this.window(text, taken, index), base + index, true, found);
              taken = index;
              limit = this.windowStart + this.maxSentenceChars - base;
            }
            // The word just ended with `.`, `!` or `?` (and closing marks): the next word may
            // start a sentence.
            if (endSeen) {
              endSeen = false;
              endedWord = true;
              this.endAbbreviated = this.lastMark === FULL_STOP && !this.ellipsis && this.mayBeAbbreviation(text, base, taken, index);
              this.endDoubtful = this.ellipsis || this.endAbbreviated;
            }
          }
          // wink's paragraph break: a line feed right after another.
          if (code === LINE_FEED && previous === LINE_FEED && !endedWord) {
            endedWord = true;
            // Whether wink ends a sentence there depends on what else is in the gap.
            this.endDoubtful = true;
            this.endAbbreviated = false;
          }
          this.wordStart = base + index + 1;
          previous = code;
          continue;
        }
        if (code === FULL_STOP || code === EXCLAMATION || code === QUESTION) {
          this.ellipsis = endSeen && code === FULL_STOP && previous === FULL_STOP;
          this.lastMark = code;
          endSeen = true;
          previous = code;
          continue;
        }
      }
      // Any other character: it matters only right after a possible sentence end.
      if (endedWord) {
        endedWord = false;
        // A sentence hardly ever starts in lower case, while "e.g. this", "approx. five" and
        // "5 p.m. today" are common, and "Dr. Lee" or "Mrs. Jones" hardly ever end one: wink
        // reads the window at the next likely end instead, which finds the same sentences, a
        // little later.
        const lower = code >= LOWER_A && code <= LOWER_Z;
        if (!lower && !this.endAbbreviated) this.armed = true;
        this.addSplit(base + index, !lower && !this.endDoubtful && isAsciiAlphanumeric(code));
      } else if (endSeen && !isKeptMark(code)) {
        // wink may begin a sentence here, inside the word: `example.com`, `bold.**`.
        this.addSplit(base + index, false);
        // A closing mark wink leaves to the next sentence still closes this one, for timing:
        // the next word may start a sentence, as after `."`.
        if (!isLeadingMark(code)) endSeen = false;
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
   * Reads the sentences waiting for a wink read now (see `maxPendingSentences`) and gives those
   * it completed; nothing when none waits.
   */
  drain(): readonly Sentence[] {
    if (this.due === 0 || this.flushed) return NO_SENTENCES;
    const parts = this.parts;
    const whole = parts.length === 1 ? (parts[0] as string) : parts.join('');
    parts.length = 0;
    try {
      return this.readTo(whole, this.dueEnd, undefined) ?? NO_SENTENCES;
    } catch (error) {
      // wink failed before anything was taken from the window: keep it whole for the next read.
      parts.length = 0;
      parts.push(whole);
      throw error;
    }
  }

  /**
   * wink-nlp's score for the whole message so far: the mean of its sentences' scores, as wink
   * computes a document's score (0 for an empty message). Final after `flush()`.
   */
  messageScore(): number {
    const count = this.stats.sentences + this.blankSentences;
    return count === 0 ? 0 : this.scoreSum / count;
  }

  /** The window's text up to `end` in the current chunk, as one string; `parts` is left empty. */
  private window(text: string, taken: number, end: number): string {
    const parts = this.parts;
    if (taken < end) parts.push(text.slice(taken, end));
    const window = parts.length === 1 ? (parts[0] as string) : parts.join('');
    parts.length = 0;
    return window;
  }

  /** wink reads `whole` (the window so far) up to the message offset `cut`, a word end; the rest waits. */
  private readTo(whole: string, cut: number, found: Sentence[] | undefined): Sentence[] | undefined {
    const split = cut - this.windowStart;
    if (split >= whole.length) return this.scan(whole, cut, false, found);
    const rest = whole.slice(split);
    const result = this.scan(whole.slice(0, split), cut, false, found);
    this.parts.push(rest);
    return result;
  }

  /**
   * Whether the word that just ended (at `index` of `text`, with a final `.`) may be an
   * abbreviation: short and capitalised, "Dr.", "Mrs.", "St.". Only its first character is
   * looked at, in `text` or in the parts before it.
   */
  private mayBeAbbreviation(text: string, base: number, taken: number, index: number): boolean {
    const start = this.wordStart;
    if (base + index - start > ABBREVIATION_CHARS) return false;
    let code: number;
    if (start >= base) {
      code = text.charCodeAt(start - base);
    } else {
      code = SPACE;
      let partEnd = base + taken;
      for (let part = this.parts.length - 1; part >= 0; part--) {
        const value = this.parts[part] as string;
        const partStart = partEnd - value.length;
        if (start >= partStart) {
          code = value.charCodeAt(start - partStart);
          break;
        }
        partEnd = partStart;
      }
    }
    return code >= UPPER_A && code <= UPPER_Z;
  }

  private addSplit(at: number, plain: boolean): void {
    if (plain) {
      this.splits.push(at);
    } else {
      this.splits.push(~at);
      this.doubtfulSplits++;
    }
  }

  /** Forgets the splits at or before the message offset `upTo` (the window now starts there). */
  private dropSplits(upTo: number): void {
    const splits = this.splits;
    let drop = 0;
    while (drop < splits.length) {
      const value = splits[drop] as number;
      if ((value < 0 ? ~value : value) > upTo) break;
      if (value < 0) this.doubtfulSplits--;
      drop++;
    }
    if (drop > 0) splits.splice(0, drop);
  }

  /**
   * Where wink's sentences 1..count-1 start in `window`, into `starts`. wink splits only after
   * `.`, `!`, `?` or a blank line (a test checks this against the model), keeps closing marks
   * with the sentence they close and begins the next at its first token, so its sentences start
   * at splits the scan recorded. Once the splits before a sentence are all plain and as many as
   * the sentences before it, they are those sentences' starts. Otherwise the sentences are placed
   * from the window's end back, by their tokens, until that holds: in the common case no token
   * is walked, and with a doubtful split only the sentences from it on. `exact` is false when
   * wink may have made a trailing blank sentence (the end of a message), so the end is placed
   * by tokens first.
   */
  private place(window: string, document: Document, sentences: Sentences, count: number, exact: boolean, starts: number[]): void {
    if (exact && this.startsAtSplits(window.length, count - 1, starts)) return;
    // One call for every token's text and one for the sentences' token ranges: cheaper than
    // wink's per-sentence API, which builds a dozen closures per sentence.
    const values = document.tokens().out() as string[];
    const spans = sentences.out(this.spanOf) as unknown as number[][];
    let position = window.length;
    for (let sentence = count - 1; sentence > 0; sentence--) {
      const span = spans[sentence] as number[];
      for (let token = span[1] as number; token >= (span[0] as number); token--) {
        const value = values[token] as string;
        const at = window.lastIndexOf(value, position - value.length);
        if (at < 0) {
          // A token value not in the text (a contraction wink expands): search each sentence's text.
          searchSentences(window, sentences, count, starts);
          return;
        }
        position = at;
      }
      starts[sentence] = position;
      if (sentence > 1 && this.startsAtSplits(position, sentence - 1, starts)) return;
    }
  }

  /**
   * True, with `starts[1..wanted]` filled, when the splits before the window offset `before` are
   * all plain and exactly `wanted` many.
   */
  private startsAtSplits(before: number, wanted: number, starts: number[]): boolean {
    const splits = this.splits;
    const end = this.windowStart + before;
    let found = 0;
    for (let index = 0; index < splits.length; index++) {
      const value = splits[index] as number;
      if ((value < 0 ? ~value : value) >= end) break;
      if (value < 0 || found === wanted) return false;
      starts[++found] = value - this.windowStart;
    }
    return found === wanted;
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
    this.due = 0;
    // wink's API is closures made per document, and the first call of each costs more than
    // the call's own work: the sentences' scores give their count too, so in the common case
    // this is the only call.
    const document = this.nlp.readDoc(window);
    const sentences = document.sentences();
    const scores = sentences.out(this.sentimentOf) as unknown as number[];
    const count = scores.length;
    if (count === 1 && !all) {
      // No sentence end after all (an abbreviation, say): keep reading. The splits read are
      // not sentence ends; they stay, as doubtful ones.
      this.parts.push(window);
      this.doubtSplits(end);
      return found;
    }
    const starts = this.starts;
    starts[0] = 0;
    if (count > 1) this.place(window, document, sentences, count, !all, starts);
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
      this.dropSplits(end);
      return found;
    }
    const keep = skipTrimmed(window, starts[count - 1] as number);
    this.windowStart += keep;
    this.parts.push(keep === 0 ? window : window.slice(keep));
    this.dropSplits(this.windowStart);
    // Splits left in the last sentence were not sentence ends.
    this.doubtSplits(end);
    return found;
  }

  /** Marks the splits before the message offset `end` doubtful: wink did not split there. */
  private doubtSplits(end: number): void {
    const splits = this.splits;
    for (let index = 0; index < splits.length; index++) {
      const value = splits[index] as number;
      if ((value < 0 ? ~value : value) >= end) break;
      if (value >= 0) {
        splits[index] = ~value;
        this.doubtfulSplits++;
      }
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
