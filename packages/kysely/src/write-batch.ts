import type { Message } from '@sluice/core';
import { CompiledQuery, type Kysely } from 'kysely';
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
export function fieldsOf(message: Message): string | null {
  const fields: Record<string, unknown> = {};
  if (message.name !== undefined) fields.name = message.name;
  if (message.toolCalls !== undefined && message.toolCalls.length > 0) fields.toolCalls = message.toolCalls;
  if (message.toolCallId !== undefined) fields.toolCallId = message.toolCallId;
  if (message.reasoning !== undefined) fields.reasoning = message.reasoning;
  // Provider reasoning blocks (Anthropic thinking signatures) go back with the next turn.
  if (message.reasoningBlocks !== undefined && message.reasoningBlocks.length > 0) fields.reasoningBlocks = message.reasoningBlocks;
  for (const _ in fields) return JSON.stringify(fields);
  return null;
}

/**
 * How a chunk insert takes its rows. SQLite: one JSON array of `[run_id, seq, type, event]`
 * (the event's JSON travels as a JSON string) unpacked by `json_each`. PostgreSQL: one array
 * per column unpacked by `unnest`. MySQL: a multi-row `values` list, five parameters per row
 * (mysql2 sends them inlined in the text; MariaDB's `JSON_TABLE` measured slower than that).
 */
type RowShape = 'json' | 'columns' | 'values';

const ROW_SHAPES: Readonly<Record<SqlFlavor, RowShape>> = { sqlite: 'json', postgres: 'columns', mysql: 'values' };

/** The rows of one chunk insert, gathered in the shape its statement takes them. */
class EventRows {
  count = 0;
  /** Characters of event JSON gathered so far. */
  bytes = 0;
  private readonly shape: RowShape;
  private readonly now: number;
  private values: unknown[] = [];
  private runIds: string[] = [];
  private seqs: number[] = [];
  private types: string[] = [];
  private events: string[] = [];

  constructor(shape: RowShape, now: number) {
    this.shape = shape;
    this.now = now;
  }

  add(runId: string, seq: number, type: string, event: string): void {
    if (this.shape === 'columns') {
      this.runIds.push(runId);
      this.seqs.push(seq);
      this.types.push(type);
      this.events.push(event);
    } else if (this.shape === 'values') {
      this.values.push(runId, seq, type, event, this.now);
    } else {
      this.events.push(`[${JSON.stringify(runId)},${seq},${JSON.stringify(type)},${JSON.stringify(event)}]`);
    }
    this.count++;
    this.bytes += event.length;
  }

  /** The statement's parameters; the rows are cleared for the next statement. */
  take(): unknown[] {
    let parameters: unknown[];
    if (this.shape === 'columns') parameters = [this.runIds, this.seqs, this.types, this.events, this.now];
    else if (this.shape === 'values') parameters = this.values;
    else parameters = [this.now, `[${this.events.join(',')}]`];
    this.count = 0;
    this.bytes = 0;
    this.values = [];
    this.runIds = [];
    this.seqs = [];
    this.types = [];
    this.events = [];
    return parameters;
  }
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
  private readonly notifyChannel: string | undefined;
  private chunkStatement: string | undefined;

  /** `notifyChannel` (PostgreSQL only, checked by the caller): where each batch announces its runs' last seq. */
  constructor(flavor: SqlFlavor, tables: TableNames, maxRowsPerStatement: number, notifyChannel?: string) {
    this.flavor = flavor;
    this.tables = tables;
    this.notifyChannel = notifyChannel;
    // Only MySQL's statement carries parameters per row.
    this.maxRows = flavor === 'mysql' ? Math.max(1, Math.min(maxRowsPerStatement, Math.floor(MAX_PARAMETERS.mysql / CHUNK_COLUMNS))) : maxRowsPerStatement;
  }

