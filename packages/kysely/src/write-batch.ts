import type { Message } from '@sluice/core';
import { CompiledQuery, sql, type InsertQueryBuilder, type InsertResult, type Kysely } from 'kysely';
import type { HistoryRecord, RunEndRecord, RunStartRecord } from './history-record.js';
import { MAX_PARAMETERS, quoteIdentifier, type SqlFlavor } from './sql-flavor.js';
import type { TableNames } from './table-names.js';
import { encodeContent } from './text-encoding.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyKysely = Kysely<any>;

/** The stored status of a message. */
export type MessageStatus = 'streaming' | 'complete' | 'aborted' | 'error';

const CHUNK_COLUMNS = 5;
// Keeps one statement well below MySQL's default max_allowed_packet (16 MiB on MariaDB).
const MAX_STATEMENT_BYTES = 4 * 1024 * 1024;

/** Extra message fields stored as JSON in `fields`. */
function fieldsOf(message: Message): string | null {
  const fields: Record<string, unknown> = {};
  if (message.name !== undefined) fields.name = message.name;
  if (message.toolCalls !== undefined && message.toolCalls.length > 0) fields.toolCalls = message.toolCalls;
  if (message.toolCallId !== undefined) fields.toolCallId = message.toolCallId;
  if (message.reasoning !== undefined) fields.reasoning = message.reasoning;
  for (const _ in fields) return JSON.stringify(fields);
  return null;
}

/**
 * Writes one batch of records, inside the caller's transaction: run starts first, then every
 * event as multi-row inserts, then run ends. Every statement is idempotent (inserts skip rows
 * whose key exists, updates set absolute values), so a batch retried after an ambiguous
 * failure stores each row once.
 */
export class BatchWriter {
  private readonly flavor: SqlFlavor;
  private readonly tables: TableNames;
  private readonly maxRows: number;
  private fullStatement: string | undefined;

  constructor(flavor: SqlFlavor, tables: TableNames, maxRowsPerStatement: number) {
    this.flavor = flavor;
    this.tables = tables;
    this.maxRows = Math.max(1, Math.min(maxRowsPerStatement, Math.floor(MAX_PARAMETERS[flavor] / CHUNK_COLUMNS)));
  }

  async write(db: AnyKysely, records: readonly HistoryRecord[], runIds: readonly string[]): Promise<void> {
    const now = Date.now();
    for (const record of records) if (record.type === '@start') await this.writeStart(db, record);
    await this.writeEvents(db, records, runIds, now);
    for (const record of records) if (record.type === '@end') await this.writeEnd(db, record, now);
  }

