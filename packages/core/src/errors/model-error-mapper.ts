// What every HTTP provider adapter does with a failure, in one place: the same status gives the
// same sluice code whatever the provider, so a caller's `switch (error.code)` works on all of
// them. Provider-specific knowledge (error types sent mid-stream, hints, SDK classes) stays in
// the adapter and is passed in.
import { ModelError } from './model-error.js';

/** A sluice error code and whether the same request may succeed later. */
export interface ModelErrorCode {
  code: string;
  retryable: boolean;
}

/** The fields of an SDK's API error the mapping reads (the OpenAI and Anthropic SDKs share them). */
export interface ApiErrorLike {
  /** Undefined for an error the stream sent after its 200. */
  status?: number | undefined;
  headers?: { get(name: string): string | null } | undefined;
  requestID?: string | null | undefined;
  message: string;
}

// Any class: the SDK's error classes are only used with `instanceof`.
type ErrorClass = abstract new (...args: never[]) => unknown;

/** What `createModelErrorMapper` needs from an adapter. */
export interface ModelErrorMapperOptions<TApiError extends ApiErrorLike> {
  /** The provider's name (`openai`). */
  provider: string;
  /** The prefix of messages (`sluice/openai`). */
  packageName: string;
  /** What to do next, by code (`authentication_failed: 'check OPENAI_API_KEY ...'`). */
  hints?: Readonly<Record<string, string>>;
  /** The SDK's error classes. */
  errors: { APIError: ErrorClass; APIConnectionError: ErrorClass; APIConnectionTimeoutError: ErrorClass };
  /** The code for an HTTP error, when the provider says more than its status (e.g. a quota). */
  codeForStatus?(error: TApiError & { status: number }): ModelErrorCode | undefined;
  /** The detail of an HTTP error's message. Default: its `message`. */
  statusDetail?(error: TApiError & { status: number }): string;
  /** An error the stream sent after its 200 (an API error without a status). */
  streamError(error: TApiError): ModelErrorCode & { detail: string };
}

/** Turns failures into `ModelError`s; built once per adapter with `createModelErrorMapper`. */
export interface ModelErrorMapper {
  /** Turns whatever the SDK threw into a `ModelError` with a stable code (a `ModelError` passes as it is). */
  toModelError(error: unknown): ModelError;
  /** The stream ended before `what` (its terminator): a retryable `stream_truncated`. */
  truncated(what: string): ModelError;
  /** `[sluice/x] 429 rate_limited: detail (request id); hint`. */
  message(code: string, status: number | undefined, requestId: string | undefined, detail: string): string;
}

/** sluice's code for an HTTP status, and whether the same request may succeed later. */
export function codeForHttpStatus(status: number): ModelErrorCode {
  if (status === 400 || status === 422) return { code: 'invalid_request', retryable: false };
  if (status === 401) return { code: 'authentication_failed', retryable: false };
  if (status === 402 || status === 403) return { code: 'permission_denied', retryable: false };
  if (status === 404) return { code: 'not_found', retryable: false };
  if (status === 408 || status === 504) return { code: 'request_timeout', retryable: true };
  if (status === 409) return { code: 'conflict', retryable: true };
  if (status === 413) return { code: 'request_too_large', retryable: false };
  if (status === 429) return { code: 'rate_limited', retryable: true };
  if (status === 529) return { code: 'overloaded', retryable: true };
  if (status >= 500) return { code: 'server_error', retryable: true };
  return { code: 'provider_error', retryable: false };
}

/** Reads `retry-after-ms` or `retry-after` (seconds or an HTTP date) as milliseconds. */
export function retryAfterMs(headers: { get(name: string): string | null } | undefined): number | undefined {
  const milliseconds = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  if (Number.isFinite(milliseconds) && milliseconds >= 0) return milliseconds;
  const value = headers?.get('retry-after');
  if (value === null || value === undefined) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

/** Whether an error, or one of its causes, is a connection dropped mid-response. */
export function isConnectionReset(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || current.message === 'terminated') return true;
  }
  return false;
}

/**
 * Builds an adapter's error mapping: HTTP statuses, connection failures and resets, timeouts
 * and `retry-after` are read the same way for every provider; the adapter adds what only its
 * provider says.
 *
 * @example
 * ```ts
 * import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
 *
 * const errors = createModelErrorMapper<APIError>({
 *   provider: 'openai',
 *   packageName: 'sluice/openai',
 *   errors: { APIError, APIConnectionError, APIConnectionTimeoutError },
 *   streamError: (error) => ({ code: 'stream_error', retryable: true, detail: `the stream failed: ${error.message}` }),
 * });
 * errors.toModelError(caught); // a ModelError with a stable code
 * ```
 */
export function createModelErrorMapper<TApiError extends ApiErrorLike>(options: ModelErrorMapperOptions<TApiError>): ModelErrorMapper {
  const { provider, packageName, hints = {}, errors } = options;

  const message = (code: string, status: number | undefined, requestId: string | undefined, detail: string): string => {
    const hint = hints[code];
    return `[${packageName}] ${status === undefined ? '' : `${status} `}${code}: ${detail}${requestId ? ` (request ${requestId})` : ''}${hint ? `; ${hint}` : ''}`;
  };

  const toModelError = (error: unknown): ModelError => {
    if (error instanceof ModelError) return error;
    if (error instanceof errors.APIConnectionTimeoutError) {
      return new ModelError({ code: 'request_timeout', provider, retryable: true, cause: error, message: message('request_timeout', undefined, undefined, 'the request timed out before the response headers arrived') });
    }
    if (error instanceof errors.APIConnectionError) {
      const code = isConnectionReset(error) ? 'connection_reset' : 'connection_failed';
      return new ModelError({ code, provider, retryable: true, cause: error, message: message(code, undefined, undefined, `could not reach ${provider}: ${(error as Error).message}`) });
    }
    // Structurally too: an API error from another copy of the SDK.
    if (error instanceof errors.APIError || (typeof error === 'object' && error !== null && 'status' in error && 'headers' in error)) {
      const apiError = error as TApiError;
      const requestId = apiError.requestID ?? undefined;
      if (typeof apiError.status === 'number') {
        const withStatus = apiError as TApiError & { status: number };
        const { code, retryable } = options.codeForStatus?.(withStatus) ?? codeForHttpStatus(withStatus.status);
        return new ModelError({
          code,
          provider,
          retryable,
          cause: error,
          status: withStatus.status,
          requestId,
          retryAfterMs: retryAfterMs(apiError.headers),
          message: message(code, withStatus.status, requestId, options.statusDetail?.(withStatus) ?? apiError.message),
        });
      }
      const { code, retryable, detail } = options.streamError(apiError);
      return new ModelError({ code, provider, retryable, cause: error, requestId, message: message(code, undefined, requestId, detail) });
    }
    if (isConnectionReset(error)) {
      return new ModelError({ code: 'connection_reset', provider, retryable: true, cause: error, message: message('connection_reset', undefined, undefined, 'the connection was reset while the response was streaming') });
    }
    const detail = error instanceof Error ? error.message : String(error);
    return new ModelError({ code: 'model_error', provider, retryable: false, cause: error, message: message('model_error', undefined, undefined, detail) });
  };

  const truncated = (what: string): ModelError =>
    new ModelError({ code: 'stream_truncated', provider, retryable: true, message: message('stream_truncated', undefined, undefined, `the stream ended before ${what}`) });

  return { toModelError, truncated, message };
}
