import type { StreamEvent } from '@sluice/core';
import type { PostgresPool, RunEventLog } from './postgres-run-hub-options.js';

interface ReadRequest {
  runId: string;
  afterSeq: number;
  resolve: (events: StreamEvent[]) => void;
  reject: (error: unknown) => void;
}

/** Requests per batched statement. */
const MAX_BATCH = 500;

/**
 * Reads runs' events for the subscribers of this instance. Reads asked for in the same turn of
 * the event loop, or while a batch is in flight, go out together: with the chunks table's name,
 * as one statement for all of them (a storage commit announces many runs at once, and one read
 * per run would cost one round trip each); without it, or when that table is missing, through
 * the log's `eventsAfter`, one call per read.
 */
export class LogReader {
  private readonly pool: PostgresPool;
  private readonly log: RunEventLog;
  private chunksTable: string | undefined;
  private readonly pageSize: number;
  private pending: ReadRequest[] = [];
  private scheduled = false;
  private inFlight = false;

  constructor(options: { pool: PostgresPool; log: RunEventLog; chunksTable: string | undefined; pageSize: number }) {
    this.pool = options.pool;
    this.log = options.log;
    this.chunksTable = options.chunksTable;
    this.pageSize = options.pageSize;
  }

  /** The run's events with `seq > afterSeq`, in seq order, at most `pageSize`. */
  read(runId: string, afterSeq: number): Promise<StreamEvent[]> {
    if (this.chunksTable === undefined) return this.log.eventsAfter(runId, afterSeq, { limit: this.pageSize });
    return new Promise((resolve, reject) => {
      this.pending.push({ runId, afterSeq, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    this.inFlight = true;
    try {
      const table = this.chunksTable;
      if (table === undefined) {
        await Promise.all(batch.map((request) => this.log.eventsAfter(request.runId, request.afterSeq, { limit: this.pageSize }).then(request.resolve, request.reject)));
        return;
      }
      try {
        const { rows } = await this.pool.query(
          `select f.n, c.event from unnest($1::text[], $2::int[]) with ordinality as f(run_id, after_seq, n)
           cross join lateral (
             select seq, event from ${table} where run_id = f.run_id and seq > f.after_seq order by seq limit $3
           ) as c order by f.n, c.seq`,
          [batch.map((request) => request.runId), batch.map((request) => request.afterSeq), this.pageSize],
        );
        const results: StreamEvent[][] = batch.map(() => []);
        for (const row of rows) results[Number(row.n) - 1]?.push(JSON.parse(row.event as string) as StreamEvent);
        batch.forEach((request, index) => request.resolve(results[index] as StreamEvent[]));
      } catch (error) {
        if ((error as { code?: unknown }).code === '42P01') {
          // The chunks table has another name: read through the log from now on.
          this.chunksTable = undefined;
          await Promise.all(batch.map((request) => this.log.eventsAfter(request.runId, request.afterSeq, { limit: this.pageSize }).then(request.resolve, request.reject)));
          return;
        }
        for (const request of batch) request.reject(error);
      }
    } finally {
      this.inFlight = false;
      this.schedule();
    }
  }
}
