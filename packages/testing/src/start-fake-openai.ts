import { answerJson, startFakeProviderServer, type FakeProviderServer, type FakeServerOptions, type ProviderWire, type RouteContext } from './fake-provider-server.js';
import { chatCompletion, chatCompletionFrames, chatErrorFrames } from './openai-chat-wire.js';
import { chatRequestProblem, responsesRequestProblem } from './openai-request-rules.js';
import { responsesErrorFrames, responsesFrames, responsesObject } from './openai-responses-wire.js';
import type { RequestOutcome } from './recorded-request.js';
import { streamFrames } from './sse-frame-writer.js';

function openAIErrorType(status: number): string {
  if (status === 401) return 'invalid_request_error';
  if (status === 429) return 'requests';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function openAIErrorCode(status: number): string | null {
  if (status === 401) return 'invalid_api_key';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limit_exceeded';
  return null;
}


function requireField(context: RouteContext, field: string, check: (value: unknown) => boolean, what: string): RequestOutcome | undefined {
  if (check(context.body[field])) return undefined;
  return context.fail({ status: 400, errorType: 'invalid_request_error', message: `'${field}' is required: ${what}.` });
}

const openAIWire: ProviderWire = {
  provider: 'openai',
  basePath: '/v1',
  requestIdHeader: 'x-request-id',
  authenticated(headers) {
    const authorization = headers.authorization;
    return authorization?.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : undefined;
  },
  errorBody(error) {
    return { error: { message: error.message, type: error.errorType, param: null, code: openAIErrorCode(error.status) } };
  },
  defaultErrorType: openAIErrorType,
  route(path, method) {
    if (method !== 'POST') return undefined;
    if (path === '/v1/chat/completions') {
      return async (context) => {
        const invalid =
          requireField(context, 'model', (value) => typeof value === 'string' && value !== '', 'a model name') ??
          requireField(context, 'messages', (value) => Array.isArray(value) && value.length > 0, 'a non-empty array of messages');
        if (invalid !== undefined) return invalid;
        const problem = chatRequestProblem(context.body);
        if (problem !== undefined) return context.fail({ status: 400, errorType: 'invalid_request_error', message: problem });
        const { body, reply, sequence } = context;
        if (body.stream !== true) return answerJson(context, () => chatCompletion(body, reply, sequence));
        return streamFrames(context.exchange, {
          frames: chatCompletionFrames(body, reply, sequence),
          tokenDelayMs: context.tokenDelayMs,
          fault: reply.fault,
          errorFrames: (fault) => chatErrorFrames(fault.errorType, fault.message),
        });
      };
    }
    if (path === '/v1/responses') {
      return async (context) => {
        const invalid =
          requireField(context, 'model', (value) => typeof value === 'string' && value !== '', 'a model name') ??
          requireField(context, 'input', (value) => typeof value === 'string' || (Array.isArray(value) && value.length > 0), 'a string or a non-empty array of input items');
        if (invalid !== undefined) return invalid;
        const problem = responsesRequestProblem(context.body);
        if (problem !== undefined) return context.fail({ status: 400, errorType: 'invalid_request_error', message: problem });
        const { body, reply, sequence } = context;
        if (body.stream !== true) return answerJson(context, () => responsesObject(body, reply, sequence));
        return streamFrames(context.exchange, {
          frames: responsesFrames(body, reply, sequence),
          tokenDelayMs: context.tokenDelayMs,
          fault: reply.fault,
          errorFrames: (fault, sent) => responsesErrorFrames(body, reply, sequence, sent, fault.errorType, fault.message),
        });
      };
    }
    return undefined;
  },
};

/**
 * Starts a local fake OpenAI server on 127.0.0.1 (a free port) that speaks the real wire
 * formats of Chat Completions (`POST /v1/chat/completions`: `data:` chunks, the usage chunk
 * with empty `choices` when `stream_options.include_usage` is set, tool-call deltas,
 * `[DONE]`; JSON when not streaming) and the Responses API (`POST /v1/responses`: `event:`
 * lines, `sequence_number`, `response.completed` / `response.incomplete` / `response.failed`).
 * Point the official SDK at it with `baseURL: server.baseURL`.
 *
 * @example
 * ```ts
 * import OpenAI from 'openai';
 * import { startFakeOpenAI } from '@sluice/testing';
 *
 * const server = await startFakeOpenAI();
 * server.script({ text: 'Hello there!' }, { status: 429, retryAfterMs: 10 });
 * const client = new OpenAI({ apiKey: 'test', baseURL: server.baseURL });
 * const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }], stream: true });
 * for await (const chunk of stream) process.stdout.write(chunk.choices[0]?.delta.content ?? '');
 * console.log(server.requests[0]?.body); // what the SDK sent
 * await server.close();
 * ```
 */
export function startFakeOpenAI(options: FakeServerOptions = {}): Promise<FakeProviderServer> {
  return startFakeProviderServer(openAIWire, options);
}
