import { SluiceError, type SluiceErrorClass } from './sluice-error.js';

const marker = Symbol.for('sluice.error.invalid-argument');

/** A caller passed something sluice cannot use; the message says what and how to fix it. */
export class InvalidArgumentError extends SluiceError {
  static override readonly marker: symbol = marker;

  /** True for a `InvalidArgumentError` (or a subclass of it), from any copy of the package; also called unbound. */
  static override isInstance<TError = InvalidArgumentError>(this: SluiceErrorClass<TError> | void, error: unknown): error is TError {
    return SluiceError.isInstanceOfClass(this ?? InvalidArgumentError, error);
  }

  readonly argument: string;

  constructor(options: { argument: string; message: string; cause?: unknown }) {
    super({ code: 'invalid_argument', message: options.message, cause: options.cause });
    this.name = 'InvalidArgumentError';
    this.argument = options.argument;
  }
}
