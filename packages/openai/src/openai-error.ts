import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { createModelErrorMapper, type ModelError, type ModelErrorCode } from '@sluice/core';

/** Codes of errors a stream reports after its 200 (`type` of the error payload). */
function codeForStreamError(type: string | undefined, code: string | null | undefined): ModelErrorCode {
  const word = code ?? type ?? '';
  if (word === 'insufficient_quota') return { code: 'quota_exceeded', retryable: false };
  if (word === 'rate_limit_exceeded' || type === 'requests' || type === 'tokens') return { code: 'rate_limited', retryable: true };
  if (word === 'server_error' || type === 'server_error') return { code: 'server_error', retryable: true };
  if (word === 'invalid_prompt' || type === 'invalid_request_error') return { code: 'invalid_request', retryable: false };
  return { code: 'stream_error', retryable: true };
}

const errors = createModelErrorMapper<APIError>({
  provider: 'openai',
  packageName: 'sluice/openai',
  hints: {
    authentication_failed: 'check OPENAI_API_KEY or the apiKey option',
    rate_limited: 'slow down or retry later',
    quota_exceeded: 'check the plan and billing of the API key',
    not_found: 'check the model name and baseURL',
    stream_truncated: 'the connection was probably cut; retrying may help',
  },
  errors: { APIError, APIConnectionError, APIConnectionTimeoutError },
  // A 429 for an exhausted quota will not pass with waiting.
  codeForStatus: (error) => (error.status === 429 && error.code === 'insufficient_quota' ? { code: 'quota_exceeded', retryable: false } : undefined),
  statusDetail: (error) => error.message.replace(/^\d{3} /, ''),
  // An error the stream sent after its 200.
  streamError: (error) => ({ ...codeForStreamError(error.type, error.code), detail: `the stream failed: ${error.message}` }),
});

/** Turns whatever the SDK threw into a `ModelError` with a stable code. */
export const toModelError: (error: unknown) => ModelError = errors.toModelError;

/** The stream ended before its terminator (`what`): never a success. */
export function truncatedError(what: string): ModelError {
  return errors.truncated(what);
}
