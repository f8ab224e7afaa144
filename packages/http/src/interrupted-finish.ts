import type { FinishEvent, SerializedError, StreamEvent, ToolCall, Usage } from '@sluice/core';

/**
 * The terminal event of a run whose instance died, built from the events its log holds: the
 * partial text, reasoning and tool calls so far, the last usage, reason `aborted` and the error
 * saying why.
 */
export function interruptedFinish(events: readonly StreamEvent[], seq: number, error: SerializedError): FinishEvent {
  const text: string[] = [];
  const reasoning: string[] = [];
  const toolCalls: { id: string; name: string; arguments: string[] }[] = [];
  let usage: Usage | undefined;
  for (const event of events) {
    if (event.type === 'finish') return event;
    if (event.type === 'text-delta') text.push(event.text);
    else if (event.type === 'reasoning-delta') reasoning.push(event.text);
    else if (event.type === 'usage') usage = event.usage;
    else if (event.type === 'tool-call-delta') {
      const call = (toolCalls[event.index] ??= { id: '', name: '', arguments: [] });
      if (event.id !== undefined) call.id = event.id;
      if (event.name !== undefined) call.name = event.name;
      call.arguments.push(event.argumentsDelta);
    }
  }
  const message: FinishEvent['message'] = { role: 'assistant', content: text.join('') };
  if (reasoning.length > 0) message.reasoning = reasoning.join('');
  const calls: ToolCall[] = toolCalls.filter((call) => call !== undefined).map((call) => ({ id: call.id, name: call.name, arguments: call.arguments.join('') }));
  if (calls.length > 0) message.toolCalls = calls;
  return { type: 'finish', seq, reason: 'aborted', message, usage, error };
}
