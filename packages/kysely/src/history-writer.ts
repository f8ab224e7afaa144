import { InvalidArgumentError } from '@sluice/core';
import type { Kysely } from 'kysely';
import { StorageError } from './errors/storage-error.js';
import type { HistoryRecord } from './history-record.js';
import type { SqlFlavor } from './sql-flavor.js';
import { messagePositionIndex, type TableNames } from './table-names.js';
import { isMissingTableError, isTransientError, isUniqueViolationOn } from './transient-error.js';
import { BatchWriter } from './write-batch.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKysely = Kysely<any>;

/** How the writer retries a batch that failed for a transient reason. */
export interface RetryOptions {
  /** Attempts per batch before it is given up (and reported). Default 30 (about a minute). */
  maxAttempts?: number;
  /** Wait before the first retry; it doubles per attempt, with jitter. Default 25 ms. */
  initialDelayMs?: number;
  /** Longest wait between attempts. Default 2000 ms. */
  maxDelayMs?: number;
}

/** How the writer batches, bounds and retries. Every field has a default. */
export interface HistoryWriterOptions {
  /**
   * Most records (events, run starts, run ends) written in one transaction. Default 5000: a
   * transaction's fixed cost (the commit) is what a fast model makes the database pay most.
   */
  batchSize?: number;
  /** How long a lone record may wait for company before it is written. Default 20 ms. */
  flushIntervalMs?: number;
  /**
   * Records buffered (queued and in flight) past which `append` asks the run to wait: the
   * handler's lane then blocks and the run stops reading the model. Default 10 000.
   */
  highWaterMark?: number;
  /** Rows per multi-row insert (also capped by the database's parameter limit). Default 2000. */
  maxRowsPerStatement?: number;
  retry?: RetryOptions;
  /**
   * PostgreSQL only: a channel to `NOTIFY` on, inside each batch's transaction, once per run
   * that got events in the batch, with the payload `<lastSeq> <runId>` (that run's highest
   * seq in the batch, a space, the run id). PostgreSQL delivers notifications at commit, so a
   * listener that reads `eventsAfter` on receiving one finds the events. One statement per
   * batch. Default: none.
   */
  notifyChannel?: string;
  /**
   * Receives every write the writer gave up (after retries, or at once for a non-transient
   * error). Default: logged to stderr. Runs whose rows were lost also see the error in their
   * `onChatEnd`, so it reaches the run's `handlerErrors`.
   */
  onError?: (error: StorageError) => void;
}

/** What the writer has done so far, in records (one record is an event, a run start or a run end). */
export interface WriterCounters {
  /** Waiting for a batch. */
  queued: number;
  /** In the batch being written. */
  inFlight: number;
  /** Committed. */
  written: number;
  /** Transactions committed. */
  batches: number;
  /** Attempts repeated after a transient failure. */
  retries: number;
  /** Given up after retries or for a non-transient error (each reported through `onError`). */
  failed: number;
  /** The most records ever buffered at once (queued + in flight). */
  maxBuffered: number;
}

interface FlushWaiter {
  target: number;
  resolve: () => void;
}

function positiveInteger(value: number | undefined, fallback: number, argument: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidArgumentError({ argument, message: `[sluice/kysely] ${argument} must be an integer >= 1 (got ${String(value)})` });
  }
  return value;
}

function nonNegative(value: number | undefined, fallback: number, argument: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError({ argument, message: `[sluice/kysely] ${argument} must be a number >= 0 (got ${String(value)})` });
  }
  return value;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function logError(error: StorageError): void {
  console.error(error.message, error.cause);
}

/**
 * The buffered writer behind `ChatHistoryHandler`: one per handler, shared by all its runs.
 * `append` only pushes onto an in-memory queue; a single loop takes what has accumulated (up
 * to `batchSize`) and writes it as multi-row inserts in one transaction, so under load
 * batches grow by themselves (group commit) and when idle a record waits at most
 * `flushIntervalMs`. Transient failures are retried with exponential backoff; the statements
 * are idempotent, so a retry never duplicates a row. Past `highWaterMark` buffered records,
 * `append` returns a promise that resolves when there is room again: backpressure.
 */
export class HistoryWriter {
  private readonly db: AnyKysely;
  private readonly batchWriter: BatchWriter;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;
  private readonly highWaterMark: number;
  private readonly maxAttempts: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly onError: (error: StorageError) => void;
  private readonly isPositionConflict: (error: unknown) => boolean;

