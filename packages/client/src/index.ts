/**
 * The sluice client for browsers and Node >= 22: stream a chat run's events from a sluice
 * server (`@sluice/express`, `@sluice/http`) over Server-Sent Events, with automatic resume
 * after a dropped connection (no gap, no duplicate), `cancel()`, and typed errors. Built on
 * `fetch` and `eventsource-parser`; the wire protocol is `@sluice/http`'s PROTOCOL.md.
 *
 * @example
 * ```ts
 * import { getConversation, streamChat, SluiceClientError } from '@sluice/client';
 *
 * const baseURL = 'http://localhost:3000/api';
 * const chat = streamChat({ baseURL, messages: [{ role: 'user', content: 'Hi!' }] });
 * try {
 *   for await (const event of chat) {
 *     if (event.type === 'text-delta') process.stdout.write(event.text);
 *   }
 * } catch (error) {
 *   if (SluiceClientError.isInstance(error)) console.error(error.code, error.message);
 *   throw error;
 * }
 * const history = await getConversation(baseURL, chat.conversationId!);
 * console.log(history.messages.length); // 2: the question and the answer
 * ```
 *
 * @packageDocumentation
 */
export { streamChat, type StreamChatOptions } from './stream-chat.js';
export { resumeRun, type ResumeRunOptions } from './resume-run.js';
export { getConversation, type Conversation, type GetConversationOptions } from './get-conversation.js';
export type { ChatRun, ChatRunCallbacks, ChatRunResult, ChatStatus } from './chat-run.js';
export type { ConnectionOptions, FetchFunction, HeadersOption } from './endpoint.js';
export type { ResumeAttempt, ResumeOptions } from './resume-options.js';
export { SluiceClientError, type SluiceClientErrorCode, type SluiceClientErrorOptions } from './sluice-client-error.js';
export type { FinishReason, Message, StreamEvent, Usage } from '@sluice/core';
