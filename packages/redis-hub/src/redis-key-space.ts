/**
 * Where the hub keeps things in Redis. The Lua scripts build the same names from the prefix
 * (`run:<id>`, `owner:<owner>:runs`, `conversation:<id>:runs`): change both together.
 */
export class RedisKeySpace {
  readonly prefix: string;
  /** Sorted set: run id → lease expiry (ms since the epoch, Redis server time), every live run. */
  readonly leases: string;
  /** Channel: a JSON `{ runId, reason }` asking the run's holder to abort it. */
  readonly cancelChannel: string;
  /** Channel: a run id, published once the run ended. */
  readonly endedChannel: string;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.leases = `${prefix}leases`;
    this.cancelChannel = `${prefix}cancel`;
    this.endedChannel = `${prefix}ended`;
  }

  /** Hash: conversationId, owner, state, instance, lastSeq. */
  run(runId: string): string {
    return `${this.prefix}run:${runId}`;
  }

  /** Stream: one entry per event, ID `${seq + 1}-0`, field `e` = the event's JSON. */
  events(runId: string): string {
    return `${this.prefix}run:${runId}:events`;
  }

  /** Sorted set: the owner's live runs, scored by lease expiry. */
  owner(owner: string): string {
    return `${this.prefix}owner:${owner}:runs`;
  }

  /** Sorted set: the conversation's live runs, scored by lease expiry. */
  conversation(conversationId: string): string {
    return `${this.prefix}conversation:${conversationId}:runs`;
  }
}

/** The stream entry ID of the event with this seq. */
export function entryId(seq: number): string {
  return `${seq + 1}-0`;
}

/** The seq of a stream entry ID written by the hub (`${seq + 1}-0`). */
export function seqOfEntryId(id: string): number {
  return Number.parseInt(id, 10) - 1;
}
