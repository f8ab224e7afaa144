/** How a message's `content` column holds its text. */
export type ContentEncoding = 'text' | 'json';

// NUL (PostgreSQL's text type rejects it) and lone surrogates (no database stores them in
// UTF-8). With the `u` flag a valid surrogate pair is one code point, so emoji never match.
// eslint-disable-next-line no-control-regex -- matching NUL is the point
const UNSTORABLE = /[\u0000\p{Cs}]/u;

/**
 * Text as the content column stores it: verbatim, unless it holds a character some database
 * cannot keep in a text column (NUL, a lone surrogate); such text is stored as a JSON string
 * literal and marked `json`, so it reads back exactly on every database.
 */
export function encodeContent(text: string): { content: string; encoding: ContentEncoding } {
  return UNSTORABLE.test(text) ? { content: JSON.stringify(text), encoding: 'json' } : { content: text, encoding: 'text' };
}

/** The text `encodeContent` stored. */
export function decodeContent(content: string, encoding: string): string {
  return encoding === 'json' ? (JSON.parse(content) as string) : content;
}
