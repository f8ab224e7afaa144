// The options every HTTP provider adapter takes for its requests, checked the same way for all.
import { InvalidArgumentError } from './errors/invalid-argument-error.js';
import { resolveIdleTimeoutMs, resolveRetryOptions, type RetryOptions } from './provider-stream.js';

/** Request options shared by HTTP provider adapters (`ChatOpenAIOptions`, `ChatAnthropicOptions`). */
export interface ProviderRequestOptions {
  /** The model, as the provider names it. Default: the adapter's. */
  model?: string;
  /**
   * Fails the run with a retryable `stream_idle_timeout` when no data arrived for this long
   * (the SDK's own timeout stops at the response headers). Default 120000; 0 turns it off.
   */
  idleTimeoutMs?: number;
  /** Retries of a request that failed before its first delta. Default 2. */
  maxRetries?: number;
  /** Backoff between retries (`retry-after` headers take precedence). */
  retry?: RetryOptions;
  /** The SDK's request timeout, up to the response headers. Default: the SDK's. */
  timeoutMs?: number;
}

/** The SDK options of one request attempt (a structural subset of both SDKs' request options). */
export interface SdkRequestOptions {
  signal: AbortSignal;
  /** Always 0: sluice retries, before the first delta only. */
  maxRetries: 0;
  timeout?: number;
}

/** `ProviderRequestOptions`, checked and filled: see `resolveProviderRequestOptions`. */
export interface ResolvedProviderRequestOptions {
  model: string;
  retry: Required<RetryOptions>;
  /** 0 when off. */
  idleTimeoutMs: number;
  /** The SDK's options for one attempt, sent with the attempt's `signal`. */
  requestOptions(signal: AbortSignal): SdkRequestOptions;
}

/**
 * Checks and fills an HTTP adapter's request options, for its constructor: a bad value throws
 * an `InvalidArgumentError` that names the option and the package.
 *
 * @example
 * ```ts
 * const resolved = resolveProviderRequestOptions(options, { packageName: 'sluice/acme', model: 'acme-1' });
 * await acme.chat(body, resolved.requestOptions(signal));
 * ```
 */
export function resolveProviderRequestOptions(
  options: ProviderRequestOptions,
  defaults: { packageName: string; model: string; idleTimeoutMs?: number },
): ResolvedProviderRequestOptions {
  const { packageName } = defaults;
  if (options.model !== undefined && (typeof options.model !== 'string' || options.model === '')) {
    throw new InvalidArgumentError({ argument: 'model', message: `[${packageName}] model must be a non-empty string, e.g. "${defaults.model}"` });
  }
  const timeout = options.timeoutMs;
  return {
    model: options.model ?? defaults.model,
    retry: resolveRetryOptions(options.retry, options.maxRetries, packageName),
    idleTimeoutMs: resolveIdleTimeoutMs(options.idleTimeoutMs, defaults.idleTimeoutMs ?? 120_000, packageName),
    requestOptions: timeout === undefined ? (signal) => ({ signal, maxRetries: 0 }) : (signal) => ({ signal, maxRetries: 0, timeout }),
  };
}
