import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely';

/** Faults a test injects between kysely and the real driver. */
export interface Faults {
  /** Milliseconds every query waits before it runs: a slow database. */
  delayMs?: number;
  /**
   * Commits that succeed and then report a connection reset: the ambiguous failure after
   * which a writer cannot know whether its batch is stored, and must retry it.
   */
  ambiguousCommits?: number;
  /**
   * Runs before each query reaches the database, with its SQL text: lets a test do something
   * elsewhere at an exact point of a transaction (another writer committing between a read
   * and a write).
   */
  beforeQuery?: (sql: string) => Promise<void> | void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class FaultyConnection implements DatabaseConnection {
  readonly inner: DatabaseConnection;
  private readonly faults: Faults;

  constructor(inner: DatabaseConnection, faults: Faults) {
    this.inner = inner;
    this.faults = faults;
  }

  async executeQuery<TRow>(compiledQuery: CompiledQuery): Promise<QueryResult<TRow>> {
    if (this.faults.delayMs) await sleep(this.faults.delayMs);
    if (this.faults.beforeQuery) await this.faults.beforeQuery(compiledQuery.sql);
    return this.inner.executeQuery<TRow>(compiledQuery);
  }

  streamQuery<TRow>(compiledQuery: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<TRow>> {
    return this.inner.streamQuery<TRow>(compiledQuery, chunkSize);
  }
}

const unwrap = (connection: DatabaseConnection): DatabaseConnection => (connection as FaultyConnection).inner;

class FaultyDriver implements Driver {
  private readonly inner: Driver;
  private readonly faults: Faults;
  private committedThenFailed = new WeakSet<DatabaseConnection>();

  constructor(inner: Driver, faults: Faults) {
    this.inner = inner;
    this.faults = faults;
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    return new FaultyConnection(await this.inner.acquireConnection(), this.faults);
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(unwrap(connection), settings);
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await this.inner.commitTransaction(unwrap(connection));
    if ((this.faults.ambiguousCommits ?? 0) > 0) {
      this.faults.ambiguousCommits = (this.faults.ambiguousCommits ?? 0) - 1;
      this.committedThenFailed.add(connection);
      throw Object.assign(new Error('read ECONNRESET (injected after the commit succeeded)'), { code: 'ECONNRESET' });
    }
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // After an injected post-commit failure there is no transaction left to roll back.
    if (this.committedThenFailed.has(connection)) {
      this.committedThenFailed.delete(connection);
      return;
    }
    await this.inner.rollbackTransaction(unwrap(connection));
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection(unwrap(connection));
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}

/** Wraps a dialect so its queries meet the given faults; `faults` may be changed while in use. */
export function faultyDialect(dialect: Dialect, faults: Faults): Dialect {
  return {
    createDriver: () => new FaultyDriver(dialect.createDriver(), faults),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
  };
}
