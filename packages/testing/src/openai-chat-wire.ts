// OpenAI Chat Completions, as recorded in fixtures/openai-chat-*.sse and openai-chat-completion.json.
import type { FakeFinishReason, FakeReply } from './fake-turn.js';
import { countInputTokens, outputTokens, planReply, type ReplyPlan } from './reply-tokens.js';
import { dataFrame, type Frame } from './sse-frame-writer.js';

const FINISH_REASONS: Record<FakeFinishReason, string> = {
  stop: 'stop',
  length: 'length',
  'tool-calls': 'tool_calls',
  'content-filter': 'content_filter',
};

interface ChatContext {
  id: string;
  created: number;
  model: string;
  plan: ReplyPlan;
  reply: FakeReply;
  body: Record<string, unknown>;
}

function finishReason(context: ChatContext): string {
  const reason = context.reply.finishReason ?? (context.plan.toolCalls.length > 0 ? 'tool-calls' : 'stop');
  return FINISH_REASONS[reason];
}

function usage(context: ChatContext): Record<string, unknown> {
  const scripted = context.reply.usage ?? {};
  const prompt = scripted.inputTokens ?? countInputTokens(context.body.messages);
  const completion = scripted.outputTokens ?? outputTokens(context.plan);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: scripted.cachedInputTokens ?? 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: scripted.reasoningTokens ?? context.plan.reasoning.length,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function context(body: Record<string, unknown>, reply: FakeReply, sequence: number): ChatContext {
  return {
    id: `chatcmpl-sluice${String(sequence).padStart(8, '0')}`,
    created: Math.floor(Date.now() / 1000),
    model: reply.model ?? (typeof body.model === 'string' ? body.model : 'gpt-4o-mini'),
    plan: planReply(reply, 'call_sluice', sequence),
    reply,
    body,
  };
}

/** The frames of a streamed chat completion (`stream: true`). */
export function chatCompletionFrames(body: Record<string, unknown>, reply: FakeReply, sequence: number): Frame[] {
  const chat = context(body, reply, sequence);
  const streamOptions = (body.stream_options ?? {}) as { include_usage?: unknown; include_obfuscation?: unknown };
  const includeUsage = streamOptions.include_usage === true;
  const obfuscate = streamOptions.include_obfuscation !== false;
  // The envelope every chunk shares; `usage: null` appears only when usage was asked for.
  const chunk = (choices: unknown[], usageValue?: unknown): Record<string, unknown> => {
    const value: Record<string, unknown> = {
      id: chat.id,
      object: 'chat.completion.chunk',
      created: chat.created,
      model: chat.model,
      service_tier: 'default',
      system_fingerprint: 'fp_sluice0000',
      choices,
    };
    if (includeUsage) value.usage = usageValue ?? null;
    if (obfuscate) value.obfuscation = 'sluice';
    return value;
  };
  const choice = (delta: Record<string, unknown>, finish: string | null = null): unknown[] => [
    { index: 0, delta, logprobs: null, finish_reason: finish },
  ];

  const { plan } = chat;
  const frames: Frame[] = [];
  const hasText = plan.text.length > 0;
  frames.push(dataFrame(chunk(choice({ role: 'assistant', content: hasText ? '' : null, refusal: null })), 'meta'));
  // OpenAI-compatible servers (DeepSeek, vLLM) stream reasoning as `reasoning_content`.
  for (const piece of plan.reasoning) frames.push(dataFrame(chunk(choice({ content: null, reasoning_content: piece })), 'content'));
  for (const piece of plan.text) frames.push(dataFrame(chunk(choice({ content: piece })), 'content'));
  plan.toolCalls.forEach((call, index) => {
    frames.push(
      dataFrame(
        chunk(choice({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] })),
        'meta',
      ),
    );
    for (const piece of call.chunks) {
      frames.push(dataFrame(chunk(choice({ tool_calls: [{ index, function: { arguments: piece } }] })), 'content'));
    }
  });
  frames.push(dataFrame(chunk(choice({}, finishReason(chat))), 'end'));
  if (includeUsage) frames.push(dataFrame(chunk([], usage(chat)), 'end'));
  frames.push({ wire: 'data: [DONE]\n\n', kind: 'end' });
  return frames;
}

/** The body of a non-streamed chat completion. */
export function chatCompletion(body: Record<string, unknown>, reply: FakeReply, sequence: number): Record<string, unknown> {
  const chat = context(body, reply, sequence);
  const { plan } = chat;
  const message: Record<string, unknown> = {
    content: plan.text.length > 0 ? plan.text.join('') : null,
    refusal: null,
    role: 'assistant',
    annotations: [],
  };
  if (plan.reasoning.length > 0) message.reasoning_content = plan.reasoning.join('');
  if (plan.toolCalls.length > 0) {
    message.tool_calls = plan.toolCalls.map((call) => ({
      id: call.id,
      function: { arguments: call.arguments, name: call.name },
      type: 'function',
    }));
  }
  return {
    id: chat.id,
    choices: [{ finish_reason: finishReason(chat), index: 0, logprobs: null, message }],
    created: chat.created,
    model: chat.model,
    object: 'chat.completion',
    service_tier: 'default',
    system_fingerprint: 'fp_sluice0000',
    usage: usage(chat),
  };
}

/** The frame a chat stream fails with after its 200 (the SDK throws on a payload with `error`). */
export function chatErrorFrames(errorType = 'server_error', message = 'The server had an error while processing your request.'): Frame[] {
  return [dataFrame({ error: { message, type: errorType, param: null, code: null } }, 'end')];
}
