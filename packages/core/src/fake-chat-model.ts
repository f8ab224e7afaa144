import { ChatModel, type ChatModelOptions } from './chat-model.js';
import type { ModelCallOptions } from './chat-stream.js';
import { delay } from './delay.js';
import { InvalidArgumentError } from './errors/invalid-argument-error.js';
import { ModelError } from './errors/model-error.js';
import { textOf, type Message } from './messages.js';
import type { ModelStreamPart } from './stream-event.js';

/** A tool call the fake model streams after its text. */
export interface FakeToolCall {
  id?: string;
  name: string;
  /** The JSON arguments text, streamed in pieces. */
  arguments: string;
}

/** Options of `FakeChatModel`; every one is optional. */
export interface FakeChatModelOptions extends ChatModelOptions {
  /** The model name reported in events. Default `fake-chat`. */
  model?: string;
  /** Replies used in turn, one per run, cycling. */
  responses?: readonly string[];
  /** The reply, or a function of the input messages. Default: `defaultFakeReply`. */
  reply?: string | ((messages: readonly Message[]) => string);
  /** Stream exactly these tokens (overrides `responses` and `reply`). */
  tokens?: readonly string[];
  /** Tokens per second; 0 streams as fast as possible. Default 0. */
  rate?: number;
  /** Reasoning text streamed before the reply. */
  reasoning?: string;
  /** Tool calls streamed after the reply (the run then finishes with `tool-calls`). */
  toolCalls?: readonly FakeToolCall[];
  /** Fault: fail after streaming this many reply tokens. */
  errorAfter?: number;
  /** The error thrown by `errorAfter`. Default: a retryable `ModelError` with code `fake_fault`. */
  error?: Error;
  /** Fault: stall after streaming this many reply tokens. */
  stallAfter?: number;
  /** How long the stall lasts. Default: until the run is aborted. */
  stallMs?: number;
}

/** The song `FakeChatModel` sings when asked for a song (the seed's example prompt). */
export const sparklingWaterSong = `(Verse 1)
Bubbles rising in a crystal glass,
A fizzy little chorus as the moments pass.
Crisp and cool, a whisper and a hiss,
Nothing in the world tastes quite like this.

(Chorus)
Sparkling water, dancing on my tongue,
Every tiny bubble is a song unsung.
No sugar, no syrup, just a lively cheer,
Sparkling water, I am glad you're here!

(Verse 2)
Lemon or lime, or plain and bright,
You fizz in the morning and you sparkle at night.
Pop the cap and listen to the sound,
The happiest drink that I have ever found.`;

/** The default reply: a song when asked for one, otherwise a short deterministic answer. */
export function defaultFakeReply(messages: readonly Message[]): string {
  const last = [...messages].reverse().find((message) => message.role === 'user');
  const prompt = last === undefined ? '' : textOf(last.content);
  if (/\bsong\b/i.test(prompt)) return sparklingWaterSong;
  return `This is sluice's built-in model, happy to help. You said: "${prompt}". It streams this reply token by token, deterministically, so examples and tests run without an API key. Set a provider's API key to talk to a real model.`;
}

/**
 * Splits text into word-sized tokens (each carries its leading whitespace), the way a model's
 * tokens arrive. Joining the tokens gives the text back exactly.
 */
export function tokenize(text: string): string[] {
  return text.match(/\s*\S+|\s+$/g) ?? [];
}

function countWords(messages: readonly Message[]): number {
  let count = 0;
  for (const message of messages) count += tokenize(textOf(message.content)).length;
  return count;
}

/**
 * The embedded default model: streams a scripted or canned reply token by token,
 * deterministically, at a chosen rate, with optional faults. No API key, no network.
 *
 * @example
 * ```ts
 * const model = new FakeChatModel({ responses: ['Hello there!'], rate: 20 });
 * const reply = await model.invoke('Hi');
 * ```
 */
export class FakeChatModel extends ChatModel {
  readonly provider = 'fake';
  readonly model: string;
  private readonly options: FakeChatModelOptions;
  private calls = 0;

  constructor(options: FakeChatModelOptions = {}) {
    super(options);
    const rate = options.rate ?? 0;
    if (!Number.isFinite(rate) || rate < 0) {
      throw new InvalidArgumentError({ argument: 'rate', message: '[sluice/core] FakeChatModel rate must be a number >= 0 (tokens per second; 0 = as fast as possible)' });
    }
    if (options.responses !== undefined && options.responses.length === 0) {
      throw new InvalidArgumentError({ argument: 'responses', message: '[sluice/core] FakeChatModel responses must not be empty' });
    }
    this.model = options.model ?? 'fake-chat';
    this.options = options;
  }

  /** The tokens the next run would stream for these messages. */
  private replyTokens(messages: readonly Message[]): readonly string[] {
    const options = this.options;
    if (options.tokens !== undefined) return options.tokens;
    let text: string;
    if (options.responses !== undefined) {
      text = options.responses[this.calls % options.responses.length] as string;
    } else if (typeof options.reply === 'string') {
      text = options.reply;
    } else {
      text = (options.reply ?? defaultFakeReply)(messages);
    }
    return tokenize(text);
  }

