import Database from 'better-sqlite3';
import { Kysely, MysqlDialect, PostgresDialect, SqliteDialect, type Dialect } from 'kysely';
import mysql from 'mysql2';
import pg from 'pg';

/**
 * A kysely dialect for a database URL: `sqlite:<file>` (the default, `sqlite:chat_history.db`),
 * `postgres://user@host:5432/db`, or `mysql://user:password@host:3306/db`.
 */
export function dialectFromUrl(url: string): Dialect {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\//, '') || 'chat_history.db';
    // timeout 0: a locked file fails fast with SQLITE_BUSY, which the history writer retries,
    // rather than better-sqlite3 busy-waiting with the event loop blocked.
    const database = new Database(file, { timeout: 0 });
    // WAL (migrateToLatest switches the file to it) with synchronous = normal: a commit does not
    // wait for an fsync, and survives a crash of the process (not of the machine).
    database.pragma('synchronous = normal');
    return new SqliteDialect({ database });
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    // pg reports a lost connection as an 'error' event; without listeners it would crash the
    // process. The failed query still rejects (and the history writer retries it).
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    return new PostgresDialect({ pool });
  }
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) {
    const uri = url.replace(/^mariadb:/, 'mysql:');
    return new MysqlDialect({ pool: mysql.createPool({ uri, connectionLimit: 4, charset: 'utf8mb4' }) });
  }
  throw new Error(`DATABASE_URL must start with sqlite:, postgres:// or mysql:// (got "${url}")`);
}

/** Opens the database that `DATABASE_URL` names (default: the SQLite file chat_history.db). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function openDatabase(url = process.env.DATABASE_URL ?? 'sqlite:chat_history.db'): Kysely<any> {
  return new Kysely({ dialect: dialectFromUrl(url) });
}
