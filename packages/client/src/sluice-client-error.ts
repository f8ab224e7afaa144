import type { SerializedError } from '@sluice/core';

// The same marker as @sluice/core's SluiceError, so `SluiceError.isInstance(error)` is true for
// client errors too, without the client loading core at run time.
const sluiceErrorMarker = Symbol.for('sluice.error');
const clientErrorMarker = Symbol.for('sluice.client-error');

/**
 * The codes the client itself produces. Errors the server answered with (HTTP errors, and
 * `error` events of a failed run) keep the server's code (`invalid_request`, `not_found`,
 * `too_many_runs`, `model_error`, ...).
 *
 * - `invalid_argument`: a bad option (no messages, a baseURL that is not an http(s) URL, ...).
 * - `network_error`: `fetch` failed or the connection broke.
 * - `connection_closed`: the response ended before the run's `finish` event.
 * - `stalled`: nothing arrived (not even a heartbeat) for `resume.idleTimeoutMs`.
 * - `connection_lost`: the connection dropped and the run cannot be resumed (resume disabled,
 *   or the server never said which run it started).
 * - `resume_failed`: every resume attempt failed; the error's `cause` is the last failure.
 * - `sequence_gap`: the server skipped events (a resumed stream started past the next `seq`).
 * - `invalid_response`: the server answered something that is not the sluice protocol.
 * - `http_error`: an HTTP error whose body is not a sluice JSON error (a proxy's error page).
 * - `aborted`: the caller's `signal` aborted, so the client stopped listening.
 */
export type SluiceClientErrorCode =
  | 'invalid_argument'
  | 'network_error'
  | 'connection_closed'
  | 'stalled'
  | 'connection_lost'
  | 'resume_failed'
  | 'sequence_gap'
  | 'invalid_response'
  | 'http_error'
  | 'aborted';

/** What a `SluiceClientError` is made from. */
export interface SluiceClientErrorOptions {
  code: SluiceClientErrorCode | (string & {});
  message: string;
  /** The HTTP status, when the error is an HTTP response. */
  status?: number;
  /** Whether trying the same thing again may succeed. */
  retryable?: boolean;
  /** The server's `error.details` (for `invalid_request`: `{ path, message }` per field). */
  details?: unknown;
  runId?: string;
  /** Milliseconds the server asked to wait (`Retry-After`). */
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * Everything `@sluice/client` throws or rejects with: HTTP errors (with the server's `status`,
 * `code` and `details`), failed runs (the code of the run's `error` event), lost connections and
 * bad arguments. Check with `SluiceClientError.isInstance(error)` rather than `instanceof`
 * (which fails when two copies of the package are loaded); `SluiceError.isInstance` of
 * `@sluice/core` is true for it as well.
 *
 * @example
 * ```ts
 * try {
 *   await streamChat({ baseURL, messages }).done;
 * } catch (error) {
 *   if (SluiceClientError.isInstance(error) && error.code === 'too_many_runs') showBusy(error.retryAfterMs);
 *   else throw error;
 * }
 * ```
 */
export class SluiceClientError extends Error {
  readonly [sluiceErrorMarker] = true;
  readonly [clientErrorMarker] = true;
  /** A stable, machine-readable code: the server's, or one of `SluiceClientErrorCode`. */
  readonly code: string;
  /** The HTTP status, when the error is an HTTP response. */
  readonly status: number | undefined;
  /** Whether trying the same thing again may succeed (network errors, 408, 429, 5xx). */
  readonly retryable: boolean;
  /** The server's `error.details`, when it sent some. */
  readonly details: unknown;
  /** The run the error belongs to, when one was started. */
  readonly runId: string | undefined;
  /** Milliseconds the server asked to wait before trying again (`Retry-After`). */
  readonly retryAfterMs: number | undefined;

  constructor(options: SluiceClientErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceClientError';
    this.code = options.code;
    this.status = options.status;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
    this.runId = options.runId;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** True for any `SluiceClientError`, from any copy of the package. */
  static isInstance(error: unknown): error is SluiceClientError {
    return typeof error === 'object' && error !== null && clientErrorMarker in error;
  }

  /** The JSON-safe form, as `error` events carry errors. */
  toJSON(): SerializedError {
    const json: SerializedError = { name: this.name, code: this.code, message: this.message, retryable: this.retryable };
    if (this.status !== undefined) json.status = this.status;
    return json;
  }
}
