/**
 * The run hub conformance suite: the scenarios every `RunHub` (`@sluice/core`) must pass, run
 * across several hub instances sharing one engine, as several server processes would. A hub
 * runs the whole suite by calling `describeRunHubConformance` from one vitest test file; the
 * lease and reconnect scenarios are registered only when the fixture can crash an instance or
 * interrupt the engine.
 *
 * @example
 * ```ts
 * import { MemoryRunHub } from '@sluice/core';
 * import { describeRunHubConformance } from '@sluice/testing/run-hub-conformance';
 *
 * const hubs: MemoryRunHub[] = [];
 * describeRunHubConformance({
 *   name: 'MemoryRunHub',
 *   async createHubs(count) {
 *     const hub = new MemoryRunHub();
 *     hubs.push(hub);
 *     return Array.from({ length: count }, () => hub);
 *   },
 *   async cleanup() {
 *     await Promise.all(hubs.splice(0).map((hub) => hub.close()));
 *   },
 * });
 * ```
 */
import { afterEach, describe, expect, test } from 'vitest';
import type { AdmitResult, ExpiredRun, RunControl, RunHub, RunInfo, RunListener, RunSubscription, StreamEvent } from '@sluice/core';

/** A hub under test: how to make instances of it, and what it can be put through. */
export interface RunHubFixture {
  /** Shown in the describe title. */
  name: string;
  /**
   * `count` hub instances sharing one engine, as `count` server processes would (an in-process
   * hub returns the same hub `count` times). Each call gives fresh, isolated state (own key
   * prefix / table prefix).
   */
  createHubs(count: number, options: { leaseMs: number }): Promise<RunHub[]>;
  /**
   * Publishes as a server would. Default: `hub.publish(runId, event)`. A hub whose log is
   * written by storage (PostgreSQL) also writes the event there.
   */
  publish?(hub: RunHub, runId: string, event: StreamEvent): void;
  /**
   * Closes every hub made so far and removes what the tests stored. Called after each scenario
   * (so a scenario's connections are gone before the next one opens its own): `createHubs` is
   * called again afterwards, and hubs already closed by an earlier call need no second close.
   */
  cleanup(): Promise<void>;
  /**
   * Kills one instance as `kill -9` would: its leases stop being renewed, its runs are neither
   * ended nor cancelled, it publishes nothing more. Absent for a hub whose runs cannot outlive
   * their process: the lease scenarios are then not registered.
   */
  crash?(hub: RunHub): Promise<void>;
  /**
   * Restarts the engine or cuts every connection of the hubs (restart Redis; terminate the
   * PostgreSQL backends). Absent: the reconnect scenario is not registered.
   */
  interruptEngine?(): Promise<void>;
}

/** Leases where the scenario does not depend on them: long enough never to expire mid-test. */
const STEADY_LEASE_MS = 10_000;
/** Leases of the lease scenarios: short, so expiry is quick to reach. */
const SHORT_LEASE_MS = 400;
/** How long a state may take to reach another instance. */
const PROPAGATION_MS = 5_000;

/**
 * Polls `check` until it stops throwing (and returns its result), or rethrows its last failure
 * after `timeoutMs`. For states that reach other instances asynchronously.
 */
