import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Message, StreamEvent } from '@sluice/core';

/**
 * A small server that speaks packages/http/PROTOCOL.md (mounted at `/api`) with scripted runs,
 * and breaks connections where a test says: the client's tests run against real HTTP. What the
 * real `@sluice/http` server can produce runs against both (`contract.test.ts`); this one alone
 * scripts the faults the real server cannot (cuts inside a frame, bogus replays, wrong content
 * types, stalled connections, scripted statuses).
 */

/** What one connection of a run does (0 = the `POST /chat`, 1 = the first resume, ...). */
export interface ConnectionScript {
  /** Answer this HTTP status with `body` (default: a sluice JSON error) instead of streaming. */
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Destroy the socket before answering anything. */
  refuse?: boolean;
  /** Destroy the socket (a real TCP cut) after writing this many events. */
  cutAfter?: number;
  /** With `cutAfter`: first write half of the next frame, so the cut falls inside a frame. */
  midFrame?: boolean;
  /** End the response cleanly, without `finish`, after writing this many events. */
  endAfter?: number;
  /** Replay from this seq, whatever `Last-Event-ID` says (overlapping replays, gaps). */
  replayFrom?: number;
  /** Send the headers and then nothing at all (a stalled connection). */
  silent?: boolean;
  /** Answer 200 with this content type and a plain body instead of an event stream. */
  contentType?: string;
  /** After the events there are, end with a `run-error` frame of this code (the run can produce no more). */
  runError?: string;
}

/** A scripted run: what the "model" generates, how fast, and what each connection does. */
export interface RunScript {
  deltas?: string[];
  /** Events to send instead of `deltas` (without seq; text deltas also build the message). */
  parts?: PartWithoutSeq[];
  /** Milliseconds between generated events (0: as fast as possible). */
  intervalMs?: number;
  /** End with an `error` event and `finish` reason `error`. */
  fail?: { code: string; message: string };
  /** After the parts, wait for a cancel instead of finishing. */
  holdOpen?: boolean;
  /** A `: ping` comment before every event. */
  heartbeats?: boolean;
  /** Milliseconds between the `finish` event and the end of the response. */
  endDelayMs?: number;
  connections?: Record<number, ConnectionScript>;
}

type PartWithoutSeq = StreamEvent extends infer TEvent ? (TEvent extends StreamEvent ? Omit<TEvent, 'seq'> : never) : never;

