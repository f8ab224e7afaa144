import { messageErrorFrames, messageFrames, messageResponse, anthropicErrorType, thinkingProblem, toolChoiceProblem } from './anthropic-messages-wire.js';
import type { FakeAnthropicServer } from './fake-anthropic-reply.js';
import { answerJson, startFakeProviderServer, type FakeServerOptions, type ProviderWire } from './fake-provider-server.js';
import { streamFrames } from './sse-frame-writer.js';

const anthropicWire: ProviderWire = {
  provider: 'anthropic',
  basePath: '',
  requestIdHeader: 'request-id',
  authenticated(headers) {
    const key = headers['x-api-key'];
    if (typeof key === 'string') return key;
    const authorization = headers.authorization;
    return authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : undefined;
  },
  errorBody(error, requestId) {
    return { type: 'error', error: { type: error.errorType, message: error.message }, request_id: requestId };
  },
  defaultErrorType: anthropicErrorType,
  route(path, method) {
    if (method !== 'POST' || path !== '/v1/messages') return undefined;
    return async (context) => {
      const { body, reply, sequence, exchange } = context;
      const problem =
        typeof body.model !== 'string' || body.model === ''
          ? 'model: Field required'
          : typeof body.max_tokens !== 'number'
            ? 'max_tokens: Field required'
            : !Array.isArray(body.messages) || body.messages.length === 0
              ? 'messages: at least one message is required'
              : (thinkingProblem(body) ?? toolChoiceProblem(body));
      if (problem !== undefined) return context.fail({ status: 400, errorType: 'invalid_request_error', message: problem });
      if (body.stream !== true) return answerJson(context, () => messageResponse(body, reply, sequence));
      return streamFrames(exchange, {
        frames: messageFrames(body, reply, sequence),
        tokenDelayMs: context.tokenDelayMs,
        fault: reply.fault,
        errorFrames: (fault) => messageErrorFrames(fault.errorType, fault.message),
      });
    };
  },
};

/**
 * Starts a local fake Anthropic server on 127.0.0.1 (a free port) that speaks the real
 * Messages wire format (`POST /v1/messages`: `message_start`, `content_block_start/delta/stop`
 * with text, thinking and `input_json_delta`, `ping`, `message_delta` with the stop reason
 * and usage, `message_stop`, always with `event:` lines; JSON when not streaming). It accepts
 * `x-api-key` and `Authorization: Bearer` auth. Point the official SDK at it with
 * `baseURL: server.baseURL`. Like the real API it answers 400 `invalid_request_error` when,
 * with `thinking` on, the assistant turn that called the tools whose results end the request
 * does not start with its `thinking` (or `redacted_thinking`) block, or a thinking block sent
 * back has no signature; and when `tool_choice` comes without `tools`, names a tool the request
 * does not declare, or forces tool use (`any`, `tool`) with `thinking` on. When `tool_choice`
 * forces a tool, a scripted text-only reply whose text is a JSON object is sent as that tool's
 * input (in the text's chunks), as a model made to call it would. Replies may add Anthropic-only fields (`FakeAnthropicReply`):
 * `redactedThinking` blocks, the classic `message_delta` usage (`messageDeltaUsage:
 * 'output-only'`) and cache writes.
 *
 * @example
 * ```ts
 * import Anthropic from '@anthropic-ai/sdk';
 * import { startFakeAnthropic } from '@sluice/testing';
 *
 * const server = await startFakeAnthropic();
 * server.script({ reasoning: 'Think first.', text: 'Hello there!' }, { status: 529 });
 * const client = new Anthropic({ apiKey: 'test', baseURL: server.baseURL });
 * const stream = await client.messages.create({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }], stream: true });
 * for await (const event of stream) console.log(event.type);
 * await server.close();
 * ```
 */
export function startFakeAnthropic(options: FakeServerOptions = {}): Promise<FakeAnthropicServer> {
  return startFakeProviderServer(anthropicWire, options);
}
