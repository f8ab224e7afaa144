import type { Message } from '@sluice/core';
import { Endpoint, type ConnectionOptions } from './endpoint.js';
import { errorFromResponse } from './error-from-response.js';
import { describeValue, invalidArgument } from './invalid-argument.js';
import { SluiceClientError } from './sluice-client-error.js';

/** A conversation's history, as `GET /conversations/:id` answers it. */
export interface Conversation {
  conversationId: string;
  /** Oldest first; assistant messages carry `finishReason` and `usage` when the server stored them. */
  messages: Message[];
}

/** Per-request options of `getConversation`. */
export interface GetConversationOptions extends Omit<ConnectionOptions, 'baseURL'> {
  signal?: AbortSignal;
}

/**
 * Loads a conversation's history (`GET /conversations/:id`), e.g. to show it again after a
 * page reload. Rejects with a `SluiceClientError` (`not_found` for an unknown conversation or
 * one that belongs to someone else).
 *
 * @example
 * ```ts
 * import { getConversation } from '@sluice/client';
 *
 * const { messages } = await getConversation('http://localhost:3000/api', conversationId);
 * for (const message of messages) console.log(`${message.role}: ${textOf(message.content)}`); // textOf from @sluice/core
 * ```
 */
export async function getConversation(
  baseURL: string | URL,
  conversationId: string,
  options: GetConversationOptions = {},
): Promise<Conversation> {
  const endpoint = new Endpoint({ ...options, baseURL });
  if (typeof conversationId !== 'string' || conversationId === '') {
    throw invalidArgument(`conversationId must be a non-empty string, got ${describeValue(conversationId)}`);
  }
  const url = endpoint.url('conversations', conversationId);
  const headers = await endpoint.headers({ Accept: 'application/json' });
  let response: Response;
  try {
    response = await endpoint.fetch(url, { method: 'GET', headers, signal: options.signal });
  } catch (cause) {
    if (options.signal?.aborted === true) {
      throw new SluiceClientError({ code: 'aborted', message: `[sluice/client] GET ${url} stopped: the signal aborted`, cause: options.signal.reason });
    }
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new SluiceClientError({ code: 'network_error', message: `[sluice/client] GET ${url} failed: ${reason}`, retryable: true, cause });
  }
  if (!response.ok) throw await errorFromResponse(response, `GET ${url}`);
  let body: unknown;
  try {
    body = await response.json();
  } catch (cause) {
    throw new SluiceClientError({ code: 'invalid_response', message: `[sluice/client] GET ${url} answered a body that is not JSON: does baseURL point at the sluice router?`, cause });
  }
  const messages = (body as { messages?: unknown } | null)?.messages;
  if (!Array.isArray(messages)) {
    throw new SluiceClientError({ code: 'invalid_response', message: `[sluice/client] GET ${url} answered JSON without a messages array: not the sluice protocol` });
  }
  return body as Conversation;
}
