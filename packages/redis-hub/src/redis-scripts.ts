import type { ChainableCommander, Redis } from 'ioredis';

// Every script reads the clock with the server's TIME, so leases compare on one clock whatever
// the instances' clocks say. Keys of other runs (a conversation's other runs) are built from the
// prefix inside the scripts: the hub targets one Redis server (or a Redis with no cluster slots).
const now = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/**
 * KEYS: run hash, owner's runs, conversation's runs, leases.
 * ARGV: runId, conversationId, owner, maxConcurrentRuns, concurrentTurns ('1'), leaseMs, instance, prefix.
 * Returns {'accepted'} | {'exists'} | {'too_many_runs'} | {'conversation_busy', runId, state}.
 */
const admit = `${now}
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists'} end
if redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf') >= tonumber(ARGV[4]) then return {'too_many_runs'} end
if ARGV[5] ~= '1' then
  for _, other in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. now, '+inf')) do
    local state = redis.call('HGET', ARGV[8] .. 'run:' .. other, 'state')
    if state == 'live' or state == 'finishing' then return {'conversation_busy', other, state} end
  end
end
local expiry = now + tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'conversationId', ARGV[2], 'owner', ARGV[3], 'state', 'live', 'instance', ARGV[7], 'lastSeq', '-1')
redis.call('ZADD', KEYS[2], expiry, ARGV[1])
redis.call('ZADD', KEYS[3], expiry, ARGV[1])
redis.call('ZADD', KEYS[4], expiry, ARGV[1])
return {'accepted'}
`;

/**
 * KEYS: leases. ARGV: leaseMs, instance, prefix, then (runId, owner, conversationId) per run.
 * Renews the leases of the runs this instance still holds; returns {missing, lost}: runs
 * whose hash is gone (Redis lost it: restore them) and runs another instance claimed.
 */
const renew = `${now}
local expiry = now + tonumber(ARGV[1])
local missing, lost = {}, {}
for i = 4, #ARGV, 3 do
  local runId = ARGV[i]
  local info = redis.call('HMGET', ARGV[3] .. 'run:' .. runId, 'instance', 'state')
  if not info[1] then
    table.insert(missing, runId)
  elseif info[1] ~= ARGV[2] then
    table.insert(lost, runId)
  elseif info[2] ~= 'ended' then
    redis.call('ZADD', KEYS[1], expiry, runId)
    redis.call('ZADD', ARGV[3] .. 'owner:' .. ARGV[i + 1] .. ':runs', expiry, runId)
    redis.call('ZADD', ARGV[3] .. 'conversation:' .. ARGV[i + 2] .. ':runs', expiry, runId)
  end
end
return {missing, lost}
`;

/**
 * KEYS: run hash, owner's runs, conversation's runs, leases, events stream.
 * ARGV: runId, conversationId, owner, instance, leaseMs, state, lastSeq.
 * Re-registers a run this instance holds (after Redis lost it, or to check after a dropped
 * connection) and returns {'ok', last entry ID or ''} | {'lost'} (another instance claimed it).
 */
const restore = `${now}
local instance = redis.call('HGET', KEYS[1], 'instance')
if instance and instance ~= ARGV[4] then return {'lost'} end
if not instance then
  redis.call('HSET', KEYS[1], 'conversationId', ARGV[2], 'owner', ARGV[3], 'state', ARGV[6], 'instance', ARGV[4], 'lastSeq', ARGV[7])
end
local expiry = now + tonumber(ARGV[5])
redis.call('ZADD', KEYS[2], expiry, ARGV[1])
redis.call('ZADD', KEYS[3], expiry, ARGV[1])
redis.call('ZADD', KEYS[4], expiry, ARGV[1])
local last = redis.call('XREVRANGE', KEYS[5], '+', '-', 'COUNT', 1)
if #last == 0 then return {'ok', ''} end
return {'ok', last[1][1]}
`;

/**
 * KEYS: run hash, events stream, owner's runs, conversation's runs, leases.
 * ARGV: runId, retentionMs, lastSeq, ended channel.
 */
const end = `
redis.call('HSET', KEYS[1], 'state', 'ended', 'lastSeq', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[1])
return 1
`;

/**
 * KEYS: leases. ARGV: instance, leaseMs, prefix, limit.
 * Takes the runs whose lease expired and gives each a fresh lease held by the caller (so
 * exactly one caller gets it, and if that caller dies too, the run expires again). Runs Redis
 * already forgot, or ended, are dropped. Returns {runId, conversationId, owner, lastSeq} each.
 */
const claim = `${now}
local expiry = now + tonumber(ARGV[2])
local claimed = {}
for _, runId in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))) do
  local hash = ARGV[3] .. 'run:' .. runId
  local info = redis.call('HMGET', hash, 'conversationId', 'owner', 'state', 'lastSeq')
  if not info[1] or info[3] == 'ended' then
    redis.call('ZREM', KEYS[1], runId)
  else
    redis.call('HSET', hash, 'instance', ARGV[1])
    redis.call('ZADD', KEYS[1], expiry, runId)
    redis.call('ZADD', ARGV[3] .. 'owner:' .. info[2] .. ':runs', expiry, runId)
    redis.call('ZADD', ARGV[3] .. 'conversation:' .. info[1] .. ':runs', expiry, runId)
    local lastSeq = tonumber(info[4]) or -1
    local last = redis.call('XREVRANGE', hash .. ':events', '+', '-', 'COUNT', 1)
    if #last > 0 then lastSeq = tonumber(string.match(last[1][1], '^(%d+)')) - 1 end
    table.insert(claimed, {runId, info[1], info[2], tostring(lastSeq)})
  end
end
return claimed
`;

type ScriptArgument = string | number;

/** The hub's scripts as commands of its connection (`defineScripts`). */
export interface HubScripts {
  sluiceHubAdmit(...args: ScriptArgument[]): Promise<string[]>;
  sluiceHubRenew(...args: ScriptArgument[]): Promise<[string[], string[]]>;
  sluiceHubClaim(...args: ScriptArgument[]): Promise<[string, string, string, string][]>;
}

/** The hub's scripts as commands of a pipeline. */
export interface HubPipelineScripts {
  sluiceHubRestore(...args: ScriptArgument[]): ChainableCommander;
  sluiceHubEnd(...args: ScriptArgument[]): ChainableCommander;
}

/**
 * Defines the scripts on a connection the hub owns (ioredis sends EVALSHA and loads a script
 * again when Redis forgot it, e.g. after a restart).
 */
export function defineScripts(connection: Redis): Redis & HubScripts {
  connection.defineCommand('sluiceHubAdmit', { numberOfKeys: 4, lua: admit });
  connection.defineCommand('sluiceHubRenew', { numberOfKeys: 1, lua: renew });
  connection.defineCommand('sluiceHubRestore', { numberOfKeys: 5, lua: restore });
  connection.defineCommand('sluiceHubEnd', { numberOfKeys: 5, lua: end });
  connection.defineCommand('sluiceHubClaim', { numberOfKeys: 1, lua: claim });
  return connection as Redis & HubScripts;
}
