import type { Message, ReasoningBlock } from './messages.js';

/**
 * Why a run ended. `aborted` means the run was stopped (signal, `abort()`, consumer left);
 * `error` means the model failed, and the run's `error` says how.
 */
export type FinishReason = 'stop' | 'length' | 'tool-calls' | 'content-filter' | 'aborted' | 'error';

/** Token usage, normalised across providers. Fields a provider does not report are absent. */
export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
  reasoningTokens?: number;
  cachedInputTokens?: number;
}

/** An error as it travels inside the stream (JSON-safe). */
export interface SerializedError {
  name: string;
  code: string;
  message: string;
  retryable: boolean;
  status?: number;
}

/** First event of every run (`seq` 0). */
export interface StartEvent {
  type: 'start';
  seq: number;
  runId: string;
  conversationId: string | undefined;
  model: string;
  provider: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

/** A piece of the assistant's text. */
export interface TextDeltaEvent {
  type: 'text-delta';
  seq: number;
  text: string;
}

/** A piece of the model's reasoning (OpenAI reasoning summaries, Anthropic thinking). */
export interface ReasoningDeltaEvent {
  type: 'reasoning-delta';
  seq: number;
  text: string;
}

/**
 * A piece of a tool call. `index` identifies the call within the message; `id` and `name`
 * come with its first piece; `argumentsDelta` is a piece of the JSON arguments text.
 */
export interface ToolCallDeltaEvent {
  type: 'tool-call-delta';
  seq: number;
  index: number;
  id?: string;
  name?: string;
  argumentsDelta: string;
}

/** A named payload added to the run, by the model or by a handler (`ctx.emit`), e.g. sentiment. */
export interface DataEvent<TData = unknown> {
  type: 'data';
  seq: number;
  name: string;
  data: TData;
}

/** Usage so far (merged across the provider's reports). */
export interface UsageEvent {
  type: 'usage';
  seq: number;
  usage: Usage;
}

/** Last event of every run: why it ended and the (possibly partial) message. */
export interface FinishEvent {
  type: 'finish';
  seq: number;
  reason: FinishReason;
  message: Message;
  usage: Usage | undefined;
  /**
   * Why a run with reason `aborted` stopped when no caller asked it to: coded `run_interrupted`
   * when its instance died and another instance ended it (`@sluice/http` over a shared run hub).
   * Absent otherwise.
   */
  error?: SerializedError;
}

/** The model failed; a `finish` event with reason `error` follows. */
export interface ErrorEvent {
  type: 'error';
  seq: number;
  error: SerializedError;
}

/**
 * Everything a run emits, in order. `seq` is per run, starts at 0 and grows by one per
 * event: it is the offset a consumer resumes from.
 */
export type StreamEvent =
  | StartEvent
  | TextDeltaEvent
  | ReasoningDeltaEvent
  | ToolCallDeltaEvent
  | DataEvent
  | UsageEvent
  | FinishEvent
  | ErrorEvent;

/** The type names of `StreamEvent`. */
export type StreamEventType = StreamEvent['type'];

type WithoutSeq<TEvent> = TEvent extends unknown ? Omit<TEvent, 'seq'> & { seq?: number } : never;

/**
 * What a provider adapter yields from `ChatModel._stream`: deltas, usage and data without
 * their `seq` (the run stamps it), plus the provider's finish reason and response metadata,
 * which the run folds into its `finish` event.
 *
 * Yield a fresh object per part: the run stamps `seq` onto it and passes it on as the event,
 * so nothing is copied per chunk.
 */
export type ModelStreamPart =
  | WithoutSeq<TextDeltaEvent | ReasoningDeltaEvent | ToolCallDeltaEvent | DataEvent | UsageEvent>
  | ModelFinishPart
  | ModelMetadataPart
  | ModelReasoningBlockPart;

/** The provider's reason for ending, normalised. */
export interface ModelFinishPart {
  type: 'finish';
  reason: Exclude<FinishReason, 'aborted' | 'error'>;
  /** The provider's own word for it (`end_turn`, `max_tokens`, ...). */
  providerReason?: string;
}

/**
 * A finished reasoning block with the provider's opaque data (a signed or redacted Anthropic
 * thinking block). The run adds it to the message's `reasoningBlocks`; it is no event of its
 * own (a block's text already went out as `reasoning-delta`s). Yield it when the block ends.
 */
export interface ModelReasoningBlockPart {
  type: 'reasoning-block';
  block: ReasoningBlock;
}

/** Facts about the provider's response. */
export interface ModelMetadataPart {
  type: 'response-metadata';
  /** The provider's response id (for support requests). */
  responseId?: string;
  /** The model that actually answered. */
  model?: string;
}
