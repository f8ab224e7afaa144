import { SluiceError, type SluiceErrorClass } from './sluice-error.js';

const marker = Symbol.for('sluice.error.response-format');

/**
 * The model's reply did not fit the `responseFormat` the call asked for: it is not JSON, or it
 * does not pass the schema. The run fails with it (`finishReason: 'error'`); `text` is the reply
 * as the model sent it and `issues` what was wrong (the schema's own issues, e.g. zod's).
 */
export class ResponseFormatError extends SluiceError {
  static override readonly marker: symbol = marker;

  /** True for a `ResponseFormatError` (or a subclass of it), from any copy of the package; also called unbound. */
  static override isInstance<TError = ResponseFormatError>(this: SluiceErrorClass<TError> | void, error: unknown): error is TError {
    return SluiceError.isInstanceOfClass(this ?? ResponseFormatError, error);
  }

  /** The reply's text, as the model sent it. */
  readonly text: string;
  /** What was wrong: `[{ message }]` for text that is not JSON, else the schema's issues. */
  readonly issues: readonly unknown[];

  constructor(options: { text: string; issues: readonly unknown[]; message: string; cause?: unknown }) {
    super({ code: 'response_format_mismatch', message: options.message, cause: options.cause });
    this.name = 'ResponseFormatError';
    this.text = options.text;
    this.issues = options.issues;
  }
}
