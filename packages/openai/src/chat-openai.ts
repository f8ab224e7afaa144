import OpenAI from 'openai';
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
  type ProviderEvents,
  type ProviderRequestOptions,
  type ProviderStream,
  type ResolvedProviderRequestOptions,
  type SdkStreamRequest,
} from '@sluice/core';
import { applyChatSettings, applyResponsesSettings, openAIProviderOptions } from './openai-call-settings.js';
import { chatCompletionStream, chatStream, type ChatChunk, type ChatCompletionBody } from './openai-chat-stream.js';
import { toModelError } from './openai-error.js';
import { decodeOpenAIEvent } from './openai-event-decoder.js';
import { toChatMessages, toResponsesInput } from './openai-messages.js';
import { responseBodyStream, responsesStream, type ResponseBody, type ResponsesEvent } from './openai-responses-stream.js';

/**
 * Options of `ChatOpenAI`; every one is optional. The model settings (`temperature`,
 * `maxTokens`, `topP`, `stop`, `seed`, `tools`, `toolChoice`, `responseFormat`,
 * `providerOptions`) are the defaults of every call, which may override each of them.
 */
export interface ChatOpenAIOptions extends ChatModelOptions, ProviderRequestOptions {
  /** The model. Default `gpt-4o-mini`. */
  model?: string;
  /** The API key. Default: `OPENAI_API_KEY`. Not used with `client`. */
  apiKey?: string;
  /**
   * The API's base URL, e.g. `http://localhost:11434/v1` for Ollama or an OpenRouter or vLLM
   * endpoint. Default: `OPENAI_BASE_URL`, else OpenAI's. Not used with `client`.
   */
  baseURL?: string;
  /** A ready `OpenAI` client (its own `maxRetries` is bypassed: sluice retries, see `maxRetries`). */
  client?: OpenAI;
  /** Which API: `chat` (Chat Completions, default; what OpenAI-compatible servers speak) or `responses`. */
  api?: 'chat' | 'responses';
  /** The most tokens to generate (`max_completion_tokens` / `max_output_tokens`). */
  maxTokens?: number;
  /** Reasoning effort for reasoning models (`reasoning_effort` / `reasoning.effort`). */
  reasoningEffort?: 'minimal' | 'low' | 'medium' | 'high';
  /** Ask for usage in streamed Chat Completions (`stream_options.include_usage`). Default `true`; turn off for servers that reject it. */
  includeUsage?: boolean;
  /** Extra request body fields, sent as they are (provider-specific parameters); a call's `providerOptions.openai` goes over them. */
  extraBody?: Record<string, unknown>;
  /** The SDK's request timeout, up to the response headers. Default: the SDK's (10 minutes). */
  timeoutMs?: number;
}

/**
 * A chat model over the official `openai` SDK: Chat Completions (default) or the Responses
 * API, against OpenAI or any OpenAI-compatible server (`baseURL`). Text, reasoning and
 * tool-call deltas become sluice events; usage is requested and normalised; errors become
 * `ModelError`s with a stable `code`, `retryable`, the HTTP status and the request id.
 *
 * @example
 * ```ts
 * import { HumanMessage, StreamingStdOutCallbackHandler } from '@sluice/core';
 * import { ChatOpenAI } from '@sluice/openai';
 *
 * const chat = new ChatOpenAI({ model: 'gpt-4o-mini', streaming: true, callbacks: [new StreamingStdOutCallbackHandler()] });
 * const reply = await chat.invoke([new HumanMessage('Write me a song about sparkling water.')]);
 * console.log(reply.usage);
 * ```
 */
export class ChatOpenAI extends ChatModel {
  readonly provider = 'openai';
  readonly model: string;
  readonly api: 'chat' | 'responses';
  /** The SDK client the model sends its requests with. */
  readonly client: OpenAI;
  private readonly options: ChatOpenAIOptions;
  private readonly requests: ResolvedProviderRequestOptions;

