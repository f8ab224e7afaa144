import { InvalidArgumentError, type Message } from '@sluice/core';
import type { ChatTool } from './chat-tool.js';

function toolCallIdOf(message: Message, index: number): string {
  if (typeof message.toolCallId !== 'string' || message.toolCallId === '') {
    throw new InvalidArgumentError({
      argument: `messages[${index}].toolCallId`,
      message: `[sluice/openai] messages[${index}] has role "tool" but no toolCallId: set it to the id of the tool call it answers`,
    });
  }
  return message.toolCallId;
}

/** sluice messages as Chat Completions messages. */
export function toChatMessages(messages: readonly Message[]): Record<string, unknown>[] {
  return messages.map((message, index) => {
    switch (message.role) {
      case 'tool':
        return { role: 'tool', tool_call_id: toolCallIdOf(message, index), content: message.content };
      case 'assistant': {
        const calls = message.toolCalls ?? [];
        const converted: Record<string, unknown> = { role: 'assistant', content: calls.length > 0 && message.content === '' ? null : message.content };
        if (calls.length > 0) {
          converted.tool_calls = calls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }));
        }
        return converted;
      }
      default: {
        const converted: Record<string, unknown> = { role: message.role, content: message.content };
        if (message.name !== undefined) converted.name = message.name;
        return converted;
      }
    }
  });
}

/** sluice messages as Responses API input items. */
export function toResponsesInput(messages: readonly Message[]): Record<string, unknown>[] {
  const input: Record<string, unknown>[] = [];
  messages.forEach((message, index) => {
    if (message.role === 'tool') {
      input.push({ type: 'function_call_output', call_id: toolCallIdOf(message, index), output: message.content });
      return;
    }
    if (message.role !== 'assistant' || message.content !== '' || (message.toolCalls ?? []).length === 0) {
      input.push({ role: message.role, content: message.content });
    }
    for (const call of message.role === 'assistant' ? (message.toolCalls ?? []) : []) {
      input.push({ type: 'function_call', call_id: call.id, name: call.name, arguments: call.arguments });
    }
  });
  return input;
}

const EMPTY_SCHEMA = { type: 'object', properties: {} };

export function toChatTools(tools: readonly ChatTool[]): Record<string, unknown>[] {
  return tools.map((tool) => ({
    type: 'function',
    function: { name: tool.name, ...(tool.description === undefined ? {} : { description: tool.description }), parameters: tool.parameters ?? EMPTY_SCHEMA },
  }));
}

export function toResponsesTools(tools: readonly ChatTool[]): Record<string, unknown>[] {
  return tools.map((tool) => ({
    type: 'function',
    name: tool.name,
    ...(tool.description === undefined ? {} : { description: tool.description }),
    parameters: tool.parameters ?? EMPTY_SCHEMA,
    strict: false,
  }));
}
