import type { FakeProviderServer } from './fake-provider-server.js';
import type { FakeHttpError, FakeReply } from './fake-turn.js';

/**
 * A scripted reply of the fake Anthropic server: every `FakeReply` field, plus what only the
 * Messages wire format has.
 */
export interface FakeAnthropicReply extends FakeReply {
  /**
   * `redacted_thinking` blocks (their opaque `data`), sent before the thinking: what the API
   * sends when safety systems encrypted part of the model's reasoning.
   */
  redactedThinking?: readonly string[];
  /**
   * What the usage of `message_delta` carries:
   * - `cumulative` (default): input, cache and output counts, as the API sends them today;
   * - `output-only`: only `output_tokens`, the classic format many Anthropic-compatible servers
   *   and proxies still send (the input counts are then only in `message_start`).
   */
  messageDeltaUsage?: 'cumulative' | 'output-only';
  /**
   * Ends the reply as if the model had written this one of the request's `stop_sequences`:
   * `stop_reason: 'stop_sequence'` and `stop_sequence` set to it (the text does not include it).
   */
  stopSequence?: string;
  /** `cache_creation_input_tokens` to report. Default 0. */
  cacheCreationInputTokens?: number;
}

/** What the fake Anthropic server answers one request with. */
export type FakeAnthropicTurn = FakeAnthropicReply | FakeHttpError;

/** A running fake Anthropic server: its script takes Anthropic replies. */
export interface FakeAnthropicServer extends FakeProviderServer {
  script(...turns: FakeAnthropicTurn[]): this;
}
