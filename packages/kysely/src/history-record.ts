import type { ChatResult, Message, StreamEvent } from '@sluice/core';

/** A run started: its conversation, its input messages and a `streaming` assistant row. */
export interface RunStartRecord {
  readonly type: '@start';
  readonly runId: string;
  readonly conversationId: string;
  readonly messages: readonly Message[];
  readonly model: string;
  readonly provider: string;
  readonly createdAt: number;
  /** The principal the conversation belongs to (`metadata.owner`), recorded when it is created. */
  readonly owner: string | undefined;
  /**
   * How many leading input messages are the stored history (`metadata.historyLength`); when
   * unknown, the messages past the stored count are taken as new.
   */
  readonly historyLength: number | undefined;
}

/** A run ended: its final message, status, finish reason and usage. */
export interface RunEndRecord {
  readonly type: '@end';
  readonly runId: string;
  readonly conversationId: string;
  readonly result: ChatResult;
  /** Settled once the record (and so everything queued before it) is written or given up. */
  readonly settle: (error: Error | undefined) => void;
}

/**
 * What the writer queues: the stream events themselves (no wrapper is allocated per event;
 * the run id travels in a parallel array) and the two lifecycle records.
 */
export type HistoryRecord = StreamEvent | RunStartRecord | RunEndRecord;
