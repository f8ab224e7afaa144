import type { FakeReply, FakeToolCall } from './fake-turn.js';

/** Word-sized tokens, each with its leading whitespace; joined, they give the text back. */
export function tokenize(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

function pieces(value: string | readonly string[] | undefined): readonly string[] {
  if (value === undefined) return [];
  return typeof value === 'string' ? tokenize(value) : value;
}

/** A tool call ready to stream. */
export interface ToolCallPlan {
  id: string;
  name: string;
  arguments: string;
  chunks: readonly string[];
}

/** A reply resolved into the pieces every wire format streams. */
export interface ReplyPlan {
  reasoning: readonly string[];
  text: readonly string[];
  toolCalls: ToolCallPlan[];
}

export function planReply(reply: FakeReply, idPrefix: string, sequence: number): ReplyPlan {
  const toolCalls = (reply.toolCalls ?? []).map((call: FakeToolCall, index): ToolCallPlan => {
    const args = typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
    const chunks = call.chunks ?? (args.match(/[\s\S]{1,8}/g) ?? []);
    if (chunks.join('') !== args) {
      throw new TypeError(`[sluice/testing] toolCalls[${index}].chunks must join to its arguments`);
    }
    return { id: call.id ?? `${idPrefix}${sequence}x${index}`, name: call.name, arguments: args, chunks };
  });
  return { reasoning: pieces(reply.reasoning), text: pieces(reply.text), toolCalls };
}

/** Rough input token count of a request: the words of every string in its messages. */
export function countInputTokens(value: unknown): number {
  if (typeof value === 'string') return tokenize(value).length;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + countInputTokens(item), 0);
  if (value !== null && typeof value === 'object') {
    let sum = 0;
    for (const [key, item] of Object.entries(value)) if (key !== 'role' && key !== 'type') sum += countInputTokens(item);
    return sum;
  }
  return 0;
}

/** Counts of a reply for its usage report. */
export function outputTokens(plan: ReplyPlan): number {
  let count = plan.reasoning.length + plan.text.length;
  for (const call of plan.toolCalls) count += call.chunks.length;
  return count;
}
