import { SluiceClientError } from './sluice-client-error.js';

/** Statuses worth trying again: the request timed out, was rate limited, or the server failed. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * `Retry-After` in milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3);
 * undefined when absent or unreadable.
 */
export function retryAfterMs(response: Response): number | undefined {
  const value = response.headers.get('retry-after');
  if (value === null || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/**
 * Turns a non-2xx response into a `SluiceClientError`, reading the sluice JSON error body
 * (`{ error: { code, message, details } }`) when there is one. `request` names the request in
 * the message, e.g. `POST http://localhost:3000/api/chat`.
 */
export async function errorFromResponse(response: Response, request: string, runId?: string): Promise<SluiceClientError> {
  let code: string | undefined;
  let serverMessage: string | undefined;
  let details: unknown;
  let body = '';
  try {
    body = await response.text();
    const parsed: unknown = JSON.parse(body);
    const error = typeof parsed === 'object' && parsed !== null ? (parsed as { error?: unknown }).error : undefined;
    if (typeof error === 'object' && error !== null) {
      const fields = error as { code?: unknown; message?: unknown; details?: unknown };
      if (typeof fields.code === 'string') code = fields.code;
      if (typeof fields.message === 'string') serverMessage = fields.message;
      details = fields.details;
    }
  } catch {
    // Not a sluice error body (a proxy's HTML page, an empty body): described by status alone.
  }
  const status = response.status;
  const statusText = response.statusText === '' ? '' : ` ${response.statusText}`;
  const message =
    code === undefined
      ? `[sluice/client] ${request} answered ${status}${statusText}${body === '' ? '' : ` (not a sluice error body: is the URL right?)`}`
      : `[sluice/client] ${request} answered ${status} ${code}${serverMessage === undefined ? '' : `: ${serverMessage}`}`;
  return new SluiceClientError({
    code: code ?? 'http_error',
    message,
    status,
    retryable: isRetryableStatus(status),
    details,
    runId,
    retryAfterMs: retryAfterMs(response),
  });
}
