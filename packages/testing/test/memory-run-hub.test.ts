import { describe, expect, it } from 'vitest';
import { MemoryRunHub, type StreamEvent } from '@sluice/core';
import { describeRunHubConformance } from '../src/run-hub-conformance.ts';

const hubs: MemoryRunHub[] = [];

describeRunHubConformance({
  name: 'MemoryRunHub',
  // One process: every "instance" is the same hub. Runs cannot outlive it, so no crash and no
  // engine to interrupt: the lease and reconnect scenarios are not registered.
  createHubs(count) {
    const hub = new MemoryRunHub();
    hubs.push(hub);
    return Promise.resolve(Array.from({ length: count }, () => hub));
  },
  async cleanup() {
    await Promise.all(hubs.splice(0).map((hub) => hub.close()));
  },
});

/** Admits, publishes `deltas` deltas of `deltaLength` characters and a finish, and ends a run. */
async function runToEnd(hub: MemoryRunHub, runId: string, deltas: number, deltaLength: number): Promise<void> {
  expect(hub.admitNow({ runId, conversationId: `conversation-${runId}`, owner: 'owner', maxConcurrentRuns: 1_000 })).toEqual({ accepted: true });
  hub.publish(runId, { type: 'start', seq: 0, runId, conversationId: `conversation-${runId}`, model: 'model', provider: 'provider', createdAt: Date.now() });
  const text = 'x'.repeat(deltaLength);
  for (let seq = 1; seq <= deltas; seq++) hub.publish(runId, { type: 'text-delta', seq, text });
  const finish: StreamEvent = { type: 'finish', seq: deltas + 1, reason: 'stop', message: { role: 'assistant', content: '' }, usage: undefined };
  hub.publish(runId, finish);
  await hub.end(runId);
}

describe('MemoryRunHub retention', () => {
  it('keeps the bytes of ended runs under maxRetainedBytes, dropping the oldest runs first and never a live one', async () => {
    const maxRetainedBytes = 1024 * 1024;
    const hub = new MemoryRunHub({ maxRetainedBytes });
    // A live run bigger than the whole bound: live runs are never dropped.
    expect(hub.admitNow({ runId: 'live', conversationId: 'live-conversation', owner: 'owner', maxConcurrentRuns: 1_000 })).toEqual({ accepted: true });
    const big = 'y'.repeat(4096);
    for (let seq = 0; seq < 300; seq++) hub.publish('live', { type: 'text-delta', seq, text: big });

    // 40 ended runs of about 100 KiB each: four times the bound.
    for (let index = 0; index < 40; index++) {
      await runToEnd(hub, `ended-${index}`, 50, 1024);
      expect(hub.retainedBytes).toBeLessThanOrEqual(maxRetainedBytes);
    }
    expect(hub.retainedBytes).toBeGreaterThan(maxRetainedBytes / 2);
    expect(hub.getNow('ended-0')).toBeUndefined();
    expect(hub.subscribeNow('ended-0', -1, { event: () => undefined, end: () => undefined })).toBeUndefined();
    expect(hub.getNow('ended-39')).toMatchObject({ state: 'ended' });
    expect(hub.getNow('live')).toMatchObject({ state: 'live' });
    expect(hub.subscribeNow('live', -1, { event: () => undefined, end: () => undefined })?.replay).toHaveLength(300);
  });

  it('forgets an ended run after retentionMs, and keeps a live one however old', async () => {
    const hub = new MemoryRunHub({ retentionMs: 50 });
    expect(hub.admitNow({ runId: 'live', conversationId: 'live-conversation', owner: 'owner', maxConcurrentRuns: 10 })).toEqual({ accepted: true });
    await runToEnd(hub, 'ended', 3, 10);
    expect(hub.getNow('ended')).toMatchObject({ state: 'ended' });
    await expect.poll(() => hub.getNow('ended'), { timeout: 2_000, interval: 10 }).toBeUndefined();
    expect(await hub.subscribe('ended', -1, { event: () => undefined, end: () => undefined })).toBeUndefined();
    expect(hub.getNow('live')).toMatchObject({ state: 'live' });
  });
});
