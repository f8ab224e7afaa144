import { resolveCallSettings, type CallSettings } from './call-settings.js';
import type { CallbackHandler, HandlerErrorListener } from './callback-handler.js';
import { ChatStream, type ModelCallOptions } from './chat-stream.js';
import { InvalidArgumentError } from './errors/invalid-argument-error.js';
import { HumanMessage, type AIMessage, type Message, type Role } from './messages.js';
import type { ModelStreamPart } from './stream-event.js';

/**
 * Options every chat model accepts. The `CallSettings` given here are the model's defaults: a
 * call's own settings override them one by one.
 */
export interface ChatModelOptions extends CallSettings {
  /**
   * Whether `invoke()` asks the provider for a streamed response (handlers then see every
   * chunk). `stream()` always streams. Default `true`.
   */
  streaming?: boolean;
  /** Handlers attached to every run of this model. */
  callbacks?: readonly CallbackHandler[];
  /** Receives every handler failure. Default: each failing handler is logged once per run. */
  onHandlerError?: HandlerErrorListener;
}

/**
 * Options of one call to `stream()` or `invoke()`, with its model settings (`temperature`,
 * `maxTokens`, `tools`, `responseFormat`...), which override the model's.
 *
 * @example
 * ```ts
 * const { object } = await model.stream('Weather in Paris as JSON', {
 *   temperature: 0,
 *   maxTokens: 200,
 *   responseFormat: { type: 'json-schema', name: 'weather', schema: Weather }, // a zod schema
 * });
 * ```
 */
export interface ChatCallOptions<TObject = unknown> extends CallSettings<TObject> {
  /** Handlers for this run only, after the model's own. */
  callbacks?: readonly CallbackHandler[];
  /** Stops the run: it then finishes with `finishReason: 'aborted'` and the partial message. */
  signal?: AbortSignal;
  /** Groups runs into a conversation (storage, aggregates). */
  conversationId?: string;
  /** The run's id (default: a random UUID). */
  runId?: string;
  /**
   * Facts about the run for handlers (`ctx.metadata`), e.g. the user it runs for. Storage
   * handlers record `metadata.owner` with the conversation.
   */
  metadata?: Readonly<Record<string, string>>;
  /** Receives this run's handler failures (instead of the model's listener). */
  onHandlerError?: HandlerErrorListener;
}

/** What `stream()` and `invoke()` accept: messages, or a single user prompt. */
export type ChatInput = string | readonly Message[];

const ROLES = new Set(['system', 'user', 'assistant', 'tool']);

function toMessages(input: ChatInput): readonly Message[] {
  if (typeof input === 'string') return [new HumanMessage(input)];
  if (!Array.isArray(input) || input.length === 0) {
    throw new InvalidArgumentError({
      argument: 'messages',
      message: '[sluice/core] messages must be a non-empty array of { role, content } (or a prompt string)',
    });
  }
  input.forEach((message: unknown, index) => {
    const candidate = message as Partial<Message> | null;
    if (candidate === null || typeof candidate !== 'object' || !ROLES.has(candidate.role as string)) {
      throw new InvalidArgumentError({
        argument: `messages[${index}].role`,
        message: `[sluice/core] messages[${index}].role must be one of system, user, assistant, tool`,
      });
    }
    if (typeof candidate.content === 'string') return;
    if (!Array.isArray(candidate.content)) {
      throw new InvalidArgumentError({
        argument: `messages[${index}].content`,
        message: `[sluice/core] messages[${index}].content must be a string or an array of content parts`,
      });
    }
    candidate.content.forEach((part: unknown, position) => checkPart(part, `messages[${index}].content[${position}]`, candidate.role as Role));
  });
  return input;
}

function isText(value: unknown): value is string {
  return typeof value === 'string';
}

