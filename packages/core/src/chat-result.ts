import type { SluiceError } from './errors/sluice-error.js';
import type { HandlerError } from './errors/handler-error.js';
import type { AIMessage, ToolCall } from './messages.js';
import type { RunMetrics } from './run-metrics.js';
import type { FinishReason, Usage } from './stream-event.js';

/** What a finished run produced: awaiting a `ChatStream` gives this. */
export interface ChatResult<TObject = unknown> {
  runId: string;
  conversationId: string | undefined;
  model: string;
  provider: string;
  /** The assistant's text: exactly the concatenated text deltas. */
  text: string;
  /** The final (possibly partial) assistant message. */
  message: AIMessage;
  reasoning: string | undefined;
  toolCalls: ToolCall[];
  usage: Usage | undefined;
  finishReason: FinishReason;
  /** The provider's own finish reason, when it gave one. */
  providerFinishReason: string | undefined;
  /** The provider's response id, when it gave one. */
  responseId: string | undefined;
  /**
   * The reply parsed as the call's `responseFormat` asked (`json` or `json-schema`): the JSON
   * value, as the schema outputs it with a `SchemaLike` (typed by it). Unset for text replies,
   * and for a failed, aborted or tool-calling run.
   */
  object?: TObject;
  /** Set when `finishReason` is `error`. */
  error: SluiceError | undefined;
  /** Every handler failure of the run (also reported through `onHandlerError`). */
  handlerErrors: HandlerError[];
  metrics: RunMetrics;
}
