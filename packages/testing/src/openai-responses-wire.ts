// The OpenAI Responses API, as recorded in fixtures/openai-responses-*.sse.
import type { FakeReply } from './fake-turn.js';
import { countInputTokens, outputTokens, planReply, type ReplyPlan } from './reply-tokens.js';
import { eventFrame, type Frame } from './sse-frame-writer.js';

interface ResponsesContext {
  id: string;
  createdAt: number;
  model: string;
  plan: ReplyPlan;
  reply: FakeReply;
  body: Record<string, unknown>;
  sequence: number;
}

function context(body: Record<string, unknown>, reply: FakeReply, sequence: number): ResponsesContext {
  return {
    id: `resp_sluice${String(sequence).padStart(8, '0')}`,
    createdAt: Math.floor(Date.now() / 1000),
    model: reply.model ?? (typeof body.model === 'string' ? body.model : 'gpt-4o-mini'),
    plan: planReply(reply, 'call_sluice', sequence),
    reply,
    body,
    sequence,
  };
}

function usage(responses: ResponsesContext): Record<string, unknown> {
  const scripted = responses.reply.usage ?? {};
  const input = scripted.inputTokens ?? countInputTokens([responses.body.input, responses.body.instructions]);
  const output = scripted.outputTokens ?? outputTokens(responses.plan);
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: scripted.cachedInputTokens ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: scripted.reasoningTokens ?? responses.plan.reasoning.length },
    total_tokens: input + output,
  };
}

type Status = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** The response object, with the field set of the recorded stream. */
function responseObject(responses: ResponsesContext, status: Status, output: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const body = responses.body;
  return {
    id: responses.id,
    object: 'response',
    created_at: responses.createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: typeof body.instructions === 'string' ? body.instructions : null,
    max_output_tokens: typeof body.max_output_tokens === 'number' ? body.max_output_tokens : null,
    max_tool_calls: null,
    model: responses.model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    prompt_cache_key: null,
    reasoning: { effort: null, summary: null },
    safety_identifier: null,
    service_tier: status === 'in_progress' ? 'auto' : 'default',
    store: body.store !== false,
    temperature: typeof body.temperature === 'number' ? body.temperature : 1,
    text: { format: { type: 'text' }, verbosity: 'medium' },
    tool_choice: 'auto',
    tools: Array.isArray(body.tools) ? body.tools : [],
    top_logprobs: 0,
    top_p: 1,
    truncation: 'disabled',
    usage: status === 'in_progress' ? null : usage(responses),
    user: null,
    metadata: {},
    ...extra,
  };
}

interface OutputItems {
  reasoningId: string;
  messageId: string;
  items: unknown[];
}

function outputItems(responses: ResponsesContext): OutputItems {
  const suffix = String(responses.sequence).padStart(8, '0');
  const { plan } = responses;
  const reasoningId = `rs_sluice${suffix}`;
  const messageId = `msg_sluice${suffix}`;
  const items: unknown[] = [];
  if (plan.reasoning.length > 0) {
    items.push({ id: reasoningId, type: 'reasoning', summary: [{ type: 'summary_text', text: plan.reasoning.join('') }] });
  }
  if (plan.text.length > 0) {
    items.push({ id: messageId, type: 'message', status: 'completed', content: [textPart(plan.text.join(''))], role: 'assistant' });
  }
  plan.toolCalls.forEach((call, index) => {
    items.push({ id: `fc_sluice${suffix}x${index}`, type: 'function_call', status: 'completed', arguments: call.arguments, call_id: call.id, name: call.name });
  });
  return { reasoningId, messageId, items };
}

function textPart(text: string): Record<string, unknown> {
  return { type: 'output_text', annotations: [], logprobs: [], text };
}

function terminal(responses: ResponsesContext, output: unknown[]): { event: string; response: Record<string, unknown> } {
  const reason = responses.reply.finishReason;
  if (reason === 'length' || reason === 'content-filter') {
    const incomplete = { reason: reason === 'length' ? 'max_output_tokens' : 'content_filter' };
    return { event: 'response.incomplete', response: responseObject(responses, 'incomplete', output, { incomplete_details: incomplete }) };
  }
  return { event: 'response.completed', response: responseObject(responses, 'completed', output) };
}

