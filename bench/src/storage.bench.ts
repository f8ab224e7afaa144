/**
 * Storage: 100 concurrent runs persisted through ChatHistoryHandler against the raw driver
 * inserting the same number of rows (plain multi-row inserts, same batch size, one transaction
 * per batch), on SQLite, PostgreSQL and MySQL/MariaDB, in one run: raw and handler phases
 * alternate, each repeated, medians reported. Every row is counted.
 */
import Database from 'better-sqlite3';
import { FakeChatModel, type CallbackHandler, type HandlerContext, type StreamEvent } from '@sluice/core';
import { ChatHistoryHandler, dropChatHistoryTables, migrateToLatest, tableNames } from '@sluice/kysely';
import { Kysely, MysqlDialect, PostgresDialect, SqliteDialect, sql, type Dialect } from 'kysely';
import mysql from 'mysql2';
import mysqlPromise from 'mysql2/promise';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { check, fixed, median, table, type BenchReport } from './bench-report.ts';

const execFileAsync = promisify(execFile);
const RUNS = 100;
const TOTAL_EVENTS = 1_000_000;
const SMALL_EVENTS = 250_000;
const HEAP_CAP_MB = 128;
// V8 sizes the young generation by how much survives a scavenge; a writer's buffer survives by
// design, and left alone the young generation grows towards the heap cap, where every
// allocation then triggers a full collection. Pinned, and the same for every phase.
const SEMI_SPACE_MB = 16;
const REPEATS = Number(process.env.SLUICE_BENCH_REPEATS ?? 3);
/** Points of a run at which the peak RSS so far is reported (and at its end): the memory curve. */
const CHECKPOINTS = [0.25, 0.5, 0.75];
const BATCH = 2000;
// A run is start + text deltas + usage + finish.
const tokensFor = (events: number): string[] => Array.from({ length: events / RUNS - 3 }, (_, index) => ` tok${index % 1000}`);

interface Target {
  name: string;
  dialect(): Dialect;
  /** Inserts `rows` (run_id, seq, type, event, created_at) the plain way, one transaction per call. */
  raw(): Promise<{ insert(table: string, rows: unknown[][]): Promise<void>; close(): Promise<void> }>;
  cleanup(): Promise<void>;
}

interface Measure {
  seconds: number;
  /** CPU time of the whole process (user + system) during the phase. */
  cpuSeconds: number;
  peakRssMb: number;
  peakHeapMb: number;
  /** Peak RSS (MB) up to each of CHECKPOINTS of the rows (events streamed, for the handler), and at the end. */
  rssCurveMb: number[];
}

/** The process's peak RSS so far, in MB, as the kernel counts it (no sample can miss it). */
const maxRssMb = (): number => process.resourceUsage().maxRSS / 1024;

/**
 * The memory curve of the phase being measured: told how many rows are done, it records the
 * peak RSS so far as each checkpoint is passed. Progress is reported where the rows are
 * produced, not sampled by a timer: with SQLite the event loop can run for long stretches
 * without reaching a timer.
 */
const curve = {
  rows: 0,
  points: [] as number[],
  start(rows: number): void {
    this.rows = rows;
    this.points = [];
  },
  progress(done: number): void {
    while (this.points.length < CHECKPOINTS.length && done >= (CHECKPOINTS[this.points.length] as number) * this.rows) this.points.push(maxRssMb());
  },
};

async function measure(rows: number, body: () => Promise<void>): Promise<Measure> {
  (globalThis as { gc?: () => void }).gc?.();
  let peakRss = 0;
  let peakHeap = 0;
  const sample = (): void => {
    const { rss, heapUsed } = process.memoryUsage();
    if (rss > peakRss) peakRss = rss;
    if (heapUsed > peakHeap) peakHeap = heapUsed;
  };
  curve.start(rows);
  const timer = setInterval(sample, 10);
  const cpu = process.cpuUsage();
  const started = performance.now();
  await body();
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  clearInterval(timer);
  sample();
  curve.progress(Number.POSITIVE_INFINITY);
  curve.points.push(maxRssMb());
  return {
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    peakRssMb: Math.max(peakRss / 2 ** 20, maxRssMb()),
    peakHeapMb: peakHeap / 2 ** 20,
    rssCurveMb: curve.points,
  };
}

