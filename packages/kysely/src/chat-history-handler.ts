import type { CallbackHandler, ChatResult, DeliveryOptions, HandlerContext, StreamEvent } from '@sluice/core';
import { InvalidArgumentError } from '@sluice/core';
import { resolveDatabase, type ChatHistoryDatabaseOptions, type ResolvedDatabase } from './chat-history-options.js';
import { HistoryWriter, type HistoryWriterOptions, type WriterCounters } from './history-writer.js';

/** Options of `ChatHistoryHandler`: where to write, and how the writer batches and bounds. */
export interface ChatHistoryHandlerOptions extends ChatHistoryDatabaseOptions, HistoryWriterOptions {
  /**
   * Events a run may have waiting in the handler's lane while the writer is past its
   * high-water mark; past it, the run stops reading the model. Default 256.
   */
  laneCapacity?: number;
}

/** `metadata.historyLength` as a count, when it is one. */
function historyLengthOf(value: string | undefined): number | undefined {
  const count = value === undefined ? Number.NaN : Number(value);
  return Number.isInteger(count) && count >= 0 ? count : undefined;
}

// Leaves room in the 191-character id columns for the `:<index>` of input message ids.
const MAX_ID_LENGTH = 180;

/**
 * Persists every run it is attached to: the input messages and a `streaming` assistant row at
 * the start, every stream event into the chunks table (the durable log a client resumes from),
 * and the final message with its status, finish reason and usage at the end, also for aborted
 * and failed runs with their partial content.
 *
 * It never slows the stream in the normal case: `onChatEvent` only appends to the writer's
 * in-memory buffer. Past the writer's high-water mark it returns a promise, so its lane
 * queues and then (overflow `block`) the run stops reading the model until the database has
 * caught up: memory stays bounded and nothing is dropped. `onChatEnd` resolves once the run's
 * rows are committed, so `await model.invoke(...)` means "it is in the database".
 * Runs without a `conversationId` are stored in a conversation named after their run id.
 * Two run `metadata` keys are understood: `owner`, recorded with a new conversation (read it
 * back with `ChatHistoryStore.conversationOwner`), and `historyLength`, the count of leading
 * input messages that are the stored history and are not stored again.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { Kysely, SqliteDialect } from 'kysely';
 * import { FakeChatModel } from '@sluice/core';
 * import { ChatHistoryHandler, ChatHistoryStore, migrateToLatest } from '@sluice/kysely';
 *
 * const db = new Kysely({ dialect: new SqliteDialect({ database: new Database('chat.db') }) });
 * await migrateToLatest(db);
 * const history = new ChatHistoryHandler({ db });
 * const chat = new FakeChatModel({ callbacks: [history] });
 * await chat.invoke('Hello!', { conversationId: 'c1' });
 * console.log(await new ChatHistoryStore({ db }).messages('c1'));
 * await history.close();
 * ```
 */
export class ChatHistoryHandler implements CallbackHandler {
  readonly name = 'ChatHistoryHandler';
  readonly delivery: DeliveryOptions;
  /** The writer shared by every run of this handler. */
  readonly writer: HistoryWriter;
  private readonly database: ResolvedDatabase;

  constructor(options: ChatHistoryHandlerOptions) {
    this.database = resolveDatabase(options, 'ChatHistoryHandler');
    const capacity = options.laneCapacity ?? 256;
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new InvalidArgumentError({ argument: 'laneCapacity', message: `[sluice/kysely] laneCapacity must be an integer >= 1 (got ${String(capacity)})` });
    }
    this.delivery = { capacity, overflow: 'block' };
    this.writer = new HistoryWriter(this.database.db, this.database.flavor, this.database.tables, options);
  }

  /** What the writer has queued, written and retried so far. */
  get counters(): WriterCounters {
    return this.writer.counters;
  }

  onChatStart(context: HandlerContext): Promise<void> | undefined {
    if (context.runId.length > MAX_ID_LENGTH || (context.conversationId?.length ?? 0) > MAX_ID_LENGTH) {
      throw new InvalidArgumentError({ argument: 'runId', message: `[sluice/kysely] run and conversation ids longer than ${MAX_ID_LENGTH} characters cannot be stored` });
    }
    return this.writer.append(
      {
        type: '@start',
        runId: context.runId,
        conversationId: context.conversationId ?? context.runId,
        messages: context.messages,
        model: context.model,
        provider: context.provider,
        createdAt: Date.now(),
        owner: context.metadata.owner,
        historyLength: historyLengthOf(context.metadata.historyLength),
      },
      context.runId,
    );
  }

  onChatEvent(event: StreamEvent, context: HandlerContext): Promise<void> | undefined {
    return this.writer.append(event, context.runId);
  }

  onChatEnd(result: ChatResult, context: HandlerContext): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.writer.append(
        {
          type: '@end',
          runId: context.runId,
          conversationId: context.conversationId ?? context.runId,
          result,
          settle: (error) => (error === undefined ? resolve() : reject(error)),
        },
        context.runId,
      );
    });
  }

  /** Resolves once everything handed to the handler so far is in the database. */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /**
   * Writes what is buffered, refuses further runs, and destroys the `Kysely` instance if the
   * handler opened it from a dialect (a `db` you passed stays open).
   */
  async close(): Promise<void> {
    await this.writer.close();
    if (this.database.owned) await this.database.db.destroy();
  }
}
