import { SluiceError } from './sluice-error.js';

/** A callback handler threw or rejected. The run goes on; this is what gets reported. */
export class HandlerError extends SluiceError {
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