function insertSql(flavor: 'sqlite' | 'postgres' | 'mysql', tableName: string, rows: number): string {
  const quote = (name: string): string => (flavor === 'mysql' ? `\`${name}\`` : `"${name}"`);
  const tuples: string[] = [];
  for (let row = 0; row < rows; row++) {
    const base = row * 5;
    tuples.push(flavor === 'postgres' ? `($${base + 1},$${base + 2},$${base + 3},$${base + 4},$${base + 5})` : '(?,?,?,?,?)');
  }
  const conflict = flavor === 'mysql' ? ' on duplicate key update `seq` = `seq`' : ' on conflict ("run_id", "seq") do nothing';
  return `insert into ${quote(tableName)} (${['run_id', 'seq', 'type', 'event', 'created_at'].map(quote).join(', ')}) values ${tuples.join(',')}${conflict}`;
}

// Phases run in child processes: they find the parent's file through SLUICE_BENCH_RUN.
const sqliteFile = join(tmpdir(), `sluice-bench-${process.env.SLUICE_BENCH_RUN ?? process.pid}.db`);
const pgConnection = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
const mysqlConnection = { host: '127.0.0.1', port: 3306, user: 'root', password: '', database: 'test', charset: 'utf8mb4' };

const targets: Target[] = [
  {
    name: 'SQLite (better-sqlite3, WAL)',
    dialect() {
      // The same settings as the raw connection: WAL (set by migrateToLatest, kept in the
      // file) and synchronous = normal (per connection: commits do not wait for an fsync).
      const database = new Database(sqliteFile, { timeout: 0 });
      database.pragma('synchronous = normal');
      return new SqliteDialect({ database });
    },
    async raw() {
      const database = new Database(sqliteFile);
      database.pragma('journal_mode = wal');
      database.pragma('synchronous = normal');
      const statements = new Map<string, Database.Statement>();
      return {
        async insert(tableName, rows) {
          const text = insertSql('sqlite', tableName, rows.length);
          let statement = statements.get(text);
          if (statement === undefined) statements.set(text, (statement = database.prepare(text)));
          const prepared = statement;
          database.transaction(() => prepared.run(rows.flat()))();
        },
        async close() {
          database.close();
        },
      };
    },
    async cleanup() {
      for (const suffix of ['', '-wal', '-shm']) await rm(sqliteFile + suffix, { force: true });
    },
  },
  {
    name: 'PostgreSQL (pg)',
    dialect() {
      const pool = new pg.Pool({ ...pgConnection, max: 4 });
      pool.on('error', () => undefined);
      return new PostgresDialect({ pool });
    },
    async raw() {
      const client = new pg.Client(pgConnection);
      await client.connect();
      return {
        async insert(tableName, rows) {
          await client.query('begin');
          await client.query(insertSql('postgres', tableName, rows.length), rows.flat());
          await client.query('commit');
        },
        close: () => client.end(),
      };
    },
    async cleanup() {},
  },
  {
    name: 'MariaDB (mysql2)',
    dialect: () => new MysqlDialect({ pool: mysql.createPool({ ...mysqlConnection, connectionLimit: 4 }) }),
    async raw() {
      const connection = await mysqlPromise.createConnection(mysqlConnection);
      return {
        async insert(tableName, rows) {
          await connection.beginTransaction();
          await connection.query(insertSql('mysql', tableName, rows.length), rows.flat());
          await connection.commit();
        },
        close: () => connection.end(),
      };
    },
    async cleanup() {},
  },
];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function countChunks(db: Kysely<any>, chunksTable: string): Promise<number> {
  const row = await sql<{ count: number | string }>`select count(*) as count from ${sql.table(chunksTable)}`.execute(db);
  return Number(row.rows[0]?.count ?? 0);
}

/**
 * The raw driver: the same number of rows and batch size, no streaming at all, each batch the
 * plain way (one multi-row insert, five parameters per row).
 * Rows come in the order 100 concurrent runs produce them (interleaved, one event of each run
 * in turn), so both sides insert the same keys in the same order.
 */
