import { SluiceError } from '@sluice/core';

/** The JSON body of every error response. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** An error that becomes an HTTP response: a status, a stable code, a message, maybe details. */
export class HttpError extends SluiceError {
  static override readonly marker: symbol = Symbol.for('sluice.error.http');
  readonly status: number;
  readonly details: unknown;
  readonly headers: Readonly<Record<string, string>>;

  constructor(options: {
    status: number;
    code: string;
    message: string;
    details?: unknown;
    headers?: Record<string, string>;
    cause?: unknown;
  }) {
    super({ code: options.code, message: options.message, cause: options.cause, retryable: options.status === 429 || options.status >= 500 });
    this.name = 'HttpError';
    this.status = options.status;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }

  /** The response body: `{ error: { code, message, details? } }`. */
  toBody(): ErrorBody {
    const error: ErrorBody['error'] = { code: this.code, message: this.message };
    if (this.details !== undefined) error.details = this.details;
    return { error };
  }
}

/** 404 for anything unknown or owned by someone else: the two must look the same. */
export function notFound(what: string): HttpError {
  return new HttpError({ status: 404, code: 'not_found', message: `${what} not found` });
}
