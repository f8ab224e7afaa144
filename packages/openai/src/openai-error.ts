import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { ModelError } from '@sluice/core';

/** sluice's code for an HTTP status, and whether the same request may succeed later. */
export function codeForStatus(status: number): { code: string; retryable: boolean } {
  if (status === 400 || status === 422) return { code: 'invalid_request', retryable: false };
  if (status === 401) return { code: 'authentication_failed', retryable: false };
  if (status === 402 || status === 403) return { code: 'permission_denied', retryable: false };
  if (status === 404) return { code: 'not_found', retryable: false };
  if (status === 408) return { code: 'request_timeout', retryable: true };
  if (status === 409) return { code: 'conflict', retryable: true };
  if (status === 413) return { code: 'request_too_large', retryable: false };
  if (status === 429) return { code: 'rate_limited', retryable: true };
  if (status === 529) return { code: 'overloaded', retryable: true };
  if (status >= 500) return { code: 'server_error', retryable: true };
  return { code: 'provider_error', retryable: false };
}

const HINTS: Record<string, string> = {
  authentication_failed: 'check OPENAI_API_KEY or the apiKey option',
  rate_limited: 'slow down or retry later',
  quota_exceeded: 'check the plan and billing of the API key',
  not_found: 'check the model name and baseURL',
  stream_truncated: 'the connection was probably cut; retrying may help',
};

/** Reads `retry-after-ms` or `retry-after` (seconds or an HTTP date). */
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

function isConnectionReset(error: unknown): boolean {
  for (let current = error, depth = 0; current instanceof Error && depth < 4; current = current.cause, depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || current.message === 'terminated') return true;
  }
  return false;
}

/** Codes of errors a stream reports after its 200 (`type` of the error payload). */
function codeForStreamError(type: string | undefined, code: string | null | undefined): { code: string; retryable: boolean } {
  const word = code ?? type ?? '';
  if (word === 'insufficient_quota') return { code: 'quota_exceeded', retryable: false };
  if (word === 'rate_limit_exceeded' || type === 'requests' || type === 'tokens') return { code: 'rate_limited', retryable: true };
  if (word === 'server_error' || type === 'server_error') return { code: 'server_error', retryable: true };
  if (word === 'invalid_prompt' || type === 'invalid_request_error') return { code: 'invalid_request', retryable: false };
  return { code: 'stream_error', retryable: true };
}

function message(code: string, status: number | undefined, requestId: string | undefined, detail: string): string {
  const hint = HINTS[code];
  return `[sluice/openai] ${status === undefined ? '' : `${status} `}${code}: ${detail}${requestId ? ` (request ${requestId})` : ''}${hint ? `; ${hint}` : ''}`;
}

/** Turns whatever the SDK threw into a `ModelError` with a stable code. */
export function toModelError(error: unknown, provider = 'openai'): ModelError {
  if (error instanceof ModelError) return error;
  if (error instanceof APIConnectionTimeoutError) {
    return new ModelError({ code: 'request_timeout', provider, retryable: true, cause: error, message: message('request_timeout', undefined, undefined, 'the request timed out before the response headers arrived') });
  }
  if (error instanceof APIConnectionError) {
    const code = isConnectionReset(error) ? 'connection_reset' : 'connection_failed';
    return new ModelError({ code, provider, retryable: true, cause: error, message: message(code, undefined, undefined, `could not reach ${provider}: ${error.message}`) });
  }
  if (error instanceof APIError || (typeof error === 'object' && error !== null && 'status' in error && 'headers' in error)) {
    const apiError = error as APIError;
    const requestId = apiError.requestID ?? undefined;
    if (typeof apiError.status === 'number') {
      let { code, retryable } = codeForStatus(apiError.status);
      if (apiError.status === 429 && apiError.code === 'insufficient_quota') ({ code, retryable } = { code: 'quota_exceeded', retryable: false });
      return new ModelError({
        code,
        provider,
        retryable,
        cause: error,
        status: apiError.status,
        requestId,
        retryAfterMs: retryAfterMs(apiError.headers),
        message: message(code, apiError.status, requestId, apiError.message.replace(/^\d{3} /, '')),
      });
    }
    // An error the stream sent after its 200.
    const { code, retryable } = codeForStreamError(apiError.type, apiError.code);
    return new ModelError({ code, provider, retryable, cause: error, requestId, message: message(code, undefined, requestId, `the stream failed: ${apiError.message}`) });
  }
  if (isConnectionReset(error)) {
    return new ModelError({ code: 'connection_reset', provider, retryable: true, cause: error, message: message('connection_reset', undefined, undefined, 'the connection was reset while the response was streaming') });
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new ModelError({ code: 'model_error', provider, retryable: false, cause: error, message: message('model_error', undefined, undefined, detail) });
}

/** The stream ended without its terminator: never a success. */
export function truncatedError(provider: string, what: string): ModelError {
  return new ModelError({ code: 'stream_truncated', provider, retryable: true, message: message('stream_truncated', undefined, undefined, `the stream ended before ${what}`) });
}
