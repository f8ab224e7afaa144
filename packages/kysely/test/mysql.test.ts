import { MysqlDialect } from 'kysely';
import mysql from 'mysql2';
import mysqlPromise from 'mysql2/promise';
import { describeStorageConformance } from './storage-conformance.ts';

const connection = { host: '127.0.0.1', port: 3306, user: 'root', password: '' };
// A scratch database of its own, so interrupt() can find this suite's connections by name.
const database = `sluice_kysely_${process.pid}_${Date.now().toString(36)}`;

async function admin<TResult>(work: (client: mysqlPromise.Connection) => Promise<TResult>): Promise<TResult> {
  const client = await mysqlPromise.createConnection(connection);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describeStorageConformance({
  name: 'MariaDB / MySQL (mysql2)',
  async setup() {
    await admin((client) => client.query(`create database \`${database}\` character set utf8mb4 collate utf8mb4_bin`));
  },
  dialect: () => new MysqlDialect({ pool: mysql.createPool({ ...connection, database, connectionLimit: 4, charset: 'utf8mb4' }) }),
  async interrupt() {
    await admin(async (client) => {
      const [rows] = await client.query('select id from information_schema.processlist where db = ? and id <> connection_id()', [database]);
      for (const row of rows as { id: number }[]) {
        await client.query(`kill ${Number(row.id)}`).catch(() => undefined); // it may have closed meanwhile
      }
    });
  },
  async teardown() {
    await admin((client) => client.query(`drop database if exists \`${database}\``));
  },
});
