import { describeValue, invalidArgument } from './invalid-argument.js';

/** How a dropped connection is resumed (`GET /runs/:id/events` with `Last-Event-ID`). */
export interface ResumeOptions {
  /**
   * Reconnection attempts before giving up with a `resume_failed` error. The count starts again
   * whenever a resumed connection delivers an event, so a long run survives many separate drops.
   * Default 5; 0 gives up at the first drop.
   */
  maxAttempts?: number;
  /**
   * Wait before the first attempt, doubling with each further attempt (less up to a quarter, at
   * random, so many clients do not reconnect in step). Default: the server's SSE `retry:` value,
   * else 500.
   */
  delayMs?: number;
  /** The longest wait between attempts. Default 8000. */
  maxDelayMs?: number;
  /**
   * A connection that delivers nothing (not even a heartbeat comment) for this long is treated as
   * dropped and resumed: it catches half-open connections (a laptop lid, a network change).
   * Default 45000, three of the server's 15 s heartbeats; 0 turns it off.
   */
  idleTimeoutMs?: number;
}

/** What `onResume` is told before each reconnection attempt. */
export interface ResumeAttempt {
  runId: string;
  /** 1 for the first attempt after a drop. */
  attempt: number;
  maxAttempts: number;
  /** The last `seq` received, sent as `Last-Event-ID` (undefined: none yet, replay from the start). */
  lastEventId: number | undefined;
  /** How long the client waits before this attempt. */
  delayMs: number;
  /** Why: the drop, or the failure of the previous attempt. */
  error: unknown;
}

/** `ResumeOptions` with its defaults applied. */
export interface ResumePolicy {
  enabled: boolean;
  maxAttempts: number;
  delayMs: number | undefined;
  maxDelayMs: number;
  idleTimeoutMs: number;
}

const DEFAULT_DELAY_MS = 500;

function count(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalidArgument(`resume.${name} must be a number >= 0, got ${describeValue(value)}`);
  }
  return value;
}

/** Validates `resume` and applies its defaults. */
export function resumePolicy(option: ResumeOptions | false | undefined): ResumePolicy {
  if (option === false) return { enabled: false, maxAttempts: 0, delayMs: undefined, maxDelayMs: 0, idleTimeoutMs: 45_000 };
  if (option !== undefined && (typeof option !== 'object' || option === null)) {
    throw invalidArgument(`resume must be an object like { maxAttempts: 5, delayMs: 500 } or false, got ${describeValue(option)}`);
  }
  const maxAttempts = count('maxAttempts', option?.maxAttempts, 5);
  if (!Number.isInteger(maxAttempts)) throw invalidArgument(`resume.maxAttempts must be a whole number, got ${maxAttempts}`);
  const delayMs = option?.delayMs === undefined ? undefined : count('delayMs', option.delayMs, DEFAULT_DELAY_MS);
  return {
    enabled: true,
    maxAttempts,
    delayMs,
    maxDelayMs: count('maxDelayMs', option?.maxDelayMs, 8000),
    idleTimeoutMs: count('idleTimeoutMs', option?.idleTimeoutMs, 45_000),
  };
}

/** The wait before attempt `attempt` (from 1): exponential, capped, with up to 25% jitter. */
export function backoffDelay(policy: ResumePolicy, attempt: number, serverRetryMs: number | undefined): number {
  const base = policy.delayMs ?? serverRetryMs ?? DEFAULT_DELAY_MS;
  const capped = Math.min(policy.maxDelayMs, base * 2 ** (attempt - 1));
  return Math.round(capped * (1 - Math.random() * 0.25));
}
