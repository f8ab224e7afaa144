import type { RunInfo, RunState } from '@sluice/core';
import type { PostgresPool, PostgresPoolClient } from './postgres-run-hub-options.js';

/** The database clock in milliseconds since the epoch: every lease is read and written on it. */
const NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

/** What admission found in the way, or nothing. */
export type AdmissionCheck =
  | { accepted: true }
  | { accepted: false; reason: 'too_many_runs' }
  | { accepted: false; reason: 'conversation_busy'; runId: string; state: 'live' | 'finishing' };

/** A run taken over by `claimExpired`. */
export interface ClaimedRow {
  runId: string;
  conversationId: string;
  owner: string;
}

function namespaceKey(name: string): number {
  // A stable 32-bit key per lock namespace (the other key is hashtext(value) in SQL).
  let hash = 0;
  for (let index = 0; index < name.length; index++) hash = (Math.imul(hash, 31) + name.charCodeAt(index)) | 0;
  return hash;
}

/**
 * The runs table `<prefix>runs`: one row per admitted run with its owner, conversation, the
 * instance holding it, its state and its lease. Every statement the hub sends is here.
 */
export class RunTable {
  readonly name: string;
  private readonly pool: PostgresPool;
  private readonly ownerLock: number;
  private readonly conversationLock: number;

  constructor(pool: PostgresPool, prefix: string) {
    this.pool = pool;
    this.name = `${prefix}runs`;
    this.ownerLock = namespaceKey(`${this.name}:owner`);
    this.conversationLock = namespaceKey(`${this.name}:conversation`);
  }

  /** Creates the table and its indexes if missing; an advisory lock serialises racing instances. */
  async migrate(): Promise<void> {
    const table = this.name;
    await this.transaction(async (client) => {
      // `create ... if not exists` is not safe against itself running concurrently.
      await client.query('select pg_advisory_xact_lock($1)', [namespaceKey(`${table}:migrate`)]);
      await client.query(`create table if not exists ${table} (
        run_id varchar(191) primary key,
        conversation_id varchar(191) not null,
        owner varchar(191) not null,
        instance_id varchar(191) not null,
        state varchar(16) not null,
        lease_expires_at bigint not null,
        cancel_requested boolean not null default false,
        -- The reason given to cancel(), as JSON (see cancel-reason.ts).
        cancel_reason text,
        created_at bigint not null,
        ended_at bigint
      )`);
      // Partial indexes: every hot query looks only at runs that are not ended.
      await client.query(`create index if not exists ${table}_owner_active on ${table} (owner) where state <> 'ended'`);
      await client.query(`create index if not exists ${table}_conversation_active on ${table} (conversation_id) where state <> 'ended'`);
      await client.query(`create index if not exists ${table}_instance_active on ${table} (instance_id) where state <> 'ended'`);
      await client.query(`create index if not exists ${table}_lease_active on ${table} (lease_expires_at) where state <> 'ended'`);
      await client.query(`create index if not exists ${table}_ended_at on ${table} (ended_at) where state = 'ended'`);
    });
  }

  /** Drops the table (tests, uninstall). */
  async drop(): Promise<void> {
    await this.pool.query(`drop table if exists ${this.name}`);
  }

  /**
   * Checks the owner's cap and the conversation's live run and inserts the run, in one
   * transaction under advisory locks on the owner then the conversation (always that order,
   * so two admissions never deadlock): N racing admits on any instances never exceed the cap.
   */
  async admit(
    run: { runId: string; conversationId: string; owner: string; maxConcurrentRuns: number; concurrentTurns: boolean },
    instanceId: string,
    leaseMs: number,
  ): Promise<AdmissionCheck> {
    const table = this.name;
    return this.transaction(async (client) => {
      await client.query('select pg_advisory_xact_lock($1, hashtext($2))', [this.ownerLock, run.owner]);
      await client.query('select pg_advisory_xact_lock($1, hashtext($2))', [this.conversationLock, run.conversationId]);
      const { rows } = await client.query(
        `select
          (select count(*)::int from ${table} where owner = $1 and state <> 'ended' and lease_expires_at > ${NOW_MS}) as owner_runs,
          busy.run_id as busy_run_id, busy.state as busy_state
        from (select 1) as one
        left join lateral (
          select run_id, state from ${table}
          where conversation_id = $2 and state <> 'ended' and lease_expires_at > ${NOW_MS} and $3::boolean
          order by created_at limit 1
        ) as busy on true`,
        [run.owner, run.conversationId, !run.concurrentTurns],
      );
      const found = rows[0] as { owner_runs: number; busy_run_id: string | null; busy_state: string | null };
      if (found.owner_runs >= run.maxConcurrentRuns) return { accepted: false, reason: 'too_many_runs' };
      if (found.busy_run_id !== null) {
        return { accepted: false, reason: 'conversation_busy', runId: found.busy_run_id, state: found.busy_state === 'live' ? 'live' : 'finishing' };
      }
      await client.query(
        `insert into ${table} (run_id, conversation_id, owner, instance_id, state, lease_expires_at, created_at)
         values ($1, $2, $3, $4, 'live', ${NOW_MS} + $5, ${NOW_MS})`,
        [run.runId, run.conversationId, run.owner, instanceId, leaseMs],
      );
      return { accepted: true };
    });
  }