/** A request the server received. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

interface Run {
  id: string;
  conversationId: string;
  events: StreamEvent[];
  finished: boolean;
  cancelled: boolean;
  connections: number;
  script: RunScript;
  textParts: string[];
  listeners: Set<() => void>;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const BASE = '/api';

function frame(event: StreamEvent): string {
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
  response.end(JSON.stringify(body));
}

function sendError(response: ServerResponse, status: number, code: string, message: string, details?: unknown): void {
  sendJson(response, status, { error: details === undefined ? { code, message } : { code, message, details } });
}

export class ProtocolServer {
  /** Every request, in arrival order. */
  readonly requests: ReceivedRequest[] = [];
  /** How many event-stream responses have closed (cut, ended, or closed by the client). */
  closedStreams = 0;
  /** How many TCP connections clients opened. */
  sockets = 0;
  private readonly server: Server;
  private readonly runs = new Map<string, Run>();
  private readonly conversations = new Map<string, Message[]>();
  private readonly scripts: RunScript[] = [];
  private defaultScript: RunScript = { deltas: ['Hello', ', ', 'world', '!'] };
  private readonly models = new Map<string, RunScript>();
  private maxConcurrentRuns = Number.POSITIVE_INFINITY;
  private streamClosedWaiters: (() => void)[] = [];
  private nextId = 1;
  private baseUrl = '';

  constructor() {
    this.server = createServer((request, response) => {
      void this.handle(request, response).catch((error: unknown) => {
        if (!response.headersSent) sendError(response, 500, 'internal_error', String(error));
      });
    });
    this.server.on('connection', () => this.sockets++);
  }

  /** Listens on 127.0.0.1 on a free port; the client's `baseURL`. */
  async start(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    const { port } = this.server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${port}${BASE}`;
    return this.baseUrl;
  }

  async close(): Promise<void> {
    for (const run of this.runs.values()) clearTimeout(run.timer);
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  /** The script of the next `POST /chat` (queued: one per post); otherwise `setDefault`'s. */
  script(run: RunScript): this {
    this.scripts.push(run);
    return this;
  }

  setDefault(run: RunScript): this {
    this.defaultScript = run;
    return this;
  }

  /** The script of every `POST /chat` that asks for this model (when no script is queued). */
  setModel(name: string, run: RunScript): this {
    this.models.set(name, run);
    return this;
  }

  /** Live runs at once before `POST /chat` answers `429 too_many_runs` (default: no cap). */
  setMaxConcurrentRuns(count: number): this {
    this.maxConcurrentRuns = count;
    return this;
  }

  /** Destroys every open TCP connection (a real cut); the server keeps listening. */
  cutConnections(): void {
    this.server.closeAllConnections();
  }

  /**
   * A run left streaming by an instance that died: `deltas` were generated, nothing more will
   * be; every resume replays them and ends with a `run-error` frame `run_stalled`.
   */
  abandonedRun(deltas: string[]): string {
    const conversationId = `conversation-${this.nextId++}`;
    this.conversations.set(conversationId, []);
    const run: Run = {
      id: `run-${this.nextId++}`,
      conversationId,
      events: [],
      finished: false,
      cancelled: false,
      connections: 0,
      script: { deltas, holdOpen: true, connections: Object.fromEntries(Array.from({ length: 100 }, (_, index) => [index, { runError: 'run_stalled' }])) },
      textParts: [],
      listeners: new Set(),
      timer: undefined,
    };
    this.runs.set(run.id, run);
    this.append(run, { type: 'start', runId: run.id, conversationId, model: 'scripted', provider: 'test', createdAt: Date.now() });
    for (const text of deltas) this.append(run, { type: 'text-delta', text });
    return run.id;
  }

  /** The requests to a path (relative to `/api`), e.g. `requestsTo('/chat')`. */
  requestsTo(method: string, pathPrefix: string): ReceivedRequest[] {
    return this.requests.filter((request) => request.method === method && request.path.startsWith(BASE + pathPrefix));
  }

  /** A run's events so far (for assertions). */
  eventsOf(runId: string): StreamEvent[] {
    return this.runs.get(runId)?.events ?? [];
  }

  /** Resolves once `count` event-stream responses have closed. */
  async streamsClosed(count: number): Promise<void> {
    while (this.closedStreams < count) await new Promise<void>((resolve) => this.streamClosedWaiters.push(resolve));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    this.requests.push({ method: request.method ?? '', path: url.pathname, headers: request.headers, body });
    const route = url.pathname.startsWith(BASE) ? url.pathname.slice(BASE.length) : '';
    const segments = route.split('/').filter((segment) => segment !== '').map(decodeURIComponent);

    if (request.method === 'POST' && route === '/chat') return this.startRun(body, response);
    if (segments[0] === 'runs' && segments.length === 3) {
      const run = this.runs.get(segments[1] as string);
      if (run === undefined) return sendError(response, 404, 'not_found', `run ${segments[1]} does not exist`);
      if (request.method === 'GET' && segments[2] === 'events') {
        const header = request.headers['last-event-id'] ?? url.searchParams.get('after') ?? undefined;
        const from = header === undefined ? 0 : Number(header) + 1;
        return this.stream(run, from, run.connections++, response);
      }
      if (request.method === 'POST' && segments[2] === 'cancel') {
        if (run.finished) return sendJson(response, 200, { runId: run.id, status: 'finished' });
        this.cancel(run);
        return sendJson(response, 202, { runId: run.id, status: 'cancelling' });
      }
    }
    if (request.method === 'GET' && segments[0] === 'conversations' && segments.length === 2) {
      const messages = this.conversations.get(segments[1] as string);
      if (messages === undefined) return sendError(response, 404, 'not_found', `conversation ${segments[1]} does not exist`);
      return sendJson(response, 200, { conversationId: segments[1], messages });
    }
    sendError(response, 404, 'not_found', `no route ${request.method} ${url.pathname}`);
  }

  private startRun(body: string, response: ServerResponse): void {
    let parsed: { messages?: unknown; conversationId?: unknown };
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      return sendError(response, 400, 'invalid_request', 'the body is not JSON');
    }
    if (!Array.isArray(parsed.messages) || parsed.messages.length === 0) {
      return sendError(response, 400, 'invalid_request', 'messages: at least one message is required', [
        { path: 'messages', message: 'at least one message is required' },
      ]);
    }
    const live = [...this.runs.values()].filter((run) => !run.finished && !run.script.holdOpen).length;
    if (live >= this.maxConcurrentRuns) {
      return sendJson(response, 429, { error: { code: 'too_many_runs', message: `at most ${this.maxConcurrentRuns} runs at once` } }, { 'Retry-After': '1' });
    }
    const model = (parsed as { model?: unknown }).model;
    const script = this.scripts.shift() ?? (typeof model === 'string' ? this.models.get(model) : undefined) ?? this.defaultScript;
    const first = script.connections?.[0];
    if (first?.status !== undefined) {
      return sendJson(response, first.status, first.body ?? { error: { code: 'scripted_error', message: `scripted ${first.status}` } }, first.headers);
    }
    const conversationId = typeof parsed.conversationId === 'string' ? parsed.conversationId : `conversation-${this.nextId++}`;
    const history = this.conversations.get(conversationId) ?? [];
    history.push(...(parsed.messages as Message[]));
    this.conversations.set(conversationId, history);
    const run: Run = {
      id: `run-${this.nextId++}`,
      conversationId,
      events: [],
      finished: false,
      cancelled: false,
      connections: 1,
      script,
      textParts: [],
      listeners: new Set(),
      timer: undefined,
    };
    this.runs.set(run.id, run);
    this.append(run, { type: 'start', runId: run.id, conversationId, model: 'scripted', provider: 'test', createdAt: Date.now() });
    this.generate(run, 0);
    this.stream(run, 0, 0, response);
  }

  private generate(run: Run, index: number): void {
    const parts: PartWithoutSeq[] = run.script.parts ?? (run.script.deltas ?? []).map((text) => ({ type: 'text-delta' as const, text }));
    const step = (): void => {
      if (run.cancelled) return;
      const part = parts[index];
      if (part !== undefined) {
        this.append(run, part);
        this.generate(run, index + 1);
        return;
      }
      if (run.script.holdOpen === true) return;
      if (run.script.fail !== undefined) {
        this.append(run, { type: 'error', error: { name: 'ModelError', retryable: false, ...run.script.fail } });
        this.finish(run, 'error');
      } else {
        this.finish(run, 'stop');
      }
    };
    run.timer = setTimeout(step, run.script.intervalMs ?? 0);
  }

  private cancel(run: Run): void {
    run.cancelled = true;
    clearTimeout(run.timer);
    this.finish(run, 'aborted');
  }

  private finish(run: Run, reason: 'stop' | 'aborted' | 'error'): void {
    const message: Message = { role: 'assistant', content: run.textParts.join(''), finishReason: reason };
    this.conversations.get(run.conversationId)?.push(message);
    this.append(run, { type: 'finish', reason, message, usage: { outputTokens: run.textParts.length } });
    run.finished = true;
  }

  private append(run: Run, part: PartWithoutSeq): void {
    const event = { ...part, seq: run.events.length } as StreamEvent;
    if (event.type === 'text-delta') run.textParts.push(event.text);
    run.events.push(event);
    for (const listener of [...run.listeners]) listener();
  }

  private stream(run: Run, from: number, connection: number, response: ServerResponse): void {
    const script = run.script.connections?.[connection] ?? {};
    if (script.refuse === true) {
      response.socket?.destroy();
      return;
    }
    if (script.status !== undefined) {
      sendJson(response, script.status, script.body ?? { error: { code: 'scripted_error', message: `scripted ${script.status}` } }, script.headers);
      return;
    }
    const headers = {
      'X-Sluice-Run-Id': run.id,
      'X-Sluice-Conversation-Id': run.conversationId,
      Location: `${BASE}/runs/${run.id}/events`,
    };
    if (script.contentType !== undefined) {
      response.writeHead(200, { 'Content-Type': script.contentType, ...headers });
      response.end('<!doctype html><p>not an event stream</p>');
      return;
    }
    response.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
      ...headers,
    });
    response.flushHeaders();
    let cursor = script.replayFrom ?? from;
    let written = 0;
    const write = (): void => {
      while (cursor < run.events.length) {
        const event = run.events[cursor] as StreamEvent;
        if (script.cutAfter !== undefined && written === script.cutAfter) {
          if (script.midFrame === true) {
            const text = frame(event);
            response.write(text.slice(0, Math.ceil(text.length / 2)));
          }
          // Let the bytes leave before the cut, so the client really reads a partial frame.
          setTimeout(() => response.socket?.destroy(), 5);
          run.listeners.delete(write);
          return;
        }
        if (script.endAfter !== undefined && written === script.endAfter) {
          run.listeners.delete(write);
          response.end();
          return;
        }
        if (run.script.heartbeats === true) response.write(': ping\n\n');
        response.write(frame(event));
        cursor++;
        written++;
        if (event.type === 'finish') {
          run.listeners.delete(write);
          const { endDelayMs } = run.script;
          if (endDelayMs === undefined) response.end();
          else setTimeout(() => response.end(), endDelayMs);
          return;
        }
      }
      run.listeners.add(write);
    };
    response.on('close', () => {
      this.closedStreams++;
      const waiters = this.streamClosedWaiters;
      this.streamClosedWaiters = [];
      for (const resolve of waiters) resolve();
      run.listeners.delete(write);
    });
    if (script.silent === true) return;
    response.write('retry: 1000\n\n');
    if (script.runError !== undefined) {
      for (const event of run.events.slice(from)) response.write(frame(event));
      response.end(`event: run-error\ndata: ${JSON.stringify({ error: { code: script.runError, message: `run ${run.id} has stored nothing for a while` } })}\n\n`);
      return;
    }
    write();
  }
}

/** Every event an iterable yields, in order. */
export async function collect(iterable: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of iterable) events.push(event);
  return events;
}
