import type { HandlerError } from './errors/handler-error.js';
import type { SluiceError } from './errors/sluice-error.js';
import type { Message, MessageChunk } from './messages.js';
import type { ChatResult } from './chat-result.js';
import type { StreamEvent } from './stream-event.js';

/** A hook may finish at once or return a promise; either way its lane keeps the order. */
export type HookResult = void | Promise<void>;

/**
 * What a handler's lane does when its queue is full (only async handlers ever queue):
 * - `block`: the run stops reading from the model until the lane has room (backpressure);
 * - `coalesce`: adjacent text, reasoning and tool-call deltas merge into one, losing nothing;
 *   other events queue past the capacity, and the run waits only if the queue reaches twice it;
 * - `drop`: deltas, usage and data events past the capacity are dropped and counted;
 *   `start`, `finish` and `error` are always delivered.
 */
export type OverflowPolicy = 'block' | 'coalesce' | 'drop';

/** How events reach a handler. */
export interface DeliveryOptions {
  /** Events an async handler may have queued before the overflow policy applies. Default 1024. */
  capacity?: number;
  /** Default `block`: nothing is lost, memory stays bounded. */
  overflow?: OverflowPolicy;
}

/** A handler's view of the run it is attached to. */
export interface HandlerContext {
  readonly runId: string;
  readonly conversationId: string | undefined;
  /** The call's `metadata` (empty when none was given). */
  readonly metadata: Readonly<Record<string, string>>;
  readonly model: string;
  readonly provider: string;
  /** The messages the run was started with. */
  readonly messages: readonly Message[];
  /** Aborts when the run is stopped. */
  readonly signal: AbortSignal;
  /**
   * Adds a `data` event to the run. It takes the next `seq` and reaches the consumer and every
   * other handler, so what a handler finds is stored and served like any token.
   *
   * Allowed from `onChatStart` until `onChatFlush`, the last hook that may emit. `start` is
   * always seq 0: an event emitted from `onChatStart` is queued right after it (seq 1).
   * `finish` is always last: from the moment it goes out (`onChatEvent` on `finish`,
   * `onChatError`, `onChatEnd`, or later) `emit` throws a `SluiceError` with code `run_closed`.
   *
   * @example
   * ```ts
   * onChatFlush(ctx) {
   *   ctx.emit({ type: 'data', name: 'summary', data: { sentences: 3 } });
   * }
   * ```
   */
  emit(event: { type: 'data'; name: string; data: unknown }): void;
}

/**
 * A callback handler: an object with any of these hooks, sync or async.
 *
 * Each handler has its own ordered lane. A hook that returns nothing runs inline, with no
 * allocation; while a hook's promise is pending, later events queue in the lane (bounded by
 * `delivery.capacity`, then `delivery.overflow` applies). A hook that throws or rejects is
 * reported through `onHandlerError` and the run's metrics; the stream and the other handlers
 * go on. Per run, hooks are called in this order: `onChatStart`, then for every event
 * `onChatEvent` (and `onChatNewMessage` for text deltas), `onChatFlush`, `onChatError` if the
 * model failed, and `onChatEnd` always, last.
 *
 * @example
 * ```ts
 * class ChatHistoryCallback implements CallbackHandler {
 *   onChatNewMessage(message: MessageChunk) {
 *     console.log(message.role, message.content);
 *   }
 * }
 * ```
 */
export interface CallbackHandler {
  /** Names the handler in metrics and error reports (default: its class name). */
  readonly name?: string;
  /** Queue capacity and overflow policy for this handler's lane. */
  readonly delivery?: DeliveryOptions;
  /** The run started (before its `start` event). */
  onChatStart?(context: HandlerContext): HookResult;
  /** Every streamed piece of the assistant's message: the seed's contract. */
  onChatNewMessage?(chunk: MessageChunk, context: HandlerContext): HookResult;
  /** Every event of the run, in `seq` order. */
  onChatEvent?(event: StreamEvent, context: HandlerContext): HookResult;
  /** The model's stream ended; the last moment to `emit` (e.g. the rest of a sentence). */
  onChatFlush?(context: HandlerContext): HookResult;
  /** The model failed; `onChatEnd` follows with `finishReason: 'error'`. */
  onChatError?(error: SluiceError, context: HandlerContext): HookResult;
  /** The run ended, whatever the reason (also aborted and failed runs, with partial content). */
  onChatEnd?(result: ChatResult, context: HandlerContext): HookResult;
}

/** Receives every handler failure of a run. */
export type HandlerErrorListener = (error: HandlerError) => void;
