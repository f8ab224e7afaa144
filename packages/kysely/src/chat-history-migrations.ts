import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider, type MigrationResult } from 'kysely/migration';
import { StorageError } from './errors/storage-error.js';
import { detectFlavor, type SqlFlavor } from './sql-flavor.js';
import { tableNames, type TableNames } from './table-names.js';

/** Where the chat history lives. */
export interface ChatHistorySchemaOptions {
  /** Prefix of every table (`sluice_conversations`, ...). Default `sluice_`. */
  tablePrefix?: string;
  /** Which SQL the database speaks. Default: detected from the dialect. */
  flavor?: SqlFlavor;
}

/** Options of `migrateToLatest`. */
export interface MigrateOptions extends ChatHistorySchemaOptions {
  /**
   * SQLite only: switch the database file to write-ahead logging (readers never block the
   * writer) and `synchronous = NORMAL`. Default `true`.
   */
  sqliteWal?: boolean;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKysely = Kysely<any>;

function columnTypes(flavor: SqlFlavor) {
  return {
    id: sql`varchar(191)`,
    // MySQL's TEXT stops at 64 KiB; a long reply or a large event must fit.
    longText: flavor === 'mysql' ? sql`longtext` : sql`text`,
    shortText: sql`varchar(64)`,
  };
}

function tableOptions(flavor: SqlFlavor) {
  // utf8mb4 stores emoji; the binary collation compares ids and text byte for byte.
  return flavor === 'mysql' ? sql`engine = InnoDB default charset = utf8mb4 collate = utf8mb4_bin` : sql``;
}

/** The chat history's migrations, in order. Each name is stable forever: never rename one. */
export function chatHistoryMigrations(tables: TableNames, flavor: SqlFlavor): Record<string, Migration> {
  const types = columnTypes(flavor);
  const options = tableOptions(flavor);
  return {
    '2026_11_01_0001_chat_history': {
      async up(db: AnyKysely): Promise<void> {
        await db.schema
          .createTable(tables.conversations)
          .addColumn('id', types.id, (column) => column.primaryKey())
          // The principal the conversation belongs to (run metadata `owner`), if any.
          .addColumn('owner', types.id)
          .addColumn('created_at', 'bigint', (column) => column.notNull())
          .addColumn('updated_at', 'bigint', (column) => column.notNull())
          .modifyEnd(options)
          .execute();
        await db.schema
          .createIndex(`${tables.conversations}_updated_at`)
          .on(tables.conversations)
          .columns(['updated_at'])
          .execute();
        await db.schema
          .createTable(tables.messages)
          .addColumn('id', types.id, (column) => column.primaryKey())
          .addColumn('conversation_id', types.id, (column) => column.notNull())
          .addColumn('run_id', types.id, (column) => column.notNull())
          .addColumn('position', 'integer', (column) => column.notNull())
          .addColumn('role', sql`varchar(16)`, (column) => column.notNull())
          .addColumn('content', types.longText, (column) => column.notNull())
          .addColumn('content_encoding', sql`varchar(8)`, (column) => column.notNull())
          // name, toolCalls, toolCallId, reasoning, as JSON
          .addColumn('fields', types.longText)
          .addColumn('status', sql`varchar(16)`, (column) => column.notNull())
          .addColumn('finish_reason', sql`varchar(32)`)
          .addColumn('usage', types.longText)
          .addColumn('error', types.longText)
          .addColumn('model', types.id)
          .addColumn('provider', types.shortText)
          .addColumn('created_at', 'bigint', (column) => column.notNull())
          .addColumn('updated_at', 'bigint', (column) => column.notNull())
          .modifyEnd(options)
          .execute();
        await db.schema
          .createIndex(`${tables.messages}_conversation`)
          .on(tables.messages)
          .columns(['conversation_id', 'position'])
          .execute();
        await db.schema
          .createTable(tables.chunks)
          .addColumn('run_id', types.id, (column) => column.notNull())
          .addColumn('seq', 'integer', (column) => column.notNull())
          .addColumn('type', sql`varchar(32)`, (column) => column.notNull())
          .addColumn('event', types.longText, (column) => column.notNull())
          .addColumn('created_at', 'bigint', (column) => column.notNull())
          // A retried batch meets this key and inserts nothing twice.
          .addPrimaryKeyConstraint(`${tables.chunks}_pk`, ['run_id', 'seq'])
          .modifyEnd(options)
          .execute();
      },
      async down(db: AnyKysely): Promise<void> {
        await db.schema.dropTable(tables.chunks).execute();
        await db.schema.dropTable(tables.messages).execute();
        await db.schema.dropTable(tables.conversations).execute();
      },
    },
  };
}

function migrator(db: AnyKysely, options: ChatHistorySchemaOptions): Migrator {
  const tables = tableNames(options.tablePrefix);
  const migrations = chatHistoryMigrations(tables, detectFlavor(db, options.flavor));
  const provider: MigrationProvider = { getMigrations: () => Promise.resolve(migrations) };
  return new Migrator({
    db,
    provider,
    migrationTableName: tables.migration,
    migrationLockTableName: tables.migrationLock,
  });
}

function check(results: { error?: unknown; results?: MigrationResult[] }, action: string): MigrationResult[] {
  if (results.error !== undefined) {
    const failed = results.results?.find((result) => result.status === 'Error');
    const reason = results.error instanceof Error ? results.error.message : String(results.error);
    throw new StorageError({
      code: 'migration_failed',
      message: `[sluice/kysely] ${action} failed${failed ? ` in ${failed.migrationName}` : ''}: ${reason}`,
      cause: results.error,
    });
  }
  return results.results ?? [];
}

/**
 * Creates or updates the chat history tables (through kysely's `Migrator`, bookkept in
 * `<prefix>migration`). Safe to call at every start: applied migrations are skipped.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { Kysely, SqliteDialect } from 'kysely';
 * const db = new Kysely({ dialect: new SqliteDialect({ database: new Database('chat.db') }) });
 * await migrateToLatest(db);
 * ```
 */
export async function migrateToLatest(db: AnyKysely, options: MigrateOptions = {}): Promise<MigrationResult[]> {
  const flavor = detectFlavor(db, options.flavor);
  if (flavor === 'sqlite' && options.sqliteWal !== false) {
    // journal_mode cannot change inside a transaction, so before the migrator opens one.
    await sql`pragma journal_mode = wal`.execute(db);
    await sql`pragma synchronous = normal`.execute(db);
  }
  return check(await migrator(db, { ...options, flavor }).migrateToLatest(), 'migrateToLatest()');
}

/** Drops the chat history tables and their migration bookkeeping: everything stored is gone. */
export async function dropChatHistoryTables(db: AnyKysely, options: ChatHistorySchemaOptions = {}): Promise<void> {
  const tables = tableNames(options.tablePrefix);
  for (const table of [tables.chunks, tables.messages, tables.conversations, tables.migration, tables.migrationLock]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
