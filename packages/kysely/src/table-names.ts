import { InvalidArgumentError } from '@sluice/core';

/** The default table prefix. */
export const DEFAULT_TABLE_PREFIX = 'sluice_';

/** The chat history's table names for one prefix. */
export interface TableNames {
  readonly prefix: string;
  readonly conversations: string;
  readonly messages: string;
  readonly chunks: string;
  /** kysely's migration bookkeeping, kept per prefix so two prefixes never share it. */
  readonly migration: string;
  readonly migrationLock: string;
}

const PREFIX_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/;

/** The table names for `prefix` (default `sluice_`); rejects a prefix that is no plain SQL name. */
export function tableNames(prefix: string = DEFAULT_TABLE_PREFIX): TableNames {
  if (typeof prefix !== 'string' || !PREFIX_PATTERN.test(prefix)) {
    throw new InvalidArgumentError({
      argument: 'tablePrefix',
      message: `[sluice/kysely] tablePrefix must be 1-40 letters, digits or underscores, starting with a letter or underscore (got ${JSON.stringify(prefix)})`,
    });
  }
  return {
    prefix,
    conversations: `${prefix}conversations`,
    messages: `${prefix}messages`,
    chunks: `${prefix}chunks`,
    migration: `${prefix}migration`,
    migrationLock: `${prefix}migration_lock`,
  };
}

/**
 * The unique index on a conversation's message positions (`<messages>_position_key`): a
 * writer that meets it computed its positions from a stale maximum and must retry.
 */
export function messagePositionIndex(tables: TableNames): string {
  return `${tables.messages}_position_key`;
}