async function rawRun(target: Target, chunksTable: string, events: number, tag: string): Promise<void> {
  const raw = await target.raw();
  const tokens = tokensFor(events);
  const perRun = events / RUNS;
  const runIds = Array.from({ length: RUNS }, (_, run) => `${tag}-${run}`);
  let rows: unknown[][] = [];
  let inserted = 0;
  const now = Date.now();
  for (let seq = 0; seq < perRun; seq++) {
    for (let run = 0; run < RUNS; run++) {
      const event = { type: 'text-delta', seq, text: tokens[seq % tokens.length] as string };
      rows.push([runIds[run], seq, event.type, JSON.stringify(event), now]);
      if (rows.length === BATCH) {
        await raw.insert(chunksTable, rows);
        inserted += rows.length;
        curve.progress(inserted);
        rows = [];
      }
    }
  }
  if (rows.length > 0) await raw.insert(chunksTable, rows);
  await raw.close();
}

/** ChatHistoryHandler reporting each event to the memory curve: no second handler to dispatch to. */
class ProgressHandler extends ChatHistoryHandler {
  private streamed = 0;

  override onChatEvent(event: StreamEvent, context: HandlerContext): Promise<void> | undefined {
    curve.progress(++this.streamed);
    return super.onChatEvent(event, context);
  }
}

/** 100 concurrent runs of the fake model (as fast as it goes) persisted by ChatHistoryHandler. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function handlerRun(db: Kysely<any>, tablePrefix: string, events: number, tag: string): Promise<number> {
  const handler = new ProgressHandler({ db, tablePrefix });
  const model = new FakeChatModel({ tokens: tokensFor(events), callbacks: [handler] });
  const results = await Promise.all(Array.from({ length: RUNS }, (_, run) => model.stream(`run ${run}`, { runId: `${tag}-${run}` })));
  await handler.close();
  check(results.every((result) => result.handlerErrors.length === 0), 'no handler errors');
  check(handler.counters.failed === 0, 'the writer gave up nothing');
  return handler.counters.maxBuffered;
}

/**
 * The same 100 runs with nothing persisting them: the memory the streaming itself takes (each
 * run's result keeps its whole text), the baseline the handler's curve is read against.
 */
async function streamRun(events: number, tag: string): Promise<number> {
  let streamed = 0;
  const progress: CallbackHandler = { name: 'progress', onChatEvent: () => curve.progress(++streamed) };
  const model = new FakeChatModel({ tokens: tokensFor(events), callbacks: [progress] });
  const results = await Promise.all(Array.from({ length: RUNS }, (_, run) => model.stream(`run ${run}`, { runId: `${tag}-${run}` })));
  check(results.every((result) => result.handlerErrors.length === 0), 'no handler errors');
  return 0;
}

type Mode = 'raw' | 'handler' | 'stream';

interface PhaseResult extends Measure {
  lost: number;
  maxBuffered: number;
}

/**
 * One measured phase, in a process of its own so its peak RSS is its own: a warm-up, then the
 * measured run, then the rows are counted and deleted.
 */
async function phase(targetIndex: number, mode: Mode, events: number, tablePrefix: string): Promise<PhaseResult> {
  const target = targets[targetIndex] as Target;
  const chunks = tableNames(tablePrefix).chunks;
  const db = new Kysely<Record<string, never>>({ dialect: target.dialect() });
  try {
    const body = (count: number, tag: string): Promise<number> =>
      mode === 'raw' ? rawRun(target, chunks, count, tag).then(() => 0) : mode === 'stream' ? streamRun(count, tag) : handlerRun(db, tablePrefix, count, tag);
    await body(20_000, 'warm');
    await sql`delete from ${sql.table(chunks)}`.execute(db);
    let maxBuffered = 0;
    const measured = await measure(events, async () => {
      maxBuffered = await body(events, mode);
    });
    const lost = mode === 'stream' ? 0 : events - (await countChunks(db, chunks));
    await sql`delete from ${sql.table(chunks)}`.execute(db);
    return { ...measured, lost, maxBuffered };
  } finally {
    await db.destroy();
  }
}

async function phaseInChild(targetIndex: number, mode: Mode, events: number, tablePrefix: string): Promise<PhaseResult> {
  // Every phase runs under the same heap cap: were memory to grow with the number of events,
  // the 1M-event phase would die of it.
  const flags = ['--expose-gc', `--max-old-space-size=${HEAP_CAP_MB}`, `--max-semi-space-size=${SEMI_SPACE_MB}`];
  const { stdout } = await execFileAsync(process.execPath, [...flags, fileURLToPath(import.meta.url), '--phase', String(targetIndex), mode, String(events), tablePrefix], {
    maxBuffer: 1 << 20,
    env: { ...process.env, SLUICE_BENCH_RUN: String(process.pid) },
  });
  const last = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(last) as PhaseResult;
}

