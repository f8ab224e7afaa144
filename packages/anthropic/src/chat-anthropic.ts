import Anthropic from '@anthropic-ai/sdk';
import {
  ChatModel,
  InvalidArgumentError,
  resolveProviderRequestOptions,
  retryingProviderStream,
  sdkStreamEvents,
  type ChatModelOptions,
  type Message,
  type ModelCallOptions,
  type ModelStreamPart,
  type ProviderRequestOptions,
  type ProviderStream,
  type ResolvedProviderRequestOptions,
  type SdkStreamRequest,
  type ServerSentEvent,
} from '@sluice/core';
import { toModelError } from './anthropic-error.js';
import { decodeAnthropicEvent } from './anthropic-event-decoder.js';
import { toAnthropicPrompt } from './anthropic-messages.js';
import { anthropicSettingsFields, refuseUnsupportedSettings } from './anthropic-settings.js';
import { messageBodyStream, messageStream, type MessageBody, type MessageStreamEvent } from './anthropic-stream.js';

/**
 * Options of `ChatAnthropic`; every one is optional. The model settings (`temperature`,
 * `maxTokens`, `topP`, `stop`, `tools`, `toolChoice`, `responseFormat`, `providerOptions`) are
 * the model's defaults: a call's own override them one by one.
 */
export interface ChatAnthropicOptions extends ChatModelOptions, ProviderRequestOptions {
  /** The model. Default `claude-haiku-4-5`. */
  model?: string;
  /** The API key. Default: `ANTHROPIC_API_KEY`. Not used with `client`. */
  apiKey?: string;
  /** The API's base URL. Default: `ANTHROPIC_BASE_URL`, else Anthropic's. Not used with `client`. */
  baseURL?: string;
  /** A ready `Anthropic` client (its own `maxRetries` is bypassed: sluice retries, see `maxRetries`). */
  client?: Anthropic;
  /** The most tokens to generate (`max_tokens`, which Anthropic requires). Default 4096. */
  maxTokens?: number;
  /** Extended thinking: streamed as reasoning deltas. Must be less than `maxTokens`. */
  thinking?: { budgetTokens: number };
  /** Extra request body fields, sent as they are (a call's `providerOptions.anthropic` goes after them). */
  extraBody?: Record<string, unknown>;
  /**
   * Fails the run with a retryable `stream_idle_timeout` when no event arrived for this long
   * (Anthropic sends `ping`s, which count). Default 120000; 0 turns it off.
   */
  idleTimeoutMs?: number;
}

/**
 * A chat model over the official `@anthropic-ai/sdk`: text, thinking (as reasoning deltas)
 * and tool use become sluice events; stop reasons and usage are normalised; HTTP errors,
 * `529 overloaded` and mid-stream `error` events become `ModelError`s with a stable `code`;
 * a stream that ends without `message_stop` fails the run instead of passing as success.
 *
 * @example
 * ```ts
 * import { HumanMessage, StreamingStdOutCallbackHandler } from '@sluice/core';
 * import { ChatAnthropic } from '@sluice/anthropic';
 *
 * const chat = new ChatAnthropic({ model: 'claude-haiku-4-5', maxTokens: 1024, callbacks: [new StreamingStdOutCallbackHandler()] });
 * const reply = await chat.invoke([new HumanMessage('Write me a song about sparkling water.')]);
 * console.log(reply.finishReason, reply.usage);
 *
 * // Per-call settings override the model's; JSON output is a forced `json_response` tool call.
 * const { object } = await chat.stream('Weather in Paris?', {
 *   temperature: 0,
 *   responseFormat: { type: 'json-schema', schema: { type: 'object', properties: { celsius: { type: 'number' } }, required: ['celsius'] } },
 * });
 * ```
 */
export class ChatAnthropic extends ChatModel {
  readonly provider = 'anthropic';
  readonly model: string;
  readonly maxTokens: number;
  /** The SDK client the model sends its requests with. */
  readonly client: Anthropic;
  private readonly options: ChatAnthropicOptions;
  private readonly requests: ResolvedProviderRequestOptions;

