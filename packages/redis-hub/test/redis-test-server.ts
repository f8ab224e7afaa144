import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { RedisRunHub, type RedisRunHubOptions } from '@sluice/redis-hub';

const run = promisify(execFile);

export const redisConnection = { host: '127.0.0.1', port: 6379 };

/** A key prefix no other test run shares. */
export function uniquePrefix(): string {
  return `sluice-test:${process.pid}:${Math.random().toString(36).slice(2, 8)}:`;
}

/**
 * Makes hubs on clients of their own (as separate processes would have), and cleans up after:
 * closes them, and deletes every key under the prefixes used.
 */
export class HubFactory {
  private readonly hubs: RedisRunHub[] = [];
  private readonly clients: Redis[] = [];
  private readonly prefixes = new Set<string>();

  create(count: number, options: Omit<RedisRunHubOptions, 'redis'> = {}): RedisRunHub[] {
    const keyPrefix = options.keyPrefix ?? uniquePrefix();
    this.prefixes.add(keyPrefix);
    return Array.from({ length: count }, () => {
      const redis = new Redis(redisConnection);
      redis.on('error', () => undefined);
      this.clients.push(redis);
      const hub = new RedisRunHub({ onError: (error) => { if (process.env.HUB_DEBUG) console.log('hub error', error); }, ...options, redis, keyPrefix });
      this.hubs.push(hub);
      return hub;
    });
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.hubs.splice(0).map((hub) => hub.close()));
    for (const client of this.clients.splice(0)) client.disconnect();
    const admin = new Redis(redisConnection);
    try {
      for (const prefix of this.prefixes) await deleteKeys(admin, prefix);
    } finally {
      this.prefixes.clear();
      admin.disconnect();
    }
  }
}

/** Deletes every key under the prefix (SCAN + DEL). */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

/**
 * Restarts this machine's Redis (which keeps nothing on disk: every key is lost) with the
 * command CI uses, and waits until it answers PING.
 */
export async function restartRedis(): Promise<void> {
  await run('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'shutdown', 'nosave']).catch(() => undefined);
  await run('redis-server', [
    '--daemonize', 'yes', '--bind', '127.0.0.1', '-::1', '--port', '6379', '--save', '', '--appendonly', 'no',
    '--dir', '/var/lib/redis', '--logfile', '/var/log/redis/ci.log',
  ]);
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pong = await run('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'ping']).then((result) => result.stdout.trim(), () => '');
    if (pong === 'PONG') return;
    if (Date.now() > deadline) throw new Error('Redis did not answer PING within 10 s after its restart');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
