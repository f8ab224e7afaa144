import type { SerializedError } from '../stream-event.js';

const marker = Symbol.for('sluice.error');

/** What every sluice error carries. */
export interface SluiceErrorOptions {
  /** A stable, machine-readable code, e.g. `rate_limited`. */
  code: string;
  message: string;
  /** Whether trying the same thing again may succeed. */
  retryable?: boolean;
  cause?: unknown;
}

/**
 * The base of every error sluice throws or reports. Check with `SluiceError.isInstance(error)`
 * rather than `instanceof`, which fails when two copies of the package are installed.
 */
export class SluiceError extends Error {
  readonly [marker] = true;
  readonly code: string;
  readonly retryable: boolean;

  constructor(options: SluiceErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = options.code;
    this.retryable = options.retryable ?? false;
  }

  /** True for any sluice error, from any copy of the package. */
  static isInstance(error: unknown): error is SluiceError {
    return typeof error === 'object' && error !== null && marker in error;
  }

  /** Wraps anything thrown into a `SluiceError` (kept as is when it already is one). */
  static from(error: unknown, code = 'unknown_error'): SluiceError {
    if (SluiceError.isInstance(error)) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new SluiceError({ code, message, cause: error });
  }

  /** The JSON-safe form that travels in `error` events. */
  toJSON(): SerializedError {
    return { name: this.name, code: this.code, message: this.message, retryable: this.retryable };
  }
}
