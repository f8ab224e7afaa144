import { SluiceError, type SluiceErrorClass } from './sluice-error.js';

const marker = Symbol.for('sluice.error.handler');

/** A callback handler threw or rejected. The run goes on; this is what gets reported. */
export class HandlerError extends SluiceError {
  static override readonly marker: symbol = marker;

  /** True for a `HandlerError` (or a subclass of it), from any copy of the package; also called unbound. */
  static override isInstance<TError = HandlerError>(this: SluiceErrorClass<TError> | void, error: unknown): error is TError {
    return SluiceError.isInstanceOfClass(this ?? HandlerError, error);
  }

  /** The handler's `name` (or its class name). */
  readonly handler: string;
  /** The hook that failed, e.g. `onChatNewMessage`. */
  readonly hook: string;
  readonly runId: string;

  constructor(options: { handler: string; hook: string; runId: string; cause: unknown }) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super({
      code: 'handler_failed',
      message: `[sluice] handler "${options.handler}" failed in ${options.hook} (run ${options.runId}): ${reason}`,
      cause: options.cause,
    });
    this.name = 'HandlerError';
    this.handler = options.handler;
    this.hook = options.hook;
    this.runId = options.runId;
  }
}
