import type { MessageChunk } from '@sluice/core';
import type { Kysely } from 'kysely';

/**
 * The seed's own handler, in sluice: one row per streamed chunk. It is this short because
 * the lane does the rest: while an insert is pending, later chunks queue in order, and a full
 * queue holds back the model instead of dropping anything.
 */
export class ChatHistoryCallback {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly db: Kysely<any>;
  readonly table: string;

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  constructor(db: Kysely<any>, table = 'chathistory') {
    this.db = db;
    this.table = table;
  }

  async onChatNewMessage(message: MessageChunk): Promise<void> {
    await this.db.insertInto(this.table).values({ role: message.role, content: message.content }).execute();
  }
}
