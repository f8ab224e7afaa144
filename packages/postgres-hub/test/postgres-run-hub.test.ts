import type { RunListener, StreamEvent } from '@sluice/core';
import { afterAll, describe, expect, test } from 'vitest';
import { applicationName, connection, HubDatabase, type StoredRunHub } from './postgres-fixture.ts';
import pg from 'pg';

const database = new HubDatabase();
afterAll(() => database.drop());

let counter = 0;
const uniqueId = (kind: string): string => `${kind}-${process.pid}-${(counter += 1)}-${Math.random().toString(36).slice(2, 6)}`;

function start(runId: string, conversationId: string): StreamEvent {
  return { type: 'start', seq: 0, runId, conversationId, model: 'm', provider: 'p', createdAt: Date.now() };
}
const delta = (seq: number): StreamEvent => ({ type: 'text-delta', seq, text: `t${seq} ` });
const finish = (seq: number): StreamEvent => ({ type: 'finish', seq, reason: 'stop', message: { role: 'assistant', content: 'done' }, usage: undefined });

async function eventually(check: () => void | Promise<void>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** Subscribes and records replay + live seqs, and how the subscription ended. */
async function follow(instance: StoredRunHub, runId: string, afterSeq = -1) {
  const seqs: number[] = [];
  let resolveEnd!: (outcome: { lost?: boolean }) => void;
  const ended = new Promise<{ lost?: boolean }>((resolve) => (resolveEnd = resolve));
  const listener: RunListener = { event: (event) => seqs.push(event.seq), end: (outcome) => resolveEnd(outcome ?? {}) };
  const subscription = await instance.subscribe(runId, afterSeq, listener);
  if (subscription === undefined) throw new Error(`no subscription for ${runId}`);
  seqs.unshift(...subscription.replay.map((event) => event.seq));
  if (subscription.ended) resolveEnd({});
  return { seqs, ended, subscription };
}

async function admit(instance: StoredRunHub): Promise<{ runId: string; conversationId: string }> {
  const run = { runId: uniqueId('run'), conversationId: uniqueId('conversation') };
  expect(await instance.admit({ ...run, owner: uniqueId('owner'), maxConcurrentRuns: 10 })).toEqual({ accepted: true });
  return run;
}

describe('PostgresRunHub on PostgreSQL', () => {
  test('admission from 3 instances, 8 concurrent admits of one owner with cap 2: exactly 2 accepted, and the runs table says so', async () => {
    const instances = await database.createInstances(3);
    const owner = uniqueId('owner');
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, index) =>
        (instances[index % 3] as StoredRunHub).admit({ runId: uniqueId('run'), conversationId: uniqueId('conversation'), owner, maxConcurrentRuns: 2 }),
      ),
    );
    expect(results.filter((result) => result.accepted)).toHaveLength(2);
    const { rows } = await (instances[0] as StoredRunHub).pool.query(`select count(*)::int as live from ${database.tablePrefix}runs where owner = $1 and state = 'live'`, [owner]);
    expect(rows[0]).toEqual({ live: 2 });
  });

  test('a follower on B gets every event once, in order, after its LISTEN connection is terminated mid-run', async () => {
    const [publisher, follower] = (await database.createInstances(2)) as [StoredRunHub, StoredRunHub];
    const run = await admit(publisher);
    publisher.publish(run.runId, start(run.runId, run.conversationId));
    const tail = await follow(follower, run.runId);
    for (let seq = 1; seq <= 40; seq++) publisher.publish(run.runId, delta(seq));
    await eventually(() => expect(tail.seqs.at(-1)).toBe(40));

    // Only B's LISTEN connection: its last statement was a LISTEN.
    const admin = new pg.Client(connection);
    await admin.connect();
    const { rows } = await admin.query(
      `select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and query like 'listen %'`,
      [applicationName],
    );
    await admin.end();
    expect(rows.length).toBeGreaterThanOrEqual(2); // publisher's and follower's listeners
    // Written while B's listener is down: their notifications never reach it.
    for (let seq = 41; seq <= 80; seq++) publisher.publish(run.runId, delta(seq));
    await publisher.storage.flush();
    publisher.publish(run.runId, finish(81));
    await publisher.end(run.runId);

    expect(await tail.ended).toEqual({});
    expect(tail.seqs).toEqual(Array.from({ length: 82 }, (_, seq) => seq));
  }, 20_000);

  test('a notification is never trusted alone: events committed without one are caught up on the next pointer, in order', async () => {
    const [publisher, follower] = (await database.createInstances(2)) as [StoredRunHub, StoredRunHub];
    const run = await admit(publisher);
    publisher.publish(run.runId, start(run.runId, run.conversationId));
    const tail = await follow(follower, run.runId);
    await eventually(() => expect(tail.seqs).toEqual([0]));

    // Committed with no pointer at all (straight into the chunks table, not through the writer).
    await publisher.storage.flush();
    for (let seq = 1; seq <= 5; seq++) {
      publisher.hub.publish(run.runId, delta(seq));
      await publisher.pool.query(`insert into ${database.tablePrefix}chunks (run_id, seq, type, event, created_at) values ($1, $2, $3, $4, $5)`, [
        run.runId,
        seq,
        'text-delta',
        JSON.stringify(delta(seq)),
        Date.now(),
      ]);
    }
    // One pointer, for a later event only, brings everything since the last delivered seq.
    void publisher.storage.writer.append(delta(6), run.runId);
    await eventually(() => expect(tail.seqs).toEqual([0, 1, 2, 3, 4, 5, 6]));

    // A pointer ahead of its commit (a claimer announces before storing) is read, finds nothing
    // new, and the events arrive with the next pointer.
    const pool = publisher.pool;
    await pool.query('select pg_notify($1, $2)', [database.channel, `9 ${run.runId}`]);
    publisher.publish(run.runId, delta(7));
    publisher.publish(run.runId, delta(8));
    publisher.publish(run.runId, finish(9));
    await publisher.end(run.runId);
    expect(await tail.ended).toEqual({});
    expect(tail.seqs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  }, 20_000);

  test('a local subscriber gets an event only once its commit is announced, so it never holds what a crash could take from the log', async () => {
    const [instance] = (await database.createInstances(1)) as [StoredRunHub];
    const run = await admit(instance);
    const local = await follow(instance, run.runId);
    // Published, not stored: nothing may reach the local subscriber.
    for (let seq = 0; seq <= 5; seq++) instance.hub.publish(run.runId, seq === 0 ? start(run.runId, run.conversationId) : delta(seq));
    // Events 0..2 committed with their pointer: exactly those arrive.
    for (let seq = 0; seq <= 2; seq++) void instance.storage.writer.append(seq === 0 ? start(run.runId, run.conversationId) : delta(seq), run.runId);
    await eventually(() => expect(local.seqs).toEqual([0, 1, 2]));
    expect(local.subscription.ended).toBe(false);
    // The run's end (its storage drained) hands over the rest.
    instance.hub.publish(run.runId, finish(6));
    await instance.hub.end(run.runId);
    expect(await local.ended).toEqual({});
    expect(local.seqs).toEqual([0, 1, 2, 3, 4, 5, 6]);
  }, 20_000);

  test('a run that ended without a finish in the log ends its remote followers as lost', async () => {
    const [publisher, follower] = (await database.createInstances(2)) as [StoredRunHub, StoredRunHub];
    const run = await admit(publisher);
    publisher.publish(run.runId, start(run.runId, run.conversationId));
    publisher.publish(run.runId, delta(1));
    const tail = await follow(follower, run.runId);
    await publisher.end(run.runId);
    expect(await tail.ended).toEqual({ lost: true });
    expect(tail.seqs).toEqual([0, 1]);
  }, 20_000);

  test('renews every lease of an instance in one query per tick, whatever the number of its runs', async () => {
    const [instance] = (await database.createInstances(1, { leaseMs: 300 })) as [StoredRunHub];
    for (let index = 0; index < 20; index++) await admit(instance);
    const statements: string[] = [];
    const original = instance.pool.query.bind(instance.pool) as (...args: unknown[]) => Promise<unknown>;
    (instance.pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) => {
      if (typeof args[0] === 'string') statements.push(args[0]);
      return original(...args);
    };
    await new Promise((resolve) => setTimeout(resolve, 450));
    const renewals = statements.filter((statement) => statement.includes('set lease_expires_at'));
    expect(renewals.length).toBeGreaterThanOrEqual(2);
    expect(renewals.length).toBeLessThanOrEqual(6); // 450 ms at one per 100 ms, never one per run (20)
    expect(statements.length).toBe(renewals.length);
    const { rows } = await instance.pool.query(
      `select count(*)::int as fresh from ${database.tablePrefix}runs where instance_id = $1 and lease_expires_at > (extract(epoch from clock_timestamp()) * 1000)::bigint + 100`,
      [instance.hub.instanceId],
    );
    expect(rows[0]).toEqual({ fresh: 20 });
  });
});
