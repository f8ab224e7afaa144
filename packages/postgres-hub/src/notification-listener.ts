import { RunHubStorageError } from './errors/run-hub-storage-error.js';
import type { PostgresListenClient, PostgresNotification } from './postgres-run-hub-options.js';

/** Options of `NotificationListener`. */
export interface NotificationListenerOptions {
  /** Opens a new, unconnected client (called again for every reconnect). */
  createClient: () => PostgresListenClient | Promise<PostgresListenClient>;
  /** The channels to LISTEN on (exact names: they are quoted). */
  channels: readonly string[];
  onNotification: (channel: string, payload: string) => void;
  /**
   * Called after the connection came back: notifications sent while it was down are lost, so
   * whoever relies on them re-reads what it follows.
   */
  onReconnect: () => void;
  onError: (error: Error) => void;
  /** First wait before a reconnect; doubles per failed attempt up to `maxDelayMs`. Default 25 ms. */
  initialDelayMs?: number;
  /** Default 2000 ms. */
  maxDelayMs?: number;
}

/**
 * The hub's one dedicated LISTEN connection. When it errors or ends it reconnects with
 * backoff, LISTENs again on every channel, then calls `onReconnect`.
 */
export class NotificationListener {
  private readonly options: NotificationListenerOptions;
  private client: PostgresListenClient | undefined;
  private listening = false;
  private closed = false;
  private connectedOnce = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];

  constructor(options: NotificationListenerOptions) {
    this.options = options;
    void this.connect();
  }

  /** Resolves once the connection LISTENs (at once when it does); rejects once closed. */
  ready(): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    if (this.listening) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Whether the connection currently LISTENs. */
  get isListening(): boolean {
    return this.listening;
  }

  /** Ends the connection and stops reconnecting. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listening = false;
    clearTimeout(this.retryTimer);
    for (const waiter of this.waiters) waiter.reject(closedError());
    this.waiters = [];
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    let client: PostgresListenClient | undefined;
    try {
      client = await this.options.createClient();
      this.client = client;
      const current = client;
      // Every event of a client we gave up on is ignored: only the current one reconnects.
      current.on('error', (error) => this.lost(current, error));
      current.on('end', () => this.lost(current, undefined));
      current.on('notification', (notification: PostgresNotification) => {
        if (this.client === current) this.options.onNotification(notification.channel, notification.payload ?? '');
      });
      await current.connect();
      for (const channel of this.options.channels) await current.query(`listen "${channel}"`);
      if (this.closed || this.client !== current) {
        await current.end().catch(() => undefined);
        return;
      }
    } catch (error) {
      if (client !== undefined) this.lost(client, error as Error);
      else this.retry(error as Error);
      return;
    }
    this.listening = true;
    this.attempt = 0;
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters = [];
    if (this.connectedOnce) this.options.onReconnect();
    this.connectedOnce = true;
  }

  private lost(client: PostgresListenClient, error: Error | undefined): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    this.listening = false;
    void client.end().catch(() => undefined);
    this.retry(error ?? new Error('the LISTEN connection ended'));
  }

  private retry(cause: Error): void {
    if (this.closed) return;
    this.options.onError(
      new RunHubStorageError({
        code: 'listen_failed',
        message: `[sluice/postgres-hub] the LISTEN connection failed (${cause.message}): reconnecting; followers re-read the log once it is back`,
        retryable: true,
        cause,
      }),
    );
    const initial = this.options.initialDelayMs ?? 25;
    const max = this.options.maxDelayMs ?? 2000;
    const delay = Math.min(max, initial * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt++;
    this.retryTimer = setTimeout(() => void this.connect(), delay);
    this.retryTimer.unref?.();
  }
}

function closedError(): RunHubStorageError {
  return new RunHubStorageError({ code: 'hub_closed', message: '[sluice/postgres-hub] the hub is closed: create a new PostgresRunHub' });
}
