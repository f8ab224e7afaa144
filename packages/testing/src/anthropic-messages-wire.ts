// Anthropic Messages, as recorded in fixtures/anthropic-*.sse and described in anthropic-errors.json.
import type { FakeAnthropicReply } from './fake-anthropic-reply.js';
import type { FakeFinishReason } from './fake-turn.js';
import { countInputTokens, outputTokens, planReply, type ReplyPlan } from './reply-tokens.js';
import { eventFrame, type Frame } from './sse-frame-writer.js';

const STOP_REASONS: Record<FakeFinishReason, string> = {
  stop: 'end_turn',
  length: 'max_tokens',
  'tool-calls': 'tool_use',
  'content-filter': 'refusal',
};

/** Anthropic's error type for each HTTP status. */
export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return 'api_error';
  }
}

function blocksOf(content: unknown): { type?: unknown; signature?: unknown }[] {
  if (typeof content === 'string') return [{ type: 'text' }];
  return Array.isArray(content) ? (content as { type?: unknown; signature?: unknown }[]) : [];
}

/**
 * What the real API refuses (400 `invalid_request_error`) in how a request sends thinking back:
 * a `thinking` block without its signature; and, with `thinking` on, a final assistant turn that
 * calls tools (the one the last tool results answer) not starting with a `thinking` or
 * `redacted_thinking` block. The messages are modelled on the API's own.
 */
export function thinkingProblem(body: Record<string, unknown>): string | undefined {
  const messages = Array.isArray(body.messages) ? (body.messages as { role?: unknown; content?: unknown }[]) : [];
  for (const [index, message] of messages.entries()) {
    if (message.role !== 'assistant') continue;
    for (const [position, block] of blocksOf(message.content).entries()) {
      if (block.type === 'thinking' && (typeof block.signature !== 'string' || block.signature === '')) {
        return `messages.${index}.content.${position}.thinking.signature: Field required`;
      }
    }
  }
  const thinking = body.thinking as { type?: unknown } | undefined;
  if (thinking?.type !== 'enabled' && thinking?.type !== 'adaptive') return undefined;
  const last = messages.findLastIndex((message) => message.role === 'assistant');
  if (last === -1) return undefined;
  const blocks = blocksOf(messages[last]?.content);
  if (!blocks.some((block) => block.type === 'tool_use')) return undefined;
  const first = blocks[0]?.type;
  if (first === 'thinking' || first === 'redacted_thinking') return undefined;
  return (
    `messages.${last}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${String(first)}\`. ` +
    'When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceding the lastmost set of `tool_use` and `tool_result` blocks). ' +
    'We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`.'
  );
}

/**
 * What the real API refuses (400 `invalid_request_error`) in a request's `tool_choice`: one
 * without `tools`; one naming a tool the request does not declare; and, with `thinking` on, one
 * that forces tool use (`any` or `tool`: thinking allows only `auto` and `none`).
 */
export function toolChoiceProblem(body: Record<string, unknown>): string | undefined {
  const choice = body.tool_choice as { type?: unknown; name?: unknown } | undefined;
  if (choice === undefined) return undefined;
  const tools = Array.isArray(body.tools) ? (body.tools as { name?: unknown }[]) : [];
  if (tools.length === 0 && choice.type !== 'none') return 'tool_choice may only be specified while providing tools.';
  if (choice.type === 'tool' && !tools.some((tool) => tool.name === choice.name)) {
    return `tool_choice.name: tool \`${String(choice.name)}\` is not among the request's tools.`;
  }
  const thinking = body.thinking as { type?: unknown } | undefined;
  if ((thinking?.type === 'enabled' || thinking?.type === 'adaptive') && (choice.type === 'any' || choice.type === 'tool')) {
    return 'Thinking may not be enabled when tool_choice forces tool use.';
  }
  return undefined;
}

interface MessagesContext {
  id: string;
  model: string;
  plan: ReplyPlan;
  reply: FakeAnthropicReply;
  body: Record<string, unknown>;
}

/**
 * The reply as a request whose `tool_choice` forces a tool (`tool`, or `any`: the first tool)
 * gets it: a model made to call a tool cannot answer in text, so a scripted text-only reply whose
 * text is a JSON object is sent as that tool's input, in the text's chunks (how a test scripts
 * the JSON a forced `json_response`-style tool returns). Any other reply is sent as scripted.
 */
function forcedToolReply(body: Record<string, unknown>, reply: FakeAnthropicReply): FakeAnthropicReply {
  const choice = body.tool_choice as { type?: unknown; name?: unknown } | undefined;
  const tools = Array.isArray(body.tools) ? (body.tools as { name?: unknown }[]) : [];
  const name = choice?.type === 'tool' ? choice.name : choice?.type === 'any' ? tools[0]?.name : undefined;
  if (typeof name !== 'string' || reply.text === undefined || (reply.toolCalls ?? []).length > 0) return reply;
  const chunks = typeof reply.text === 'string' ? [reply.text] : [...reply.text];
  const text = chunks.join('');
  try {
    const input: unknown = JSON.parse(text);
    if (typeof input !== 'object' || input === null || Array.isArray(input)) return reply;
  } catch {
    return reply;
  }
  return { ...reply, text: undefined, toolCalls: [{ name, arguments: text, chunks }] };
}

