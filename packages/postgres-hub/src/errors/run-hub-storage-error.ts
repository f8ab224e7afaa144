import { SluiceError } from '@sluice/core';

/** What a `RunHubStorageError` carries. */
export interface RunHubStorageErrorOptions {
  /** `schema_missing`, `query_failed`, `listen_failed`, `hub_closed`, `notifications_missing`. */
  code: string;
  message: string;
  /** Whether the same call may succeed later (a lost connection, a restart). */
  retryable?: boolean;
  cause?: unknown;
  /** The run the failed call was about, when there was one. */
  runId?: string;
}

/**
 * PostgreSQL refused or lost a query of the run hub. `retryable` says whether it was a
 * transient failure (a connection lost, the server restarting).
 */
export class RunHubStorageError extends SluiceError {
  static override readonly marker: symbol = Symbol.for('sluice.error.run-hub-storage');
  readonly runId: string | undefined;

  constructor(options: RunHubStorageErrorOptions) {
    super(options);
    this.name = 'RunHubStorageError';
    this.runId = options.runId;
  }
}
