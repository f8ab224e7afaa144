/** Why a scripted reply ends, in sluice's words; each server sends its provider's own word for it. */
export type FakeFinishReason = 'stop' | 'length' | 'tool-calls' | 'content-filter';

/** A tool call the fake model makes. */
export interface FakeToolCall {
  /** The call's id. Default: a generated `call_…` (OpenAI) or `toolu_…` (Anthropic) id. */
  id?: string;
  name: string;
  /** The arguments: JSON text, or an object that is serialised. */
  arguments: string | Record<string, unknown>;
  /** Stream the arguments in exactly these pieces (they must join to the arguments). Default: 8-character pieces. */
  chunks?: readonly string[];
}

/** Token usage the server reports. Unset fields are counted from the request and the reply. */
export interface FakeUsage {
  inputTokens?: number;
  outputTokens?: number;
  reasoningTokens?: number;
  cachedInputTokens?: number;
}

/**
 * A fault that breaks a streamed reply after `afterChunks` content chunks (text, reasoning or
 * tool-argument deltas; default 0: before the first one):
 * - `error-event`: the provider's mid-stream error frame, then the end of the body;
 * - `truncate`: the body ends cleanly but without the stream's terminator
 *   (`[DONE]`, `response.completed`, `message_stop`);
 * - `stall`: no bytes for `stallMs` (default: until the client goes away), then the rest;
 * - `reset`: the TCP connection is reset (after a 30 ms pause, so the client reads what was sent first).
 */
export type FakeStreamFault =
  | { type: 'error-event'; afterChunks?: number; errorType?: string; message?: string }
  | { type: 'truncate'; afterChunks?: number }
  | { type: 'stall'; afterChunks?: number; stallMs?: number }
  | { type: 'reset'; afterChunks?: number };

/** A scripted reply: what the fake model says, how fast, and how it breaks. */
export interface FakeReply {
  /** The reply's text: a string (streamed word by word) or the exact chunks. */
  text?: string | readonly string[];
  /** Reasoning streamed before the text (OpenAI-compatible `reasoning_content`, Responses reasoning summary, Anthropic thinking). */
  reasoning?: string | readonly string[];
  /** Tool calls streamed after the text. */
  toolCalls?: readonly FakeToolCall[];
  /** Default `tool-calls` when there are tool calls, else `stop`. */
  finishReason?: FakeFinishReason;
  usage?: FakeUsage;
  /** The model named in the response. Default: the model the request asked for. */
  model?: string;
  /** Milliseconds before each content chunk. Default: the server's `tokenDelayMs` (0). */
  tokenDelayMs?: number;
  fault?: FakeStreamFault;
}

/** A scripted HTTP error, answered before any stream starts (with the provider's error body). */
export interface FakeHttpError {
  status: number;
  /** Sends `retry-after: <seconds>`. */
  retryAfter?: number;
  /** Sends `retry-after-ms: <milliseconds>`. */
  retryAfterMs?: number;
  /** The provider's error type (default by status: `rate_limit_error`, `overloaded_error`, `server_error`…). */
  errorType?: string;
  message?: string;
}

/** What the server answers one request with. */
export type FakeTurn = FakeReply | FakeHttpError;

/** True for a scripted HTTP error. */
export function isHttpError(turn: FakeTurn): turn is FakeHttpError {
  return typeof (turn as FakeHttpError).status === 'number';
}
