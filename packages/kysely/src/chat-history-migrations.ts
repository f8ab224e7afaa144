import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider, type MigrationResult } from 'kysely/migration';
import { StorageError } from './errors/storage-error.js';
import { detectFlavor, type SqlFlavor } from './sql-flavor.js';
import { messagePositionIndex, tableNames, type TableNames } from './table-names.js';

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
    // Two instances writing one conversation at once could both read the same max(position);
    // a unique index turns that race into an error the writer retries with fresh positions.
    '2026_12_04_0001_unique_message_positions': {
      async up(db: AnyKysely): Promise<void> {
        await renumberDuplicatePositions(db, tables, flavor);
        await dropIndex(db, `${tables.messages}_conversation`, tables.messages, flavor);
        await db.schema
          .createIndex(messagePositionIndex(tables))
          .on(tables.messages)
          .columns(['conversation_id', 'position'])
          .unique()
          .execute();
      },
      async down(db: AnyKysely): Promise<void> {
        await dropIndex(db, messagePositionIndex(tables), tables.messages, flavor);
        await db.schema
          .createIndex(`${tables.messages}_conversation`)
          .on(tables.messages)
          .columns(['conversation_id', 'position'])
          .execute();
      },
    },
  };
}

/** Drops an index; only MySQL names its table (PostgreSQL and SQLite index names are schema-wide). */
async function dropIndex(db: AnyKysely, name: string, table: string, flavor: SqlFlavor): Promise<void> {
  const drop = db.schema.dropIndex(name);
  await (flavor === 'mysql' ? drop.on(table) : drop).execute();
}

/**
 * Gives every conversation that holds two messages at one position the positions 0..n-1, in
 * the order they were read until now (position, then created_at, then id). Conversations
 * without duplicates are left as they are.
 */
async function renumberDuplicatePositions(db: AnyKysely, tables: TableNames, flavor: SqlFlavor): Promise<void> {
  const messages = sql.table(tables.messages);
  const position = sql.ref('position');
  const conversationId = sql.ref('conversation_id');
  const numbered = sql`select ${sql.ref('id')} as ${sql.ref('id')}, row_number() over (partition by ${conversationId} order by ${position}, ${sql.ref('created_at')}, ${sql.ref('id')}) - 1 as ${sql.ref('n')}
    from ${messages}
    where ${conversationId} in (select ${conversationId} from ${messages} group by ${conversationId}, ${position} having count(*) > 1)`;
  if (flavor === 'mysql') {
    await sql`update ${messages} as ${sql.table('m')} join (${numbered}) as ${sql.table('r')} on ${sql.ref('m.id')} = ${sql.ref('r.id')}
      set ${sql.ref('m.position')} = ${sql.ref('r.n')} where ${sql.ref('m.position')} <> ${sql.ref('r.n')}`.execute(db);
  } else {
    // UPDATE ... FROM: PostgreSQL, and SQLite since 3.33.
    await sql`update ${messages} set ${position} = ${sql.ref('r.n')} from (${numbered}) as ${sql.table('r')}
      where ${sql.ref(`${tables.messages}.id`)} = ${sql.ref('r.id')} and ${sql.ref(`${tables.messages}.position`)} <> ${sql.ref('r.n')}`.execute(db);
  }
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
