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
 * A piece of a message's content, for messages that carry more than text: text, an image (by URL
 * or as base64 data) or a file (a PDF, by URL or as base64 data). Image and file parts go in user
 * messages; each provider adapter says which it takes and refuses the others before any request
 * (see its README).
 *
 * @example
 * ```ts
 * const parts: ContentPart[] = [
 *   { type: 'text', text: 'What is in this picture?' },
 *   { type: 'image', data: pngBase64, mediaType: 'image/png' },
 * ];
 * ```
 */
export type ContentPart = TextPart | ImagePart | FilePart;

/** Text, as a part of a message's content. */
export interface TextPart {
  type: 'text';
  text: string;
}

/**
 * An image: at a URL the provider fetches (`https:` or a `data:` URL), or inline as base64
 * `data` with its `mediaType` (`image/png`, `image/jpeg`, `image/gif`, `image/webp`).
 */
export type ImagePart = { type: 'image'; url: string; mediaType?: string } | { type: 'image'; data: string; mediaType: string };

/**
 * A document (`mediaType: 'application/pdf'` is what providers take): inline as base64 `data`,
 * or at a URL, with an optional file name.
 */
export type FilePart =
  | { type: 'file'; data: string; mediaType: string; filename?: string }
  | { type: 'file'; url: string; mediaType: string; filename?: string };

/** A message's content: text, or a list of parts (user messages with images or files). */
export type MessageContent = string | ContentPart[];

/**
 * The text of a message's content: the string itself, or its text parts joined (images and
 * files have no text). Use it wherever code needs a message as text.
 */
export function textOf(content: MessageContent): string {
  if (typeof content === 'string') return content;
  let text = '';
  for (const part of content) if (part.type === 'text') text += part.text;
  return text;
}

/**
 * A chat message: a plain, JSON-serialisable object. `HumanMessage`, `SystemMessage`,
 * `AIMessage` and `ToolMessage` are thin constructors for it.
 */
export interface Message {
  role: Role;
  /** Text, or a list of parts (see `ContentPart`). Assistant messages a run produces carry text. */
  content: MessageContent;
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

function fieldsOf(input: MessageContent | MessageFields): MessageFields {
  return typeof input === 'string' || Array.isArray(input) ? { content: input } : input;
}

/**
 * A user's message: `new HumanMessage('Hello!')`, or with parts:
 * `new HumanMessage([{ type: 'text', text: 'What is this?' }, { type: 'image', url }])`.
 */
export class HumanMessage implements Message {
  readonly role = 'user' as const;
  content: MessageContent;
  name?: string;
  constructor(input: MessageContent | MessageFields) {
    const fields = fieldsOf(input);
    this.content = fields.content;
    if (fields.name !== undefined) this.name = fields.name;
  }
}

/** A system prompt: `new SystemMessage('You are terse.')`. */
export class SystemMessage implements Message {
  readonly role = 'system' as const;
  content: MessageContent;
  constructor(input: MessageContent | MessageFields) {
    this.content = fieldsOf(input).content;
  }
}

/** An assistant message: the result of `invoke()`, or a prior turn you send back. Its content is text. */
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
    this.content = textOf(fields.content);
    if (fields.toolCalls !== undefined) this.toolCalls = fields.toolCalls;
    if (fields.reasoning !== undefined) this.reasoning = fields.reasoning;
    if (fields.reasoningBlocks !== undefined) this.reasoningBlocks = fields.reasoningBlocks;
    if (fields.finishReason !== undefined) this.finishReason = fields.finishReason;
    if (fields.usage !== undefined) this.usage = fields.usage;
  }
}

/** The answer to a tool call: `new ToolMessage({ content: '42', toolCallId: 'call_1' })`. Its content is text. */
export class ToolMessage implements Message {
  readonly role = 'tool' as const;
  content: string;
  toolCallId: string;
  constructor(fields: MessageFields & { toolCallId: string }) {
    this.content = textOf(fields.content);
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
