import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { describe, expect, test } from 'vitest';
import { openDatabase } from '@sluice/example-databases';

const run = promisify(execFile);
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const sqliteFile = join(tmpdir(), `sluice-example-${process.pid}-${Date.now()}.db`);

const databases = {
  sqlite: `sqlite:${sqliteFile}`,
  postgres: 'postgres://postgres@127.0.0.1:5432/test',
  mysql: 'mysql://root@127.0.0.1:3306/test',
};

describe('examples/sqlite-history', () => {
  for (const [name, url] of Object.entries(databases)) {
    test(`persists both turns on ${name} when DATABASE_URL says so`, async () => {
      const tablePrefix = `ex${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}_`;
      try {
        const { stdout } = await run(process.execPath, [main], {
          env: { ...process.env, DATABASE_URL: url, SLUICE_TABLE_PREFIX: tablePrefix, SLUICE_FAKE_RATE: '0', SLUICE_PROVIDER: 'fake' },
        });
        expect(stdout).toContain('Sparkling water');
        expect(stdout).toMatch(/: 4 messages stored/);
        expect(stdout).toMatch(/complete, finish stop, (\d+) events stored \(\1 emitted\)/);
        expect(stdout).toMatch(/failed: 0/);
      } finally {
        const db = openDatabase(url);
        for (const table of ['chunks', 'messages', 'conversations', 'migration', 'migration_lock', 'chathistory']) {
          await sql`drop table if exists ${sql.table(tablePrefix + table)}`.execute(db);
        }
        await db.destroy();
        if (name === 'sqlite') for (const suffix of ['', '-wal', '-shm']) await rm(sqliteFile + suffix, { force: true });
      }
    });
  }
});
