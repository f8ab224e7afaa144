import { describe, expect, it } from 'vitest';
import { codeForHttpStatus, createModelErrorMapper, isConnectionReset, ModelError, retryAfterMs } from '../src/index.ts';

// Stand-ins for an SDK's error classes, shaped like the OpenAI and Anthropic SDKs' own.
class APIError extends Error {
  readonly status: number | undefined;
  readonly headers: Headers | undefined;
  readonly requestID: string | undefined;
  readonly code: string | undefined;

  constructor(message: string, status: number | undefined, headers: Headers | undefined, requestID: string | undefined, code?: string) {
    super(message);
    this.status = status;
    this.headers = headers;
    this.requestID = requestID;
    this.code = code;
  }
}
class APIConnectionError extends APIError {
  constructor(cause?: unknown) {
    super('Connection error.', undefined, undefined, undefined);
    this.cause = cause;
  }
}
class APIConnectionTimeoutError extends APIConnectionError {}

const errors = createModelErrorMapper<APIError>({
  provider: 'acme',
  packageName: 'sluice/acme',
  hints: { rate_limited: 'slow down' },
  errors: { APIError, APIConnectionError, APIConnectionTimeoutError },
  codeForStatus: (error) => (error.code === 'insufficient_quota' ? { code: 'quota_exceeded', retryable: false } : undefined),
  streamError: (error) => ({ code: 'stream_error', retryable: true, detail: `the stream failed: ${error.message}` }),
});

describe('codeForHttpStatus: one code per status, whatever the provider', () => {
  it('maps client errors to codes that are not retryable and server errors, timeouts and rate limits to retryable ones', () => {
    expect(codeForHttpStatus(400)).toEqual({ code: 'invalid_request', retryable: false });
    expect(codeForHttpStatus(401)).toEqual({ code: 'authentication_failed', retryable: false });
    expect(codeForHttpStatus(403)).toEqual({ code: 'permission_denied', retryable: false });
    expect(codeForHttpStatus(404)).toEqual({ code: 'not_found', retryable: false });
    expect(codeForHttpStatus(408)).toEqual({ code: 'request_timeout', retryable: true });
    expect(codeForHttpStatus(504)).toEqual({ code: 'request_timeout', retryable: true });
    expect(codeForHttpStatus(429)).toEqual({ code: 'rate_limited', retryable: true });
    expect(codeForHttpStatus(529)).toEqual({ code: 'overloaded', retryable: true });
    expect(codeForHttpStatus(502)).toEqual({ code: 'server_error', retryable: true });
    expect(codeForHttpStatus(418)).toEqual({ code: 'provider_error', retryable: false });
  });
});

describe('retryAfterMs', () => {
  it('reads retry-after-ms first, then retry-after in seconds or as an HTTP date', () => {
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '1500', 'retry-after': '9' }))).toBe(1500);
    expect(retryAfterMs(new Headers({ 'retry-after': '2' }))).toBe(2000);
    const date = retryAfterMs(new Headers({ 'retry-after': new Date(Date.now() + 60_000).toUTCString() }));
    expect(date).toBeGreaterThan(55_000);
    expect(date).toBeLessThanOrEqual(60_000);
    expect(retryAfterMs(new Headers())).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });
});

describe('createModelErrorMapper', () => {
  it('gives an HTTP error its code, status, request id, retry-after and a message with the hint', () => {
    const error = errors.toModelError(new APIError('429 Too many requests', 429, new Headers({ 'retry-after': '3' }), 'req_1'));
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ code: 'rate_limited', provider: 'acme', retryable: true, status: 429, requestId: 'req_1', retryAfterMs: 3000 });
    expect(error.message).toBe('[sluice/acme] 429 rate_limited: 429 Too many requests (request req_1); slow down');
    expect(error.cause).toBeInstanceOf(APIError);
  });

  it('lets the adapter refine a status with what its provider says', () => {
    expect(errors.toModelError(new APIError('quota', 429, new Headers(), undefined, 'insufficient_quota'))).toMatchObject({ code: 'quota_exceeded', retryable: false });
  });

  it('hands an error the stream sent after its 200 (no status) to the adapter', () => {
    expect(errors.toModelError(new APIError('boom', undefined, undefined, 'req_2'))).toMatchObject({ code: 'stream_error', retryable: true, requestId: 'req_2', message: '[sluice/acme] stream_error: the stream failed: boom (request req_2)' });
  });

  it('tells timeouts, failed connections and connections reset mid-stream apart, all retryable', () => {
    expect(errors.toModelError(new APIConnectionTimeoutError())).toMatchObject({ code: 'request_timeout', retryable: true });
    expect(errors.toModelError(new APIConnectionError(new Error('getaddrinfo ENOTFOUND')))).toMatchObject({ code: 'connection_failed', retryable: true });
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(isConnectionReset(new Error('fetch failed', { cause: reset }))).toBe(true);
    expect(errors.toModelError(new APIConnectionError(reset))).toMatchObject({ code: 'connection_reset', retryable: true });
    expect(errors.toModelError(new TypeError('terminated'))).toMatchObject({ code: 'connection_reset', retryable: true });
  });

  it('passes a ModelError as it is, and reports anything else as a model_error that is not retryable', () => {
    const own = new ModelError({ code: 'stream_truncated', provider: 'acme', retryable: true, message: 'cut' });
    expect(errors.toModelError(own)).toBe(own);
    expect(errors.toModelError(new Error('bug'))).toMatchObject({ code: 'model_error', retryable: false, message: '[sluice/acme] model_error: bug' });
  });

  it('reports a stream that ended before its terminator as a retryable stream_truncated', () => {
    expect(errors.truncated('message_stop')).toMatchObject({ code: 'stream_truncated', retryable: true, provider: 'acme', message: '[sluice/acme] stream_truncated: the stream ended before message_stop' });
  });
});