  constructor(options: ChatAnthropicOptions = {}) {
    super(options);
    this.requests = resolveProviderRequestOptions(options, { packageName: 'sluice/anthropic', model: 'claude-haiku-4-5' });
    // A bad maxTokens was refused by ChatModel's check of the defaults.
    const maxTokens = options.maxTokens ?? 4096;
    const budget = options.thinking?.budgetTokens;
    if (budget !== undefined && (!Number.isInteger(budget) || budget < 1 || budget >= maxTokens)) {
      throw new InvalidArgumentError({ argument: 'thinking.budgetTokens', message: `[sluice/anthropic] thinking.budgetTokens must be a whole number >= 1 and below maxTokens (${maxTokens})` });
    }
    this.model = this.requests.model;
    this.maxTokens = maxTokens;
    this.options = options;
    // What Anthropic can never take is refused when the model is built, not at its first call.
    refuseUnsupportedSettings(this.defaultSettings);
    this.client = options.client ?? ChatAnthropic.createClient(options);
  }

  private static createClient(options: ChatAnthropicOptions): Anthropic {
    const apiKey = options.apiKey ?? process.env.ANTHROPIC_API_KEY;
    if (apiKey === undefined || apiKey === '') {
      throw new InvalidArgumentError({ argument: 'apiKey', message: '[sluice/anthropic] no API key: pass apiKey, set ANTHROPIC_API_KEY, or pass a ready client' });
    }
    const baseURL = options.baseURL ?? (process.env.ANTHROPIC_BASE_URL || undefined);
    // sluice does the retrying (before the first delta only), so the SDK does none.
    return new Anthropic({ apiKey, ...(baseURL === undefined ? {} : { baseURL }), maxRetries: 0 });
  }

  protected _stream(messages: readonly Message[], call: ModelCallOptions): AsyncIterable<ModelStreamPart> {
    const streaming = call.streaming;
    const { body, jsonTool } = this.body(messages, call);
    const client = this.client as unknown as { messages: { create(body: unknown, options: unknown): SdkStreamRequest<unknown> } };
    const requests = this.requests;
    const open = async (signal: AbortSignal): Promise<ProviderStream<never>> => {
      const request = client.messages.create(body, requests.requestOptions(signal));
      if (!streaming) return messageBodyStream((await request) as MessageBody, jsonTool) as ProviderStream<never>;
      // The SDK sends the request; its body is decoded a network read at a time.
      const events = await sdkStreamEvents(request as SdkStreamRequest<MessageStreamEvent>, decodeAnthropicEvent as (event: ServerSentEvent, response: Response) => MessageStreamEvent | undefined);
      return messageStream(events, jsonTool) as ProviderStream<never>;
    };
    return retryingProviderStream({
      provider: 'anthropic',
      signal: call.signal,
      retry: requests.retry,
      idleTimeoutMs: streaming ? requests.idleTimeoutMs : 0,
      open,
      toModelError,
    });
  }

  /**
   * The request body: the call's settings (the model's overridden by the call's) mapped onto
   * Anthropic's fields, then `extraBody`, then the call's `providerOptions.anthropic`, as they are.
   */
  private body(messages: readonly Message[], call: ModelCallOptions): { body: Record<string, unknown>; jsonTool: string | undefined } {
    const options = this.options;
    const { fields, jsonTool } = anthropicSettingsFields(call.settings, this.maxTokens, options.thinking?.budgetTokens);
    const prompt = toAnthropicPrompt(messages);
    if (prompt.messages.length === 0) {
      throw new InvalidArgumentError({ argument: 'messages', message: '[sluice/anthropic] Anthropic needs at least one user or assistant message besides the system prompt' });
    }
    const body: Record<string, unknown> = { model: this.model, ...fields, messages: prompt.messages };
    if (call.streaming) body.stream = true;
    if (prompt.system !== undefined) body.system = prompt.system;
    if (options.thinking !== undefined) body.thinking = { type: 'enabled', budget_tokens: options.thinking.budgetTokens };
    return { body: { ...body, ...options.extraBody, ...call.settings.providerOptions?.anthropic }, jsonTool };
  }
}