/** Throws unless `part` is a well-formed `ContentPart` a message of `role` may carry. */
function checkPart(part: unknown, argument: string, role: Role): void {
  const refuse = (problem: string): never => {
    throw new InvalidArgumentError({ argument, message: `[sluice/core] ${argument} ${problem}` });
  };
  if (part === null || typeof part !== 'object') refuse('must be a content part object ({ type: "text" | "image" | "file", ... })');
  const candidate = part as Record<string, unknown>;
  switch (candidate.type) {
    case 'text':
      if (!isText(candidate.text)) refuse('is a text part without a string `text`');
      return;
    case 'image':
    case 'file': {
      if (role !== 'user') refuse(`is an ${String(candidate.type)} part in a ${role} message: image and file parts go in user messages`);
      const hasUrl = isText(candidate.url) && candidate.url !== '';
      const hasData = isText(candidate.data) && candidate.data !== '';
      if (hasUrl === hasData) refuse(`is an ${String(candidate.type)} part that needs exactly one of a non-empty \`url\` or base64 \`data\``);
      if (candidate.mediaType !== undefined && !isText(candidate.mediaType)) refuse('has a `mediaType` that is not a string');
      if ((hasData || candidate.type === 'file') && !isText(candidate.mediaType)) refuse(`is an ${String(candidate.type)} part without a \`mediaType\` (e.g. "image/png", "application/pdf")`);
      if (candidate.filename !== undefined && !isText(candidate.filename)) refuse('has a `filename` that is not a string');
      return;
    }
    default:
      refuse(`has an unknown type ${JSON.stringify(candidate.type) ?? 'undefined'}: expected "text", "image" or "file"`);
  }
}

/**
 * The base of every chat model. An adapter implements `_stream`, translating its provider's
 * stream into `ModelStreamPart`s and nothing more; the base gives it runs, callbacks with
 * ordered lanes, abort, metrics and the assembled result.
 *
 * @example
 * ```ts
 * class EchoModel extends ChatModel {
 *   readonly provider = 'echo';
 *   readonly model = 'echo-1';
 *   protected async *_stream(messages: readonly Message[]) {
 *     yield { type: 'text-delta', text: textOf(messages.at(-1)?.content ?? '') } as const;
 *   }
 * }
 * const reply = await new EchoModel().invoke('Hello!');
 * ```
 */
export abstract class ChatModel {
  /** The provider's name: `openai`, `anthropic`, `fake`. */
  abstract readonly provider: string;
  /** The model's name as the provider knows it. */
  abstract readonly model: string;
  readonly streaming: boolean;
  readonly callbacks: readonly CallbackHandler[];
  readonly onHandlerError: HandlerErrorListener | undefined;
  /** The model's default settings (checked): every call starts from them. */
  readonly defaultSettings: CallSettings;

  constructor(options: ChatModelOptions = {}) {
    this.streaming = options.streaming ?? true;
    this.callbacks = options.callbacks ?? [];
    this.onHandlerError = options.onHandlerError;
    this.defaultSettings = resolveCallSettings(options);
  }

  /**
   * Translates the provider's stream into parts. Must stop (return or throw) when
   * `options.signal` aborts; should pass the signal to its HTTP request. An adapter over an
   * HTTP SDK returns `retryingProviderStream(...)`, which the run then drives itself.
   */
  protected abstract _stream(messages: readonly Message[], options: ModelCallOptions): AsyncIterable<ModelStreamPart>;

  /** Starts a streamed run. It begins when you iterate or await the returned `ChatStream`. */
  stream<TObject = unknown>(input: ChatInput, options: ChatCallOptions<TObject> = {}): ChatStream<TObject> {
    return this.run(input, options, true) as ChatStream<TObject>;
  }

  /**
   * Runs the model and resolves with the final message once every handler has finished.
   * Rejects with a `SluiceError` if the model failed; an aborted run resolves with the partial
   * message (`finishReason: 'aborted'`).
   */
  async invoke(input: ChatInput, options: ChatCallOptions = {}): Promise<AIMessage> {
    const result = await this.run(input, options, this.streaming);
    return result.message;
  }

  private run(input: ChatInput, options: ChatCallOptions, streaming: boolean): ChatStream {
    const messages = toMessages(input);
    // Checked here, so a bad value throws from stream() or invoke() before any request.
    const settings = resolveCallSettings(this.defaultSettings, options);
    const handlers = options.callbacks === undefined ? this.callbacks : [...this.callbacks, ...options.callbacks];
    const onHandlerError = options.onHandlerError ?? this.onHandlerError;
    return new ChatStream({
      model: this.model,
      provider: this.provider,
      messages,
      handlers,
      streaming,
      settings,
      open: (callOptions) => this._stream(messages, callOptions),
      runId: options.runId,
      conversationId: options.conversationId,
      metadata: options.metadata,
      signal: options.signal,
      onHandlerError,
    });
  }
}
