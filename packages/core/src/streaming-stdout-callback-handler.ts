import type { CallbackHandler, DeliveryOptions } from './callback-handler.js';
import type { MessageChunk } from './messages.js';

/** The part of a writable stream the handler uses: Node's `process.stdout`, a file stream, a socket. */
export interface WritableLike {
  /** Returns false when the stream's buffer is full (Node streams), then emits `drain`. */
  write(chunk: string): boolean | void;
  once?(event: 'drain', listener: () => void): unknown;
}

/** Options of `StreamingStdOutCallbackHandler`. */
export interface StreamingStdOutCallbackHandlerOptions {
  /** Where to write. Default `process.stdout`. */
  stream?: WritableLike;
  /** Write a newline when the run ends. Default true. */
  newline?: boolean;
}

/**
 * Writes the assistant's text as it streams. It honours the writable's backpressure: while
 * the stream is full its lane queues, and adjacent pieces of text merge (`coalesce`), so a slow
 * terminal never slows the model nor loses a character.
 *
 * @example
 * ```ts
 * const chat = new FakeChatModel({ callbacks: [new StreamingStdOutCallbackHandler()] });
 * await chat.invoke([new HumanMessage('Write me a song about sparkling water.')]);
 * ```
 */
export class StreamingStdOutCallbackHandler implements CallbackHandler {
  readonly name = 'stdout';
  readonly delivery: DeliveryOptions = { overflow: 'coalesce', capacity: 256 };
  private readonly stream: WritableLike;
  private readonly newline: boolean;

  constructor(options: StreamingStdOutCallbackHandlerOptions = {}) {
    const stream = options.stream ?? (globalThis as { process?: { stdout?: WritableLike } }).process?.stdout;
    if (stream === undefined) {
      throw new TypeError('[sluice/core] StreamingStdOutCallbackHandler: no process.stdout here; pass { stream }');
    }
    this.stream = stream;
    this.newline = options.newline ?? true;
  }

  onChatNewMessage(chunk: MessageChunk): void | Promise<void> {
    return this.write(chunk.content);
  }

  onChatEnd(): void | Promise<void> {
    if (this.newline) return this.write('\n');
  }

  private write(text: string): void | Promise<void> {
    if (this.stream.write(text) !== false || this.stream.once === undefined) return;
    const stream = this.stream;
    return new Promise((resolve) => {
      stream.once?.('drain', resolve);
    });
  }
}
