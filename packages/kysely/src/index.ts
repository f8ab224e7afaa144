/**
 * `@sluice/kysely`: persist sluice streams to SQLite, PostgreSQL or MySQL through kysely.
 *
 * - `migrateToLatest(db)` creates the tables (conversations, messages, chunks);
 * - `ChatHistoryHandler` persists every run it is attached to, batched, bounded and retried;
 * - `ChatHistoryStore` reads it back: the next prompt, a run's events for resume, its status.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { Kysely, SqliteDialect } from 'kysely';
 * import { FakeChatModel, HumanMessage } from '@sluice/core';
 * import { ChatHistoryHandler, ChatHistoryStore, migrateToLatest } from '@sluice/kysely';
 *
 * const db = new Kysely({ dialect: new SqliteDialect({ database: new Database('chat.db') }) });
 * await migrateToLatest(db);
 * const history = new ChatHistoryHandler({ db });
 * const chat = new FakeChatModel({ callbacks: [history] });
 * await chat.invoke([new HumanMessage('Hello!')], { conversationId: 'c1' });
 * const prompt = await new ChatHistoryStore({ db }).messages('c1'); // user + assistant
 * await history.close();
 * await db.destroy();
 * ```
 *
 * @packageDocumentation
 */
export { ChatHistoryHandler, type ChatHistoryHandlerOptions } from './chat-history-handler.js';
export { chatHistoryMigrations, dropChatHistoryTables, migrateToLatest, type ChatHistorySchemaOptions, type MigrateOptions } from './chat-history-migrations.js';
export type { ChatHistoryDatabaseOptions } from './chat-history-options.js';
export {
  ChatHistoryStore,
  type ConversationSummary,
  type InterruptRunOptions,
  type MessagesOptions,
  type RunStatus,
  type WaitForRunOptions,
} from './chat-history-store.js';
export { StorageError, type StorageErrorOptions } from './errors/storage-error.js';
export type { HistoryRecord, RunEndRecord, RunStartRecord } from './history-record.js';
export { HistoryWriter, type HistoryWriterOptions, type RetryOptions, type WriterCounters } from './history-writer.js';
export { detectFlavor, type SqlFlavor } from './sql-flavor.js';
export { DEFAULT_TABLE_PREFIX, messagePositionIndex, tableNames, type TableNames } from './table-names.js';
export { decodeContent, encodeContent, type ContentEncoding } from './text-encoding.js';
export { isMissingTableError, isTransientError } from './transient-error.js';
export type { MessageStatus } from './write-batch.js';