  protected _stream(messages: readonly Message[], call: ModelCallOptions): AsyncIterable<ModelStreamPart> {
    const options = this.options;
    const tokens = this.replyTokens(messages);
    this.calls++;
    const paced = (options.rate ?? 0) > 0 || options.stallAfter !== undefined;
    if (!paced && options.reasoning === undefined && options.toolCalls === undefined) {
      return this.unpaced(messages, tokens, call);
    }
    return this.paced(messages, tokens, call);
  }

  /**
   * Rate 0 with nothing to wait for: a plain iterator rather than an async generator, so the
   * fake model costs no more per token than a provider's parsed stream would.
   */
  private unpaced(messages: readonly Message[], tokens: readonly string[], call: ModelCallOptions): AsyncIterable<ModelStreamPart> {
    // A fault set past the last token fires after it, as in the paced stream.
    const errorAfter = this.options.errorAfter === undefined ? -1 : Math.min(this.options.errorAfter, tokens.length);
    const model = this.model;
    const fault = (): Error => this.fault();
    let index = -1;
    const iterator: AsyncIterator<ModelStreamPart> = {
      next(): Promise<IteratorResult<ModelStreamPart>> {
        const at = index++;
        if (at === -1) {
          return Promise.resolve({ done: false, value: { type: 'response-metadata', responseId: `fake-${call.runId}`, model } });
        }
        if (at === errorAfter) {
          index = tokens.length + 2;
          return Promise.reject(fault());
        }
        if (at < tokens.length) return Promise.resolve({ done: false, value: { type: 'text-delta', text: tokens[at] as string } });
        if (at === tokens.length) {
          const inputTokens = countWords(messages);
          const usage = { inputTokens, outputTokens: tokens.length, totalTokens: inputTokens + tokens.length };
          return Promise.resolve({ done: false, value: { type: 'usage', usage } });
        }
        if (at === tokens.length + 1) return Promise.resolve({ done: false, value: { type: 'finish', reason: 'stop', providerReason: 'stop' } });
        index = tokens.length + 2;
        return Promise.resolve({ done: true, value: undefined });
      },
      return(): Promise<IteratorResult<ModelStreamPart>> {
        index = tokens.length + 2;
        return Promise.resolve({ done: true, value: undefined });
      },
    };
    return { [Symbol.asyncIterator]: () => iterator };
  }

  private async *paced(messages: readonly Message[], tokens: readonly string[], call: ModelCallOptions): AsyncGenerator<ModelStreamPart> {
    const options = this.options;
    const { signal } = call;
    const interval = options.rate ? 1000 / options.rate : 0;
    const startedAt = performance.now();
    let sent = 0;
    // Waits until token number `sent` is due; does nothing at rate 0.
    const pace = async (): Promise<void> => {
      if (interval === 0) return;
      const wait = startedAt + sent * interval - performance.now();
      if (wait >= 1) await delay(wait, signal);
    };

    yield { type: 'response-metadata', responseId: `fake-${call.runId}`, model: this.model };
    if (options.reasoning !== undefined) {
      for (const token of tokenize(options.reasoning)) {
        await pace();
        sent++;
        yield { type: 'reasoning-delta', text: token };
      }
    }
    for (let index = 0; index < tokens.length; index++) {
      if (index === options.errorAfter) throw this.fault();
      if (index === options.stallAfter) await delay(options.stallMs ?? 2 ** 31 - 1, signal);
      if (signal.aborted) return;
      if (interval !== 0) await pace();
      sent++;
      yield { type: 'text-delta', text: tokens[index] as string };
    }
    if (options.errorAfter !== undefined && options.errorAfter >= tokens.length) throw this.fault();
    const toolCalls = options.toolCalls ?? [];
    for (let index = 0; index < toolCalls.length; index++) {
      const toolCall = toolCalls[index] as FakeToolCall;
      const pieces = toolCall.arguments.match(/[\s\S]{1,8}/g) ?? [''];
      for (let piece = 0; piece < pieces.length; piece++) {
        await pace();
        sent++;
        yield piece === 0
          ? { type: 'tool-call-delta', index, id: toolCall.id ?? `call_${index}`, name: toolCall.name, argumentsDelta: pieces[0] as string }
          : { type: 'tool-call-delta', index, argumentsDelta: pieces[piece] as string };
      }
    }
    const inputTokens = countWords(messages);
    yield { type: 'usage', usage: { inputTokens, outputTokens: sent, totalTokens: inputTokens + sent } };
    yield { type: 'finish', reason: toolCalls.length > 0 ? 'tool-calls' : 'stop', providerReason: 'stop' };
  }

  private fault(): Error {
    return (
      this.options.error ??
      new ModelError({ code: 'fake_fault', message: '[sluice/core] FakeChatModel: scripted fault (errorAfter)', retryable: true, provider: 'fake' })
    );
  }
}
