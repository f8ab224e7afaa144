// What the SDK's stream does with each server-sent event, done on sluice's batched reader
// (see `sdkStreamEvents`): the same terminator, the same JSON, the same errors.
import { APIError } from 'openai';
import { END_OF_EVENTS, type ServerSentEvent } from '@sluice/core';

/**
 * Decodes one event of a Chat Completions or Responses stream: `[DONE]` ends it; an `error`
 * event, or a payload carrying `error`, throws the SDK's own `APIError` (no status: it came
 * after the 200), exactly as the SDK's stream would.
 */
export function decodeOpenAIEvent(event: ServerSentEvent, response: Response): unknown {
  if (event.data === '[DONE]') return END_OF_EVENTS;
  let data: { error?: unknown } | null;
  try {
    data = JSON.parse(event.data) as { error?: unknown } | null;
  } catch (error) {
    throw new SyntaxError(`[sluice/openai] the stream sent an event that is not JSON: ${event.data.slice(0, 200)}`, { cause: error });
  }
  if (event.event === 'error') throw new APIError(undefined, (data?.error ?? data) as object, undefined, response.headers);
  if (data?.error) throw new APIError(undefined, data.error as object, undefined, response.headers);
  return data;
}
