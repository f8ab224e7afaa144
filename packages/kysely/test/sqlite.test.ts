import Database from 'better-sqlite3';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteDialect } from 'kysely';
import { describeStorageConformance } from './storage-conformance.ts';

const file = join(tmpdir(), `sluice-kysely-${process.pid}-${Date.now()}.db`);

describeStorageConformance({
  name: 'SQLite file (better-sqlite3, WAL)',
  async setup() {},
  // timeout 0: a locked file fails at once with SQLITE_BUSY, which the writer retries with
  // backoff, instead of better-sqlite3 busy-waiting with the event loop blocked.
  dialect: () => new SqliteDialect({ database: new Database(file, { timeout: 0 }) }),
  async interrupt() {
    // SQLite has no connection to kill: the way it fails a writer is another process holding
    // the write lock. Take it for a while from a second connection.
    const other = new Database(file, { timeout: 0 });
    // Wait for the lock without blocking the event loop (the writer must be able to commit).
    for (;;) {
      try {
        other.exec('begin exclusive');
        break;
      } catch (error) {
        if ((error as { code?: string }).code !== 'SQLITE_BUSY') throw error;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 80));
    other.exec('commit');
    other.close();
  },
  async teardown() {
    for (const suffix of ['', '-wal', '-shm']) await rm(file + suffix, { force: true });
  },
});
