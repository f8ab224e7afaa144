/**
 * `@sluice/postgres-hub`: a sluice run hub over PostgreSQL, for many instances sharing one
 * database. The chunks table (written by `@sluice/kysely`'s `ChatHistoryHandler`) is the
 * durable log; LISTEN/NOTIFY carries pointers, cancel and end notices between instances.
 *
 * @packageDocumentation
 */
export { RunHubStorageError, type RunHubStorageErrorOptions } from './errors/run-hub-storage-error.js';
export { PostgresRunHub } from './postgres-run-hub.js';
export type {
  PostgresListenClient,
  PostgresNotification,
  PostgresPool,
  PostgresPoolClient,
  PostgresQueryResult,
  PostgresRunHubOptions,
  RunEventLog,
} from './postgres-run-hub-options.js';
