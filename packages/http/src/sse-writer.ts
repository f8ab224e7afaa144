import type { ServerResponse } from 'node:http';
import type { StreamEvent } from '@sluice/core';

/** Options of the SSE writer. */
export interface SseWriterOptions {
  /**
   * Bytes a client may have waiting (ours plus the socket's buffer) before it is judged too
   * slow and disconnected; it can resume from its last event. Default 1 MiB.
   */
  maxBufferedBytes?: number;
  /** The reconnection delay suggested to EventSource clients (`retry:`). Default 1000 ms. */
  retryMs?: number;
}

/** One SSE frame: `id:` is the event's seq, `event:` its type, `data:` the event as JSON. */
export function formatSseEvent(event: StreamEvent): string {
  // JSON.stringify escapes newlines, so the data is always one line.
  return `id: ${event.seq}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** The headers every SSE response carries. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache, no-transform',
  Connection: 'keep-alive',
  'X-Accel-Buffering': 'no',
};

/**
 * Writes SSE frames to a response. Frames written in one turn of the event loop go out in one
 * write; while the socket is full (`write()` returned false) frames wait for `drain`; a client
 * whose backlog passes `maxBufferedBytes` is disconnected rather than held in memory.
 */
export class SseWriter {
  private readonly response: ServerResponse;
  private readonly maxBufferedBytes: number;
  private readonly retryMs: number;
  private readonly batchBytes: number;
  // Events to replay, written as the socket takes them (they are held by the hub anyway).
  private backlog: readonly StreamEvent[] = [];
  private backlogIndex = 0;
  // Live frames waiting for their turn: bounded by maxBufferedBytes.
  private pending: string[] = [];
  private pendingBytes = 0;
  private flushScheduled = false;
  private waitingForDrain = false;
  private endRequested = false;
  private ended = false;
  private pageWaiter: ((written: boolean) => void) | undefined;
  private watchingClose = false;
  private readonly flushNow = (): void => this.flush();
  private readonly onDrain = (): void => {
    this.waitingForDrain = false;
    this.flush();
  };

  constructor(response: ServerResponse, options: SseWriterOptions = {}) {
    this.response = response;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1024 * 1024;
    this.retryMs = options.retryMs ?? 1000;
    this.batchBytes = Math.max(1024, Math.min(64 * 1024, Math.floor(this.maxBufferedBytes / 4)));
  }

  /** True once the response ended or the client went away. */
  get closed(): boolean {
    return this.ended || this.endRequested || this.response.destroyed || this.response.writableEnded;
  }

  /** Sends the status line and headers, and the `retry:` hint. */
  open(headers: Record<string, string> = {}): void {
    this.response.writeHead(200, { ...SSE_HEADERS, ...headers });
    this.write(`retry: ${this.retryMs}\n\n`);
  }

  /** Writes these events first, as fast as the client takes them (not counted against the cap). */
  replay(events: readonly StreamEvent[]): void {
    this.backlog = events;
    this.backlogIndex = 0;
    this.schedule();
  }

  /**
   * Writes one page of stored events and resolves once the socket has taken it (true) or the
   * client is gone (false): a reader of a long stored log holds one page at a time, never the
   * whole run, and never meets the slow-client cap.
   */
  sendPage(events: readonly StreamEvent[]): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    this.replay(events);
    return new Promise((resolve) => {
      this.pageWaiter = resolve;
      this.schedule();
    });
  }

  /** Writes a frame that is not a run event (`event: run-error`), then ends the response. */
  fail(code: string, message: string): void {
    this.write(`event: run-error\ndata: ${JSON.stringify({ error: { code, message } })}\n\n`);
    this.end();
  }

  /** Queues an event's frame. Returns false when the client is gone. */
  send(event: StreamEvent): boolean {
    return this.write(formatSseEvent(event));
  }

  /** Queues a comment line (heartbeat). */
  comment(text: string): boolean {
    return this.write(`: ${text}\n\n`);
  }

  /** Ends the response once everything queued has been written. */
  end(): void {
    if (this.closed) return;
    this.endRequested = true;
    this.flush();
  }

  private write(frame: string): boolean {
    if (this.closed) return false;
    this.pending.push(frame);
    this.pendingBytes += frame.length;
    if (this.pendingBytes + this.response.writableLength > this.maxBufferedBytes + this.batchBytes) {
      // Too slow: drop the connection, keep nothing. The client resumes from its last event.
      this.pending = [];
      this.pendingBytes = 0;
      this.backlog = [];
      this.ended = true;
      this.response.destroy();
      this.settlePage(false);
      return false;
    }
    this.schedule();
    return true;
  }

  private schedule(): void {
    // Frames queued in one turn of the event loop go out in one write.
    if (this.flushScheduled || this.waitingForDrain) return;
    this.flushScheduled = true;
    process.nextTick(this.flushNow);
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.waitingForDrain || this.ended) return;
    if (this.response.destroyed) {
      this.ended = true;
      this.settlePage(false);
      return;
    }
    while (this.backlogIndex < this.backlog.length) {
      const frames: string[] = [];
      let size = 0;
      while (this.backlogIndex < this.backlog.length && size < this.batchBytes) {
        const frame = formatSseEvent(this.backlog[this.backlogIndex++] as StreamEvent);
        frames.push(frame);
        size += frame.length;
      }
      if (!this.response.write(frames.join(''))) return this.waitForDrain();
    }
    this.backlog = [];
    this.backlogIndex = 0;
    this.settlePage(true);
    if (this.pending.length > 0) {
      const chunk = this.pending.length === 1 ? (this.pending[0] as string) : this.pending.join('');
      this.pending = [];
      this.pendingBytes = 0;
      if (!this.response.write(chunk)) return this.waitForDrain();
    }
    if (this.endRequested) {
      this.ended = true;
      this.response.end();
    }
  }

  private waitForDrain(): void {
    this.waitingForDrain = true;
    this.response.once('drain', this.onDrain);
    // A client that leaves while the socket is full never drains: let a page waiter go.
    if (this.pageWaiter !== undefined && !this.watchingClose) {
      this.watchingClose = true;
      this.response.once('close', () => this.settlePage(false));
    }
  }

  private settlePage(written: boolean): void {
    const waiter = this.pageWaiter;
    if (waiter === undefined) return;
    this.pageWaiter = undefined;
    waiter(written && !this.closed);
  }
}
