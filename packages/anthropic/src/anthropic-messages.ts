import { InvalidArgumentError, textOf, type ChatTool, type ContentPart, type Message, type ReasoningBlock } from '@sluice/core';

/** A request's `system` and `messages`, in Anthropic's shape. */
export interface AnthropicPrompt {
  system: string | undefined;
  messages: Record<string, unknown>[];
}

function toolInput(argumentsText: string, index: number): unknown {
  if (argumentsText === '') return {};
  try {
    return JSON.parse(argumentsText);
  } catch (error) {
    throw new InvalidArgumentError({
      argument: `messages[${index}].toolCalls`,
      message: `[sluice/anthropic] messages[${index}] has a tool call whose arguments are not JSON: Anthropic needs the input as an object`,
      cause: error,
    });
  }
}

/** Reasoning blocks as Anthropic's `thinking` and `redacted_thinking` blocks, unchanged. */
function reasoningContent(blocks: readonly ReasoningBlock[]): Record<string, unknown>[] {
  return blocks.map((block) =>
    block.type === 'redacted' ? { type: 'redacted_thinking', data: block.data } : { type: 'thinking', thinking: block.text, signature: block.signature },
  );
}

/** The image types Anthropic takes. */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

function refusePart(argument: string, problem: string): never {
  throw new InvalidArgumentError({ argument, message: `[sluice/anthropic] ${argument} ${problem}` });
}

/** A part's source: base64 data (from `data`, or a `data:` URL, which Anthropic does not fetch), or a URL. */
function sourceOf(part: Extract<ContentPart, { type: 'image' | 'file' }>, argument: string): { mediaType: string | undefined; source: Record<string, unknown> } {
  if ('data' in part) return { mediaType: part.mediaType, source: { type: 'base64', media_type: part.mediaType, data: part.data } };
  const inline = /^data:([^;,]+);base64,(.*)$/s.exec(part.url);
  if (inline !== null) {
    const [, mediaType = '', data = ''] = inline;
    return { mediaType, source: { type: 'base64', media_type: mediaType, data } };
  }
  if (part.url.startsWith('data:')) refusePart(argument, 'is a data: URL that is not base64: encode it as base64');
  return { mediaType: part.mediaType, source: { type: 'url', url: part.url } };
}

/** A content part as an Anthropic content block. */
function toAnthropicBlock(part: ContentPart, argument: string): Record<string, unknown> {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'image': {
      const { mediaType, source } = sourceOf(part, argument);
      if (source.type === 'base64' && !IMAGE_TYPES.has(mediaType ?? '')) {
        refusePart(argument, `is a ${String(mediaType)} image: Anthropic takes image/png, image/jpeg, image/gif and image/webp`);
      }
      return { type: 'image', source };
    }
    case 'file': {
      if (part.mediaType !== 'application/pdf') refusePart(argument, `is a ${part.mediaType} file: Anthropic takes PDF documents (application/pdf) only; send other documents as text`);
      const { source } = sourceOf(part, argument);
      return { type: 'document', source, ...(part.filename === undefined ? {} : { title: part.filename }) };
    }
  }
}

/** sluice messages as Anthropic's `system` and `messages` (tool results go in user turns). */
export function toAnthropicPrompt(messages: readonly Message[]): AnthropicPrompt {
  const system: string[] = [];
  const converted: Record<string, unknown>[] = [];
  messages.forEach((message, index) => {
    switch (message.role) {
      case 'system':
        system.push(textOf(message.content));
        return;
      case 'tool': {
        if (typeof message.toolCallId !== 'string' || message.toolCallId === '') {
          throw new InvalidArgumentError({
            argument: `messages[${index}].toolCallId`,
            message: `[sluice/anthropic] messages[${index}] has role "tool" but no toolCallId: set it to the id of the tool call it answers`,
          });
        }
        const result = { type: 'tool_result', tool_use_id: message.toolCallId, content: textOf(message.content) };
        const previous = converted.at(-1);
        // Consecutive tool results answer one assistant turn: they share one user message.
        if (previous?.role === 'user' && Array.isArray(previous.content) && (previous.content as { type?: string }[])[0]?.type === 'tool_result') {
          (previous.content as unknown[]).push(result);
        } else {
          converted.push({ role: 'user', content: [result] });
        }
        return;
      }
      case 'assistant': {
        const calls = message.toolCalls ?? [];
        const reasoning = message.reasoningBlocks ?? [];
        const text = textOf(message.content);
        if (calls.length === 0 && reasoning.length === 0) {
          converted.push({ role: 'assistant', content: text });
          return;
        }
        // Thinking first: with thinking on, Anthropic refuses a tool-calling turn sent back without it.
        const blocks: unknown[] = reasoningContent(reasoning);
        if (text !== '') blocks.push({ type: 'text', text });
        for (const call of calls) blocks.push({ type: 'tool_use', id: call.id, name: call.name, input: toolInput(call.arguments, index) });
        converted.push({ role: 'assistant', content: blocks });
        return;
      }
      default:
        converted.push({
          role: 'user',
          content:
            typeof message.content === 'string'
              ? message.content
              : message.content.map((part, position) => toAnthropicBlock(part, `messages[${index}].content[${position}]`)),
        });
    }
  });
  return { system: system.length > 0 ? system.join('\n\n') : undefined, messages: converted };
}

export function toAnthropicTools(tools: readonly ChatTool[]): Record<string, unknown>[] {
  return tools.map((tool) => ({
    name: tool.name,
    ...(tool.description === undefined ? {} : { description: tool.description }),
    input_schema: tool.parameters ?? { type: 'object', properties: {} },
  }));
}
