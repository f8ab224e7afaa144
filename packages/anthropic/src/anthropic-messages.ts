import { InvalidArgumentError, type ChatTool, type Message, type ReasoningBlock } from '@sluice/core';

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

/** sluice messages as Anthropic's `system` and `messages` (tool results go in user turns). */
export function toAnthropicPrompt(messages: readonly Message[]): AnthropicPrompt {
  const system: string[] = [];
  const converted: Record<string, unknown>[] = [];
  messages.forEach((message, index) => {
    switch (message.role) {
      case 'system':
        system.push(message.content);
        return;
      case 'tool': {
        if (typeof message.toolCallId !== 'string' || message.toolCallId === '') {
          throw new InvalidArgumentError({
            argument: `messages[${index}].toolCallId`,
            message: `[sluice/anthropic] messages[${index}] has role "tool" but no toolCallId: set it to the id of the tool call it answers`,
          });
        }
        const result = { type: 'tool_result', tool_use_id: message.toolCallId, content: message.content };
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
        if (calls.length === 0 && reasoning.length === 0) {
          converted.push({ role: 'assistant', content: message.content });
          return;
        }
        // Thinking first: with thinking on, Anthropic refuses a tool-calling turn sent back without it.
        const blocks: unknown[] = reasoningContent(reasoning);
        if (message.content !== '') blocks.push({ type: 'text', text: message.content });
        for (const call of calls) blocks.push({ type: 'tool_use', id: call.id, name: call.name, input: toolInput(call.arguments, index) });
        converted.push({ role: 'assistant', content: blocks });
        return;
      }
      default:
        converted.push({ role: 'user', content: message.content });
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