async function eventually<TResult>(check: () => TResult | Promise<TResult>, timeoutMs = PROPAGATION_MS, intervalMs = 10): Promise<TResult> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Rejects with `message` when `promise` does not settle within `timeoutMs`. */
async function within<TValue>(promise: Promise<TValue>, timeoutMs: number, message: string): Promise<TValue> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (not within ${timeoutMs} ms)`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

let idCounter = 0;
/** An id no other test run shares (hubs over a shared engine may keep ids across runs). */
function uniqueId(kind: string): string {
  idCounter += 1;
  return `${kind}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}-${idCounter}`;
}

/** A small seeded generator (mulberry32), so a failing random schedule can be told apart. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function startEvent(runId: string, conversationId: string): StreamEvent {
  return { type: 'start', seq: 0, runId, conversationId, model: 'conformance-model', provider: 'conformance', createdAt: Date.now() };
}

function textDelta(seq: number): StreamEvent {
  return { type: 'text-delta', seq, text: `token ${seq} ` };
}

function finishEvent(seq: number, reason: 'stop' | 'aborted' = 'stop', error?: { code: string; message: string }): StreamEvent {
  const event: StreamEvent = { type: 'finish', seq, reason, message: { role: 'assistant', content: 'partial reply', finishReason: reason }, usage: undefined };
  if (error !== undefined) event.error = { name: 'RunInterruptedError', code: error.code, message: error.message, retryable: true };
  return event;
}

function range(from: number, to: number): number[] {
  const numbers: number[] = [];
  for (let value = from; value <= to; value++) numbers.push(value);
  return numbers;
}

/** A listener that records what it gets, and a subscription made with it. */
interface Follower {
  subscription: RunSubscription;
  /** Replay then listener events, in the order they came. */
  seqs(): number[];
  events(): StreamEvent[];
  /** Resolves with the listener's end outcome, or `{}` when the subscription said `ended`. */
  ended: Promise<{ lost?: boolean }>;
  endCalls(): number;
}

async function follow(hub: RunHub, runId: string, afterSeq: number): Promise<Follower> {
  const live: StreamEvent[] = [];
  let endCalls = 0;
  let resolveEnd!: (outcome: { lost?: boolean }) => void;
  const ended = new Promise<{ lost?: boolean }>((resolve) => {
    resolveEnd = resolve;
  });
  const listener: RunListener = {
    event(event) {
      live.push(event);
    },
    end(outcome) {
      endCalls += 1;
      resolveEnd(outcome ?? {});
    },
  };
  const subscription = await hub.subscribe(runId, afterSeq, listener);
  if (subscription === undefined) throw new Error(`subscribe(${runId}, ${afterSeq}) gave undefined for a run the hub should serve`);
  if (subscription.ended) resolveEnd({});
  const events = (): StreamEvent[] => [...subscription.replay, ...live];
  return { subscription, events, seqs: () => events().map((event) => event.seq), ended, endCalls: () => endCalls };
}

/** A `RunControl` that remembers the reasons it was aborted with. */
function recordingControl(): RunControl & { reasons: unknown[] } {
  const reasons: unknown[] = [];
  return {
    reasons,
    abort(reason) {
      reasons.push(reason);
    },
  };
}

/**
 * Registers the run hub conformance scenarios (vitest `describe`/`test` blocks) for `fixture`:
 * admission and the run cap across instances, replay-then-tail under concurrent publishing,
 * end, get, cancel and waitForEnd from another instance, and (when the fixture supports them)
 * lease expiry with takeover and surviving an engine interruption.
 */
export function describeRunHubConformance(fixture: RunHubFixture): void {
  const publish = (hub: RunHub, runId: string, event: StreamEvent): void => {
    if (fixture.publish !== undefined) fixture.publish(hub, runId, event);
    else hub.publish(runId, event);
  };

  /** Admits a fresh run on `hub` and attaches `control`; fails the test when not accepted. */
  const admitRun = async (
    hub: RunHub,
    options: { owner?: string; conversationId?: string; maxConcurrentRuns?: number; control?: RunControl } = {},
  ): Promise<{ runId: string; conversationId: string; owner: string }> => {
    const run = { runId: uniqueId('run'), conversationId: options.conversationId ?? uniqueId('conversation'), owner: options.owner ?? uniqueId('owner') };
    const result = await hub.admit({ ...run, maxConcurrentRuns: options.maxConcurrentRuns ?? 10 });
    expect(result, `admit of ${run.runId}`).toEqual({ accepted: true });
    hub.attach(run.runId, options.control ?? recordingControl());
    return run;
  };

  describe(`RunHub conformance: ${fixture.name}`, () => {
    afterEach(async () => {
      await fixture.cleanup();
    });

    test('admits a run, answers conversation_busy with the live then finishing run, admits the next turn after end, and admits concurrent turns when asked', async () => {
      const [first, second] = (await fixture.createHubs(2, { leaseMs: STEADY_LEASE_MS })) as [RunHub, RunHub];
      const owner = uniqueId('owner');
      const conversationId = uniqueId('conversation');
      const run = await admitRun(first, { owner, conversationId });
      publish(first, run.runId, startEvent(run.runId, conversationId));

      const admitNext = (): Promise<AdmitResult> => second.admit({ runId: uniqueId('run'), conversationId, owner, maxConcurrentRuns: 10 });
      expect(await admitNext()).toEqual({ accepted: false, reason: 'conversation_busy', runId: run.runId, state: 'live' });

      publish(first, run.runId, textDelta(1));
      publish(first, run.runId, finishEvent(2));
      await eventually(async () => {
        expect(await admitNext()).toEqual({ accepted: false, reason: 'conversation_busy', runId: run.runId, state: 'finishing' });
      });

      await first.end(run.runId);
      const nextTurn = { runId: uniqueId('run'), conversationId, owner, maxConcurrentRuns: 10 };
      expect(await second.admit(nextTurn)).toEqual({ accepted: true });
      await second.end(nextTurn.runId);

      const concurrentConversation = uniqueId('conversation');
      const turns = [uniqueId('run'), uniqueId('run')];
      const results = await Promise.all(
        turns.map((runId, index) => (index === 0 ? first : second).admit({ runId, conversationId: concurrentConversation, owner, maxConcurrentRuns: 10, concurrentTurns: true })),
      );
      expect(results).toEqual([{ accepted: true }, { accepted: true }]);
      await Promise.all(turns.map((runId, index) => (index === 0 ? first : second).end(runId)));
    }, 20_000);

    test('holds the owner run cap across instances: of 8 racing admits with maxConcurrentRuns 2, exactly 2 are accepted; one more after one ends; another owner is unaffected', async () => {
      const hubs = await fixture.createHubs(3, { leaseMs: STEADY_LEASE_MS });
      const hubAt = (index: number): RunHub => hubs[index % hubs.length] as RunHub;
      const owner = uniqueId('owner');
      const admitMany = async (count: number): Promise<{ runId: string; hub: RunHub; result: AdmitResult }[]> =>
        Promise.all(
          range(0, count - 1).map(async (index) => {
            const runId = uniqueId('run');
            const hub = hubAt(index);
            const result = await hub.admit({ runId, conversationId: uniqueId('conversation'), owner, maxConcurrentRuns: 2 });
            return { runId, hub, result };
          }),
        );

      const firstWave = await admitMany(8);
      const accepted = firstWave.filter((attempt) => attempt.result.accepted);
      expect(accepted).toHaveLength(2);
      for (const attempt of firstWave.filter((candidate) => !candidate.result.accepted)) {
        expect(attempt.result).toEqual({ accepted: false, reason: 'too_many_runs' });
      }

      const [ending, staying] = accepted as [(typeof accepted)[number], (typeof accepted)[number]];
      await ending.hub.end(ending.runId);
      const secondWave = await admitMany(3);
      const acceptedAgain = secondWave.filter((attempt) => attempt.result.accepted);
      expect(acceptedAgain).toHaveLength(1);
      expect(secondWave.filter((attempt) => !attempt.result.accepted).map((attempt) => attempt.result)).toEqual([
        { accepted: false, reason: 'too_many_runs' },
        { accepted: false, reason: 'too_many_runs' },
      ]);

      const otherOwnerRun = { runId: uniqueId('run'), conversationId: uniqueId('conversation'), owner: uniqueId('owner'), maxConcurrentRuns: 2 };
      expect(await hubAt(1).admit(otherOwnerRun)).toEqual({ accepted: true });

      await Promise.all([
        staying.hub.end(staying.runId),
        ...acceptedAgain.map((attempt) => attempt.hub.end(attempt.runId)),
        hubAt(1).end(otherOwnerRun.runId),
      ]);
    }, 20_000);

    test('replays then tails with no gap and no duplicate: 10 subscribers on other instances, joining at random moments from random offsets while a run publishes, each get exactly the seqs after their offset, in order, then end', async () => {
      const [publisher, ...others] = (await fixture.createHubs(3, { leaseMs: STEADY_LEASE_MS })) as [RunHub, RunHub, RunHub];
      const seed = Math.floor(Math.random() * 2 ** 31);
      const random = seededRandom(seed);
      const deltas = 300;
      const finishSeq = deltas + 1;
      const run = await admitRun(publisher);

      // Each subscriber joins once the publisher has published up to its `joinAt` seq.
      const joinAt = range(0, 9).map(() => Math.floor(random() * (finishSeq + 1)));
      // Settled, never rejected: a failed subscribe fails the test below, not as an unhandled rejection.
      const joins: Promise<{ afterSeq: number; follower?: Follower; error?: unknown }>[] = [];
      let published = -1;
      const joinDue = (): void => {
        joinAt.forEach((seq, index) => {
          if (seq !== published) return;
          const afterSeq = Math.floor(random() * (published + 2)) - 1; // -1 up to the current seq
          const hub = others[index % others.length] as RunHub;
          joins.push(
            follow(hub, run.runId, afterSeq).then(
              (follower) => ({ afterSeq, follower }),
              (error: unknown) => ({ afterSeq, error }),
            ),
          );
        });
      };

      for (let seq = 0; seq <= finishSeq; seq++) {
        const event = seq === 0 ? startEvent(run.runId, run.conversationId) : seq === finishSeq ? finishEvent(seq) : textDelta(seq);
        publish(publisher, run.runId, event);
        published = seq;
        joinDue();
        if (seq % 4 === 0) await yieldToEventLoop();
      }
      await publisher.end(run.runId);

      const followers = await within(Promise.all(joins), 10_000, `subscribe (seed ${seed})`);
      expect(followers).toHaveLength(10);
      for (const { afterSeq, follower, error } of followers) {
        if (follower === undefined) throw new Error(`subscribe from ${afterSeq} failed (seed ${seed})`, { cause: error });
        const outcome = await within(follower.ended, 10_000, `subscriber from ${afterSeq} to end (seed ${seed})`);
        expect(outcome.lost ?? false, `subscriber from ${afterSeq} lost the run (seed ${seed})`).toBe(false);
        expect(follower.seqs(), `seqs seen by the subscriber from ${afterSeq} (seed ${seed})`).toEqual(range(afterSeq + 1, finishSeq));
        expect(follower.endCalls(), `end() calls of the subscriber from ${afterSeq} (seed ${seed})`).toBeLessThanOrEqual(1);
      }
    }, 30_000);

    test('after end, subscribe from another instance gives the whole run with ended: true and get says ended; an unknown run id gives undefined from get and subscribe', async () => {
      const [first, second] = (await fixture.createHubs(2, { leaseMs: STEADY_LEASE_MS })) as [RunHub, RunHub];
      const run = await admitRun(first);
      publish(first, run.runId, startEvent(run.runId, run.conversationId));
      for (const seq of [1, 2, 3]) publish(first, run.runId, textDelta(seq));
      publish(first, run.runId, finishEvent(4));
      await first.end(run.runId);

      const whole = await follow(second, run.runId, -1);
      expect(whole.subscription.ended).toBe(true);
      expect(whole.seqs()).toEqual([0, 1, 2, 3, 4]);
      expect(whole.events()[4]).toMatchObject({ type: 'finish', reason: 'stop' });
      const tail = await follow(second, run.runId, 2);
      expect(tail.subscription.ended).toBe(true);
      expect(tail.seqs()).toEqual([3, 4]);
      expect(await second.get(run.runId)).toEqual({ ...run, state: 'ended' });

      const unknown = uniqueId('unknown-run');
      expect(await second.get(unknown)).toBeUndefined();
      const listener: RunListener = { event: () => undefined, end: () => undefined };
      expect(await second.subscribe(unknown, -1, listener)).toBeUndefined();
    }, 20_000);

    test('get from another instance follows a run through live, finishing and ended', async () => {
      const [first, second] = (await fixture.createHubs(2, { leaseMs: STEADY_LEASE_MS })) as [RunHub, RunHub];
      const run = await admitRun(first);
      expect(await second.get(run.runId)).toEqual({ ...run, state: 'live' });
      publish(first, run.runId, startEvent(run.runId, run.conversationId));
      publish(first, run.runId, textDelta(1));
      expect(await second.get(run.runId)).toMatchObject({ state: 'live' });
      publish(first, run.runId, finishEvent(2));
      await eventually(async () => {
        expect(await second.get(run.runId)).toEqual({ ...run, state: 'finishing' });
      });
      await first.end(run.runId);
      expect(await second.get(run.runId)).toEqual({ ...run, state: 'ended' });
    }, 20_000);

    test('conversationRun, where the hub has it, names the conversation\'s live then finishing run from another instance, and nothing once it ended', async () => {
      const [first, second] = (await fixture.createHubs(2, { leaseMs: STEADY_LEASE_MS })) as [RunHub, RunHub];
      if (second.conversationRun === undefined) {
        // Optional: a hub without it makes GET /conversations/:id not wait for a finishing reply.
        expect(first.conversationRun).toBeUndefined();
        return;
      }
      const conversationRun = (conversationId: string) => (second.conversationRun as (id: string) => Promise<RunInfo | undefined>).call(second, conversationId);
      const run = await admitRun(first);
      expect(await conversationRun(run.conversationId)).toEqual({ ...run, state: 'live' });
      publish(first, run.runId, startEvent(run.runId, run.conversationId));
      publish(first, run.runId, finishEvent(1));
      await eventually(async () => {
        expect(await conversationRun(run.conversationId)).toEqual({ ...run, state: 'finishing' });
      });
      await first.end(run.runId);
      expect(await conversationRun(run.conversationId)).toBeUndefined();
      expect(await conversationRun(`never-${run.conversationId}`)).toBeUndefined();
    }, 20_000);

    test('cancel from another instance reaches the control attached on the admitting instance, with its reason, and answers cancelling; after finish it answers finished; for an unknown run, unknown', async () => {
      const [first, second] = (await fixture.createHubs(2, { leaseMs: STEADY_LEASE_MS })) as [RunHub, RunHub];
      const control = recordingControl();
      const run = await admitRun(first, { control });
      publish(first, run.runId, startEvent(run.runId, run.conversationId));

      expect(await second.cancel(run.runId, 'the user pressed stop')).toBe('cancelling');
      await eventually(() => {
        expect(control.reasons).toContain('the user pressed stop');
      });

      // The run stops as a server's would: its finish says aborted.
      publish(first, run.runId, finishEvent(1, 'aborted'));
      await eventually(async () => {
        expect(await second.get(run.runId)).toMatchObject({ state: 'finishing' });
      });
      expect(await second.cancel(run.runId, 'again')).toBe('finished');
      await first.end(run.runId);
      expect(await second.cancel(run.runId)).toBe('finished');
      expect(await second.cancel(uniqueId('unknown-run'))).toBe('unknown');
    }, 20_000);

    test('waitForEnd from another instance resolves true soon after end, and false after its timeout for a run that stays live', async () => {
      const [first, second] = (await fixture.createHubs(2, { leaseMs: STEADY_LEASE_MS })) as [RunHub, RunHub];
      const run = await admitRun(first);
      publish(first, run.runId, startEvent(run.runId, run.conversationId));
      let settled = false;
      const waiting = second.waitForEnd(run.runId, 10_000).finally(() => {
        settled = true;
      });
      // A round trip through the engine: the waiter is in place, and the run is not ended yet.
      expect(await second.get(run.runId)).toMatchObject({ state: 'live' });
      expect(settled).toBe(false);
      publish(first, run.runId, finishEvent(1));
      const endedAt = Date.now();
      await first.end(run.runId);
      expect(await within(waiting, 5_000, 'waitForEnd to resolve after end')).toBe(true);
      expect(Date.now() - endedAt).toBeLessThan(2_000);
      expect(await second.waitForEnd(run.runId, 1_000)).toBe(true);

      const stayingLive = await admitRun(first);
      publish(first, stayingLive.runId, startEvent(stayingLive.runId, stayingLive.conversationId));
      const startedWaiting = Date.now();
      expect(await second.waitForEnd(stayingLive.runId, 300)).toBe(false);
      expect(Date.now() - startedWaiting).toBeGreaterThanOrEqual(250);
      expect(await second.get(stayingLive.runId)).toMatchObject({ state: 'live' });
      await first.end(stayingLive.runId);
    }, 20_000);

    const crash = fixture.crash;
    if (crash !== undefined) {
      test('a crashed instance\'s run is claimed by exactly one racing claimExpired, with its conversation, owner and lastSeq; the claimer\'s interrupted finish reaches a subscriber on another instance, and the cap slot and the conversation are free again', async () => {
        const [crashing, claimerB, claimerC] = (await fixture.createHubs(3, { leaseMs: SHORT_LEASE_MS })) as [RunHub, RunHub, RunHub];
        const run = await admitRun(crashing, { maxConcurrentRuns: 1 });
        publish(crashing, run.runId, startEvent(run.runId, run.conversationId));
        for (const seq of [1, 2, 3, 4, 5]) publish(crashing, run.runId, textDelta(seq));
        const follower = await follow(claimerC, run.runId, -1);
        await eventually(() => {
          expect(follower.seqs()).toEqual([0, 1, 2, 3, 4, 5]);
        });

        await crash(crashing);
        const claims: { claimer: RunHub; expired: ExpiredRun }[] = [];
        // Each round races two claims from each of the two survivors.
        const claimRound = async (): Promise<void> => {
          const rounds = await Promise.all(
            [claimerB, claimerC, claimerB, claimerC].map(async (claimer) => (await claimer.claimExpired()).map((expired) => ({ claimer, expired }))),
          );
          claims.push(...rounds.flat().filter((claim) => claim.expired.runId === run.runId));
        };
        await eventually(
          async () => {
            await claimRound();
            expect(claims.length).toBeGreaterThan(0);
          },
          SHORT_LEASE_MS * 20,
          SHORT_LEASE_MS / 8,
        );
        expect(claims).toHaveLength(1);
        const [claim] = claims as [{ claimer: RunHub; expired: ExpiredRun }];
        expect(claim.expired).toEqual({ runId: run.runId, conversationId: run.conversationId, owner: run.owner, lastSeq: 5 });

        // The claimer ends the run as a server would, right away.
        const interrupted = finishEvent(6, 'aborted', { code: 'run_interrupted', message: 'the instance running this run stopped; another ended it' });
        publish(claim.claimer, run.runId, interrupted);
        await claim.claimer.end(run.runId);

        const outcome = await within(follower.ended, 5_000, 'the subscriber to end after the claimer ended the run');
        expect(outcome.lost ?? false).toBe(false);
        expect(follower.seqs()).toEqual([0, 1, 2, 3, 4, 5, 6]);
        expect(follower.events()[6]).toMatchObject({ type: 'finish', reason: 'aborted', error: { code: 'run_interrupted' } });
        expect(await claimerB.get(run.runId)).toMatchObject({ state: 'ended' });

        const nextTurn = { runId: uniqueId('run'), conversationId: run.conversationId, owner: run.owner, maxConcurrentRuns: 1 };
        expect(await claimerB.admit(nextTurn)).toEqual({ accepted: true });
        await claimerB.end(nextTurn.runId);

        // Racing on for two more lease periods: an ended run is never claimed again.
        const endedAt = Date.now();
        while (Date.now() - endedAt < SHORT_LEASE_MS * 2) {
          await claimRound();
          await new Promise((resolve) => setTimeout(resolve, SHORT_LEASE_MS / 8));
        }
        expect(claims).toHaveLength(1);
      }, 30_000);

      test('a run whose instance is alive is never claimed: its lease is renewed for 3 lease periods and more', async () => {
        const [owning, claimerB, claimerC] = (await fixture.createHubs(3, { leaseMs: SHORT_LEASE_MS })) as [RunHub, RunHub, RunHub];
        const run = await admitRun(owning);
        publish(owning, run.runId, startEvent(run.runId, run.conversationId));
        const admittedAt = Date.now();
        let rounds = 0;
        // The run publishes nothing meanwhile (a model can think for long): the lease is renewed
        // by the instance, not by publishing.
        while (Date.now() - admittedAt < SHORT_LEASE_MS * 3.5) {
          const claimed = (await Promise.all([claimerB.claimExpired(), claimerC.claimExpired()])).flat();
          expect(claimed.map((expired) => expired.runId)).not.toContain(run.runId);
          rounds += 1;
          await new Promise((resolve) => setTimeout(resolve, SHORT_LEASE_MS / 8));
        }
        expect(rounds).toBeGreaterThan(3);
        expect(await claimerB.get(run.runId)).toMatchObject({ state: 'live' });
        publish(owning, run.runId, finishEvent(1));
        await owning.end(run.runId);
      }, 30_000);
    }

    const interruptEngine = fixture.interruptEngine;
    if (interruptEngine !== undefined) {
      test('survives an engine interruption: a subscriber on another instance gets every event once, in order, and ends; admit and cancel work afterwards', async () => {
        const [publisher, subscriber] = (await fixture.createHubs(2, { leaseMs: STEADY_LEASE_MS })) as [RunHub, RunHub];
        const run = await admitRun(publisher);
        const deltas = 100;
        const finishSeq = deltas + 1;
        publish(publisher, run.runId, startEvent(run.runId, run.conversationId));
        const follower = await follow(subscriber, run.runId, -1);
        let interruption: Promise<PromiseSettledResult<void>[]> | undefined;
        for (let seq = 1; seq <= deltas; seq++) {
          publish(publisher, run.runId, textDelta(seq));
          if (seq === deltas / 2) {
            await eventually(() => {
              expect(follower.seqs().at(-1)).toBe(seq);
            });
            // Not awaited: the run keeps publishing while the engine goes away and comes back.
            interruption = Promise.allSettled([interruptEngine()]);
          }
          if (interruption === undefined) {
            if (seq % 5 === 0) await yieldToEventLoop();
          } else {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        }
        const [interrupted] = (await interruption) ?? [];
        if (interrupted?.status === 'rejected') throw interrupted.reason;
        publish(publisher, run.runId, finishEvent(finishSeq));
        await within(publisher.end(run.runId), 20_000, 'end after the engine interruption');
        const outcome = await within(follower.ended, 20_000, 'the subscriber to end after the engine interruption');
        expect(outcome.lost ?? false).toBe(false);
        expect(follower.seqs()).toEqual(range(0, finishSeq));

        const control = recordingControl();
        const next = await admitRun(subscriber, { control });
        expect(await publisher.cancel(next.runId, 'stop after reconnect')).toBe('cancelling');
        await eventually(() => {
          expect(control.reasons).toContain('stop after reconnect');
        });
        publish(subscriber, next.runId, startEvent(next.runId, next.conversationId));
        publish(subscriber, next.runId, finishEvent(1, 'aborted'));
        await subscriber.end(next.runId);
      }, 60_000);
    }
  });
}