  /** The run published its `finish`: it still counts against the cap until it ends. */
  async markFinishing(runId: string): Promise<void> {
    await this.pool.query(`update ${this.name} set state = 'finishing' where run_id = $1 and state = 'live'`, [runId]);
  }

  /** Ends the run and tells every instance on the control channel, in one statement. */
  async end(runId: string, controlChannel: string): Promise<void> {
    await this.pool.query(
      `with ended as (
        update ${this.name} set state = 'ended', ended_at = ${NOW_MS}, cancel_requested = false
        where run_id = $1 and state <> 'ended' returning run_id
      ) select pg_notify($2, 'end ' || run_id) from ended`,
      [runId, controlChannel],
    );
  }

  /**
   * Renews the lease of every run this instance holds, in one statement whatever their number,
   * and returns those a cancel was requested for (a cancel notice lost with the LISTEN
   * connection still reaches its run here).
   */
  async renew(instanceId: string, leaseMs: number): Promise<{ runId: string; reason: string | null }[]> {
    const { rows } = await this.pool.query(
      `with renewed as (
        update ${this.name} set lease_expires_at = ${NOW_MS} + $2
        where instance_id = $1 and state <> 'ended' returning run_id, state, cancel_requested, cancel_reason
      ) select run_id, cancel_reason from renewed where cancel_requested and state = 'live'`,
      [instanceId, leaseMs],
    );
    return rows.map((row) => ({ runId: row.run_id as string, reason: row.cancel_reason as string | null }));
  }

  /** Deletes runs ended more than `retentionMs` ago. */
  async deleteEnded(retentionMs: number): Promise<void> {
    await this.pool.query(`delete from ${this.name} where state = 'ended' and ended_at < ${NOW_MS} - $1`, [retentionMs]);
  }

  /**
   * Takes over up to `limit` runs whose lease expired: `skip locked` hands each to exactly one
   * of the instances claiming at once, and the new lease keeps it from the next claimer.
   */
  async claimExpired(instanceId: string, leaseMs: number, limit: number): Promise<ClaimedRow[]> {
    const table = this.name;
    const { rows } = await this.pool.query(
      `update ${table} set instance_id = $1, lease_expires_at = ${NOW_MS} + $2
       where run_id in (
         select run_id from ${table} where state <> 'ended' and lease_expires_at < ${NOW_MS}
         order by lease_expires_at limit $3 for update skip locked
       ) returning run_id, conversation_id, owner`,
      [instanceId, leaseMs, limit],
    );
    return rows.map((row) => ({ runId: row.run_id as string, conversationId: row.conversation_id as string, owner: row.owner as string }));
  }

  /**
   * Asks the run's instance to stop it: flags it and notifies `cancel <runId>` on the control
   * channel. Returns whether a live run was flagged.
   */
  async requestCancel(runId: string, reason: string, controlChannel: string): Promise<boolean> {
    const { rows } = await this.pool.query(
      `with requested as (
        update ${this.name} set cancel_requested = true, cancel_reason = $3 where run_id = $1 and state = 'live' returning run_id
      ) select pg_notify($2, 'cancel ' || run_id) from requested`,
      [runId, controlChannel, reason],
    );
    return rows.length > 0;
  }

  /** The reason a cancel was requested with, when one was. */
  async cancelReason(runId: string): Promise<string | null> {
    const { rows } = await this.pool.query(`select cancel_reason from ${this.name} where run_id = $1 and cancel_requested`, [runId]);
    return (rows[0]?.cancel_reason as string | null | undefined) ?? null;
  }

  /** The run's row, or undefined. */
  async get(runId: string): Promise<RunInfo | undefined> {
    const { rows } = await this.pool.query(`select run_id, conversation_id, owner, state from ${this.name} where run_id = $1`, [runId]);
    const row = rows[0];
    if (row === undefined) return undefined;
    return { runId: row.run_id as string, conversationId: row.conversation_id as string, owner: row.owner as string, state: row.state as RunState };
  }

  /** The conversation's newest run in state live or finishing whose lease holds. */
  async conversationRun(conversationId: string): Promise<RunInfo | undefined> {
    const { rows } = await this.pool.query(
      `select run_id, conversation_id, owner, state from ${this.name}
       where conversation_id = $1 and state <> 'ended' and lease_expires_at > ${NOW_MS}
       order by created_at desc limit 1`,
      [conversationId],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return { runId: row.run_id as string, conversationId: row.conversation_id as string, owner: row.owner as string, state: row.state as RunState };
  }

  /** The states of the given runs (absent: unknown). */
  async states(runIds: readonly string[]): Promise<Map<string, RunState>> {
    const { rows } = await this.pool.query(`select run_id, state from ${this.name} where run_id = any($1)`, [runIds]);
    return new Map(rows.map((row) => [row.run_id as string, row.state as RunState]));
  }

  private async transaction<TResult>(body: (client: PostgresPoolClient) => Promise<TResult>): Promise<TResult> {
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      const result = await body(client);
      await client.query('commit');
      client.release();
      return result;
    } catch (error) {
      // A failed rollback means the connection is broken: release it as such, so the pool drops it.
      const broken = await client.query('rollback').then(
        () => false,
        () => true,
      );
      client.release(broken ? (error as Error) : undefined);
      throw error;
    }
  }
}
