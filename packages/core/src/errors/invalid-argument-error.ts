import { SluiceError } from './sluice-error.js';

/** A caller passed something sluice cannot use; the message says what and how to fix it. */
export class InvalidArgumentError extends SluiceError {
  readonly argument: string;

  constructor(options: { argument: string; message: string; cause?: unknown }) {
    super({ code: 'invalid_argument', message: options.message, cause: options.cause });
    this.name = 'InvalidArgumentError';
    this.argument = options.argument;
  }
}