  async write(db: AnyKysely, records: readonly HistoryRecord[], runIds: readonly string[]): Promise<void> {
    const now = Date.now();
    for (const record of records) if (record.type === '@start') await this.writeStart(db, record);
    await this.writeEvents(db, records, runIds, now);
    for (const record of records) if (record.type === '@end') await this.writeEnd(db, record, now);
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
    // One read gives both the next free position and whether this start is stored already (a
    // batch retried after an ambiguous commit): its rows are written together or not at all.
    const last = (await db
      .selectFrom(tables.messages)
      .select((eb) => [
        eb.fn.max('position').as('last'),
        eb.fn.max(eb.case().when('id', '=', record.runId).then(1).else(0).end()).as('started'),
      ])
      .where('conversation_id', '=', record.conversationId)
      .executeTakeFirst()) as { last: number | string | null; started: number | string | null } | undefined;
    if (Number(last?.started ?? 0) === 1) return;
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
    // A plain insert: positions are unique per conversation, and a writer that raced another
    // to them must fail and retry (MySQL's ON DUPLICATE KEY would silently drop the row).
    await db.insertInto(tables.messages).values(rows).execute();
  }

  /**
   * Every event of the batch into the chunks table, in as few statements as the row and size
   * limits allow. On SQLite and PostgreSQL the statement's text and parameter count never
   * change with the rows: a `values` list of thousands of placeholders costs PostgreSQL a fresh
   * parse and plan per batch, and better-sqlite3, which prepares every statement kysely runs,
   * would hold native memory per statement until the garbage collector finalises it.
   */
  private async writeEvents(db: AnyKysely, records: readonly HistoryRecord[], runIds: readonly string[], now: number): Promise<void> {
    const rows = new EventRows(ROW_SHAPES[this.flavor], now);
    // Arguments are evaluated in order: the text is chosen for the row count before take() clears it.
    const insert = (): Promise<unknown> => db.executeQuery(CompiledQuery.raw(this.insertChunks(rows.count), rows.take()));
    // Each run's highest seq in the batch, only when someone listens for it.
    const lastSeqs = this.notifyChannel === undefined ? undefined : new Map<string, number>();
    for (let index = 0; index < records.length; index++) {
      const record = records[index] as HistoryRecord;
      if (record.type === '@start' || record.type === '@end') continue;
      const runId = runIds[index] as string;
      rows.add(runId, record.seq, record.type, JSON.stringify(record));
      if (lastSeqs !== undefined && !((lastSeqs.get(runId) ?? -1) >= record.seq)) lastSeqs.set(runId, record.seq);
      if (rows.count === this.maxRows || rows.bytes >= MAX_STATEMENT_BYTES) await insert();
    }
    if (rows.count > 0) await insert();
    if (lastSeqs !== undefined && lastSeqs.size > 0) {
      // One statement for every run of the batch; delivered when the transaction commits.
      const payloads: string[] = [];
      for (const [runId, seq] of lastSeqs) payloads.push(`${seq} ${runId}`);
      await db.executeQuery(CompiledQuery.raw('select pg_notify($1, "p") from unnest($2::text[]) as "p"', [this.notifyChannel, payloads]));
    }
  }

  /** The chunk insert for `rows` rows, as SQL text built by hand (the writer's hot path). */
  private insertChunks(rows: number): string {
    const flavor = this.flavor;
    const constant = flavor !== 'mysql';
    if ((constant || rows === this.maxRows) && this.chunkStatement !== undefined) return this.chunkStatement;
    const quote = (name: string): string => quoteIdentifier(flavor, name);
    const into = `insert into ${quote(this.tables.chunks)} (${quote('run_id')}, ${quote('seq')}, ${quote('type')}, ${quote('event')}, ${quote('created_at')}) `;
    let text: string;
    if (flavor === 'postgres') {
      text =
        `${into}select "r", "s", "t", "e", $5::bigint from unnest($1::text[], $2::int[], $3::text[], $4::text[]) as "u" ("r", "s", "t", "e") ` +
        `on conflict ("run_id", "seq") do nothing`;
    } else if (flavor === 'sqlite') {
      text =
        // `->>` (SQLite 3.38+) extracts about 10% faster than json_extract().
        `${into}select value ->> 0, value ->> 1, value ->> 2, value ->> 3, ? ` +
        // "where true" lets SQLite's parser tell the upsert clause from a join constraint.
        `from json_each(?) where true on conflict ("run_id", "seq") do nothing`;
    } else {
      text = `${into}values ${new Array<string>(rows).fill('(?,?,?,?,?)').join(',')} on duplicate key update ${quote('seq')} = ${quote('seq')}`;
    }
    if (constant || rows === this.maxRows) this.chunkStatement = text;
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
