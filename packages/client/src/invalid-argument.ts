import { SluiceClientError } from './sluice-client-error.js';

/** The error for a bad option: `message` says what was wrong and what to pass instead. */
export function invalidArgument(message: string, cause?: unknown): SluiceClientError {
  return new SluiceClientError({ code: 'invalid_argument', message: `[sluice/client] ${message}`, cause });
}

/** A short, safe rendering of a bad value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}
