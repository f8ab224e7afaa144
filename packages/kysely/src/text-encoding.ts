import type { MessageContent } from '@sluice/core';

/**
 * How a message's `content` column holds its content: `text` verbatim, `json` a JSON string
 * literal (text with characters a database cannot keep), `parts` a JSON array of content parts.
 */
export type ContentEncoding = 'text' | 'json' | 'parts';

// NUL (PostgreSQL's text type rejects it) and lone surrogates (no database stores them in
// UTF-8). With the `u` flag a valid surrogate pair is one code point, so emoji never match.
// eslint-disable-next-line no-control-regex -- matching NUL is the point
const UNSTORABLE = /[\u0000\p{Cs}]/u;

/**
 * Content as the content column stores it. Text: verbatim, unless it holds a character some
 * database cannot keep in a text column (NUL, a lone surrogate); such text is stored as a JSON
 * string literal and marked `json`, so it reads back exactly on every database. Content parts:
 * as JSON marked `parts` (JSON escapes those characters too), read back equal.
 */
export function encodeContent(content: MessageContent): { content: string; encoding: ContentEncoding } {
  if (typeof content !== 'string') return { content: JSON.stringify(content), encoding: 'parts' };
  return UNSTORABLE.test(content) ? { content: JSON.stringify(content), encoding: 'json' } : { content, encoding: 'text' };
}

/** The content `encodeContent` stored. */
export function decodeContent(content: string, encoding: string): MessageContent {
  return encoding === 'json' || encoding === 'parts' ? (JSON.parse(content) as MessageContent) : content;
}
