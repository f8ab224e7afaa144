import type { FinishReason, Usage } from './stream-event.js';

/** Who wrote a message. */
export type Role = 'system' | 'user' | 'assistant' | 'tool';

/** A tool call requested by the model; `arguments` is the raw JSON text the model produced. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * A reasoning block as the provider sent it, kept so it can be sent back: opaque provider data
 * (Anthropic's signed `thinking` and encrypted `redacted_thinking` blocks). Anthropic requires
 * them, unchanged and first, in the assistant turn sent back after a tool call when thinking is
 * on. A `thinking` block's text is also in the message's `reasoning`.
 */
export type ReasoningBlock =
  /** Reasoning text with the provider's signature of it. */
  | { type: 'thinking'; text: string; signature: string }
  /** Reasoning the provider encrypted: only `data` travels. */
  | { type: 'redacted'; data: string };

/**
 * A chat message: a plain, JSON-serialisable object. `HumanMessage`, `SystemMessage`,
 * `AIMessage` and `ToolMessage` are thin constructors for it.
 */
export interface Message {
  role: Role;
  content: string;
  /** Optional author name (OpenAI's `name`). */
  name?: string;
  /** Tool calls the assistant asked for. */
  toolCalls?: ToolCall[];
  /** For `role: 'tool'`: the call this message answers. */
  toolCallId?: string;
  /** The model's reasoning text, where the provider exposes it. */
  reasoning?: string;
  /**
   * The provider's reasoning blocks, in order, as it sent them (opaque data to echo back, see
   * `ReasoningBlock`): keep them on an assistant message you send back, so that a provider which
   * checks them (Anthropic, thinking with tools) gets them. Absent when the provider sent none.
   */
  reasoningBlocks?: ReasoningBlock[];
  /** Why the assistant's message ended (assistant messages produced by a run). */
  finishReason?: FinishReason;
  /** Token usage of the run that produced this assistant message. */
  usage?: Usage;
}

/** Fields a message constructor accepts besides its content. */
export type MessageFields = Omit<Message, 'role'>;

function fieldsOf(input: string | MessageFields): MessageFields {
  return typeof input === 'string' ? { content: input } : input;
}

/** A user's message: `new HumanMessage('Hello!')`. */
export class HumanMessage implements Message {
  readonly role = 'user' as const;
  content: string;
  name?: string;
  constructor(input: string | MessageFields) {
    const fields = fieldsOf(input);
    this.content = fields.content;
    if (fields.name !== undefined) this.name = fields.name;
  }
}

/** A system prompt: `new SystemMessage('You are terse.')`. */
export class SystemMessage implements Message {
  readonly role = 'system' as const;
  content: string;
  constructor(input: string | MessageFields) {
    this.content = fieldsOf(input).content;
  }
}

/** An assistant message: the result of `invoke()`, or a prior turn you send back. */
export class AIMessage implements Message {
  readonly role = 'assistant' as const;
  content: string;
  toolCalls?: ToolCall[];
  reasoning?: string;
  reasoningBlocks?: ReasoningBlock[];
  finishReason?: FinishReason;
  usage?: Usage;
  constructor(input: string | MessageFields) {
    const fields = fieldsOf(input);
    this.content = fields.content;
    if (fields.toolCalls !== undefined) this.toolCalls = fields.toolCalls;
    if (fields.reasoning !== undefined) this.reasoning = fields.reasoning;
    if (fields.reasoningBlocks !== undefined) this.reasoningBlocks = fields.reasoningBlocks;
    if (fields.finishReason !== undefined) this.finishReason = fields.finishReason;
    if (fields.usage !== undefined) this.usage = fields.usage;
  }
}

/** The answer to a tool call: `new ToolMessage({ content: '42', toolCallId: 'call_1' })`. */
export class ToolMessage implements Message {
  readonly role = 'tool' as const;
  content: string;
  toolCallId: string;
  constructor(fields: MessageFields & { toolCallId: string }) {
    this.content = fields.content;
    this.toolCallId = fields.toolCallId;
  }
}

/**
 * A streamed piece of the assistant's message, as `onChatNewMessage` receives it:
 * the role and the content delta, with the event's `seq`.
 */
export interface MessageChunk {
  role: 'assistant';
  content: string;
  seq: number;
}
