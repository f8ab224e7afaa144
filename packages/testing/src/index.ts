/**
 * `@sluice/testing`: local fake OpenAI and Anthropic servers that speak the providers' real
 * streaming wire formats (shapes taken from recorded streams, see `fixtures/`), with scripted
 * replies, pacing and faults, and a record of every request. Zero runtime dependencies: point
 * any SDK or HTTP client at `server.baseURL`.
 *
 * @example
 * ```ts
 * import { startFakeOpenAI } from '@sluice/testing';
 *
 * const server = await startFakeOpenAI();
 * server.script(
 *   { status: 429, retryAfterMs: 10 },                                  // first request: rate limited
 *   { text: 'Hello there!', tokenDelayMs: 5 },                          // second: a paced reply
 *   { text: 'Partial answer', fault: { type: 'reset', afterChunks: 1 } }, // third: the connection resets
 * );
 * // ... run the code under test with baseURL: server.baseURL ...
 * console.log(server.requests.map((request) => request.outcome));
 * await server.close();
 * ```
 */
export {
  isHttpError,
  type FakeFinishReason,
  type FakeHttpError,
  type FakeReply,
  type FakeStreamFault,
  type FakeToolCall,
  type FakeTurn,
  type FakeUsage,
} from './fake-turn.js';
export type { FakeProviderServer, FakeServerOptions } from './fake-provider-server.js';
export type { RecordedRequest, RequestOutcome } from './recorded-request.js';
export type { FakeAnthropicReply, FakeAnthropicServer, FakeAnthropicTurn } from './fake-anthropic-reply.js';
export { startFakeAnthropic } from './start-fake-anthropic.js';
export { startFakeOpenAI } from './start-fake-openai.js';
export { tokenize } from './reply-tokens.js';
// The suite itself is `@sluice/testing/run-hub-conformance`: it imports vitest, an optional peer.
export type { RunHubFixture } from './run-hub-conformance.js';