  /** Inserts, skipping rows whose key already exists (a retried batch). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private insertIgnoring(builder: InsertQueryBuilder<any, any, InsertResult>, key: string): InsertQueryBuilder<any, any, InsertResult> {
    // MySQL has no ON CONFLICT; a no-op update skips duplicates without INSERT IGNORE's habit
    // of turning every other error into a warning.
    if (this.flavor === 'mysql') return builder.onDuplicateKeyUpdate({ [key]: sql.ref(key) });
    return builder.onConflict((conflict) => conflict.column(key).doNothing());
  }

  private async writeStart(db: AnyKysely, record: RunStartRecord): Promise<void> {
    const { tables } = this;
    const conversation = db
      .insertInto(tables.conversations)
      .values({ id: record.conversationId, owner: record.owner ?? null, created_at: record.createdAt, updated_at: record.createdAt });
    await (this.flavor === 'mysql'
      ? conversation.onDuplicateKeyUpdate({ updated_at: record.createdAt })
      : conversation.onConflict((conflict) => conflict.column('id').doUpdateSet({ updated_at: record.createdAt }))
    ).execute();

    // The run's messages are usually the stored conversation plus the new turn: store only the
    // new turn. A prompt shorter than the history is a new turn as a whole.
    const last = await db
      .selectFrom(tables.messages)
      .select((eb) => eb.fn.max('position').as('last'))
      .where('conversation_id', '=', record.conversationId)
      .executeTakeFirst();
    const stored = last?.last === null || last?.last === undefined ? 0 : Number(last.last) + 1;
    const messages = record.messages;
    // The caller said how much of the prompt is history; otherwise, what is past the stored count.
    const first =
      record.historyLength !== undefined ? Math.min(record.historyLength, messages.length) : messages.length > stored ? stored : 0;
    let position = stored;
    const rows: Record<string, unknown>[] = [];
    for (let index = first; index < messages.length; index++) {
      const message = messages[index] as Message;
      const { content, encoding } = encodeContent(message.content);
      rows.push({
        id: `${record.runId}:${index}`,
        conversation_id: record.conversationId,
        run_id: record.runId,
        position: position++,
        role: message.role,
        content,
        content_encoding: encoding,
        fields: fieldsOf(message),
        status: 'complete',
        finish_reason: message.finishReason ?? null,
        usage: message.usage === undefined ? null : JSON.stringify(message.usage),
        error: null,
        model: null,
        provider: null,
        created_at: record.createdAt,
        updated_at: record.createdAt,
      });
    }
    rows.push({
      id: record.runId,
      conversation_id: record.conversationId,
      run_id: record.runId,
      position,
      role: 'assistant',
      content: '',
      content_encoding: 'text',
      fields: null,
      status: 'streaming',
      finish_reason: null,
      usage: null,
      error: null,
      model: record.model,
      provider: record.provider,
      created_at: record.createdAt,
      updated_at: record.createdAt,
    });
    await this.insertIgnoring(db.insertInto(tables.messages).values(rows), 'id').execute();
  }

  private async writeEvents(db: AnyKysely, records: readonly HistoryRecord[], runIds: readonly string[], now: number): Promise<void> {
    if (this.flavor === 'sqlite') return this.writeEventsAsJson(db, records, runIds, now);
    let parameters: unknown[] = [];
    let rows = 0;
    let bytes = 0;
    for (let index = 0; index < records.length; index++) {
      const record = records[index] as HistoryRecord;
      if (record.type === '@start' || record.type === '@end') continue;
      const json = JSON.stringify(record);
      parameters.push(runIds[index], record.seq, record.type, json, now);
      rows++;
      bytes += json.length;
      if (rows === this.maxRows || bytes >= MAX_STATEMENT_BYTES) {
        await db.executeQuery(CompiledQuery.raw(this.insertChunks(rows), parameters));
        parameters = [];
        rows = 0;
        bytes = 0;
      }
    }
    if (rows > 0) await db.executeQuery(CompiledQuery.raw(this.insertChunks(rows), parameters));
  }

  /**
   * SQLite: the whole batch as one JSON array, unpacked by `json_each` in a statement whose
   * text never changes. better-sqlite3 prepares every statement kysely runs, and a prepared
   * multi-row insert with thousands of parameters holds native memory until the garbage
   * collector finalises it: the constant one-parameter statement costs the same time and
   * keeps memory flat.
   */
  private async writeEventsAsJson(db: AnyKysely, records: readonly HistoryRecord[], runIds: readonly string[], now: number): Promise<void> {
    const parts: string[] = [];
    for (let index = 0; index < records.length; index++) {
      const record = records[index] as HistoryRecord;
      if (record.type === '@start' || record.type === '@end') continue;
      // [run_id, seq, type, event]: the event's JSON travels as a JSON string.
      parts.push(`[${JSON.stringify(runIds[index])},${record.seq},"${record.type}",${JSON.stringify(JSON.stringify(record))}]`);
    }
    if (parts.length === 0) return;
    this.fullStatement ??=
      `insert into "${this.tables.chunks}" ("run_id", "seq", "type", "event", "created_at") ` +
      `select json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), ? ` +
      // "where true" lets SQLite's parser tell the upsert clause from a join constraint.
      `from json_each(?) where true on conflict ("run_id", "seq") do nothing`;
    await db.executeQuery(CompiledQuery.raw(this.fullStatement, [now, `[${parts.join(',')}]`]));
  }

  /**
   * The multi-row chunk insert, as SQL text: built by hand rather than through the query
   * builder, which would allocate a node per value (the hot path of the writer).
   */
  private insertChunks(rows: number): string {
    if (rows === this.maxRows && this.fullStatement !== undefined) return this.fullStatement;
    const flavor = this.flavor;
    const quote = (name: string): string => quoteIdentifier(flavor, name);
    const tuples: string[] = new Array(rows);
    if (flavor === 'postgres') {
      for (let row = 0, parameter = 1; row < rows; row++, parameter += CHUNK_COLUMNS) {
        tuples[row] = `($${parameter},$${parameter + 1},$${parameter + 2},$${parameter + 3},$${parameter + 4})`;
      }
    } else {
      tuples.fill('(?,?,?,?,?)');
    }
    const conflict = flavor === 'mysql' ? ` on duplicate key update ${quote('seq')} = ${quote('seq')}` : ` on conflict (${quote('run_id')}, ${quote('seq')}) do nothing`;
    const text =
      `insert into ${quote(this.tables.chunks)} (${quote('run_id')}, ${quote('seq')}, ${quote('type')}, ${quote('event')}, ${quote('created_at')}) values ` +
      tuples.join(',') +
      conflict;
    if (rows === this.maxRows) this.fullStatement = text;
    return text;
  }

  private async writeEnd(db: AnyKysely, record: RunEndRecord, now: number): Promise<void> {
    const { result } = record;
    const status: MessageStatus = result.finishReason === 'aborted' ? 'aborted' : result.finishReason === 'error' ? 'error' : 'complete';
    const { content, encoding } = encodeContent(result.text);
    await db
      .updateTable(this.tables.messages)
      .set({
        content,
        content_encoding: encoding,
        fields: fieldsOf(result.message),
        status,
        finish_reason: result.finishReason,
        usage: result.usage === undefined ? null : JSON.stringify(result.usage),
        error: result.error === undefined ? null : JSON.stringify(result.error.toJSON()),
        model: result.model,
        updated_at: now,
      })
      .where('id', '=', record.runId)
      .execute();
    await db.updateTable(this.tables.conversations).set({ updated_at: now }).where('id', '=', record.conversationId).execute();
  }
}
