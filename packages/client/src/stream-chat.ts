import type { Message } from '@sluice/core';
import { ChatRun, type ChatRunCallbacks } from './chat-run.js';
import { Endpoint, type ConnectionOptions } from './endpoint.js';
import { describeValue, invalidArgument } from './invalid-argument.js';
import { resumePolicy, type ResumeOptions } from './resume-options.js';

/** What `streamChat` sends and how it keeps the stream alive. */
export interface StreamChatOptions extends ConnectionOptions, ChatRunCallbacks {
  /**
   * The new messages of this turn (at least one); the server prepends the conversation's
   * history. A user message's content may be a list of parts (text, image, file: core's
   * `ContentPart`), within the server's limits.
   */
  messages: readonly Message[];
  /** The conversation to continue. Default: the server starts a new one (see `chat.conversationId`). */
  conversationId?: string;
  /** One of the server's allowed models. Default: the server's default model. */
  model?: string;
  /**
   * Stops listening when aborted, at any moment (before the request, during an async
   * `headers()`, while connecting, streaming or waiting to resume): no request is sent after
   * it, the connection closes, `done` rejects and the iterator throws an `aborted` error. It
   * does not stop the run on the server: `cancel()` does.
   */
  signal?: AbortSignal;
  /** How a dropped connection is resumed; `false` reports a drop as a `connection_lost` error. Defaults: see `ResumeOptions`. */
  resume?: ResumeOptions | false;
  /**
   * How often `POST /chat` is sent again when the server answers 429 with a `Retry-After` of at
   * most 10 s (its concurrent-run cap or rate limit: no run was started). Default 2. Other
   * failures of the POST are never retried: a 5xx or a broken connection may have started a
   * run, and posting again would start a second one.
   */
  maxRetries?: number;
}

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

function checkMessages(messages: unknown): void {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw invalidArgument(
      `messages must be a non-empty array such as [{ role: 'user', content: 'Hi' }], got ${Array.isArray(messages) ? 'an empty array' : describeValue(messages)}`,
    );
  }
  messages.forEach((message: unknown, index) => {
    if (typeof message !== 'object' || message === null) {
      throw invalidArgument(`messages[${index}] must be an object like { role: 'user', content: 'Hi' }, got ${describeValue(message)}`);
    }
    const { role, content } = message as { role?: unknown; content?: unknown };
    if (typeof role !== 'string' || !ROLES.has(role)) {
      throw invalidArgument(`messages[${index}].role must be 'system', 'user', 'assistant' or 'tool', got ${describeValue(role)}`);
    }
    // The server checks each part (its type, fields and limits) and answers 400 naming it.
    if (typeof content !== 'string' && !(Array.isArray(content) && content.length > 0)) {
      throw invalidArgument(
        `messages[${index}].content must be a string or a non-empty array of content parts such as [{ type: 'text', text: 'Hi' }], got ${describeValue(content)}`,
      );
    }
  });
}

/** An optional, non-empty string option. */
export function checkOptionalId(name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'string' || value === '')) {
    throw invalidArgument(`${name} must be a non-empty string when given, got ${describeValue(value)}`);
  }
}

/** Validates the options every run shares. */
export function checkRunOptions(options: { signal?: unknown; onStatusChange?: unknown; onResume?: unknown }): void {
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw invalidArgument(`signal must be an AbortSignal, got ${describeValue(options.signal)}`);
  }
  for (const name of ['onStatusChange', 'onResume'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') {
      throw invalidArgument(`${name} must be a function, got ${describeValue(options[name])}`);
    }
  }
}

/**
 * Starts a chat run on a sluice server (`POST /chat`) and streams its events as they are
 * generated. A dropped connection is resumed from the last event received
 * (`GET /runs/:id/events` with `Last-Event-ID`), so the iterator yields every event once, in
 * order, with no gap. The request starts at once; bad options throw a `SluiceClientError`
 * with code `invalid_argument` right away.
 *
 * @example
 * ```ts
 * import { streamChat } from '@sluice/client';
 *
 * const chat = streamChat({
 *   baseURL: 'http://localhost:3000/api',
 *   messages: [{ role: 'user', content: 'Write me a song about sparkling water.' }],
 *   onStatusChange: (status) => console.error(`[${status}]`),
 * });
 * for await (const event of chat) {
 *   if (event.type === 'text-delta') process.stdout.write(event.text);
 * }
 * const { finishReason, usage } = await chat.done;
 * ```
 */
export function streamChat(options: StreamChatOptions): ChatRun {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument(`streamChat needs options like { baseURL, messages }, got ${describeValue(options)}`);
  }
  const endpoint = new Endpoint(options);
  checkMessages(options.messages);
  checkOptionalId('conversationId', options.conversationId);
  checkOptionalId('model', options.model);
  checkRunOptions(options);
  const maxRetries = options.maxRetries ?? 2;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw invalidArgument(`maxRetries must be a whole number >= 0, got ${describeValue(options.maxRetries)}`);
  }
  const body: { messages: readonly Message[]; conversationId?: string; model?: string } = { messages: options.messages };
  if (options.conversationId !== undefined) body.conversationId = options.conversationId;
  if (options.model !== undefined) body.model = options.model;
  return new ChatRun({
    endpoint,
    start: { method: 'POST', body: JSON.stringify(body) },
    conversationId: options.conversationId,
    signal: options.signal,
    resume: resumePolicy(options.resume),
    maxRetries,
    onStatusChange: options.onStatusChange,
    onResume: options.onResume,
  });
}
