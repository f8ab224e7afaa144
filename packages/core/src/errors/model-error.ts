import type { SerializedError } from '../stream-event.js';
import { SluiceError, type SluiceErrorClass } from './sluice-error.js';

const marker = Symbol.for('sluice.error.model');

/** What a provider adapter knows about a failed request. */
export interface ModelErrorOptions {
  code: string;
  message: string;
  retryable?: boolean;
  cause?: unknown;
  /** The provider (`openai`, `anthropic`, `fake`). */
  provider: string;
  /** HTTP status, when the failure had one. */
  status?: number;
  /** The provider's request id, for support requests. */
  requestId?: string;
  /** Milliseconds the provider asked us to wait before retrying. */
  retryAfterMs?: number;
}

/**
 * The model or its provider failed: a rejected request, a broken or stalled stream.
 * `retryable` says whether the same request may succeed later (429, 5xx, 529, resets).
 */
export class ModelError extends SluiceError {
  static override readonly marker: symbol = marker;

  /** True for a `ModelError` (or a subclass of it), from any copy of the package; also called unbound. */
  static override isInstance<TError = ModelError>(this: SluiceErrorClass<TError> | void, error: unknown): error is TError {
    return SluiceError.isInstanceOfClass(this ?? ModelError, error);
  }

  readonly provider: string;
  readonly status: number | undefined;
  readonly requestId: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(options: ModelErrorOptions) {
    super(options);
    this.name = 'ModelError';
    this.provider = options.provider;
    this.status = options.status;
    this.requestId = options.requestId;
    this.retryAfterMs = options.retryAfterMs;
  }

  override toJSON(): SerializedError {
    const json = super.toJSON();
    if (this.status !== undefined) json.status = this.status;
    return json;
  }
}
