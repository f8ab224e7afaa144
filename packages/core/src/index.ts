export {
  jsonSchemaOf,
  parseStructuredOutput,
  resolveCallSettings,
  type CallSettings,
  type ChatTool,
  type ResponseFormat,
  type SchemaLike,
  type ToolChoice,
} from './call-settings.js';
export type {
  CallbackHandler,
  DeliveryOptions,
  HandlerContext,
  HandlerErrorListener,
  HookResult,
  OverflowPolicy,
} from './callback-handler.js';
export { ChatModel, type ChatCallOptions, type ChatInput, type ChatModelOptions } from './chat-model.js';
export type { ChatResult } from './chat-result.js';
export { ChatStream, type ChatStreamInit, type ModelCallOptions } from './chat-stream.js';
export { delay } from './delay.js';
export { HandlerError } from './errors/handler-error.js';
export { InvalidArgumentError } from './errors/invalid-argument-error.js';
export { ModelError, type ModelErrorOptions } from './errors/model-error.js';
export { ResponseFormatError } from './errors/response-format-error.js';
export {
  codeForHttpStatus,
  createModelErrorMapper,
  isConnectionReset,
  retryAfterMs,
  type ApiErrorLike,
  type ModelErrorCode,
  type ModelErrorMapper,
  type ModelErrorMapperOptions,
} from './errors/model-error-mapper.js';
export { SluiceError, type SluiceErrorClass, type SluiceErrorOptions } from './errors/sluice-error.js';
export {
  defaultFakeReply,
  FakeChatModel,
  sparklingWaterSong,
  tokenize,
  type FakeChatModelOptions,
  type FakeToolCall,
} from './fake-chat-model.js';
export {
  AIMessage,
  HumanMessage,
  SystemMessage,
  textOf,
  ToolMessage,
  type ContentPart,
  type FilePart,
  type ImagePart,
  type Message,
  type MessageChunk,
  type MessageContent,
  type MessageFields,
  type ReasoningBlock,
  type Role,
  type TextPart,
  type ToolCall,
} from './messages.js';
export {
  resolveProviderRequestOptions,
  type ProviderRequestOptions,
  type ResolvedProviderRequestOptions,
  type SdkRequestOptions,
} from './provider-options.js';
export {
  resolveIdleTimeoutMs,
  resolveRetryOptions,
  retryingProviderStream,
  type ProviderStream,
  type RetryingProviderStreamOptions,
  type RetryOptions,
} from './provider-stream.js';
export { MemoryRunHub, type MemoryRunHubOptions } from './memory-run-hub.js';
export { PartialReply } from './partial-reply.js';
export type {
  AdmitResult,
  CancelResult,
  ExpiredRun,
  RunAdmission,
  RunControl,
  RunHub,
  RunInfo,
  RunListener,
  RunState,
  RunSubscription,
} from './run-hub.js';
export type { HandlerMetrics, RunMetrics } from './run-metrics.js';
export {
  END_OF_EVENTS,
  sdkStreamEvents,
  serverSentEventSource,
  type BufferedEventSource,
  type ProviderEvents,
  type SdkStreamRequest,
  type ServerSentEvent,
  type ServerSentEventDecoder,
} from './server-sent-events.js';
export {
  StreamingStdOutCallbackHandler,
  type StreamingStdOutCallbackHandlerOptions,
  type WritableLike,
} from './streaming-stdout-callback-handler.js';
export type {
  DataEvent,
  ErrorEvent,
  FinishEvent,
  FinishReason,
  ModelFinishPart,
  ModelMetadataPart,
  ModelReasoningBlockPart,
  ModelStreamPart,
  ReasoningDeltaEvent,
  SerializedError,
  StartEvent,
  StreamEvent,
  StreamEventType,
  TextDeltaEvent,
  ToolCallDeltaEvent,
  Usage,
  UsageEvent,
} from './stream-event.js';
