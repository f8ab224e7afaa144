import { APIConnectionError, APIConnectionTimeoutError, APIError } from '@anthropic-ai/sdk';
import { createModelErrorMapper, type ModelError, type ModelErrorCode } from '@sluice/core';

/** Anthropic's error types (as a stream's `error` event carries them) in sluice's words. */
function codeForErrorType(type: string | null | undefined): ModelErrorCode {
  switch (type) {
    case 'overloaded_error':
      return { code: 'overloaded', retryable: true };
    case 'api_error':
      return { code: 'server_error', retryable: true };
    case 'rate_limit_error':
      return { code: 'rate_limited', retryable: true };
    case 'timeout_error':
      return { code: 'request_timeout', retryable: true };
    case 'invalid_request_error':
      return { code: 'invalid_request', retryable: false };
    case 'authentication_error':
      return { code: 'authentication_failed', retryable: false };
    case 'permission_error':
    case 'billing_error':
      return { code: 'permission_denied', retryable: false };
    default:
      return { code: 'stream_error', retryable: true };
  }
}

const errors = createModelErrorMapper<APIError>({
  provider: 'anthropic',
  packageName: 'sluice/anthropic',
  hints: {
    authentication_failed: 'check ANTHROPIC_API_KEY or the apiKey option',
    rate_limited: 'slow down or retry later',
    overloaded: 'Anthropic is overloaded; retry later',
    not_found: 'check the model name and baseURL',
    stream_truncated: 'the connection was probably cut; retrying may help',
  },
  errors: { APIError, APIConnectionError, APIConnectionTimeoutError },
  statusDetail: (error) => error.apiMessage ?? error.message,
  // An `error` event the stream sent after its 200.
  streamError: (error) => ({ ...codeForErrorType(error.type), detail: `the stream failed (${error.type ?? 'error'}): ${error.apiMessage ?? error.message}` }),
});

/** Turns whatever the SDK threw into a `ModelError` with a stable code. */
export const toModelError: (error: unknown) => ModelError = errors.toModelError;

/** The stream ended without `message_stop`: never a success. */
export function truncatedError(): ModelError {
  return errors.truncated('message_stop');
}
