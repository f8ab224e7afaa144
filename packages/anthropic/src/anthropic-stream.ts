// Anthropic Messages stream events and messages as sluice parts.
import type { FinishReason, ModelStreamPart, ProviderEvents, ProviderStream, Usage } from '@sluice/core';
import { truncatedError } from './anthropic-error.js';

interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

interface ContentBlock {
  type?: string;
  text?: string;
  thinking?: string;
  id?: string;
  name?: string;
  input?: unknown;
}

/** The fields of a message the adapter reads (a structural subset of the SDK's type). */
export interface MessageBody {
  id?: string;
  model?: string;
  content?: ContentBlock[];
  stop_reason?: string | null;
  usage?: AnthropicUsage | null;
}

/** The fields of a stream event the adapter reads. */
export interface MessageStreamEvent {
  type: string;
  index?: number;
  message?: MessageBody;
  content_block?: ContentBlock;
  delta?: { type?: string; text?: string; thinking?: string; partial_json?: string; stop_reason?: string | null };
  usage?: AnthropicUsage | null;
}

/** Anthropic's stop reasons in sluice's words. */
export function anthropicFinishReason(reason: string): Exclude<FinishReason, 'aborted' | 'error'> {
  switch (reason) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool-calls';
    case 'refusal':
      return 'content-filter';
    default:
      return 'stop'; // end_turn, stop_sequence, pause_turn
  }
}

/** Anthropic counts cached input apart; sluice's inputTokens is all of the input. */
function anthropicUsage(usage: AnthropicUsage, output: boolean): Usage {
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const input = (usage.input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0) + cacheRead;
  const normalised: Usage = { inputTokens: input, cachedInputTokens: cacheRead };
  if (output && typeof usage.output_tokens === 'number') {
    normalised.outputTokens = usage.output_tokens;
    normalised.totalTokens = input + usage.output_tokens;
  }
  return normalised;
}

/**
 * The message's usage once `message_delta` came, as the SDK's `finalMessage()` accumulates it:
 * the delta's output count; its input and cache counts where present (the current API sends
 * them), else `message_start`'s (the classic format, still sent by many compatible servers and
 * proxies, has only `output_tokens`).
 */
function finalUsage(start: AnthropicUsage | undefined, delta: AnthropicUsage): AnthropicUsage {
  return {
    input_tokens: delta.input_tokens ?? start?.input_tokens,
    cache_creation_input_tokens: delta.cache_creation_input_tokens ?? start?.cache_creation_input_tokens,
    cache_read_input_tokens: delta.cache_read_input_tokens ?? start?.cache_read_input_tokens,
    output_tokens: delta.output_tokens,
  };
}

/** Reads a streamed message. */
export function messageStream(events: ProviderEvents<MessageStreamEvent>): ProviderStream<MessageStreamEvent> {
  const toolIndexes = new Map<number, number>();
  let startUsage: AnthropicUsage | undefined;
  let stopped = false;
  return {
    ...events,
    translate(event) {
      switch (event.type) {
        case 'content_block_delta': {
          const delta = event.delta;
          switch (delta?.type) {
            case 'text_delta':
              return delta.text ? { type: 'text-delta', text: delta.text } : undefined;
            case 'thinking_delta':
              return delta.thinking ? { type: 'reasoning-delta', text: delta.thinking } : undefined;
            case 'input_json_delta': {
              const index = toolIndexes.get(event.index ?? -1);
              return index === undefined || !delta.partial_json ? undefined : { type: 'tool-call-delta', index, argumentsDelta: delta.partial_json };
            }
            default:
              return undefined; // signature_delta, citations_delta
          }
        }
        case 'content_block_start': {
          const block = event.content_block;
          if (block?.type === 'tool_use') {
            const index = toolIndexes.size;
            toolIndexes.set(event.index ?? index, index);
            return { type: 'tool-call-delta', index, id: block.id ?? '', name: block.name ?? '', argumentsDelta: '' };
          }
          if (block?.type === 'text' && block.text) return { type: 'text-delta', text: block.text };
          return undefined;
        }
        case 'message_start': {
          const message = event.message;
          const parts: ModelStreamPart[] = [{ type: 'response-metadata', responseId: message?.id, model: message?.model }];
          if (message?.usage) {
            startUsage = message.usage;
            parts.push({ type: 'usage', usage: anthropicUsage(message.usage, false) });
          }
          return parts;
        }
        case 'message_delta': {
          const parts: ModelStreamPart[] = [];
          if (event.usage) parts.push({ type: 'usage', usage: anthropicUsage(finalUsage(startUsage, event.usage), true) });
          const reason = event.delta?.stop_reason;
          if (reason) parts.push({ type: 'finish', reason: anthropicFinishReason(reason), providerReason: reason });
          return parts;
        }
        case 'message_stop':
          stopped = true;
          return undefined;
        default:
          return undefined; // content_block_stop (ping never reaches here: the decoder drops it)
      }
    },
    end() {
      // Without message_stop the answer may be cut short: never report that as success.
      if (!stopped) throw truncatedError();
    },
  };
}

/** Reads a non-streamed message as the same parts. */
export function messageBodyStream(body: MessageBody): ProviderStream<MessageBody> {
  return {
    events: [body],
    translate(message) {
      const parts: ModelStreamPart[] = [{ type: 'response-metadata', responseId: message.id, model: message.model }];
      let tools = 0;
      for (const block of message.content ?? []) {
        if (block.type === 'thinking' && block.thinking) parts.push({ type: 'reasoning-delta', text: block.thinking });
        else if (block.type === 'text' && block.text) parts.push({ type: 'text-delta', text: block.text });
        else if (block.type === 'tool_use') {
          parts.push({ type: 'tool-call-delta', index: tools++, id: block.id ?? '', name: block.name ?? '', argumentsDelta: JSON.stringify(block.input ?? {}) });
        }
      }
      if (message.usage) parts.push({ type: 'usage', usage: anthropicUsage(message.usage, true) });
      if (message.stop_reason) parts.push({ type: 'finish', reason: anthropicFinishReason(message.stop_reason), providerReason: message.stop_reason });
      return parts;
    },
    end() {},
  };
}
