export { createChatHandler, type ChatHandler, type ChatHandlerOptions, type Principal } from './chat-handler.js';
export { chatRequestSchema, chatRequestSchemaWith, parseChatRequest, type ChatRequest, type ChatRequestLimits } from './chat-request.js';
export { MemoryConversations, type ChatStorage, type StoredRun } from './chat-storage.js';
export { HttpError, type ErrorBody } from './http-error.js';
export { readJsonBody } from './read-json-body.js';
export {
  MemoryRunHub,
  type AdmitResult,
  type CancelResult,
  type ExpiredRun,
  type MemoryRunHubOptions,
  type RunAdmission,
  type RunControl,
  type RunHub,
  type RunInfo,
  type RunListener,
  type RunState,
  type RunSubscription,
} from './run-hub.js';
export { formatSseEvent, SSE_HEADERS, SseWriter, type SseWriterOptions } from './sse-writer.js';
