import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isHttpError, type FakeHttpError, type FakeReply, type FakeTurn } from './fake-turn.js';
import type { RecordedRequest, RequestOutcome } from './recorded-request.js';
import type { Exchange } from './sse-frame-writer.js';

/** Options every fake provider server accepts. */
export interface FakeServerOptions {
  /**
   * The only API key the server accepts; any other gets the provider's 401. Default: any
   * non-empty key is accepted (a missing key still gets a 401, as from the real API).
   */
  apiKey?: string;
  /**
   * The answer when the script is empty: a turn, or a function of the request.
   * Default: a short text reply.
   */
  reply?: FakeTurn | ((request: RecordedRequest) => FakeTurn);
  /** Default milliseconds before each content chunk. Default 0. */
  tokenDelayMs?: number;
  /** Port to listen on. Default 0 (a free port). The host is always 127.0.0.1. */
  port?: number;
}

/** A running fake provider server. */
export interface FakeProviderServer {
  /** `openai` or `anthropic`. */
  readonly provider: string;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** What to give the provider's SDK as `baseURL`. */
  readonly baseURL: string;
  /** Every request received, in order (requests to unknown paths too). */
  readonly requests: RecordedRequest[];
  /** Queues turns: each answers one request, in order; then the default reply applies again. */
  script(...turns: FakeTurn[]): this;
  /** Turns queued and not yet used. */
  readonly pending: number;
  /** Forgets the recorded requests and the queued turns. */
  reset(): void;
  /** Stops listening and closes every open connection. */
  close(): Promise<void>;
}

/** What a provider adds to the generic server. */
export interface ProviderWire {
  provider: string;
  /** The path the SDK's baseURL points at (`/v1` for OpenAI, `` for Anthropic). */
  basePath: string;
  requestIdHeader: string;
  authenticated(headers: IncomingMessage['headers']): string | undefined;
  /** The provider's error body. */
  errorBody(error: Required<Pick<FakeHttpError, 'status' | 'errorType' | 'message'>>, requestId: string): unknown;
  defaultErrorType(status: number): string;
  /**
   * Answers a request to `path` with a scripted reply; returns `undefined` for an unknown path,
   * or an error to answer with (e.g. a malformed body).
   */
  route(path: string, method: string): ((context: RouteContext) => Promise<RequestOutcome>) | undefined;
}

/** What a route gets. */
export interface RouteContext {
  request: RecordedRequest;
  body: Record<string, unknown>;
  reply: FakeReply;
  tokenDelayMs: number;
  exchange: Exchange;
  /** 1, 2, 3… per server: makes ids unique. */
  sequence: number;
  /** Answers with the provider's error body. */
  fail(error: FakeHttpError): RequestOutcome;
}

const DEFAULT_REPLY: FakeReply = { text: 'Hello from the sluice fake server.' };

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