if (import.meta.main && process.argv[2] === '--phase') {
  const [, , , targetIndex, mode, events, tablePrefix] = process.argv;
  const result = await phase(Number(targetIndex), mode as Mode, Number(events), tablePrefix as string);
  console.log(JSON.stringify(result));
}

/** The median phase by rate; the counts that must be zero are summed over every repeat. */
function summarise(results: readonly PhaseResult[], events: number): PhaseResult & { rate: number; rates: number[] } {
  const rates = results.map((result) => events / result.seconds);
  const middle = median(rates);
  const chosen = results[rates.findIndex((rate) => rate === middle)] ?? (results[0] as PhaseResult);
  return {
    ...chosen,
    // With an even number of repeats the median is between two phases: report it as such.
    rate: middle,
    rates,
    peakRssMb: Math.max(...results.map((result) => result.peakRssMb)),
    peakHeapMb: Math.max(...results.map((result) => result.peakHeapMb)),
    lost: results.reduce((sum, result) => sum + result.lost, 0),
    maxBuffered: Math.max(...results.map((result) => result.maxBuffered)),
  };
}

export default async function storageBench(): Promise<BenchReport> {
  const rows: (string | number)[][] = [];
  const curves: string[] = [];
  const targetsMet: BenchReport['targets'] = [];
  for (const [index, target] of targets.entries()) {
    const tablePrefix = `bench${process.pid}_`;
    const db = new Kysely<Record<string, never>>({ dialect: target.dialect() });
    try {
      await dropChatHistoryTables(db, { tablePrefix });
      await migrateToLatest(db, { tablePrefix });
      const raws: PhaseResult[] = [];
      const smalls: PhaseResult[] = [];
      const fulls: PhaseResult[] = [];
      const streams: PhaseResult[] = [];
      // Raw and handler phases alternate, so a neighbour's load on the machine falls on both.
      for (let repeat = 1; repeat <= REPEATS; repeat++) {
        console.log(`[bench] storage: ${target.name}, round ${repeat}/${REPEATS}: raw, streaming alone, handler 250k, handler 1M ...`);
        raws.push(await phaseInChild(index, 'raw', TOTAL_EVENTS, tablePrefix));
        streams.push(await phaseInChild(index, 'stream', TOTAL_EVENTS, tablePrefix));
        smalls.push(await phaseInChild(index, 'handler', SMALL_EVENTS, tablePrefix));
        fulls.push(await phaseInChild(index, 'handler', TOTAL_EVENTS, tablePrefix));
      }
      const raw = summarise(raws, TOTAL_EVENTS);
      const small = summarise(smalls, SMALL_EVENTS);
      const full = summarise(fulls, TOTAL_EVENTS);

      check(raw.lost === 0 && small.lost === 0 && full.lost === 0, `${target.name}: every row arrived (lost raw ${raw.lost}, handler ${small.lost} / ${full.lost})`);
      const ratio = full.rate / raw.rate;
      const spread = (phase: { rates: number[] }): string => phase.rates.map((rate) => fixed(rate / 1000, 0)).join(' / ');
      rows.push(
        [target.name, 'raw driver, batched transactions', '1000k', fixed(raw.rate, 0), spread(raw), '1.00', fixed(raw.cpuSeconds, 1), fixed(raw.peakRssMb, 0), fixed(raw.peakHeapMb, 0), '–', raw.lost],
        [target.name, 'ChatHistoryHandler, 100 runs', '250k', fixed(small.rate, 0), spread(small), fixed(small.rate / raw.rate, 2), fixed(small.cpuSeconds, 1), fixed(small.peakRssMb, 0), fixed(small.peakHeapMb, 0), small.maxBuffered, small.lost],
        [target.name, 'ChatHistoryHandler, 100 runs', '1000k', fixed(full.rate, 0), spread(full), fixed(ratio, 2), fixed(full.cpuSeconds, 1), fixed(full.peakRssMb, 0), fixed(full.peakHeapMb, 0), full.maxBuffered, full.lost],
      );
      // The memory curve, median of the rounds at each point; the handler's share is its RSS
      // above the same runs streamed with nothing persisting them (whose results keep every
      // run's text, so they grow with the events by themselves).
      const curveOf = (results: readonly PhaseResult[]): number[] => (results[0] as PhaseResult).rssCurveMb.map((_, point) => median(results.map((result) => result.rssCurveMb[point] as number)));
      const share = curveOf(fulls).map((mb, point) => mb - (curveOf(streams)[point] as number));
      const show = (points: readonly number[]): string => points.map((mb) => fixed(mb, 0)).join(' → ');
      curves.push(`| ${target.name} | ${show(curveOf(raws))} | ${show(curveOf(streams))} | ${show(curveOf(fulls))} | ${show(share)} |`);
      // While streaming (250k to 750k events), the handler's share must not grow.
      const growth = (share[CHECKPOINTS.length - 1] as number) - (share[0] as number);
      targetsMet.push(
        { description: `${target.name}: handler at least 70% of the raw driver's rate (${fixed(ratio * 100, 0)}%, medians of ${REPEATS})`, met: ratio >= 0.7 },
        { description: `${target.name}: zero rows lost`, met: full.lost === 0 && small.lost === 0 },
        {
          description: `${target.name}: peak RSS does not grow with the number of events (${fixed(small.peakRssMb, 0)} MB at 250k, ${fixed(full.peakRssMb, 0)} MB at 1M; within a 1M run the handler's share ${fixed(share[0] as number, 0)} MB after 250k, ${fixed(share[CHECKPOINTS.length - 1] as number, 0)} MB after 750k; at most ${full.maxBuffered} records buffered)`,
          met: full.peakRssMb <= small.peakRssMb * 1.25 && growth <= Math.max(5, 0.1 * (share[0] as number)),
        },
      );
    } finally {
      await dropChatHistoryTables(db, { tablePrefix }).catch(() => undefined);
      await db.destroy();
      await target.cleanup();
    }
  }
  return {
    title: 'Storage: ChatHistoryHandler vs the raw driver',
    markdown: [
      `${RUNS} concurrent runs of the fake model (as fast as it streams) persisted through \`ChatHistoryHandler\` (defaults: transactions of up to 5000 records, a partial batch waiting up to 20 ms for company, high-water mark 10 000), against the raw driver inserting the same number of chunk rows, in the same interleaved order, in transactions of ${BATCH} rows, each one plain multi-row insert with on-conflict-do-nothing (five parameters per row). The handler writes the same rows, batched as it chooses, with its own statement per database (SQLite \`json_each\`, PostgreSQL \`unnest\` of one array per column, MySQL the same multi-row insert), plus each run's start and end. The handler's time runs from the first \`stream()\` until every run has resolved (\`onChatEnd\` resolves only once the run is committed) and includes the streaming itself; the raw driver only inserts. Each phase runs in a fresh process (after a 20k-event warm-up), all with the same flags (\`--max-old-space-size=${HEAP_CAP_MB} --max-semi-space-size=${SEMI_SPACE_MB}\`), so its peak RSS and CPU time are its own; RSS and heap are sampled every 10 ms after a GC. Raw and handler phases alternate, ${REPEATS} rounds: events/s is the median (all rounds in thousands beside it), CPU s the median round's, peak RSS and heap the highest of any round. Rows are counted in the database after each phase.`,
      '',
      table(['database', 'writer', 'events', 'events/s', 'rounds (k/s)', 'vs raw', 'CPU s', 'peak RSS MB', 'peak heap MB', 'max buffered', 'rows lost'], rows),
      '',
      `Peak RSS (MB, the kernel's high-water mark) within a 1M-event run, after ${CHECKPOINTS.map((point) => `${point * 1000}k`).join(', ')} rows (raw) or events streamed, and at the end; medians of ${REPEATS} rounds. "Streaming alone" is the same 100 runs with no handler: each run's result holds its whole text, so it grows with the events by itself. The handler's share is its RSS above that; at the end it includes the 100 final messages (each run's whole text) written at once. Target: the share grows by at most 10% (or 5 MB) from 250k to 750k, and the 1M phase peaks at most 25% above the 250k phase.`,
      '',
      '| database | raw driver | streaming alone | ChatHistoryHandler | handler\'s share |',
      '| --- | --- | --- | --- | --- |',
      ...curves,
    ].join('\n'),
    targets: targetsMet,
  };
}
