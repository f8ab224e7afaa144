// Retry before the first delta, never after; an idle timeout for stalled bodies. The same
// logic lives in @sluice/openai (see the README's note on a shared core helper).
import { delay, InvalidArgumentError, ModelError, type ModelStreamPart } from '@sluice/core';

/** How failed requests are retried. */
export interface RetryOptions {
  /** Retries of a request that failed before its first delta. Default 2. */
  maxRetries?: number;
  /** First backoff; doubles per retry, with jitter. Default 500. */
  initialDelayMs?: number;
  /** Longest backoff. Default 8000. */
  maxDelayMs?: number;
}

/** One opened provider stream: its events and how to read them. */
export interface ProviderStream<TEvent> {
  events: AsyncIterable<TEvent> | Iterable<TEvent>;
  /** Parts for one event: one part, several, or none. */
  translate(event: TEvent): ModelStreamPart | ModelStreamPart[] | undefined;
  /** Called when the events end: throws if the stream ended without its terminator. */
  end(): void;
}

export interface RetryingStreamOptions<TEvent> {
  provider: string;
  signal: AbortSignal;
  retry: Required<RetryOptions>;
  /** 0 turns the idle timeout off. */
  idleTimeoutMs: number;
  /** Sends the request; the signal aborts it (run aborted, or idle). */
  open(signal: AbortSignal): Promise<ProviderStream<TEvent>>;
  toModelError(error: unknown): ModelError;
}

/** Checks and fills retry options. */
export function retryOptions(options: RetryOptions | undefined, maxRetries: number | undefined, packageName: string): Required<RetryOptions> {
  const resolved = {
    maxRetries: maxRetries ?? options?.maxRetries ?? 2,
    initialDelayMs: options?.initialDelayMs ?? 500,
    maxDelayMs: options?.maxDelayMs ?? 8000,
  };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isFinite(value) || value < 0 || (name === 'maxRetries' && !Number.isInteger(value))) {
      throw new InvalidArgumentError({ argument: name, message: `[${packageName}] ${name} must be a ${name === 'maxRetries' ? 'whole number' : 'number'} >= 0 (got ${String(value)})` });
    }
  }
  return resolved;
}

/** Checks an idle timeout option. */
export function idleTimeoutOption(value: number | undefined, fallback: number, packageName: string): number {
  const resolved = value ?? fallback;
  if (!(resolved >= 0)) {
    throw new InvalidArgumentError({ argument: 'idleTimeoutMs', message: `[${packageName}] idleTimeoutMs must be a number >= 0 (0 turns it off; got ${String(value)})` });
  }
  return resolved === Number.POSITIVE_INFINITY ? 0 : resolved;
}

/**
 * Aborts the request when no event arrived for `idleTimeoutMs`. Reading an event only bumps a
 * counter; a timer checks it a few times per period, so the hot path stays free of timers.
 */
class IdleWatchdog {
  events = 0;
  fired = false;
  private seen = -1;
  private lastActivity = performance.now();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly idleTimeoutMs: number;
  private readonly controller: AbortController;

  constructor(idleTimeoutMs: number, controller: AbortController) {
    this.idleTimeoutMs = idleTimeoutMs;
    this.controller = controller;
    if (idleTimeoutMs > 0) this.arm();
  }

  private arm(): void {
    this.timer = setTimeout(() => this.check(), Math.max(1, this.idleTimeoutMs / 4));
  }

  private check(): void {
    const now = performance.now();
    if (this.events !== this.seen) {
      this.seen = this.events;
      this.lastActivity = now;
    } else if (now - this.lastActivity >= this.idleTimeoutMs) {
      this.fired = true;
      this.controller.abort(new Error('idle timeout'));
      return;
    }
    this.arm();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

function isDelta(part: ModelStreamPart): boolean {
  return part.type === 'text-delta' || part.type === 'reasoning-delta' || part.type === 'tool-call-delta';
}

function backoff(attempt: number, error: ModelError, retry: Required<RetryOptions>): number | undefined {
  if (error.retryAfterMs !== undefined) {
    // Wait as asked, unless it is longer than a minute: then the caller decides.
    return error.retryAfterMs <= 60_000 ? error.retryAfterMs : undefined;
  }
  return Math.min(retry.initialDelayMs * 2 ** attempt, retry.maxDelayMs) * (1 - Math.random() * 0.25);
}

/**
 * Streams parts from a provider, retrying a request that fails before its first delta
 * (retryable errors only, honouring `retry-after`), never one that failed after: parts
 * before the first delta (metadata, usage) are held back so a retry is invisible. A stream
 * with no event for `idleTimeoutMs` is aborted and fails with `stream_idle_timeout`.
 */
export async function* retryingStream<TEvent>(options: RetryingStreamOptions<TEvent>): AsyncGenerator<ModelStreamPart> {
  const { signal, retry } = options;
  for (let attempt = 0; ; attempt++) {
    // A plain signal, not AbortSignal.any(): the SDK reads `signal.aborted` several times per
    // chunk, and a composite signal recomputes its state on every read.
    const controller = new AbortController();
    const requestSignal = controller.signal;
    const forwardAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', forwardAbort, { once: true });
    const watchdog = new IdleWatchdog(options.idleTimeoutMs, controller);
    let delivered = false;
    let held: ModelStreamPart[] = [];
    try {
      const stream = await options.open(requestSignal);
      const { translate } = stream;
      for await (const event of stream.events) {
        watchdog.events++;
        if (signal.aborted) return;
        const parts = translate(event);
        if (parts === undefined) continue;
        if (delivered) {
          if (Array.isArray(parts)) yield* parts;
          else yield parts;
          continue;
        }
        for (const part of Array.isArray(parts) ? parts : [parts]) {
          if (!delivered && isDelta(part)) {
            delivered = true;
            yield* held;
            held = [];
          }
          if (delivered) yield part;
          else held.push(part);
        }
      }
      if (signal.aborted) return;
      if (watchdog.fired) throw idleError(options);
      stream.end();
      yield* held;
      return;
    } catch (error) {
      if (signal.aborted) return;
      const failure = watchdog.fired ? idleError(options) : options.toModelError(error);
      if (delivered || !failure.retryable || attempt >= retry.maxRetries) throw failure;
      const wait = backoff(attempt, failure, retry);
      if (wait === undefined) throw failure;
      try {
        await delay(wait, signal);
      } catch {
        return; // aborted while waiting
      }
    } finally {
      signal.removeEventListener('abort', forwardAbort);
      watchdog.stop();
      if (!requestSignal.aborted) controller.abort(); // releases the connection of a failed attempt
    }
  }
}

function idleError(options: { provider: string; idleTimeoutMs: number }): ModelError {
  return new ModelError({
    code: 'stream_idle_timeout',
    provider: options.provider,
    retryable: true,
    message: `[sluice/${options.provider}] no data from ${options.provider} for ${options.idleTimeoutMs} ms: the stream was stalled and has been closed (raise idleTimeoutMs for slow models, 0 turns it off)`,
  });
}
