/**
 * Error codes, across the three drivers, that mean "the same write may succeed if tried again":
 * a lost or refused connection, a lock, a deadlock, a server restarting.
 */
const TRANSIENT_CODES = new Set([
  // Node sockets (pg, mysql2)
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  // PostgreSQL SQLSTATE: connection exceptions, admin shutdown, crash, too many connections,
  // serialization failure, deadlock
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '40001',
  '40P01',
  // mysql2 / MariaDB
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_CONNECTION_KILLED',
  'ER_QUERY_INTERRUPTED',
  'ER_SERVER_SHUTDOWN',
  'ER_NORMAL_SHUTDOWN',
  'ER_CLIENT_INTERACTION_TIMEOUT',
  // better-sqlite3
  'SQLITE_BUSY',
  'SQLITE_BUSY_SNAPSHOT',
  'SQLITE_BUSY_RECOVERY',
  'SQLITE_BUSY_TIMEOUT',
  'SQLITE_LOCKED',
  'SQLITE_LOCKED_SHAREDCACHE',
]);

/** Messages drivers give without a code when the connection is gone. */
const TRANSIENT_MESSAGES =
  /connection terminated|terminating connection|connection (?:is )?(?:closed|lost)|closed state|server has gone away|lost connection|socket hang up|not queryable|timeout exceeded when trying to connect|pool is closed|connection was killed/i;

/** Codes that mean the tables are not there: no retry helps, migrations do. */
const MISSING_TABLE_CODES = new Set(['42P01', 'ER_NO_SUCH_TABLE']);
const MISSING_TABLE_MESSAGE = /no such table/i;

function* causes(error: unknown): Generator<{ code?: unknown; message?: unknown; errno?: unknown }> {
  let current = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    yield current as { code?: unknown; message?: unknown };
    const next = (current as { cause?: unknown }).cause;
    if (next === current) break;
    current = next;
  }
}

/** True when `error` (or its cause) is a failure that retrying the same write may cure. */
export function isTransientError(error: unknown): boolean {
  for (const candidate of causes(error)) {
    if (typeof candidate.code === 'string' && TRANSIENT_CODES.has(candidate.code)) return true;
    // MariaDB's "Connection was killed" (1927) and query interrupted (1317) by number
    if (candidate.errno === 1927 || candidate.errno === 1317 || candidate.errno === 2013 || candidate.errno === 2006) return true;
    if (typeof candidate.message === 'string' && TRANSIENT_MESSAGES.test(candidate.message)) return true;
  }
  return false;
}

/** True when `error` says a table does not exist. */
export function isMissingTableError(error: unknown): boolean {
  for (const candidate of causes(error)) {
    if (typeof candidate.code === 'string' && MISSING_TABLE_CODES.has(candidate.code)) return true;
    if (typeof candidate.message === 'string' && MISSING_TABLE_MESSAGE.test(candidate.message)) return true;
  }
  return false;
}

/**
 * True when `error` is a duplicate in the unique index `index` on `(conversation_id, position)`
 * of table `table`: another writer took the positions this one computed. PostgreSQL names the
 * constraint; MySQL and MariaDB name the key in the message; SQLite names the columns.
 */
export function isUniqueViolationOn(error: unknown, table: string, index: string): boolean {
  for (const candidate of causes(error)) {
    const { code, message } = candidate;
    if (typeof message !== 'string') continue;
    if (code === '23505') return (candidate as { constraint?: unknown }).constraint === index || message.includes(`"${index}"`);
    if (code === 'ER_DUP_ENTRY' || candidate.errno === 1062) return message.includes(`'${index}'`) || message.includes(`.${index}'`);
    if (code === 'SQLITE_CONSTRAINT_UNIQUE') return message.includes(`${table}.conversation_id, ${table}.position`);
  }
  return false;
}
