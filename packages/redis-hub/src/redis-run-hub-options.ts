import type { Redis } from 'ioredis';

/** Options of `RedisRunHub`. */
export interface RedisRunHubOptions {
  /**
   * A ready ioredis client. The hub never sends on it: it duplicates it (same server, same
   * credentials) for its writes, its blocking stream reader and its pub/sub subscriber, and
   * leaves it open on `close()`. The client's own `keyPrefix` is not used: set `keyPrefix` here.
   */
  redis: Redis;
  /** Prefix of every key and channel the hub uses. Default `'sluice:'`. */
  keyPrefix?: string;
  /** How long a live run's lease lasts; the hub renews its runs' leases every `leaseMs / 3`. Default 10 000. */
  leaseMs?: number;
  /** How long an ended run's stream and info stay in Redis (EXPIRE). Default 600 000 (10 minutes). */
  retentionMs?: number;
  /** Approximate bound of each run's stream (`XADD … MAXLEN ~`). Default 100 000 entries. */
  maxStreamLength?: number;
  /**
   * Events published but not yet acknowledged by Redis (all runs together) past which the hub
   * reports `redis_hub_backlog` through `onError`, once per outage. They are still kept and
   * written when Redis is back. Default 100 000.
   */
  maxBufferedEvents?: number;
  /** This instance's name in the runs it holds. Default a random UUID. */
  instanceId?: string;
  /**
   * Errors the hub cannot surface anywhere else (a failed background write, a failed lease
   * renewal). Default: `console.error`.
   */
  onError?: (error: unknown) => void;
}