/** Starts a fake provider server on 127.0.0.1. Used by `startFakeOpenAI` and `startFakeAnthropic`. */
export async function startFakeProviderServer(wire: ProviderWire, options: FakeServerOptions = {}): Promise<FakeProviderServer> {
  const tokenDelayMs = options.tokenDelayMs ?? 0;
  if (!Number.isFinite(tokenDelayMs) || tokenDelayMs < 0) {
    throw new TypeError('[sluice/testing] tokenDelayMs must be a number >= 0');
  }
  const requests: RecordedRequest[] = [];
  const queue: FakeTurn[] = [];
  let sequence = 0;

  const nextTurn = (request: RecordedRequest): FakeTurn => {
    const scripted = queue.shift();
    if (scripted !== undefined) return scripted;
    const fallback = options.reply ?? DEFAULT_REPLY;
    return typeof fallback === 'function' ? fallback(request) : fallback;
  };

  const handle = async (incoming: IncomingMessage, response: ServerResponse): Promise<void> => {
    const id = ++sequence;
    const requestId = `req_sluice${String(id).padStart(6, '0')}`;
    response.setHeader(wire.requestIdHeader, requestId);
    let settle: (outcome: RequestOutcome) => void = () => undefined;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(incoming.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const url = new URL(incoming.url ?? '/', 'http://127.0.0.1');
    const recorded: RecordedRequest = {
      method: incoming.method ?? 'GET',
      path: url.pathname,
      headers,
      body: undefined,
      receivedAt: Date.now(),
      outcome: undefined,
      settled: new Promise<RequestOutcome>((resolve) => (settle = resolve)),
    };
    Object.defineProperty(recorded, 'settled', { enumerable: false });
    requests.push(recorded);

    let clientGone = false;
    let markGone: () => void = () => undefined;
    const gone = new Promise<void>((resolve) => (markGone = resolve));
    response.on('close', () => {
      if (!response.writableFinished) {
        clientGone = true;
        markGone();
      }
    });
    const exchange: Exchange = {
      response,
      get clientGone() {
        return clientGone;
      },
      gone,
    };
    const finish = (outcome: RequestOutcome): void => {
      recorded.outcome = outcome;
      settle(outcome);
    };
    const fail = (error: FakeHttpError): RequestOutcome => {
      const errorType = error.errorType ?? wire.defaultErrorType(error.status);
      const message = error.message ?? `Scripted ${error.status} from the sluice fake ${wire.provider} server.`;
      const responseHeaders: Record<string, string> = { 'content-type': 'application/json' };
      if (error.retryAfter !== undefined) responseHeaders['retry-after'] = String(error.retryAfter);
      if (error.retryAfterMs !== undefined) responseHeaders['retry-after-ms'] = String(error.retryAfterMs);
      response.writeHead(error.status, responseHeaders);
      response.end(JSON.stringify(wire.errorBody({ status: error.status, errorType, message }, requestId)));
      return 'completed';
    };

    try {
      const text = await readBody(incoming);
      if (text !== '') {
        try {
          recorded.body = JSON.parse(text);
        } catch {
          recorded.body = text;
        }
      }
      const route = wire.route(recorded.path, recorded.method);
      if (route === undefined) {
        finish(fail({ status: 404, message: `The sluice fake ${wire.provider} server has no ${recorded.method} ${recorded.path}.` }));
        return;
      }
      const key = wire.authenticated(incoming.headers);
      if (key === undefined || key === '' || (options.apiKey !== undefined && key !== options.apiKey)) {
        finish(fail({ status: 401, message: key ? 'Invalid API key.' : 'No API key provided.' }));
        return;
      }
      if (recorded.body === null || typeof recorded.body !== 'object' || Array.isArray(recorded.body)) {
        finish(fail({ status: 400, message: 'The request body must be a JSON object.' }));
        return;
      }
      const turn = nextTurn(recorded);
      if (isHttpError(turn)) {
        finish(fail(turn));
        return;
      }
      const outcome = await route({
        request: recorded,
        body: recorded.body as Record<string, unknown>,
        reply: turn,
        tokenDelayMs: turn.tokenDelayMs ?? tokenDelayMs,
        exchange,
        sequence: id,
        fail,
      });
      finish(outcome);
    } catch (error) {
      if (!response.headersSent) {
        finish(fail({ status: 500, message: error instanceof Error ? error.message : String(error) }));
      } else {
        response.destroy();
        finish('fault');
      }
    }
  };

  const server = createServer((incoming, response) => void handle(incoming, response));
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  const fake: FakeProviderServer = {
    provider: wire.provider,
    url,
    baseURL: `${url}${wire.basePath}`,
    requests,
    script(...turns: FakeTurn[]) {
      queue.push(...turns);
      return this;
    },
    get pending() {
      return queue.length;
    },
    reset() {
      requests.length = 0;
      queue.length = 0;
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
  return fake;
}

/** Answers a non-streamed request: the reply as JSON, or its fault (a stall delays it, a reset cuts it, the others answer 500). */
export async function answerJson(context: RouteContext, build: () => Record<string, unknown>): Promise<RequestOutcome> {
  const { reply, exchange } = context;
  const fault = reply.fault;
  // A non-streamed request has no stream to break: a stall delays the answer, a reset cuts it,
  // and the other faults answer 500.
  if (fault?.type === 'reset') {
    exchange.response.socket?.resetAndDestroy();
    return 'fault';
  }
  if (fault?.type === 'stall') {
    await Promise.race([new Promise((resolve) => setTimeout(resolve, fault.stallMs ?? 2 ** 31 - 1)), exchange.gone]);
    if (exchange.clientGone) return 'client-closed';
  } else if (fault !== undefined) {
    return context.fail({ status: 500, message: `Scripted ${fault.type} on a non-streamed request.` });
  }
  exchange.response.writeHead(200, { 'content-type': 'application/json' });
  exchange.response.end(JSON.stringify(build()));
  return 'completed';
}
