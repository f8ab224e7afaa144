import { SluiceError } from '@sluice/core';

/** What a `StorageError` carries besides the usual `SluiceError` fields. */
export interface StorageErrorOptions {
  /** `schema_missing`, `write_failed`, `writer_closed`, `timeout`, ... */
  code: string;
  message: string;
  /** Whether the same write may succeed later (a lost connection, a lock). */
  retryable?: boolean;
  cause?: unknown;
  /** Runs whose records the failed write held, when it was a write. */
  runIds?: readonly string[];
}

/**
 * The database refused or lost a write or a read of the chat history. `retryable` says
 * whether it was a transient failure; `runIds` names the runs a failed batch held.
 */
export class StorageError extends SluiceError {
  static override readonly marker: symbol = Symbol.for('sluice.error.storage');
  readonly runIds: readonly string[];

  constructor(options: StorageErrorOptions) {
    super(options);
    this.name = 'StorageError';
    this.runIds = options.runIds ?? [];
  }
}
