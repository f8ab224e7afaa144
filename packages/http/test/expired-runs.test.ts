// Runs of a dead instance (their lease expired on a shared hub) are ended by whichever
// instance claims them, with a terminal finish, even when the first attempt fails.
import { FakeChatModel, MemoryRunHub, type ExpiredRun, type StreamEvent } from '@sluice/core';
import { createChatHandler } from '@sluice/http';
import { describe, expect, it } from 'vitest';

/**
 * A MemoryRunHub standing in for a shared engine where another instance died: it hands out one
 * expired run once, and its first `end` of that run fails as a lost connection would.
 */
class HubWithDeadInstance extends MemoryRunHub {
  private expired: ExpiredRun[];
  endAttempts = 0;

  constructor(expired: ExpiredRun) {
    super();
    this.expired = [expired];
  }

  override claimExpired(): Promise<ExpiredRun[]> {
    return Promise.resolve(this.expired.splice(0));
  }

  override end(runId: string): Promise<void> {
    if (runId === 'dead-run' && ++this.endAttempts === 1) return Promise.reject(new Error('connection lost'));
    return super.end(runId);
  }
}

describe('runs of a dead instance', () => {
  it('are ended with one run_interrupted finish holding the partial reply, retried after a failed attempt', async () => {
    const hub = new HubWithDeadInstance({ runId: 'dead-run', conversationId: 'c', owner: 'alice', lastSeq: 2 });
    // What the dead instance had published before it died.
    hub.admitNow({ runId: 'dead-run', conversationId: 'c', owner: 'alice', maxConcurrentRuns: 5 });
    const before: StreamEvent[] = [
      { type: 'start', seq: 0, runId: 'dead-run', conversationId: 'c', model: 'm', provider: 'p', createdAt: 0 },
      { type: 'text-delta', seq: 1, text: 'Half ' },
      { type: 'text-delta', seq: 2, text: 'a reply' },
    ];
    for (const event of before) hub.publish('dead-run', event);
    const errors: unknown[] = [];
    const handler = createChatHandler({ model: new FakeChatModel(), hub, expiredRunsCheckMs: 20, onError: (error) => errors.push(error) });
    try {
      expect(await hub.waitForEnd('dead-run', 5000)).toBe(true);
      expect(hub.endAttempts).toBe(2);
      expect(errors).toHaveLength(1);
      const subscription = hub.subscribeNow('dead-run', -1, { event: () => undefined, end: () => undefined });
      const finishes = subscription?.replay.filter((event) => event.type === 'finish');
      expect(finishes).toEqual([
        {
          type: 'finish',
          seq: 3,
          reason: 'aborted',
          message: { role: 'assistant', content: 'Half a reply', finishReason: 'aborted' },
          usage: undefined,
          error: expect.objectContaining({ code: 'run_interrupted' }),
        },
      ]);
    } finally {
      await handler.close({ graceMs: 0 });
    }
  });
});
