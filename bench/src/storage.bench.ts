/**
 * Storage: 100 concurrent runs persisted through ChatHistoryHandler against the raw driver
 * inserting the same number of rows (same SQL, same batch size, one transaction per batch),
 * on SQLite, PostgreSQL and MySQL/MariaDB, in one process and one run. Every row is counted.
 */
import Database from 'better-sqlite3';
import { FakeChatModel } from '@sluice/core';
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
import { check, fixed, table, type BenchReport } from './bench-report.ts';

const execFileAsync = promisify(execFile);
const RUNS = 100;
const TOTAL_EVENTS = 1_000_000;
const SMALL_EVENTS = 250_000;
const HEAP_CAP_MB = 128;
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
  peakRssMb: number;
  peakHeapMb: number;
}

async function measure(body: () => Promise<void>): Promise<Measure> {
  (globalThis as { gc?: () => void }).gc?.();
  let peakRss = 0;
  let peakHeap = 0;
  const sample = (): void => {
    const usage = process.memoryUsage();
    if (usage.rss > peakRss) peakRss = usage.rss;
    if (usage.heapUsed > peakHeap) peakHeap = usage.heapUsed;
  };
  const timer = setInterval(sample, 10);
  const started = performance.now();
  await body();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  sample();
  return { seconds, peakRssMb: peakRss / 2 ** 20, peakHeapMb: peakHeap / 2 ** 20 };
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
 * The raw driver: the same number of rows, the same SQL and batch size, no streaming at all.
 * Rows come in the order 100 concurrent runs produce them (interleaved, one event of each run
 * in turn), so both sides insert the same keys in the same order.
 */
async function rawRun(target: Target, chunksTable: string, events: number, tag: string): Promise<void> {
  const raw = await target.raw();
  const tokens = tokensFor(events);
  const perRun = events / RUNS;
  const runIds = Array.from({ length: RUNS }, (_, run) => `${tag}-${run}`);
  let rows: unknown[][] = [];
  const now = Date.now();
  for (let seq = 0; seq < perRun; seq++) {
    for (let run = 0; run < RUNS; run++) {
      const event = { type: 'text-delta', seq, text: tokens[seq % tokens.length] as string };
      rows.push([runIds[run], seq, event.type, JSON.stringify(event), now]);
      if (rows.length === BATCH) {
        await raw.insert(chunksTable, rows);
        rows = [];
      }
    }
  }
  if (rows.length > 0) await raw.insert(chunksTable, rows);
  await raw.close();
}

/** 100 concurrent runs of the fake model (as fast as it goes) persisted by ChatHistoryHandler. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function handlerRun(db: Kysely<any>, tablePrefix: string, events: number, tag: string): Promise<number> {
  const handler = new ChatHistoryHandler({ db, tablePrefix });
  const model = new FakeChatModel({ tokens: tokensFor(events), callbacks: [handler] });
  const results = await Promise.all(Array.from({ length: RUNS }, (_, run) => model.stream(`run ${run}`, { runId: `${tag}-${run}` })));
  await handler.close();
  check(results.every((result) => result.handlerErrors.length === 0), 'no handler errors');
  check(handler.counters.failed === 0, 'the writer gave up nothing');
  return handler.counters.maxBuffered;
}

type Mode = 'raw' | 'handler';

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
      mode === 'raw' ? rawRun(target, chunks, count, tag).then(() => 0) : handlerRun(db, tablePrefix, count, tag);
    await body(20_000, 'warm');
    await sql`delete from ${sql.table(chunks)}`.execute(db);
    let maxBuffered = 0;
    const measured = await measure(async () => {
      maxBuffered = await body(events, mode);
    });
    const lost = events - (await countChunks(db, chunks));
    await sql`delete from ${sql.table(chunks)}`.execute(db);
    return { ...measured, lost, maxBuffered };
  } finally {
    await db.destroy();
  }
}

async function phaseInChild(targetIndex: number, mode: Mode, events: number, tablePrefix: string): Promise<PhaseResult> {
  // The handler runs under a heap cap: were its memory to grow with the number of events,
  // the 1M-event phase would die of it.
  const flags = mode === 'handler' ? ['--expose-gc', `--max-old-space-size=${HEAP_CAP_MB}`] : ['--expose-gc'];
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

export default async function storageBench(): Promise<BenchReport> {
  const rows: (string | number)[][] = [];
  const targetsMet: BenchReport['targets'] = [];
  for (const [index, target] of targets.entries()) {
    const tablePrefix = `bench${process.pid}_`;
    const db = new Kysely<Record<string, never>>({ dialect: target.dialect() });
    try {
      await dropChatHistoryTables(db, { tablePrefix });
      await migrateToLatest(db, { tablePrefix });
      console.log(`[bench] storage: ${target.name} raw ...`);
      const raw = await phaseInChild(index, 'raw', TOTAL_EVENTS, tablePrefix);
      console.log(`[bench] storage: ${target.name} handler, ${SMALL_EVENTS} events ...`);
      const small = await phaseInChild(index, 'handler', SMALL_EVENTS, tablePrefix);
      console.log(`[bench] storage: ${target.name} handler, ${TOTAL_EVENTS} events ...`);
      const full = await phaseInChild(index, 'handler', TOTAL_EVENTS, tablePrefix);

      check(raw.lost === 0 && small.lost === 0 && full.lost === 0, `${target.name}: every row arrived (lost raw ${raw.lost}, handler ${small.lost} / ${full.lost})`);
      const rawRate = TOTAL_EVENTS / raw.seconds;
      const smallRate = SMALL_EVENTS / small.seconds;
      const fullRate = TOTAL_EVENTS / full.seconds;
      const ratio = fullRate / rawRate;
      rows.push(
        [target.name, 'raw driver, batched transactions', '1000k', fixed(rawRate, 0), '1.00', fixed(raw.peakRssMb, 0), fixed(raw.peakHeapMb, 0), '–', raw.lost],
        [target.name, 'ChatHistoryHandler, 100 runs', '250k', fixed(smallRate, 0), fixed(smallRate / rawRate, 2), fixed(small.peakRssMb, 0), fixed(small.peakHeapMb, 0), small.maxBuffered, small.lost],
        [target.name, 'ChatHistoryHandler, 100 runs', '1000k', fixed(fullRate, 0), fixed(ratio, 2), fixed(full.peakRssMb, 0), fixed(full.peakHeapMb, 0), full.maxBuffered, full.lost],
      );
      targetsMet.push(
        { description: `${target.name}: handler at least 70% of the raw driver's rate (${fixed(ratio * 100, 0)}%)`, met: ratio >= 0.7 },
        { description: `${target.name}: zero rows lost`, met: full.lost === 0 && small.lost === 0 },
        {
          description: `${target.name}: peak RSS does not grow with the number of events (${fixed(small.peakRssMb, 0)} MB at 250k, ${fixed(full.peakRssMb, 0)} MB at 1M; at most ${full.maxBuffered} records buffered)`,
          met: full.peakRssMb <= small.peakRssMb * 1.25,
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
      `${RUNS} concurrent runs of the fake model (as fast as it streams) persisted through \`ChatHistoryHandler\` (defaults: transactions of up to 2000 records, high-water mark 10 000), against the raw driver inserting the same number of chunk rows, in the same interleaved order, with the same SQL (multi-row insert, on-conflict-do-nothing) in transactions of ${BATCH} rows. The handler's time runs from the first \`stream()\` until every run has resolved (\`onChatEnd\` resolves only once the run is committed) and includes the streaming itself; the raw driver only inserts. Each phase runs in a fresh process (after a 20k-event warm-up) so its peak RSS is its own; RSS and heap are sampled every 10 ms. Rows are counted in the database after each phase.`,
      '',
      table(['database', 'writer', 'events', 'events/s', 'vs raw', 'peak RSS MB', 'peak heap MB', 'max buffered', 'rows lost'], rows),
    ].join('\n'),
    targets: targetsMet,
  };
}
