import type { FinishEvent, FinishReason, Message, ReasoningBlock, Role, SerializedError, StreamEvent, ToolCall, Usage } from '@sluice/core';
import { InvalidArgumentError, PartialReply } from '@sluice/core';
import { sql } from 'kysely';
import { resolveDatabase, type ChatHistoryDatabaseOptions, type ResolvedDatabase } from './chat-history-options.js';
import { StorageError } from './errors/storage-error.js';
import { decodeContent, encodeContent } from './text-encoding.js';
import { messagePositionIndex } from './table-names.js';
import { isMissingTableError, isTransientError, isUniqueViolationOn } from './transient-error.js';
import { fieldsOf, type MessageStatus } from './write-batch.js';

/** A stored run: its assistant message's state and how far its event log goes. */
export interface RunStatus {
  runId: string;
  conversationId: string;
  status: MessageStatus;
  /** Set once the run has ended. */
  finishReason: FinishReason | undefined;
  usage: Usage | undefined;
  /** Set when the run failed. */
  error: SerializedError | undefined;
  model: string | undefined;
  provider: string | undefined;
  /** The highest stored `seq`, or -1 when no event is stored yet. */
  lastSeq: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
}

/** A stored conversation. */
export interface ConversationSummary {
  id: string;
  createdAt: number;
  updatedAt: number;
}

/** Options of `ChatHistoryStore.messages`. */
export interface MessagesOptions {
  /**
   * Which assistant messages to include, by status. Default `['complete', 'aborted']`: an
   * aborted reply's partial text stays in the conversation; a failed or still-streaming
   * one is left out of the next prompt.
   */
  statuses?: readonly MessageStatus[];
}

/** Options of `ChatHistoryStore.waitForRun`. */
export interface WaitForRunOptions {
  /** Give up (rejecting with a `StorageError` coded `timeout`) after this long. Default 30 000 ms. */
  timeoutMs?: number;
  /** How often to look. Default 50 ms. */
  pollMs?: number;
  signal?: AbortSignal;
}

/** Options of `ChatHistoryStore.interruptRun`. */
export interface InterruptRunOptions {
  /**
   * The `seq` of the terminal `finish` event. Default: one past the run's last stored event.
   * Pass it when events past the stored ones were delivered (e.g. from a live hub), so the
   * finish follows what clients saw.
   */
  seq?: number;
  /** Why the run ended, e.g. coded `run_interrupted`. Stored on the finish event and the message. */
  error: SerializedError;
  /**
   * The run's terminal event as its clients saw it, when the caller knows more than storage
   * holds (a hub's log whose events the dead instance's writer had not committed, maybe its
   * very `finish`): stored as it is, so what clients assembled and what is stored agree.
   * Default: an `aborted` finish rebuilt from the stored events.
   */
  finish?: FinishEvent;
  /**
   * With `finish`: the conversation of a run that storage never heard of (its instance died
   * before its writer's first commit). Its reply is then stored there with its terminal event;
   * without it such a run is left unknown (`undefined`).
   */
  conversationId?: string;
}

/** Events read per query while rebuilding an interrupted run's reply. */
const INTERRUPT_PAGE_SIZE = 1000;
const INTERRUPT_ATTEMPTS = 8;

interface MessageRow {
  role: string;
  content: string;
  content_encoding: string;
  fields: string | null;
  status: string;
  finish_reason: string | null;
  usage: string | null;
}

interface RunRow {
  id: string;
  conversation_id: string;
  status: string;
  finish_reason: string | null;
  usage: string | null;
  error: string | null;
  model: string | null;
  provider: string | null;
  created_at: number | string;
  updated_at: number | string;
}

const DEFAULT_STATUSES: readonly MessageStatus[] = ['complete', 'aborted'];
const ALL_STATUSES = new Set<string>(['streaming', 'complete', 'aborted', 'error']);

function parseJson<TValue>(text: string | null): TValue | undefined {
  return text === null ? undefined : (JSON.parse(text) as TValue);
}

/**
 * Reads the chat history that `ChatHistoryHandler` writes: a conversation's messages ready to
 * send as the next prompt, a run's events after a given `seq` (to resume a stream), a run's
 * status, and the list of conversations.
 *
 * @example
 * ```ts
 * const store = new ChatHistoryStore({ db });
 * const history = await store.messages('c1');
 * const reply = await chat.invoke([...history, new HumanMessage('And then?')], { conversationId: 'c1' });
 * for (const event of await store.eventsAfter(runId, lastSeenSeq)) send(event);
 * ```
 */
