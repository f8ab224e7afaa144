// Chat Completions chunks and responses as sluice parts.
import type { FinishReason, ModelStreamPart, ProviderEvents, ProviderStream, Usage } from '@sluice/core';
import { truncatedError } from './openai-error.js';

/** The fields of a chat completion chunk the adapter reads (a structural subset of the SDK's type). */
export interface ChatChunk {
  id?: string;
  model?: string;
  choices?: {
    delta?: {
      content?: string | null;
      reasoning_content?: string | null;
      reasoning?: string | null;
      tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[] | null;
    };
    finish_reason?: string | null;
  }[];
  usage?: ChatUsage | null;
}

interface ChatUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

/** The fields of a non-streamed chat completion the adapter reads. */
export interface ChatCompletionBody {
  id?: string;
  model?: string;
  choices?: {
    message?: {
      content?: string | null;
      reasoning_content?: string | null;
      reasoning?: string | null;
      tool_calls?: { id: string; function?: { name?: string; arguments?: string } }[] | null;
    };
    finish_reason?: string | null;
  }[];
  usage?: ChatUsage | null;
}

/** Chat Completions' finish reasons in sluice's words. */
export function chatFinishReason(reason: string): Exclude<FinishReason, 'aborted' | 'error'> {
  switch (reason) {
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool-calls';
    case 'content_filter':
      return 'content-filter';
    default:
      return 'stop';
  }
}

export function chatUsage(usage: ChatUsage): Usage {
  const normalised: Usage = {};
  if (usage.prompt_tokens !== undefined) normalised.inputTokens = usage.prompt_tokens;
  if (usage.completion_tokens !== undefined) normalised.outputTokens = usage.completion_tokens;
  if (usage.total_tokens !== undefined) normalised.totalTokens = usage.total_tokens;
  const reasoning = usage.completion_tokens_details?.reasoning_tokens;
  if (reasoning !== undefined) normalised.reasoningTokens = reasoning;
  const cached = usage.prompt_tokens_details?.cached_tokens;
  if (cached !== undefined) normalised.cachedInputTokens = cached;
  return normalised;
}

/** Reads a streamed chat completion. */
export function chatStream(events: ProviderEvents<ChatChunk>): ProviderStream<ChatChunk> {
  let started = false;
  let finished = false;
  return {
    ...events,
    translate(chunk) {
      const choice = chunk.choices?.[0];
      const delta = choice?.delta;
      // The hot path: a chunk with one piece of text.
      if (started && delta !== undefined && typeof delta.content === 'string' && delta.content !== '' && !delta.tool_calls && !choice?.finish_reason && !chunk.usage) {
        return { type: 'text-delta', text: delta.content };
      }
      const parts: ModelStreamPart[] = [];
      if (!started) {
        started = true;
        parts.push({ type: 'response-metadata', responseId: chunk.id, model: chunk.model });
      }
      if (delta !== undefined) {
        // OpenAI-compatible servers stream reasoning as `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter, Ollama).
        const reasoning = delta.reasoning_content ?? delta.reasoning;
        if (typeof reasoning === 'string' && reasoning !== '') parts.push({ type: 'reasoning-delta', text: reasoning });
        if (typeof delta.content === 'string' && delta.content !== '') parts.push({ type: 'text-delta', text: delta.content });
        for (const call of delta.tool_calls ?? []) {
          const part: ModelStreamPart = { type: 'tool-call-delta', index: call.index, argumentsDelta: call.function?.arguments ?? '' };
          if (call.id) part.id = call.id;
          if (call.function?.name) part.name = call.function.name;
          parts.push(part);
        }
      }
      if (choice?.finish_reason) {
        finished = true;
        parts.push({ type: 'finish', reason: chatFinishReason(choice.finish_reason), providerReason: choice.finish_reason });
      }
      if (chunk.usage) parts.push({ type: 'usage', usage: chatUsage(chunk.usage) });
      return parts.length === 0 ? undefined : parts.length === 1 ? parts[0] : parts;
    },
    end() {
      // Without its finish chunk the answer may be cut short: never report that as success.
      if (!finished) throw truncatedError('its finish_reason chunk');
    },
  };
}

/** Reads a non-streamed chat completion as the same parts. */
export function chatCompletionStream(body: ChatCompletionBody): ProviderStream<ChatCompletionBody> {
  return {
    events: [body],
    translate(completion) {
      const parts: ModelStreamPart[] = [{ type: 'response-metadata', responseId: completion.id, model: completion.model }];
      const choice = completion.choices?.[0];
      const message = choice?.message;
      const reasoning = message?.reasoning_content ?? message?.reasoning;
      if (typeof reasoning === 'string' && reasoning !== '') parts.push({ type: 'reasoning-delta', text: reasoning });
      if (typeof message?.content === 'string' && message.content !== '') parts.push({ type: 'text-delta', text: message.content });
      (message?.tool_calls ?? []).forEach((call, index) => {
        parts.push({ type: 'tool-call-delta', index, id: call.id, name: call.function?.name ?? '', argumentsDelta: call.function?.arguments ?? '' });
      });
      if (completion.usage) parts.push({ type: 'usage', usage: chatUsage(completion.usage) });
      if (choice?.finish_reason) parts.push({ type: 'finish', reason: chatFinishReason(choice.finish_reason), providerReason: choice.finish_reason });
      return parts;
    },
    end() {},
  };
}
