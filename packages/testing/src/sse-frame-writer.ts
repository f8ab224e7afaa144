import type { ServerResponse } from 'node:http';
import type { FakeStreamFault } from './fake-turn.js';
import type { RequestOutcome } from './recorded-request.js';

/**
 * One server-sent event as it goes on the wire. `content` frames carry a delta (they are paced
 * and counted for faults); `end` frames close the stream (finish, usage, terminator).
 */
export interface Frame {
  wire: string;
  kind: 'meta' | 'content' | 'end';
}

/** `data: <json>` + blank line (OpenAI Chat Completions frames carry no event name). */
export function dataFrame(payload: unknown, kind: Frame['kind']): Frame {
  return { wire: `data: ${JSON.stringify(payload)}\n\n`, kind };
}

/** `event: <name>` + `data: <json>` + blank line. */
export function eventFrame(event: string, payload: unknown, kind: Frame['kind']): Frame {
  return { wire: `event: ${event}\ndata: ${JSON.stringify(payload)}\n\n`, kind };
}

/** One HTTP exchange: the response and whether the client has gone. */
export interface Exchange {
  readonly response: ServerResponse;
  /** True once the connection closed before the response finished. */
  readonly clientGone: boolean;
  /** Resolves when the client goes away (never, if the response completes first). */
  readonly gone: Promise<void>;
}

export interface StreamPlan {
  frames: readonly Frame[];
  tokenDelayMs: number;
  fault: FakeStreamFault | undefined;
  /** The provider's mid-stream error frames, for the `error-event` fault, after `framesSent` frames. */
  errorFrames: (fault: Extract<FakeStreamFault, { type: 'error-event' }>, framesSent: number) => readonly Frame[];
}

const RESET_PAUSE_MS = 30;

function wait(ms: number, exchange: Exchange): Promise<void> {
  if (!Number.isFinite(ms)) return exchange.gone;
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void exchange.gone.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function write(exchange: Exchange, chunk: string): Promise<void> | undefined {
  if (exchange.response.write(chunk)) return undefined;
  // Backpressure: wait for the client to read, or to go away.
  return new Promise((resolve) => {
    const done = (): void => {
      exchange.response.off('drain', done);
      resolve();
    };
    exchange.response.on('drain', done);
    void exchange.gone.then(done);
  });
}

/** Streams an SSE body frame by frame, with pacing and the scripted fault. */
export async function streamFrames(exchange: Exchange, plan: StreamPlan): Promise<RequestOutcome> {
  const { response } = exchange;
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  response.flushHeaders();
  const fault = plan.fault;
  const afterChunks = fault?.afterChunks ?? 0;
  let faultPending = fault !== undefined;
  let contents = 0;
  let sent = 0;
  for (const frame of plan.frames) {
    if (exchange.clientGone) return 'client-closed';
    if (faultPending && frame.kind !== 'meta' && contents >= afterChunks) {
      faultPending = false;
      const outcome = await applyFault(exchange, plan, fault as FakeStreamFault, sent);
      if (outcome !== undefined) return outcome;
    }
    if (frame.kind === 'content') {
      if (plan.tokenDelayMs > 0) {
        await wait(plan.tokenDelayMs, exchange);
        if (exchange.clientGone) return 'client-closed';
      }
      contents++;
    }
    const pending = write(exchange, frame.wire);
    sent++;
    if (pending !== undefined) await pending;
  }
  if (exchange.clientGone) return 'client-closed';
  response.end();
  return 'completed';
}

async function applyFault(exchange: Exchange, plan: StreamPlan, fault: FakeStreamFault, sent: number): Promise<RequestOutcome | undefined> {
  const { response } = exchange;
  switch (fault.type) {
    case 'stall':
      await wait(fault.stallMs ?? Number.POSITIVE_INFINITY, exchange);
      return exchange.clientGone ? 'client-closed' : undefined;
    case 'truncate':
      response.end();
      return 'fault';
    case 'error-event':
      for (const frame of plan.errorFrames(fault, sent)) response.write(frame.wire);
      response.end();
      return 'fault';
    case 'reset':
      // A reset makes the client's kernel drop bytes it has not read yet: give the client a
      // moment to read what was sent, so the fault lands after exactly `afterChunks` chunks.
      if (sent > 0) await wait(RESET_PAUSE_MS, exchange);
      response.socket?.resetAndDestroy();
      return 'fault';
  }
}
