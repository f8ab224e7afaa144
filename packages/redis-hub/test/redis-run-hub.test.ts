import { afterAll, describe, expect, test } from 'vitest';
import { Redis } from 'ioredis';
import type { RunListener, StreamEvent } from '@sluice/core';
import { HubFactory, redisConnection, uniquePrefix } from './redis-test-server.ts';

const factory = new HubFactory();
const admin = new Redis(redisConnection);

afterAll(async () => {
  await factory.cleanup();
  admin.disconnect();
});

function event(seq: number, last: number): StreamEvent {
  if (seq === 0) return { type: 'start', seq, runId: 'r', conversationId: 'c', model: 'm', provider: 'p', createdAt: 0 };
  if (seq === last) return { type: 'finish', seq, reason: 'stop', message: { role: 'assistant', content: '' }, usage: undefined };
  return { type: 'text-delta', seq, text: `token ${seq} ` };
}

const quietListener: RunListener = { event: () => undefined, end: () => undefined };

describe('RedisRunHub on Redis', () => {
  test('keeps each run stream near maxStreamLength, and after end expires the stream and the run hash after retentionMs', async () => {
    const keyPrefix = uniquePrefix();
    const [hub] = factory.create(1, { keyPrefix, maxStreamLength: 100, retentionMs: 60_000 });
    const runId = `run-${Math.random().toString(36).slice(2)}`;
    expect(await hub!.admit({ runId, conversationId: 'c', owner: 'o', maxConcurrentRuns: 5 })).toEqual({ accepted: true });
    for (let seq = 0; seq <= 2_000; seq++) hub!.publish(runId, event(seq, 2_000));
    await hub!.end(runId);

    const length = await admin.xlen(`${keyPrefix}run:${runId}:events`);
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThan(300);
    const [, last] = (await admin.xrevrange(`${keyPrefix}run:${runId}:events`, '+', '-', 'COUNT', 1))[0]!;
    expect(JSON.parse(last[1]!)).toMatchObject({ type: 'finish', seq: 2_000 });
    const streamTtl = await admin.pttl(`${keyPrefix}run:${runId}:events`);
    const hashTtl = await admin.pttl(`${keyPrefix}run:${runId}`);
    for (const ttl of [streamTtl, hashTtl]) {
      expect(ttl).toBeGreaterThan(50_000);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
    expect(await admin.hget(`${keyPrefix}run:${runId}`, 'state')).toBe('ended');
    expect(await admin.hget(`${keyPrefix}run:${runId}`, 'lastSeq')).toBe('2000');
    // The early part was trimmed: another instance sends the caller to storage for it.
    const [, other] = factory.create(2, { keyPrefix });
    expect(await other!.subscribe(runId, -1, quietListener)).toBeUndefined();
    const tail = await other!.subscribe(runId, 1_990, quietListener);
    expect(tail?.replay.map((replayed) => replayed.seq)).toEqual([1_991, 1_992, 1_993, 1_994, 1_995, 1_996, 1_997, 1_998, 1_999, 2_000]);
  }, 20_000);

  test('a local subscriber gets an event only once Redis holds it: nothing reaches it while Redis takes no writes', async () => {
    const keyPrefix = uniquePrefix();
    const [hub] = factory.create(1, { keyPrefix });
    const runId = `run-${Math.random().toString(36).slice(2)}`;
    expect(await hub!.admit({ runId, conversationId: 'c', owner: 'o', maxConcurrentRuns: 5 })).toEqual({ accepted: true });
    const deliveredAt: number[] = [];
    const done = new Promise<void>((resolve) => {
      void hub!.subscribe(runId, -1, { event: () => void deliveredAt.push(performance.now()), end: () => resolve() });
    });
    // Redis holds every write for 300 ms: the XADDs wait, and so must the local subscriber.
    await admin.client('PAUSE', 300, 'WRITE');
    const pausedUntil = performance.now() + 300;
    for (let seq = 0; seq <= 20; seq++) hub!.publish(runId, event(seq, 20));
    await hub!.end(runId);
    await done;
    expect(deliveredAt).toHaveLength(21);
    // Allow the timer granularity of the pause, nothing more.
    for (const at of deliveredAt) expect(at).toBeGreaterThanOrEqual(pausedUntil - 20);
    const stored = await admin.xlen(`${keyPrefix}run:${runId}:events`);
    expect(stored).toBe(21);
  }, 20_000);

  test('a 20,000-event run replays completely from another instance, in order, while live and after end', async () => {
    const [publisher, reader] = factory.create(2);
    const runId = `run-${Math.random().toString(36).slice(2)}`;
    const last = 20_000;
    expect(await publisher!.admit({ runId, conversationId: 'c', owner: 'o', maxConcurrentRuns: 5 })).toEqual({ accepted: true });
    for (let seq = 0; seq < last; seq++) publishSeq(seq);
    function publishSeq(seq: number): void {
      publisher!.publish(runId, event(seq, last));
    }
    // Live: everything published so far, then the finish through the listener.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const live: number[] = [];
    let resolveEnd!: () => void;
    const ended = new Promise<void>((resolve) => (resolveEnd = resolve));
    const subscription = await reader!.subscribe(runId, -1, { event: (received) => live.push(received.seq), end: () => resolveEnd() });
    publishSeq(last);
    await publisher!.end(runId);
    await ended;
    const seqs = [...subscription!.replay.map((replayed) => replayed.seq), ...live];
    expect(seqs).toHaveLength(last + 1);
    expect(seqs.every((seq, index) => seq === index)).toBe(true);

    const after = await reader!.subscribe(runId, -1, quietListener);
    expect(after?.ended).toBe(true);
    expect(after?.replay).toHaveLength(last + 1);
  }, 30_000);
});
