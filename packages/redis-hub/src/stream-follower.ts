import type { RunListener, StreamEvent } from '@sluice/core';
import type { Redis } from 'ioredis';
import { entryId, seqOfEntryId } from './redis-key-space.js';

/** One subscription to a run followed through Redis. */
interface Following {
  listener: RunListener;
  /** The last seq delivered to it. */
  lastSeq: number;
}

interface FollowedRun {
  runId: string;
  eventsKey: string;
  hashKey: string;
  followings: Set<Following>;
  /** When a check first found the run's hash gone (Redis lost it), undefined while it is there. */
  missingSince: number | undefined;
  /** The seq the pending read started after: a subscription behind it joined later and waits for the next read. */
  readFrom: number;
}

interface FollowerOptions {
  /** How long a run's hash may be gone (after Redis lost it) before its followers end as lost. */
  lostAfterMs: number;
  onError: (error: unknown) => void;
}

const idleBlockMs = 5_000;
const checkBlockMs = 250;

/**
 * Follows the streams of runs held by other instances: ONE blocking connection runs
 * `XREAD BLOCK … STREAMS <every followed stream>` in a loop. A new subscription is picked up at
 * once: the control connection sends `CLIENT UNBLOCK <reader id>`, which ends the pending read,
 * and the next read includes the new stream. Each subscription keeps its last delivered seq,
 * so a read after a dropped connection or a Redis restart resumes where it stopped.
 */
export class StreamFollower {
  private readonly reader: Redis;
  private readonly control: Redis;
  private readonly options: FollowerOptions;
  private readonly followed = new Map<string, FollowedRun>();
  private readonly byKey = new Map<string, FollowedRun>();
  /** Bumped by every new subscription; a read issued before it misses a stream. */
  private generation = 0;
  private readGeneration = -1;
  private reading = false;
  private unblocking = false;
  private readerId: number | undefined;
  private checkNeeded = false;
  private wakeIdle: (() => void) | undefined;
  private closed = false;
  private readonly loop: Promise<void>;

  constructor(reader: Redis, control: Redis, options: FollowerOptions) {
    this.reader = reader;
    this.control = control;
    this.options = options;
    let connectedBefore = false;
    reader.on('ready', () => {
      // A new connection has a new client id; and Redis may have lost runs: check them.
      this.readerId = undefined;
      if (connectedBefore) this.checkNeeded = true;
      connectedBefore = true;
    });
    this.loop = this.run();
  }

  /** Delivers the run's events after `lastSeq` to the listener until its finish. */
  follow(runId: string, eventsKey: string, hashKey: string, lastSeq: number, listener: RunListener): () => void {
    let run = this.followed.get(runId);
    if (run === undefined) {
      run = { runId, eventsKey, hashKey, followings: new Set(), missingSince: undefined, readFrom: Number.POSITIVE_INFINITY };
      this.followed.set(runId, run);
      this.byKey.set(eventsKey, run);
    }
    const following: Following = { listener, lastSeq };
    run.followings.add(following);
    this.generation++;
    this.wake();
    const followedRun = run;
    return () => this.drop(followedRun, following);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeIdle?.();
    this.reader.disconnect();
    await this.loop;
  }

  private drop(run: FollowedRun, following: Following): void {
    run.followings.delete(following);
    if (run.followings.size === 0 && this.followed.get(run.runId) === run) {
      this.followed.delete(run.runId);
      this.byKey.delete(run.eventsKey);
    }
  }

  private wake(): void {
    if (this.wakeIdle !== undefined) {
      this.wakeIdle();
      return;
    }
    if (!this.unblocking) void this.unblock();
  }

  /**
   * Ends the pending read if it was issued before the latest subscription. CLIENT UNBLOCK answers
   * 0 when the read has not reached Redis yet: try again a moment later.
   */
  private async unblock(): Promise<void> {
    this.unblocking = true;
    try {
      for (let attempt = 0; attempt < 50; attempt++) {
        if (this.closed || !this.reading || this.readGeneration >= this.generation) return;
        const id = this.readerId;
        if (id !== undefined && this.control.status === 'ready' && (await this.control.client('UNBLOCK', id)) === 1) return;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    } catch (error) {
      if (!this.closed) this.options.onError(error);
    } finally {
      this.unblocking = false;
    }
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      if (this.followed.size === 0) {
        await new Promise<void>((resolve) => (this.wakeIdle = resolve));
        this.wakeIdle = undefined;
        continue;
      }
      try {
        this.readerId ??= (await this.reader.client('ID')) as number;
        if (this.checkNeeded) await this.check();
        const keys: string[] = [];
        const ids: string[] = [];
        for (const run of this.followed.values()) {
          let from = Number.POSITIVE_INFINITY;
          for (const following of run.followings) from = Math.min(from, following.lastSeq);
          run.readFrom = from;
          keys.push(run.eventsKey);
          ids.push(entryId(from));
        }
        this.readGeneration = this.generation;
        this.reading = true;
        const reply = (await this.reader.call(
          'XREAD',
          'COUNT',
          1000,
          'BLOCK',
          this.checkNeeded ? checkBlockMs : idleBlockMs,
          'STREAMS',
          ...keys,
          ...ids,
        )) as [string, [string, string[]][]][] | null;
        this.reading = false;
        if (reply !== null) this.deliver(reply);
        // Unblocked for a new subscription while the old read had data: wake is handled by the loop.
      } catch (error) {
        this.reading = false;
        if (this.closed) return;
        // Down connection: ioredis reconnects, the next read resumes from each last seq.
        if (this.reader.status === 'ready') this.options.onError(error);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  private deliver(reply: [string, [string, string[]][]][]): void {
    for (const [key, entries] of reply) {
      const run = this.byKey.get(key);
      if (run === undefined) continue;
      run.missingSince = undefined;
      for (const [id, fields] of entries) {
        const seq = seqOfEntryId(id);
        const json = fields[1];
        if (json === undefined) continue;
        let event: StreamEvent | undefined;
        for (const following of run.followings) {
          if (seq <= following.lastSeq) continue;
          if (seq > following.lastSeq + 1) {
            // Joined after this read was issued: the next read starts from its seq.
            if (following.lastSeq < run.readFrom) continue;
            // The entries in between were trimmed (MAXLEN) or lost: this hub cannot serve them.
            this.drop(run, following);
            following.listener.end({ lost: true });
            continue;
          }
          event ??= JSON.parse(json) as StreamEvent;
          following.lastSeq = seq;
          following.listener.event(event);
          if (event.type === 'finish') {
            this.drop(run, following);
            following.listener.end();
          }
        }
      }
    }
  }

  /**
   * After a reconnect: a run whose hash is gone may come back (its instance restores it); one
   * still gone after `lostAfterMs` is lost, and its followers end.
   */
  private async check(): Promise<void> {
    const runs = [...this.followed.values()];
    const pipeline = this.reader.pipeline();
    for (const run of runs) pipeline.exists(run.hashKey);
    const results = (await pipeline.exec()) ?? [];
    const now = Date.now();
    let missing = false;
    runs.forEach((run, index) => {
      const [error, exists] = results[index] ?? [new Error('no reply')];
      if (error !== null) throw error;
      if (exists === 1) {
        run.missingSince = undefined;
        return;
      }
      run.missingSince ??= now;
      if (now - run.missingSince < this.options.lostAfterMs) {
        missing = true;
        return;
      }
      for (const following of [...run.followings]) {
        this.drop(run, following);
        following.listener.end({ lost: true });
      }
    });
    this.checkNeeded = missing;
  }
}