  private records: HistoryRecord[] = [];
  private runIds: string[] = [];
  private inFlight = 0;
  private appended = 0;
  private settledCount = 0;
  private writing = false;
  private closed = false;
  // Run ends waiting in the buffer: their callers await them, so they never wait for company.
  private endsBuffered = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private room: Promise<void> | undefined;
  private openRoom: (() => void) | undefined;
  private flushWaiters: FlushWaiter[] = [];
  private readonly failedRuns = new Map<string, StorageError>();
  private readonly stats = { written: 0, batches: 0, retries: 0, failed: 0, maxBuffered: 0 };
  private readonly kick = (): void => {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.writing) void this.pump();
  };

  constructor(db: AnyKysely, flavor: SqlFlavor, tables: TableNames, options: HistoryWriterOptions = {}) {
    this.db = db;
    this.batchSize = positiveInteger(options.batchSize, 5000, 'batchSize');
    this.flushIntervalMs = nonNegative(options.flushIntervalMs, 20, 'flushIntervalMs');
    this.highWaterMark = positiveInteger(options.highWaterMark, 10_000, 'highWaterMark');
    const retry = options.retry ?? {};
    this.maxAttempts = positiveInteger(retry.maxAttempts, 30, 'retry.maxAttempts');
    this.initialDelayMs = nonNegative(retry.initialDelayMs, 25, 'retry.initialDelayMs');
    this.maxDelayMs = nonNegative(retry.maxDelayMs, 2000, 'retry.maxDelayMs');
    this.onError = options.onError ?? logError;
    const positionIndex = messagePositionIndex(tables);
    this.isPositionConflict = (error) => isUniqueViolationOn(error, tables.messages, positionIndex);
    const notifyChannel = options.notifyChannel;
    if (notifyChannel !== undefined) {
      if (flavor !== 'postgres') {
        throw new InvalidArgumentError({
          argument: 'notifyChannel',
          message: `[sluice/kysely] notifyChannel needs PostgreSQL (LISTEN/NOTIFY); this database speaks ${flavor}: leave notifyChannel out`,
        });
      }
      if (typeof notifyChannel !== 'string' || notifyChannel === '' || notifyChannel.length > 63) {
        throw new InvalidArgumentError({ argument: 'notifyChannel', message: `[sluice/kysely] notifyChannel must be a channel name of 1-63 characters (got ${JSON.stringify(notifyChannel)})` });
      }
    }
    this.batchWriter = new BatchWriter(flavor, tables, positiveInteger(options.maxRowsPerStatement, 2000, 'maxRowsPerStatement'), notifyChannel);
  }

  /** A snapshot of the writer's counters. */
  get counters(): WriterCounters {
    return { queued: this.records.length, inFlight: this.inFlight, ...this.stats };
  }

  /**
   * Queues a record of run `runId`. Returns nothing while the buffer is below the high-water
   * mark; past it, a promise that resolves once there is room (the record is queued either way).
   */
  append(record: HistoryRecord, runId: string): Promise<void> | undefined {
    if (this.closed) {
      throw new StorageError({ code: 'writer_closed', message: '[sluice/kysely] the chat history writer is closed: create a new ChatHistoryHandler' });
    }
    this.records.push(record);
    this.runIds.push(runId);
    this.appended++;
    if (record.type === '@end') this.endsBuffered++;
    const buffered = this.records.length + this.inFlight;
    if (buffered > this.stats.maxBuffered) this.stats.maxBuffered = buffered;
    if (!this.writing) {
      // A run's end is awaited by its caller: write it now rather than after the interval.
      if (this.records.length >= this.batchSize || record.type === '@end') this.kick();
      else if (this.timer === undefined) this.timer = setTimeout(this.kick, this.flushIntervalMs);
    }
    if (buffered < this.highWaterMark) return undefined;
    return (this.room ??= new Promise<void>((resolve) => (this.openRoom = resolve)));
  }

  /** Resolves once every record appended before the call is written (or given up and reported). */
  flush(): Promise<void> {
    const target = this.appended;
    if (this.settledCount >= target) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.flushWaiters.push({ target, resolve }));
    this.kick();
    return done;
  }

  /** Writes what is buffered and refuses new records. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private async pump(): Promise<void> {
    this.writing = true;
    try {
      let wrote = false;
      while (this.records.length > 0) {
        if (wrote && this.records.length < this.batchSize && this.endsBuffered === 0 && this.flushWaiters.length === 0 && !this.closed) {
          // What came in during the last write is a partial batch: let it wait for company (a full
          // batch or the interval) rather than paying a transaction for it now. Fewer, fuller
          // transactions are what keeps up with a fast model.
          this.timer ??= setTimeout(this.kick, this.flushIntervalMs);
          break;
        }
        wrote = true;
        const count = Math.min(this.batchSize, this.records.length);
        let batch: HistoryRecord[];
        let runIds: string[];
        if (count === this.records.length) {
          batch = this.records;
          runIds = this.runIds;
          this.records = [];
          this.runIds = [];
        } else {
          batch = this.records.splice(0, count);
          runIds = this.runIds.splice(0, count);
        }
        for (const record of batch) if (record.type === '@end') this.endsBuffered--;
        this.inFlight = count;
        await this.writeWithRetry(batch, runIds);
        this.inFlight = 0;
        this.settledCount += count;
        this.afterBatch();
      }
    } finally {
      this.writing = false;
    }
  }

  private afterBatch(): void {
    if (this.room !== undefined && this.records.length + this.inFlight < this.highWaterMark) {
      const open = this.openRoom as () => void;
      this.room = undefined;
      this.openRoom = undefined;
      open();
    }
    if (this.flushWaiters.length > 0) {
      const waiting: FlushWaiter[] = [];
      for (const waiter of this.flushWaiters) {
        if (this.settledCount >= waiter.target) waiter.resolve();
        else waiting.push(waiter);
      }
      this.flushWaiters = waiting;
    }
  }

  private async writeWithRetry(batch: HistoryRecord[], runIds: string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.db.transaction().execute((transaction) => this.batchWriter.write(transaction, batch, runIds));
      } catch (error) {
        if (this.isPositionConflict(error) && attempt < this.maxAttempts) {
          // Another writer took the message positions this batch computed and has committed
          // them (the conflict waits for that): the next attempt reads the new maximum. A short
          // jittered pause keeps two writers racing again from colliding in lockstep.
          this.stats.retries++;
          await sleep(Math.random() * this.initialDelayMs);
          continue;
        }
        if (isTransientError(error)) {
          if (attempt < this.maxAttempts) {
            this.stats.retries++;
            const backoff = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** (attempt - 1));
            await sleep(backoff * (0.5 + Math.random() * 0.5));
            continue;
          }
          return this.fail(batch, runIds, error, `gave up after ${attempt} attempts`);
        }
        if (isMissingTableError(error)) return this.fail(batch, runIds, error, 'the chat history tables are missing: run migrateToLatest(db) first');
        if (batch.length > 1) {
          // One bad record must not sink its neighbours: halve the batch until it is isolated.
          const middle = batch.length >> 1;
          await this.writeWithRetry(batch.slice(0, middle), runIds.slice(0, middle));
          await this.writeWithRetry(batch.slice(middle), runIds.slice(middle));
          return;
        }
        return this.fail(batch, runIds, error, 'the database refused it');
      }
      this.stats.batches++;
      this.stats.written += batch.length;
      for (const record of batch) {
        if (record.type !== '@end') continue;
        const failure = this.failedRuns.get(record.runId);
        this.failedRuns.delete(record.runId);
        record.settle(failure);
      }
      return;
    }
  }

  private fail(batch: HistoryRecord[], runIds: string[], cause: unknown, why: string): void {
    const runs = [...new Set(runIds)];
    const reason = cause instanceof Error ? cause.message : String(cause);
    const error = new StorageError({
      code: isMissingTableError(cause) ? 'schema_missing' : 'write_failed',
      message: `[sluice/kysely] lost ${batch.length} chat history record(s) of ${runs.length} run(s): ${why} (${reason})`,
      retryable: isTransientError(cause),
      cause,
      runIds: runs,
    });
    this.stats.failed += batch.length;
    for (const runId of runs) this.failedRuns.set(runId, error);
    try {
      this.onError(error);
    } catch (listenerError) {
      console.error('[sluice/kysely] onError threw while reporting', error, listenerError);
    }
    for (const record of batch) {
      if (record.type !== '@end') continue;
      this.failedRuns.delete(record.runId);
      record.settle(error);
    }
  }
}