  constructor(options: ChatOpenAIOptions = {}) {
    super(options);
    const api = options.api ?? 'chat';
    if (api !== 'chat' && api !== 'responses') {
      throw new InvalidArgumentError({ argument: 'api', message: `[sluice/openai] api must be "chat" or "responses" (got ${JSON.stringify(api)})` });
    }
    this.requests = resolveProviderRequestOptions(options, { packageName: 'sluice/openai', model: 'gpt-4o-mini' });
    this.api = api;
    this.model = this.requests.model;
    this.options = options;
    this.client = options.client ?? ChatOpenAI.createClient(options);
  }

  private static createClient(options: ChatOpenAIOptions): OpenAI {
    const apiKey = options.apiKey ?? process.env.OPENAI_API_KEY;
    if (apiKey === undefined || apiKey === '') {
      throw new InvalidArgumentError({
        argument: 'apiKey',
        message: '[sluice/openai] no API key: pass apiKey, set OPENAI_API_KEY, or pass a ready client (OpenAI-compatible servers that need no key accept any string)',
      });
    }
    const baseURL = options.baseURL ?? (process.env.OPENAI_BASE_URL || undefined);
    // sluice does the retrying (before the first delta only), so the SDK does none.
    return new OpenAI({ apiKey, ...(baseURL === undefined ? {} : { baseURL }), maxRetries: 0 });
  }

  protected _stream(messages: readonly Message[], call: ModelCallOptions): AsyncIterable<ModelStreamPart> {
    const streaming = call.streaming;
    const body = this.api === 'chat' ? this.chatBody(messages, streaming, call) : this.responsesBody(messages, streaming, call);
    const requests = this.requests;
    // The SDK's parameter types are wide unions; the body is built from sluice's options.
    const client = this.client as unknown as {
      chat: { completions: { create(body: unknown, options: unknown): SdkStreamRequest<unknown> } };
      responses: { create(body: unknown, options: unknown): SdkStreamRequest<unknown> };
    };
    const open = async (signal: AbortSignal): Promise<ProviderStream<never>> => {
      const api = this.api === 'chat' ? client.chat.completions : client.responses;
      const request = api.create(body, requests.requestOptions(signal));
      if (!streaming) {
        const result = await request;
        return (this.api === 'chat' ? chatCompletionStream(result as ChatCompletionBody) : responseBodyStream(result as ResponseBody)) as ProviderStream<never>;
      }
      // The SDK sends the request; its body is decoded a network read at a time.
      const events = await sdkStreamEvents(request, decodeOpenAIEvent);
      return (this.api === 'chat' ? chatStream(events as ProviderEvents<ChatChunk>) : responsesStream(events as ProviderEvents<ResponsesEvent>)) as ProviderStream<never>;
    };
    return retryingProviderStream({
      provider: 'openai',
      signal: call.signal,
      retry: requests.retry,
      idleTimeoutMs: streaming ? requests.idleTimeoutMs : 0,
      open,
      toModelError,
    });
  }

  // The call's settings are the constructor's overridden by the call's (see ModelCallOptions).
  private chatBody(messages: readonly Message[], streaming: boolean, call: ModelCallOptions): Record<string, unknown> {
    const options = this.options;
    const body: Record<string, unknown> = { model: this.model, messages: toChatMessages(messages), stream: streaming };
    if (streaming && options.includeUsage !== false) body.stream_options = { include_usage: true };
    if (options.reasoningEffort !== undefined) body.reasoning_effort = options.reasoningEffort;
    applyChatSettings(body, call.settings);
    return { ...body, ...options.extraBody, ...openAIProviderOptions(call.settings) };
  }

  private responsesBody(messages: readonly Message[], streaming: boolean, call: ModelCallOptions): Record<string, unknown> {
    const options = this.options;
    const body: Record<string, unknown> = { model: this.model, input: toResponsesInput(messages), stream: streaming };
    if (options.reasoningEffort !== undefined) body.reasoning = { effort: options.reasoningEffort, summary: 'auto' };
    applyResponsesSettings(body, call.settings);
    return { ...body, ...options.extraBody, ...openAIProviderOptions(call.settings) };
  }
}