/** The frames of a streamed response (`stream: true`). */
export function responsesFrames(body: Record<string, unknown>, reply: FakeReply, sequence: number): Frame[] {
  const responses = context(body, reply, sequence);
  const { plan } = responses;
  const { reasoningId, messageId, items } = outputItems(responses);
  const frames: Frame[] = [];
  let sequenceNumber = 0;
  const emit = (type: string, fields: Record<string, unknown>, kind: Frame['kind'] = 'meta'): void => {
    frames.push(eventFrame(type, { type, sequence_number: sequenceNumber++, ...fields }, kind));
  };
  emit('response.created', { response: responseObject(responses, 'in_progress', []) });
  emit('response.in_progress', { response: responseObject(responses, 'in_progress', []) });
  let outputIndex = 0;
  if (plan.reasoning.length > 0) {
    const text = plan.reasoning.join('');
    const base = { item_id: reasoningId, output_index: outputIndex, summary_index: 0 };
    emit('response.output_item.added', { output_index: outputIndex, item: { id: reasoningId, type: 'reasoning', summary: [] } });
    emit('response.reasoning_summary_part.added', { ...base, part: { type: 'summary_text', text: '' } });
    for (const delta of plan.reasoning) emit('response.reasoning_summary_text.delta', { ...base, delta, obfuscation: 'sluice' }, 'content');
    emit('response.reasoning_summary_text.done', { ...base, text });
    emit('response.reasoning_summary_part.done', { ...base, part: { type: 'summary_text', text } });
    emit('response.output_item.done', { output_index: outputIndex, item: items[outputIndex] });
    outputIndex++;
  }
  if (plan.text.length > 0) {
    const text = plan.text.join('');
    const base = { item_id: messageId, output_index: outputIndex, content_index: 0 };
    emit('response.output_item.added', {
      output_index: outputIndex,
      item: { id: messageId, type: 'message', status: 'in_progress', content: [], role: 'assistant' },
    });
    emit('response.content_part.added', { ...base, part: textPart('') });
    for (const delta of plan.text) emit('response.output_text.delta', { ...base, delta, logprobs: [], obfuscation: 'sluice' }, 'content');
    emit('response.output_text.done', { ...base, text, logprobs: [] });
    emit('response.content_part.done', { ...base, part: textPart(text) });
    emit('response.output_item.done', { output_index: outputIndex, item: items[outputIndex] });
    outputIndex++;
  }
  for (const call of plan.toolCalls) {
    const item = items[outputIndex] as { id: string };
    emit('response.output_item.added', {
      output_index: outputIndex,
      item: { id: item.id, type: 'function_call', status: 'in_progress', arguments: '', call_id: call.id, name: call.name },
    });
    for (const delta of call.chunks) {
      emit('response.function_call_arguments.delta', { delta, item_id: item.id, obfuscation: 'sluice', output_index: outputIndex }, 'content');
    }
    emit('response.function_call_arguments.done', { arguments: call.arguments, item_id: item.id, output_index: outputIndex });
    emit('response.output_item.done', { output_index: outputIndex, item });
    outputIndex++;
  }
  const end = terminal(responses, items);
  emit(end.event, { response: end.response }, 'end');
  return frames;
}

/** The body of a non-streamed response: the object `response.completed` carries. */
export function responsesObject(body: Record<string, unknown>, reply: FakeReply, sequence: number): Record<string, unknown> {
  const responses = context(body, reply, sequence);
  return terminal(responses, outputItems(responses).items).response;
}

/** An `error` event then `response.failed`, as recorded when a response fails after it started. */
export function responsesErrorFrames(
  body: Record<string, unknown>,
  reply: FakeReply,
  sequence: number,
  sequenceNumber: number,
  errorType = 'server_error',
  message = 'The server had an error while processing your request.',
): Frame[] {
  const responses = context(body, reply, sequence);
  const failed = responseObject(responses, 'failed', [], { error: { code: errorType, message }, usage: null });
  return [
    eventFrame('error', { type: 'error', sequence_number: sequenceNumber, error: { type: errorType, code: errorType, message, param: null } }, 'end'),
    eventFrame('response.failed', { type: 'response.failed', sequence_number: sequenceNumber + 1, response: failed }, 'end'),
  ];
}