function context(body: Record<string, unknown>, scripted: FakeAnthropicReply, sequence: number): MessagesContext {
  const reply = forcedToolReply(body, scripted);
  return {
    id: `msg_sluice${String(sequence).padStart(16, '0')}`,
    model: reply.model ?? (typeof body.model === 'string' ? body.model : 'claude-haiku-4-5'),
    plan: planReply(reply, 'toolu_sluice', sequence),
    reply,
    body,
  };
}

function stopReason(messages: MessagesContext): string {
  if (messages.reply.stopSequence !== undefined) return 'stop_sequence';
  return STOP_REASONS[messages.reply.finishReason ?? (messages.plan.toolCalls.length > 0 ? 'tool-calls' : 'stop')];
}

function inputTokens(messages: MessagesContext): number {
  return messages.reply.usage?.inputTokens ?? countInputTokens([messages.body.system, messages.body.messages]);
}

function cachedTokens(messages: MessagesContext): number {
  return messages.reply.usage?.cachedInputTokens ?? 0;
}

function cacheCreationTokens(messages: MessagesContext): number {
  return messages.reply.cacheCreationInputTokens ?? 0;
}

function signature(text: string): string {
  return Buffer.from(`sluice:${text.length}`).toString('base64');
}

/** The message object `message_start` carries (and, with content, a non-streamed reply). */
function messageObject(messages: MessagesContext, content: unknown[], stop: string | null, output: number): Record<string, unknown> {
  return {
    model: messages.model,
    id: messages.id,
    type: 'message',
    role: 'assistant',
    content,
    stop_reason: stop,
    stop_sequence: stop === null ? null : (messages.reply.stopSequence ?? null),
    usage: {
      input_tokens: inputTokens(messages),
      cache_creation_input_tokens: cacheCreationTokens(messages),
      cache_read_input_tokens: cachedTokens(messages),
      cache_creation: { ephemeral_5m_input_tokens: cacheCreationTokens(messages), ephemeral_1h_input_tokens: 0 },
      output_tokens: output,
      service_tier: 'standard',
    },
  };
}

/** The frames of a streamed message (`stream: true`). */
export function messageFrames(body: Record<string, unknown>, reply: FakeAnthropicReply, sequence: number): Frame[] {
  const messages = context(body, reply, sequence);
  const { plan } = messages;
  const frames: Frame[] = [];
  const emit = (type: string, fields: Record<string, unknown>, kind: Frame['kind'] = 'meta'): void => {
    frames.push(eventFrame(type, { type, ...fields }, kind));
  };
  emit('message_start', { message: messageObject(messages, [], null, 1) });
  let index = 0;
  const start = (block: Record<string, unknown>): void => {
    emit('content_block_start', { index, content_block: block });
    // The recorded streams send one ping right after the first block starts.
    if (index === 0) emit('ping', {});
  };
  for (const data of reply.redactedThinking ?? []) {
    start({ type: 'redacted_thinking', data });
    emit('content_block_stop', { index });
    index++;
  }
  if (plan.reasoning.length > 0) {
    start({ type: 'thinking', thinking: '', signature: '' });
    for (const thinking of plan.reasoning) emit('content_block_delta', { index, delta: { type: 'thinking_delta', thinking } }, 'content');
    emit('content_block_delta', { index, delta: { type: 'signature_delta', signature: signature(plan.reasoning.join('')) } });
    emit('content_block_stop', { index });
    index++;
  }
  if (plan.text.length > 0) {
    start({ type: 'text', text: '' });
    for (const text of plan.text) emit('content_block_delta', { index, delta: { type: 'text_delta', text } }, 'content');
    emit('content_block_stop', { index });
    index++;
  }
  for (const call of plan.toolCalls) {
    start({ type: 'tool_use', id: call.id, name: call.name, input: {} });
    emit('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: '' } });
    for (const piece of call.chunks) emit('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } }, 'content');
    emit('content_block_stop', { index });
    index++;
  }
  const output = reply.usage?.outputTokens ?? outputTokens(plan);
  emit(
    'message_delta',
    {
      delta: { stop_reason: stopReason(messages), stop_sequence: reply.stopSequence ?? null },
      usage:
        reply.messageDeltaUsage === 'output-only'
          ? { output_tokens: output }
          : { input_tokens: inputTokens(messages), cache_creation_input_tokens: cacheCreationTokens(messages), cache_read_input_tokens: cachedTokens(messages), output_tokens: output },
    },
    'end',
  );
  emit('message_stop', {}, 'end');
  return frames;
}

/** The body of a non-streamed message. */
export function messageResponse(body: Record<string, unknown>, reply: FakeAnthropicReply, sequence: number): Record<string, unknown> {
  const messages = context(body, reply, sequence);
  const { plan } = messages;
  const content: unknown[] = [];
  for (const data of reply.redactedThinking ?? []) content.push({ type: 'redacted_thinking', data });
  if (plan.reasoning.length > 0) {
    const thinking = plan.reasoning.join('');
    content.push({ type: 'thinking', thinking, signature: signature(thinking) });
  }
  if (plan.text.length > 0) content.push({ type: 'text', text: plan.text.join('') });
  for (const call of plan.toolCalls) content.push({ type: 'tool_use', id: call.id, name: call.name, input: JSON.parse(call.arguments || '{}') });
  return messageObject(messages, content, stopReason(messages), reply.usage?.outputTokens ?? outputTokens(plan));
}

/** The `error` event a stream fails with after its 200. */
export function messageErrorFrames(errorType = 'overloaded_error', message = 'Overloaded'): Frame[] {
  return [eventFrame('error', { type: 'error', error: { type: errorType, message } }, 'end')];
}
