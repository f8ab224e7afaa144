/**
 * `@sluice/openai`: `ChatOpenAI`, a sluice chat model over the official `openai` SDK
 * (Chat Completions or the Responses API), for OpenAI and OpenAI-compatible servers.
 *
 * @example
 * ```ts
 * import { ChatOpenAI } from '@sluice/openai';
 *
 * const chat = new ChatOpenAI({ model: 'gpt-4o-mini' });
 * for await (const event of chat.stream('Write me a haiku about rivers.')) {
 *   if (event.type === 'text-delta') process.stdout.write(event.text);
 * }
 * ```
 */
export { ChatOpenAI, type ChatOpenAIOptions } from './chat-openai.js';
export type { ChatTool } from './chat-tool.js';
export type { RetryOptions } from '@sluice/core';
