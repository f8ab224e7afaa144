import { MysqlAdapter, PostgresAdapter, SqliteAdapter, type Kysely } from 'kysely';
import { InvalidArgumentError } from '@sluice/core';

/** The SQL dialects the chat history speaks. */
export type SqlFlavor = 'sqlite' | 'postgres' | 'mysql';

/** Bound parameters one statement may carry, per database (with a margin below the hard limit). */
export const MAX_PARAMETERS: Readonly<Record<SqlFlavor, number>> = {
  sqlite: 32_000, // SQLITE_MAX_VARIABLE_NUMBER is 32766 since SQLite 3.32
  postgres: 65_000, // the wire protocol counts parameters in 16 bits
  mysql: 65_000,
};

/**
 * Which SQL the database behind `db` speaks, from its dialect adapter. Third-party dialects
 * whose adapter extends one of kysely's are recognised too; otherwise pass `flavor`.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function detectFlavor(db: Kysely<any>, flavor?: SqlFlavor): SqlFlavor {
  if (flavor !== undefined) {
    if (flavor === 'sqlite' || flavor === 'postgres' || flavor === 'mysql') return flavor;
    throw new InvalidArgumentError({ argument: 'flavor', message: `[sluice/kysely] flavor must be sqlite, postgres or mysql (got ${JSON.stringify(flavor)})` });
  }
  const adapter = db.getExecutor().adapter;
  if (adapter instanceof SqliteAdapter) return 'sqlite';
  if (adapter instanceof PostgresAdapter) return 'postgres';
  if (adapter instanceof MysqlAdapter) return 'mysql';
  // A second copy of kysely: fall back on the adapter's class name.
  const name = adapter.constructor.name.toLowerCase();
  if (name.includes('sqlite')) return 'sqlite';
  if (name.includes('postgres') || name.includes('pglite')) return 'postgres';
  if (name.includes('mysql') || name.includes('maria')) return 'mysql';
  throw new InvalidArgumentError({
    argument: 'flavor',
    message: `[sluice/kysely] cannot tell which SQL the ${adapter.constructor.name} dialect speaks: pass flavor: 'sqlite' | 'postgres' | 'mysql'`,
  });
}

/** Quotes an identifier (already validated as `[A-Za-z_][A-Za-z0-9_]*`). */
export function quoteIdentifier(flavor: SqlFlavor, name: string): string {
  return flavor === 'mysql' ? `\`${name}\`` : `"${name}"`;
}
