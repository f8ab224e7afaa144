// Anthropic Messages stream events and messages as sluice parts.
import type { FinishReason, ModelStreamPart, ProviderEvents, ProviderStream, ReasoningBlock, Usage } from '@sluice/core';
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
  signature?: string;
  data?: string;
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
  delta?: { type?: string; text?: string; thinking?: string; signature?: string; partial_json?: string; stop_reason?: string | null };
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

/**
 * A thinking or redacted block as a part that puts it on the message's `reasoningBlocks`, or
 * nothing for thinking without a signature (a cut stream): it could not be sent back.
 */
function reasoningBlockPart(block: ContentBlock, thinking: string): ModelStreamPart | undefined {
  let reasoning: ReasoningBlock;
  if (block.type === 'redacted_thinking' && typeof block.data === 'string') reasoning = { type: 'redacted', data: block.data };
  else if (block.type === 'thinking' && block.signature) reasoning = { type: 'thinking', text: thinking, signature: block.signature };
  else return undefined;
  return { type: 'reasoning-block', block: reasoning };
}

/** A thinking block being streamed: its text so far and its signature (from `signature_delta`). */
interface ThinkingInProgress {
  parts: string[];
  signature: string;
}

/**
 * Reads a streamed message. With `jsonTool` (a JSON response format, asked for with a forced
 * call to that tool) the tool's input is the reply's text, its `tool_use` stop is a plain stop,
 * and any text the model writes besides is left out: it would make the reply not JSON.
 */
export function messageStream(events: ProviderEvents<MessageStreamEvent>, jsonTool?: string): ProviderStream<MessageStreamEvent> {
  const toolIndexes = new Map<number, number>();
  const jsonIndexes = new Set<number>();
  const thinking = new Map<number, ThinkingInProgress>();
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
              return delta.text && jsonTool === undefined ? { type: 'text-delta', text: delta.text } : undefined;
            case 'thinking_delta':
              if (!delta.thinking) return undefined;
              thinking.get(event.index ?? -1)?.parts.push(delta.thinking);
              return { type: 'reasoning-delta', text: delta.thinking };
            case 'signature_delta': {
              // As the SDK does: the signature replaces any earlier one.
              const block = thinking.get(event.index ?? -1);
              if (block !== undefined && delta.signature !== undefined) block.signature = delta.signature;
              return undefined;
            }
            case 'input_json_delta': {
              if (jsonIndexes.has(event.index ?? -1)) return delta.partial_json ? { type: 'text-delta', text: delta.partial_json } : undefined;
              const index = toolIndexes.get(event.index ?? -1);
              return index === undefined || !delta.partial_json ? undefined : { type: 'tool-call-delta', index, argumentsDelta: delta.partial_json };
            }
            default:
              return undefined; // citations_delta
          }
        }
        case 'content_block_start': {
          const block = event.content_block;
          if (block?.type === 'tool_use' && jsonTool !== undefined && block.name === jsonTool) {
            jsonIndexes.add(event.index ?? -1);
            return undefined;
          }
          if (block?.type === 'tool_use') {
            const index = toolIndexes.size;
            toolIndexes.set(event.index ?? index, index);
            return { type: 'tool-call-delta', index, id: block.id ?? '', name: block.name ?? '', argumentsDelta: '' };
          }
          if (block?.type === 'text' && block.text && jsonTool === undefined) return { type: 'text-delta', text: block.text };
          if (block?.type === 'thinking') {
            thinking.set(event.index ?? -1, { parts: block.thinking ? [block.thinking] : [], signature: block.signature ?? '' });
            return block.thinking ? { type: 'reasoning-delta', text: block.thinking } : undefined;
          }
          // A redacted block comes whole: nothing to show, only data to send back.
          if (block?.type === 'redacted_thinking') return reasoningBlockPart(block, '');
          return undefined;
        }
        case 'content_block_stop': {
          // A thinking block is complete (and signed) only once it stops.
          const block = thinking.get(event.index ?? -1);
          if (block === undefined) return undefined;
          thinking.delete(event.index ?? -1);
          return reasoningBlockPart({ type: 'thinking', signature: block.signature }, block.parts.join(''));
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
          if (reason) parts.push({ type: 'finish', reason: finishReason(reason, jsonTool), providerReason: reason });
          return parts;
        }
        case 'message_stop':
          stopped = true;
          return undefined;
        default:
          return undefined; // ping never reaches here: the decoder drops it
      }
    },
    end() {
      // Without message_stop the answer may be cut short: never report that as success.
      if (!stopped) throw truncatedError();
    },
  };
}

/** The finish reason; the forced call of the JSON tool is how a JSON reply ends: a stop. */
function finishReason(reason: string, jsonTool: string | undefined): Exclude<FinishReason, 'aborted' | 'error'> {
  return jsonTool !== undefined && reason === 'tool_use' ? 'stop' : anthropicFinishReason(reason);
}

/** Reads a non-streamed message as the same parts (`jsonTool` as for `messageStream`). */
export function messageBodyStream(body: MessageBody, jsonTool?: string): ProviderStream<MessageBody> {
  return {
    events: [body],
    translate(message) {
      const parts: ModelStreamPart[] = [{ type: 'response-metadata', responseId: message.id, model: message.model }];
      let tools = 0;
      for (const block of message.content ?? []) {
        if (block.type === 'thinking' || block.type === 'redacted_thinking') {
          if (block.type === 'thinking' && block.thinking) parts.push({ type: 'reasoning-delta', text: block.thinking });
          const reasoning = reasoningBlockPart(block, block.thinking ?? '');
          if (reasoning !== undefined) parts.push(reasoning);
        } else if (block.type === 'text' && block.text) {
          if (jsonTool === undefined) parts.push({ type: 'text-delta', text: block.text });
        } else if (block.type === 'tool_use' && jsonTool !== undefined && block.name === jsonTool) {
          parts.push({ type: 'text-delta', text: JSON.stringify(block.input ?? {}) });
        } else if (block.type === 'tool_use') {
          parts.push({ type: 'tool-call-delta', index: tools++, id: block.id ?? '', name: block.name ?? '', argumentsDelta: JSON.stringify(block.input ?? {}) });
        }
      }
      if (message.usage) parts.push({ type: 'usage', usage: anthropicUsage(message.usage, true) });
      if (message.stop_reason) parts.push({ type: 'finish', reason: finishReason(message.stop_reason, jsonTool), providerReason: message.stop_reason });
      return parts;
    },
    end() {},
  };
}
