import type { Message, ToolCall } from './messages.js';
import type { FinishEvent, SerializedError, StreamEvent, Usage } from './stream-event.js';

interface ToolCallParts {
  id: string;
  name: string;
  parts: string[];
}

/**
 * The reply a run had produced so far, rebuilt from its events (a stored log, a hub's log) the
 * way the run itself assembles it: text and reasoning joined once, tool calls from their
 * pieces, the last usage. Used to end a run whose instance died.
 *
 * @example
 * ```ts
 * const reply = new PartialReply();
 * for (const event of events) reply.add(event);
 * const message = reply.message(); // finishReason 'aborted'
 * ```
 */
export class PartialReply {
  /** The highest `seq` seen, -1 before any event. */
  lastSeq = -1;
  usage: Usage | undefined;
  /** The run's `finish` event, if it was stored. */
  finish: FinishEvent | undefined;
  /** The run's `error` event's error, if one was stored. */
  error: SerializedError | undefined;
  private readonly textParts: string[] = [];
  private reasoningParts: string[] | undefined;
  private toolCalls: Map<number, ToolCallParts> | undefined;

  add(event: StreamEvent): void {
    if (event.seq > this.lastSeq) this.lastSeq = event.seq;
    switch (event.type) {
      case 'text-delta':
        this.textParts.push(event.text);
        break;
      case 'reasoning-delta':
        (this.reasoningParts ??= []).push(event.text);
        break;
      case 'tool-call-delta': {
        const calls = (this.toolCalls ??= new Map());
        let call = calls.get(event.index);
        if (call === undefined) {
          call = { id: event.id ?? '', name: event.name ?? '', parts: [] };
          calls.set(event.index, call);
        } else {
          if (event.id !== undefined) call.id = event.id;
          if (event.name !== undefined) call.name = event.name;
        }
        call.parts.push(event.argumentsDelta);
        break;
      }
      case 'usage':
        // Usage events carry the usage merged so far: the last one is the run's.
        this.usage = event.usage;
        break;
      case 'error':
        this.error = event.error;
        break;
      case 'finish':
        this.finish = event;
        break;
      default:
        break;
    }
  }

  /** The partial assistant message, finish reason `aborted`. */
  message(): Message {
    const message: Message = { role: 'assistant', content: this.textParts.join(''), finishReason: 'aborted' };
    if (this.toolCalls !== undefined) {
      const toolCalls: ToolCall[] = [];
      for (const call of this.toolCalls.values()) toolCalls.push({ id: call.id, name: call.name, arguments: call.parts.join('') });
      message.toolCalls = toolCalls;
    }
    if (this.reasoningParts !== undefined) message.reasoning = this.reasoningParts.join('');
    if (this.usage !== undefined) message.usage = this.usage;
    return message;
  }
}
