import { InvalidArgumentError, textOf, type ContentPart, type Message } from '@sluice/core';
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

/** The image types both OpenAI APIs take inline. */
const IMAGE_TYPES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

function refusePart(argument: string, problem: string): never {
  throw new InvalidArgumentError({ argument, message: `[sluice/openai] ${argument} ${problem}` });
}

function dataUrl(mediaType: string, data: string): string {
  return `data:${mediaType};base64,${data}`;
}

/** An image part's URL for OpenAI: its own URL, or its base64 data as a `data:` URL. */
function imageUrlOf(part: Extract<ContentPart, { type: 'image' }>, argument: string): string {
  if ('url' in part) return part.url;
  if (!IMAGE_TYPES.has(part.mediaType)) refusePart(argument, `is a ${part.mediaType} image: OpenAI takes image/png, image/jpeg, image/gif and image/webp`);
  return dataUrl(part.mediaType, part.data);
}

/** Checks a file part is a PDF, the only file type OpenAI's chat APIs read. */
function checkPdf(part: Extract<ContentPart, { type: 'file' }>, argument: string): void {
  if (part.mediaType !== 'application/pdf') refusePart(argument, `is a ${part.mediaType} file: OpenAI takes PDF files (application/pdf) only; send other documents as text`);
}

/** A content part as a Chat Completions content part. */
function toChatPart(part: ContentPart, argument: string): Record<string, unknown> {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'image':
      return { type: 'image_url', image_url: { url: imageUrlOf(part, argument) } };
    case 'file':
      checkPdf(part, argument);
      if ('url' in part) refusePart(argument, 'is a file given by URL: Chat Completions takes files as base64 `data` only (use `api: "responses"` for file URLs)');
      // Chat Completions requires a file name with inline data.
      return { type: 'file', file: { file_data: dataUrl(part.mediaType, part.data), filename: part.filename ?? 'document.pdf' } };
  }
}

/** A content part as a Responses API input content part. */
function toResponsesPart(part: ContentPart, argument: string): Record<string, unknown> {
  switch (part.type) {
    case 'text':
      return { type: 'input_text', text: part.text };
    case 'image':
      return { type: 'input_image', image_url: imageUrlOf(part, argument), detail: 'auto' };
    case 'file':
      checkPdf(part, argument);
      if ('url' in part) return { type: 'input_file', file_url: part.url, ...(part.filename === undefined ? {} : { filename: part.filename }) };
      return { type: 'input_file', file_data: dataUrl(part.mediaType, part.data), filename: part.filename ?? 'document.pdf' };
  }
}

/** sluice messages as Chat Completions messages. */
export function toChatMessages(messages: readonly Message[]): Record<string, unknown>[] {
  return messages.map((message, index) => {
    switch (message.role) {
      case 'tool':
        return { role: 'tool', tool_call_id: toolCallIdOf(message, index), content: textOf(message.content) };
      case 'assistant': {
        const calls = message.toolCalls ?? [];
        const text = textOf(message.content);
        const converted: Record<string, unknown> = { role: 'assistant', content: calls.length > 0 && text === '' ? null : text };
        if (calls.length > 0) {
          converted.tool_calls = calls.map((call) => ({ id: call.id, type: 'function', function: { name: call.name, arguments: call.arguments } }));
        }
        return converted;
      }
      default: {
        const content =
          typeof message.content === 'string' || message.role === 'system'
            ? textOf(message.content)
            : message.content.map((part, position) => toChatPart(part, `messages[${index}].content[${position}]`));
        const converted: Record<string, unknown> = { role: message.role, content };
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
      input.push({ type: 'function_call_output', call_id: toolCallIdOf(message, index), output: textOf(message.content) });
      return;
    }
    if (message.role === 'user' && typeof message.content !== 'string') {
      input.push({ role: 'user', content: message.content.map((part, position) => toResponsesPart(part, `messages[${index}].content[${position}]`)) });
    } else if (message.role !== 'assistant' || textOf(message.content) !== '' || (message.toolCalls ?? []).length === 0) {
      input.push({ role: message.role, content: textOf(message.content) });
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
