import type { CallbackHandler, FinishEvent, Message, SerializedError, StreamEvent } from '@sluice/core';

/** What the HTTP layer needs to know of a stored run. */
export interface StoredRun {
  conversationId: string;
  /** `streaming` while the run is live (here or on another instance). */
  status: string;
}

/**
 * Durable storage for the HTTP layer, e.g. `@sluice/kysely`'s `ChatHistoryHandler` and
 * `ChatHistoryStore`: runs are persisted through `handler`, and read back for history and
 * resume. Structural, so any store with these methods fits.
 */
export interface ChatStorage {
  /** Persists every run (attached as the first handler). */
  handler: CallbackHandler;
  store: {
    /** The conversation's messages, ready to send as the next prompt. */
    messages(conversationId: string): Promise<Message[]>;
    /** The run's stored events with `seq > afterSeq`, in order, at most `limit` of them. */
    eventsAfter(runId: string, afterSeq: number, options?: { limit?: number }): Promise<StreamEvent[]>;
    runStatus(runId: string): Promise<StoredRun | undefined>;
    /** The principal a conversation belongs to (recorded from the run's `metadata.owner`). */
    conversationOwner(conversationId: string): Promise<string | undefined>;
    /**
     * Makes `owner` the owner of the conversation if it has none, in one atomic step, and
     * gives the conversation's owner: two principals racing for a new id get the same answer.
     */
    claimConversation(conversationId: string, owner: string): Promise<string>;
    /**
     * Ends a run whose instance died: stores a terminal `finish` (reason `aborted`, with
     * `error`) at `seq` and the message with its partial content — or `finish` as given, the
     * terminal event clients saw in the hub's log (stored in `conversationId` if storage never
     * heard of the run). Gives the stored finish (the existing one if the run had ended), or
     * undefined for an unknown run.
     */
    interruptRun(runId: string, options: { seq?: number; error: SerializedError; finish?: FinishEvent; conversationId?: string }): Promise<FinishEvent | undefined>;
  };
}

/** Conversations kept in memory when no storage is configured (bounded: oldest go first). */
export class MemoryConversations {
  private readonly conversations = new Map<string, { owner: string; messages: Message[] }>();
  private readonly maxConversations: number;

  constructor(maxConversations = 10_000) {
    this.maxConversations = maxConversations;
  }

  owner(conversationId: string): string | undefined {
    return this.conversations.get(conversationId)?.owner;
  }

  messages(conversationId: string): Message[] {
    return [...(this.conversations.get(conversationId)?.messages ?? [])];
  }

  /** Creates the conversation for `owner` if it is new; gives the conversation's owner. */
  claim(conversationId: string, owner: string): string {
    const existing = this.conversations.get(conversationId);
    if (existing !== undefined) return existing.owner;
    this.conversations.set(conversationId, { owner, messages: [] });
    if (this.conversations.size > this.maxConversations) {
      const oldest = this.conversations.keys().next().value as string;
      this.conversations.delete(oldest);
    }
    return owner;
  }

  /** Records a turn: the new messages and the assistant's reply. */
  append(conversationId: string, messages: readonly Message[]): void {
    this.conversations.get(conversationId)?.messages.push(...messages);
  }
}
