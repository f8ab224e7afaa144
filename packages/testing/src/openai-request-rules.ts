/**
 * Rules the real OpenAI API enforces on a request's combination of parameters, answered with
 * the same 400 as the real API, so an adapter that sends a combination the provider refuses
 * fails its tests here rather than in production.
 */

/** Every text of the messages or input items, lowercased (for the JSON-mode rule). */
function textsOf(items: unknown): string {
  if (typeof items === 'string') return items.toLowerCase();
  if (!Array.isArray(items)) return '';
  const texts: string[] = [];
  for (const item of items as { content?: unknown }[]) {
    const content = item?.content;
    if (typeof content === 'string') texts.push(content);
    else if (Array.isArray(content)) for (const part of content as { text?: unknown }[]) if (typeof part?.text === 'string') texts.push(part.text);
  }
  return texts.join('\n').toLowerCase();
}

function hasTools(body: Record<string, unknown>): boolean {
  return Array.isArray(body.tools) && body.tools.length > 0;
}

/** What the real Chat Completions API refuses in this body, or undefined. */
export function chatRequestProblem(body: Record<string, unknown>): string | undefined {
  if (body.tool_choice !== undefined && !hasTools(body)) {
    return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.";
  }
  const format = body.response_format as { type?: unknown } | undefined;
  if (format?.type === 'json_object' && !textsOf(body.messages).includes('json')) {
    return "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.";
  }
  return undefined;
}

/** What the real Responses API refuses in this body, or undefined. */
export function responsesRequestProblem(body: Record<string, unknown>): string | undefined {
  if (body.tool_choice !== undefined && !hasTools(body)) {
    return "Tool choice is only allowed when 'tools' are specified.";
  }
  const format = (body.text as { format?: { type?: unknown } } | undefined)?.format;
  if (format?.type === 'json_object' && !`${textsOf(body.input)}\n${typeof body.instructions === 'string' ? body.instructions.toLowerCase() : ''}`.includes('json')) {
    return "Response input messages must contain the word 'json' in some form to use 'text.format' of type 'json_object'.";
  }
  return undefined;
}
