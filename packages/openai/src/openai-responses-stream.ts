// Responses API events and responses as sluice parts.
import { ModelError, type FinishReason, type ModelStreamPart, type ProviderEvents, type ProviderStream, type Usage } from '@sluice/core';
import { truncatedError } from './openai-error.js';

interface ResponsesUsage {
  input_tokens?: number;
  output_tokens?: number;
  total_tokens?: number;
  input_tokens_details?: { cached_tokens?: number } | null;
  output_tokens_details?: { reasoning_tokens?: number } | null;
}

interface OutputItem {
  type?: string;
  call_id?: string;
  name?: string;
  arguments?: string;
  content?: { type?: string; text?: string; refusal?: string }[];
  summary?: { text?: string }[];
}

/** The fields of a response object the adapter reads (a structural subset of the SDK's type). */
export interface ResponseBody {
  id?: string;
  model?: string;
  status?: string;
  output?: OutputItem[];
  usage?: ResponsesUsage | null;
  incomplete_details?: { reason?: string } | null;
  error?: { code?: string | null; message?: string } | null;
}

/** The fields of a Responses stream event the adapter reads. */
export interface ResponsesEvent {
  type: string;
  delta?: string;
  output_index?: number;
  item?: OutputItem;
  response?: ResponseBody;
}

function responsesUsage(usage: ResponsesUsage): Usage {
  const normalised: Usage = {};
  if (usage.input_tokens !== undefined) normalised.inputTokens = usage.input_tokens;
  if (usage.output_tokens !== undefined) normalised.outputTokens = usage.output_tokens;
  if (usage.total_tokens !== undefined) normalised.totalTokens = usage.total_tokens;
  const reasoning = usage.output_tokens_details?.reasoning_tokens;
  if (reasoning !== undefined) normalised.reasoningTokens = reasoning;
  const cached = usage.input_tokens_details?.cached_tokens;
  if (cached !== undefined) normalised.cachedInputTokens = cached;
  return normalised;
}

function finishParts(response: ResponseBody, sawToolCall: boolean, refused: boolean): ModelStreamPart[] {
  const parts: ModelStreamPart[] = [];
  if (response.usage) parts.push({ type: 'usage', usage: responsesUsage(response.usage) });
  let reason: Exclude<FinishReason, 'aborted' | 'error'> = sawToolCall ? 'tool-calls' : 'stop';
  let providerReason = response.status ?? 'completed';
  if (response.status === 'incomplete') {
    providerReason = response.incomplete_details?.reason ?? 'incomplete';
    reason = providerReason === 'content_filter' ? 'content-filter' : 'length';
  } else if (refused) {
    reason = 'content-filter';
    providerReason = 'refusal';
  }
  parts.push({ type: 'finish', reason, providerReason });
  return parts;
}

/** A `response.failed` as a ModelError. */
function failedError(response: ResponseBody): ModelError {
  const providerCode = response.error?.code ?? 'failed';
  const code =
    providerCode === 'rate_limit_exceeded' ? 'rate_limited' : providerCode === 'server_error' ? 'server_error' : providerCode === 'insufficient_quota' ? 'quota_exceeded' : 'response_failed';
  return new ModelError({
    code,
    provider: 'openai',
    retryable: code === 'rate_limited' || code === 'server_error',
    message: `[sluice/openai] ${code}: the response failed (${providerCode}): ${response.error?.message ?? 'no message'}${response.id ? ` (response ${response.id})` : ''}`,
  });
}

/** Reads a streamed response. */
export function responsesStream(events: ProviderEvents<ResponsesEvent>): ProviderStream<ResponsesEvent> {
  const toolIndexes = new Map<number, number>();
  let ended = false;
  let refused = false;
  return {
    ...events,
    translate(event) {
      switch (event.type) {
        case 'response.output_text.delta':
          return event.delta ? { type: 'text-delta', text: event.delta } : undefined;
        case 'response.reasoning_summary_text.delta':
        case 'response.reasoning_text.delta':
          return event.delta ? { type: 'reasoning-delta', text: event.delta } : undefined;
        case 'response.refusal.delta':
          refused = true;
          return event.delta ? { type: 'text-delta', text: event.delta } : undefined;
        case 'response.function_call_arguments.delta': {
          const index = toolIndexes.get(event.output_index ?? -1);
          return index === undefined || !event.delta ? undefined : { type: 'tool-call-delta', index, argumentsDelta: event.delta };
        }
        case 'response.output_item.added': {
          const item = event.item;
          if (item?.type !== 'function_call') return undefined;
          const index = toolIndexes.size;
          toolIndexes.set(event.output_index ?? index, index);
          return { type: 'tool-call-delta', index, id: item.call_id ?? '', name: item.name ?? '', argumentsDelta: item.arguments ?? '' };
        }
        case 'response.created':
          return { type: 'response-metadata', responseId: event.response?.id, model: event.response?.model };
        case 'response.completed':
        case 'response.incomplete':
          ended = true;
          return event.response ? finishParts(event.response, toolIndexes.size > 0, refused) : undefined;
        case 'response.failed':
          ended = true;
          throw failedError(event.response ?? {});
        default:
          return undefined;
      }
    },
    end() {
      if (!ended) throw truncatedError('response.completed (or response.incomplete / response.failed)');
    },
  };
}

/** Reads a non-streamed response as the same parts. */
export function responseBodyStream(body: ResponseBody): ProviderStream<ResponseBody> {
  return {
    events: [body],
    translate(response) {
      if (response.status === 'failed') throw failedError(response);
      const parts: ModelStreamPart[] = [{ type: 'response-metadata', responseId: response.id, model: response.model }];
      let tools = 0;
      let refused = false;
      for (const item of response.output ?? []) {
        if (item.type === 'reasoning') {
          const text = (item.summary ?? []).map((summary) => summary.text ?? '').join('');
          if (text !== '') parts.push({ type: 'reasoning-delta', text });
        } else if (item.type === 'message') {
          for (const content of item.content ?? []) {
            if (content.type === 'refusal') refused = true;
            const text = content.type === 'refusal' ? content.refusal : content.text;
            if (text) parts.push({ type: 'text-delta', text });
          }
        } else if (item.type === 'function_call') {
          parts.push({ type: 'tool-call-delta', index: tools++, id: item.call_id ?? '', name: item.name ?? '', argumentsDelta: item.arguments ?? '' });
        }
      }
      parts.push(...finishParts(response, tools > 0, refused));
      return parts;
    },
    end() {},
  };
}