export class ChatHistoryStore {
  private readonly database: ResolvedDatabase;

  constructor(options: ChatHistoryDatabaseOptions) {
    this.database = resolveDatabase(options, 'ChatHistoryStore');
  }

  /** The conversation's messages in order, as `{ role, content, ... }` objects ready to send as a prompt. */
  async messages(conversationId: string, options: MessagesOptions = {}): Promise<Message[]> {
    requireId(conversationId, 'conversationId');
    const statuses = options.statuses ?? DEFAULT_STATUSES;
    for (const status of statuses) {
      if (!ALL_STATUSES.has(status)) {
        throw new InvalidArgumentError({ argument: 'statuses', message: `[sluice/kysely] statuses must hold streaming, complete, aborted or error (got ${JSON.stringify(status)})` });
      }
    }
    const { db, tables } = this.database;
    const rows = (await this.read(() =>
      db
        .selectFrom(tables.messages)
        .select(['role', 'content', 'content_encoding', 'fields', 'status', 'finish_reason', 'usage'])
        .where('conversation_id', '=', conversationId)
        .orderBy('position')
        .orderBy('created_at')
        .execute(),
    )) as MessageRow[];
    const messages: Message[] = [];
    for (const row of rows) {
      if (row.role === 'assistant' && !statuses.includes(row.status as MessageStatus)) continue;
      const message: Message = { role: row.role as Role, content: decodeContent(row.content, row.content_encoding) };
      const fields = parseJson<{ name?: string; toolCalls?: ToolCall[]; toolCallId?: string; reasoning?: string; reasoningBlocks?: ReasoningBlock[] }>(row.fields);
      if (fields !== undefined) Object.assign(message, fields);
      if (row.finish_reason !== null) message.finishReason = row.finish_reason as FinishReason;
      const usage = parseJson<Usage>(row.usage);
      if (usage !== undefined) message.usage = usage;
      messages.push(message);
    }
    return messages;
  }

