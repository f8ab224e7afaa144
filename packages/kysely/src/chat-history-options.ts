import { InvalidArgumentError } from '@sluice/core';
import { Kysely, type Dialect } from 'kysely';
import { detectFlavor, type SqlFlavor } from './sql-flavor.js';
import { tableNames, type TableNames } from './table-names.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKysely = Kysely<any>;

/** Which database holds the chat history: a ready `Kysely` instance, or a dialect to open one. */
export interface ChatHistoryDatabaseOptions {
  /** Your `Kysely` instance (any schema type). Closing the handler or store leaves it open. */
  db?: AnyKysely;
  /** A kysely dialect (`SqliteDialect`, `PostgresDialect`, `MysqlDialect`); the handler or store owns the `Kysely` it opens. */
  dialect?: Dialect;
  /** Prefix of every table. Default `sluice_`. */
  tablePrefix?: string;
  /** Which SQL the database speaks. Default: detected from the dialect. */
  flavor?: SqlFlavor;
}

/** The database, its flavour and table names, resolved from the options. */
export interface ResolvedDatabase {
  db: AnyKysely;
  /** True when the db was opened from a dialect and must be destroyed on close. */
  owned: boolean;
  flavor: SqlFlavor;
  tables: TableNames;
}

export function resolveDatabase(options: ChatHistoryDatabaseOptions | undefined, who: string): ResolvedDatabase {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError({ argument: 'options', message: `[sluice/kysely] ${who} needs options: { db } (a Kysely instance) or { dialect }` });
  }
  if (options.db !== undefined && options.dialect !== undefined) {
    throw new InvalidArgumentError({ argument: 'db', message: `[sluice/kysely] ${who} takes db or dialect, not both` });
  }
  const tables = tableNames(options.tablePrefix);
  if (options.db !== undefined) {
    if (!(options.db instanceof Kysely) && typeof (options.db as { getExecutor?: unknown }).getExecutor !== 'function') {
      throw new InvalidArgumentError({ argument: 'db', message: `[sluice/kysely] ${who}: db must be a Kysely instance` });
    }
    return { db: options.db, owned: false, flavor: detectFlavor(options.db, options.flavor), tables };
  }
  if (options.dialect !== undefined) {
    const db = new Kysely<Record<string, never>>({ dialect: options.dialect });
    return { db, owned: true, flavor: detectFlavor(db, options.flavor), tables };
  }
  throw new InvalidArgumentError({ argument: 'db', message: `[sluice/kysely] ${who} needs a database: pass { db } (a Kysely instance) or { dialect }` });
}
