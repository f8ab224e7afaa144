import type { RunListener, StreamEvent } from '@sluice/core';
import type { LogReader } from './log-reader.js';

/**
 * One subscriber of a run held by another instance: reads the run's log from the last seq it
 * delivered whenever it is told there may be more (a notification pointer, an end notice, a
 * reconnect), one read at a time, and delivers each event once, in seq order.
 */
export class RunFollower {
  readonly runId: string;
  /** The highest seq delivered (or replayed). */
  delivered: number;
  private readonly reader: LogReader;
  private readonly pageSize: number;
  private readonly onDone: (follower: RunFollower) => void;
  private readonly onError: (error: Error) => void;
  private listener: RunListener | undefined;
  private reading = false;
  private again = false;
  /** The run ended in the hub: once a read started after that finds no `finish`, it never will. */
  private endNoticed = false;
  private done = false;

  constructor(options: {
    runId: string;
    afterSeq: number;
    reader: LogReader;
    pageSize: number;
    onDone: (follower: RunFollower) => void;
    onError: (error: Error) => void;
  }) {
    this.runId = options.runId;
    this.delivered = options.afterSeq;
    this.reader = options.reader;
    this.pageSize = options.pageSize;
    this.onDone = options.onDone;
    this.onError = options.onError;
  }

  /**
   * Reads everything after `delivered` as the replay (pages until a short one). Pointers that
   * arrive meanwhile are remembered, and `start` reads again for them.
   */
  async replay(): Promise<{ events: StreamEvent[]; finished: boolean }> {
    this.reading = true;
    const events: StreamEvent[] = [];
    try {
      for (;;) {
        this.again = false;
        const page = await this.reader.read(this.runId, this.delivered);
        for (const event of page) {
          if (event.seq !== this.delivered + 1) break;
          events.push(event);
          this.delivered = event.seq;
          if (event.type === 'finish') {
            this.done = true;
            return { events, finished: true };
          }
        }
        if (page.length < this.pageSize) return { events, finished: false };
      }
    } finally {
      this.reading = false;
    }
  }

  /** Starts delivering to the listener (after the replay was handed over). */
  start(listener: RunListener): void {
    this.listener = listener;
    if (this.again || this.endNoticed) this.pull();
  }

  /** A notification said the log reaches `lastSeq`: read it if it is past what was delivered. */
  pointer(lastSeq: number): void {
    if (lastSeq > this.delivered) this.pull();
  }

  /** The run ended in the hub: read what is left, and end the listener (lost if no `finish` came). */
  ended(): void {
    this.endNoticed = true;
    this.pull();
  }

  /** Reads from `delivered` now (or again right after the read in flight). */
  pull(): void {
    if (this.done) return;
    if (this.reading || this.listener === undefined) {
      this.again = true;
      return;
    }
    void this.read();
  }

  /** Stops delivering (unsubscribe). */
  stop(): void {
    this.done = true;
    this.listener = undefined;
  }

  private async read(): Promise<void> {
    this.reading = true;
    try {
      for (;;) {
        this.again = false;
        const endNoticed = this.endNoticed;
        let page: StreamEvent[];
        try {
          page = await this.reader.read(this.runId, this.delivered);
        } catch (error) {
          // Read again from the same seq a little later (or at the next pointer, whichever first).
          this.onError(error as Error);
          setTimeout(() => this.pull(), 250).unref?.();
          return;
        }
        let gap = false;
        for (const event of page) {
          if (this.done) return;
          if (event.seq <= this.delivered) continue;
          if (event.seq !== this.delivered + 1) {
            gap = true;
            break;
          }
          this.delivered = event.seq;
          this.listener?.event(event);
          if (event.type === 'finish') {
            this.finish(undefined);
            return;
          }
        }
        if (this.done) return;
        if (page.length === this.pageSize && !gap) continue;
        if (this.again) continue;
        if (endNoticed) {
          // The run ended before this read began, and the log has no finish: none will come.
          this.finish({ lost: true });
        }
        return;
      }
    } finally {
      this.reading = false;
    }
  }

  private finish(outcome: { lost?: boolean } | undefined): void {
    const listener = this.listener;
    this.done = true;
    this.listener = undefined;
    this.onDone(this);
    if (outcome === undefined) listener?.end();
    else listener?.end(outcome);
  }
}
