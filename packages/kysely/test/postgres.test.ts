import { PostgresDialect } from 'kysely';
import pg from 'pg';
import { describeStorageConformance } from './storage-conformance.ts';

const connection = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' };
// Names this suite's connections, so interrupt() kills ours and nobody else's.
const applicationName = `sluice-kysely-test-${process.pid}-${Date.now()}`;

describeStorageConformance({
  name: 'PostgreSQL (pg)',
  async setup() {},
  dialect() {
    const pool = new pg.Pool({ ...connection, application_name: applicationName, max: 4 });
    // pg reports a killed connection as an 'error' event: on the pool while the client is idle
    // there, on the client while it is checked out (between two queries of a transaction).
    // Without a listener that event would crash the process; the failed query still rejects,
    // and the pool drops the broken client when it is released.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    return new PostgresDialect({ pool });
  },
  async interrupt() {
    const admin = new pg.Client(connection);
    await admin.connect();
    try {
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1', [applicationName]);
    } finally {
      await admin.end();
    }
  },
  async teardown() {},
});
