// What the SDK's stream does with each server-sent event, done on sluice's batched reader
// (see `sdkStreamEvents`): the same skipped pings, the same JSON, the same errors.
import { APIError } from '@anthropic-ai/sdk';
import type { ServerSentEvent } from '@sluice/core';

/**
 * Decodes one event of a Messages stream: `ping`s and unnamed events are skipped; an `error`
 * event throws the SDK's own `APIError` (no status: it came after the 200), with its error
 * type, exactly as the SDK's stream would.
 */
export function decodeAnthropicEvent(event: ServerSentEvent, response: Response): unknown {
  const name = event.event;
  if (name === undefined || name === 'ping') return undefined;
  if (name === 'error') {
    let body: unknown = event.data;
    try {
      body = JSON.parse(event.data);
    } catch {
      // Kept as text: the error still fails the stream.
    }
    const type = (body as { error?: { type?: unknown } } | null)?.error?.type;
    throw new APIError(undefined, body as object, undefined, response.headers, typeof type === 'string' ? (type as never) : undefined);
  }
  if (event.data === '') return undefined;
  try {
    return JSON.parse(event.data);
  } catch (error) {
    throw new SyntaxError(`[sluice/anthropic] the stream sent an event that is not JSON: ${event.data.slice(0, 200)}`, { cause: error });
  }
}
