/**
 * `@sluice/anthropic`: `ChatAnthropic`, a sluice chat model over the official
 * `@anthropic-ai/sdk` (Messages API, streaming, thinking, tool use).
 *
 * @example
 * ```ts
 * import { ChatAnthropic } from '@sluice/anthropic';
 *
 * const chat = new ChatAnthropic({ model: 'claude-haiku-4-5' });
 * for await (const event of chat.stream('Write me a haiku about rivers.')) {
 *   if (event.type === 'text-delta') process.stdout.write(event.text);
 * }
 * ```
 */
export { ChatAnthropic, type ChatAnthropicOptions } from './chat-anthropic.js';
export type { ChatTool, RetryOptions } from '@sluice/core';