  /**
   * The run's stored events with `seq` greater than `afterSeq` (default -1: all of them), in
   * `seq` order, exactly as they were emitted (through a JSON round trip). A client that saw
   * up to seq N resumes with `eventsAfter(runId, N)`.
   */
  async eventsAfter(runId: string, afterSeq = -1, options: { limit?: number } = {}): Promise<StreamEvent[]> {
    requireId(runId, 'runId');
    if (!Number.isInteger(afterSeq) || afterSeq < -1) {
      throw new InvalidArgumentError({ argument: 'afterSeq', message: `[sluice/kysely] afterSeq must be an integer >= -1 (got ${String(afterSeq)})` });
    }
    const limit = options.limit;
    if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
      throw new InvalidArgumentError({ argument: 'limit', message: `[sluice/kysely] limit must be an integer >= 1 (got ${String(limit)})` });
    }
    const { db, tables } = this.database;
    let query = db.selectFrom(tables.chunks).select('event').where('run_id', '=', runId).where('seq', '>', afterSeq).orderBy('seq');
    if (limit !== undefined) query = query.limit(limit);
    const rows = (await this.read(() => query.execute())) as { event: string }[];
    return rows.map((row) => JSON.parse(row.event) as StreamEvent);
  }

  /** The run's status, or `undefined` when nothing of it is stored (yet). */
  async runStatus(runId: string): Promise<RunStatus | undefined> {
    requireId(runId, 'runId');
    const { db, tables } = this.database;
    const row = (await this.read(() =>
      db
        .selectFrom(tables.messages)
        .select(['id', 'conversation_id', 'status', 'finish_reason', 'usage', 'error', 'model', 'provider', 'created_at', 'updated_at'])
        .where('id', '=', runId)
        .executeTakeFirst(),
    )) as RunRow | undefined;
    if (row === undefined) return undefined;
    const last = (await this.read(() =>
      db
        .selectFrom(tables.chunks)
        .select((eb) => eb.fn.max('seq').as('last'))
        .where('run_id', '=', runId)
        .executeTakeFirst(),
    )) as { last: number | string | null } | undefined;
    return {
      runId: row.id,
      conversationId: row.conversation_id,
      status: row.status as MessageStatus,
      finishReason: (row.finish_reason ?? undefined) as FinishReason | undefined,
      usage: parseJson<Usage>(row.usage),
      error: parseJson<SerializedError>(row.error),
      model: row.model ?? undefined,
      provider: row.provider ?? undefined,
      lastSeq: last?.last === null || last?.last === undefined ? -1 : Number(last.last),
      createdAt: Number(row.created_at),
      updatedAt: Number(row.updated_at),
    };
  }

  /** Resolves with the run's status once it has ended (any status but `streaming`). */
  async waitForRun(runId: string, options: WaitForRunOptions = {}): Promise<RunStatus> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const pollMs = options.pollMs ?? 50;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      options.signal?.throwIfAborted();
      const status = await this.runStatus(runId);
      if (status !== undefined && status.status !== 'streaming') return status;
      if (performance.now() >= deadline) {
        throw new StorageError({ code: 'timeout', message: `[sluice/kysely] run ${runId} did not finish within ${timeoutMs} ms`, retryable: true });
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** The principal a conversation belongs to (its first run's `metadata.owner`), or undefined. */
  async conversationOwner(conversationId: string): Promise<string | undefined> {
    const { db, tables } = this.database;
    const row = (await this.read(() =>
      db.selectFrom(tables.conversations).select('owner').where('id', '=', conversationId).executeTakeFirst(),
    )) as { owner: string | null } | undefined;
    return row?.owner ?? undefined;
  }

  /**
   * Claims a conversation for `owner`, atomically: creates it owned by `owner`, or gives an
   * existing conversation without an owner this one, or leaves an owned one as it is. Returns
   * the conversation's owner after the claim: `owner` when the claim won, someone else's
   * otherwise. Concurrent claims on one new id, from any number of instances, all return the
   * same owner. An owner, once set, never changes (runs started later never overwrite it).
   *
   * @example
   * ```ts
   * if ((await store.claimConversation(conversationId, principal)) !== principal) throw new Error('not yours');
   * ```
   */
  async claimConversation(conversationId: string, owner: string): Promise<string> {
    requireId(conversationId, 'conversationId');
    requireId(owner, 'owner');
    const { db, tables, flavor } = this.database;
    const now = Date.now();
    const insert = db.insertInto(tables.conversations).values({ id: conversationId, owner, created_at: now, updated_at: now });
    if (flavor === 'mysql') {
      // No RETURNING: upsert, then read back. The owner never changes once set, so the read
      // sees what the upsert left.
      await this.read(() => insert.onDuplicateKeyUpdate({ owner: sql`coalesce(${sql.ref('owner')}, values(${sql.ref('owner')}))` }).execute());
      const row = (await this.read(() =>
        db.selectFrom(tables.conversations).select('owner').where('id', '=', conversationId).executeTakeFirstOrThrow(),
      )) as { owner: string };
      return row.owner;
    }
    const row = (await this.read(() =>
      insert
        .onConflict((conflict) =>
          conflict.column('id').doUpdateSet({ owner: sql`coalesce(${sql.ref(`${tables.conversations}.owner`)}, ${sql.ref('excluded.owner')})` }),
        )
        .returning('owner')
        .executeTakeFirstOrThrow(),
    )) as { owner: string };
    return row.owner;
  }

  /**
   * Ends a run whose instance died. If its reply is still `streaming`, rebuilds the partial
   * reply from the stored events (text, reasoning, tool calls, the last usage), then in one
   * transaction stores the reply as `aborted` with `options.error` and appends a terminal
   * `finish` event (reason `aborted`, the partial message, usage and error) at `options.seq`.
   * The update only applies to a reply still `streaming`, so when instances interrupt one run
   * at once exactly one finish is stored and every caller gets that one.
   *
   * Resolves with the run's finish event: the new one, or the one stored already when the run
   * had ended (`undefined` if it ended without one). An unknown run resolves `undefined`.
   *
   * @example
   * ```ts
   * const finish = await store.interruptRun(runId, {
   *   error: { name: 'SluiceError', code: 'run_interrupted', message: 'its instance stopped', retryable: true },
   * });
   * ```
   */
  /** `interruptRun` of a run with no stored row: its reply and finish, after the conversation's last message. */
  private async storeUnknownInterruptedRun(runId: string, conversationId: string, finish: FinishEvent): Promise<FinishEvent | undefined> {
    const { db, tables } = this.database;
    const status: MessageStatus = finish.reason === 'aborted' ? 'aborted' : finish.reason === 'error' ? 'error' : 'complete';
    const { content, encoding } = encodeContent(finish.message.content);
    const event = JSON.stringify(finish);
    for (let attempt = 1; ; attempt++) {
      try {
        const stored = await this.read(() =>
          db.transaction().execute(async (transaction) => {
            const now = Date.now();
            const exists = await transaction.selectFrom(tables.messages).select('id').where('id', '=', runId).executeTakeFirst();
            if (exists !== undefined) return false;
            const last = await transaction
              .selectFrom(tables.messages)
              .select((eb) => eb.fn.max('position').as('last'))
              .where('conversation_id', '=', conversationId)
              .executeTakeFirst();
            const position = last?.last === null || last?.last === undefined ? 0 : Number(last.last) + 1;
            await transaction
              .insertInto(tables.messages)
              .values({
                id: runId,
                conversation_id: conversationId,
                run_id: runId,
                position,
                role: 'assistant',
                content,
                content_encoding: encoding,
                fields: fieldsOf(finish.message),
                status,
                finish_reason: finish.reason,
                usage: finish.usage === undefined ? null : JSON.stringify(finish.usage),
                error: finish.error === undefined ? null : JSON.stringify(finish.error),
                model: null,
                provider: null,
                created_at: now,
                updated_at: now,
              })
              .execute();
            await transaction.insertInto(tables.chunks).values({ run_id: runId, seq: finish.seq, type: 'finish', event, created_at: now }).execute();
            await transaction.updateTable(tables.conversations).set({ updated_at: now }).where('id', '=', conversationId).execute();
            return true;
          }),
        );
        // Its writer may have committed after all: the normal path then applies.
        return stored ? (JSON.parse(event) as FinishEvent) : this.interruptRun(runId, { error: finish.error ?? { name: 'SluiceError', code: 'run_interrupted', message: 'interrupted', retryable: true }, finish });
      } catch (failure) {
        if (!isTransientError(failure) && !isUniqueViolationOn(failure, tables.messages, messagePositionIndex(tables))) throw failure;
        if (attempt >= INTERRUPT_ATTEMPTS) throw failure;
        await new Promise((resolve) => setTimeout(resolve, Math.min(200, 5 * 2 ** attempt) * (0.5 + Math.random() * 0.5)));
      }
    }
  }

  async interruptRun(runId: string, options: InterruptRunOptions): Promise<FinishEvent | undefined> {
    requireId(runId, 'runId');
    if (options === null || typeof options !== 'object' || options.error === null || typeof options.error !== 'object' || typeof options.error.code !== 'string') {
      throw new InvalidArgumentError({ argument: 'options', message: '[sluice/kysely] interruptRun needs options: { error } (a SerializedError with a code, e.g. run_interrupted)' });
    }
    if (options.seq !== undefined && (!Number.isInteger(options.seq) || options.seq < 0)) {
      throw new InvalidArgumentError({ argument: 'seq', message: `[sluice/kysely] seq must be an integer >= 0 (got ${String(options.seq)})` });
    }
    const { db, tables } = this.database;
    const row = (await this.read(() =>
      db.selectFrom(tables.messages).select(['status', 'conversation_id']).where('id', '=', runId).executeTakeFirst(),
    )) as { status: string; conversation_id: string } | undefined;
    if (row === undefined) {
      if (options.finish === undefined || options.conversationId === undefined) return undefined;
      return this.storeUnknownInterruptedRun(runId, options.conversationId, options.finish);
    }
    if (row.status !== 'streaming') return this.storedFinish(runId);

    // Page through the events: a long run is never held in memory as a whole.
    const reply = new PartialReply();
    for (let afterSeq = -1; ; ) {
      const page = await this.eventsAfter(runId, afterSeq, { limit: INTERRUPT_PAGE_SIZE });
      for (const event of page) reply.add(event);
      if (page.length < INTERRUPT_PAGE_SIZE) break;
      afterSeq = (page.at(-1) as StreamEvent).seq;
    }
    // The run finished but its instance died before storing the reply: complete the reply
    // from that finish rather than appending a second one.
    const stored = reply.finish;
    const finish: FinishEvent = stored ??
      options.finish ?? {
        type: 'finish',
        seq: options.seq ?? reply.lastSeq + 1,
        reason: 'aborted',
        message: reply.message(),
        usage: reply.usage,
        error: options.error,
      };
    const status: MessageStatus = finish.reason === 'aborted' ? 'aborted' : finish.reason === 'error' ? 'error' : 'complete';
    const { content, encoding } = encodeContent(finish.message.content);
    const event = JSON.stringify(finish);
    const error = finish.error ?? (stored === undefined ? undefined : reply.error);

    for (let attempt = 1; ; attempt++) {
      try {
        const ended = await this.read(() =>
          db.transaction().execute(async (transaction) => {
            const now = Date.now();
            const updated = await transaction
              .updateTable(tables.messages)
              .set({
                content,
                content_encoding: encoding,
                fields: fieldsOf(finish.message),
                status,
                finish_reason: finish.reason,
                usage: finish.usage === undefined ? null : JSON.stringify(finish.usage),
                error: error === undefined ? null : JSON.stringify(error),
                updated_at: now,
              })
              .where('id', '=', runId)
              .where('status', '=', 'streaming')
              .executeTakeFirst();
            // Another instance ended it first: its finish is the one.
            if (Number(updated.numUpdatedRows) === 0) return false;
            if (stored === undefined) {
              await transaction.insertInto(tables.chunks).values({ run_id: runId, seq: finish.seq, type: 'finish', event, created_at: now }).execute();
            }
            await transaction.updateTable(tables.conversations).set({ updated_at: now }).where('id', '=', row.conversation_id).execute();
            return true;
          }),
        );
        return ended ? (JSON.parse(event) as FinishEvent) : this.storedFinish(runId);
      } catch (failure) {
        // A lock held by a writer, a lost connection: the guarded update makes a retry safe.
        if (!isTransientError(failure) || attempt >= INTERRUPT_ATTEMPTS) throw failure;
        await new Promise((resolve) => setTimeout(resolve, Math.min(200, 5 * 2 ** attempt) * (0.5 + Math.random() * 0.5)));
      }
    }
  }

  /** The run's stored `finish` event, if any. */
  private async storedFinish(runId: string): Promise<FinishEvent | undefined> {
    const { db, tables } = this.database;
    const row = (await this.read(() =>
      db.selectFrom(tables.chunks).select('event').where('run_id', '=', runId).where('type', '=', 'finish').orderBy('seq', 'desc').limit(1).executeTakeFirst(),
    )) as { event: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.event) as FinishEvent);
  }

  /** Conversations, most recently active first. */
  async conversations(options: { limit?: number; offset?: number } = {}): Promise<ConversationSummary[]> {
    const limit = options.limit ?? 50;
    const offset = options.offset ?? 0;
    if (!Number.isInteger(limit) || limit < 1 || !Number.isInteger(offset) || offset < 0) {
      throw new InvalidArgumentError({ argument: 'limit', message: '[sluice/kysely] limit must be an integer >= 1 and offset an integer >= 0' });
    }
    const { db, tables } = this.database;
    const rows = (await this.read(() =>
      db
        .selectFrom(tables.conversations)
        .select(['id', 'created_at', 'updated_at'])
        .orderBy('updated_at', 'desc')
        .orderBy('id')
        .limit(limit)
        .offset(offset)
        .execute(),
    )) as { id: string; created_at: number | string; updated_at: number | string }[];
    return rows.map((row) => ({ id: row.id, createdAt: Number(row.created_at), updatedAt: Number(row.updated_at) }));
  }

  /** Destroys the `Kysely` instance if the store opened it from a dialect. */
  async close(): Promise<void> {
    if (this.database.owned) await this.database.db.destroy();
  }

  private async read<TResult>(query: () => Promise<TResult>): Promise<TResult> {
    try {
      return await query();
    } catch (error) {
      if (isMissingTableError(error)) {
        throw new StorageError({
          code: 'schema_missing',
          message: `[sluice/kysely] table ${this.database.tables.prefix}… is missing: run migrateToLatest(db${this.database.tables.prefix === 'sluice_' ? '' : `, { tablePrefix: '${this.database.tables.prefix}' }`}) first`,
          cause: error,
        });
      }
      throw error;
    }
  }
}

function requireId(value: unknown, argument: string): void {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidArgumentError({ argument, message: `[sluice/kysely] ${argument} must be a non-empty string` });
  }
}
