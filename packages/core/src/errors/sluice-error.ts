import type { SerializedError } from '../stream-event.js';

const baseMarker = Symbol.for('sluice.error');

/** What every sluice error carries. */
export interface SluiceErrorOptions {
  /** A stable, machine-readable code, e.g. `rate_limited`. */
  code: string;
  message: string;
  /** Whether trying the same thing again may succeed. */
  retryable?: boolean;
  cause?: unknown;
}

/** The static side `isInstance` reads: a class's marker, and its instances' type. */
export interface SluiceErrorClass<TError> {
  readonly marker: symbol;
  readonly prototype: TError;
}

/** True when `error` is an object carrying `marker` (from any copy of the package). */
function hasMarker(error: unknown, marker: symbol): boolean {
  return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
}

/**
 * The base of every error sluice throws or reports. Check with `SluiceError.isInstance(error)`
 * rather than `instanceof`, which fails when two copies of the package are installed.
 *
 * Every class has its own marker, a registered symbol (`Symbol.for('sluice.error.model')`):
 * an error carries the marker of its class and of every class above it up to this one
 * (`sluice.error`), and `X.isInstance(error)` checks X's own marker. A subclass declares its
 * marker in one line and gets its `isInstance` with it:
 *
 * @example
 * ```ts
 * export class StorageError extends SluiceError {
 *   static override readonly marker: symbol = Symbol.for('sluice.error.storage');
 * }
 * StorageError.isInstance(error); // true only for storage errors, from any copy of the package
 * SluiceError.isInstance(error); // true for every sluice error
 * ```
 */
export class SluiceError extends Error {
  /**
   * This class's marker: `Symbol.for('sluice.error')` here, `Symbol.for('sluice.error.<name>')`
   * in a subclass. A subclass that declares none is checked with `instanceof` by `isInstance`.
   */
  static readonly marker: symbol = baseMarker;

  readonly code: string;
  readonly retryable: boolean;

  constructor(options: SluiceErrorOptions) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = options.code;
    this.retryable = options.retryable ?? false;
    // The markers of the class and of every class above it, up to this one.
    for (let type: unknown = new.target; typeof type === 'function'; type = Object.getPrototypeOf(type)) {
      if (Object.hasOwn(type, 'marker')) (this as unknown as Record<symbol, boolean>)[(type as unknown as SluiceErrorClass<unknown>).marker] = true;
      if (type === SluiceError) break;
    }
  }

  /**
   * True for an error of this class (or a subclass of it), from any copy of the package:
   * `SluiceError.isInstance` for any sluice error, `ModelError.isInstance` for model errors only.
   */
  static isInstance<TError>(this: SluiceErrorClass<TError> | void, error: unknown): error is TError {
    // Called unbound (`errors.filter(SluiceError.isInstance)`): the base check.
    return SluiceError.isInstanceOfClass(this ?? SluiceError, error);
  }

  /**
   * Whether `error` is an instance of `type`: it carries `type`'s own marker, or, for a
   * subclass that declares no marker of its own, it is an `instanceof` it (this copy only).
   * For a subclass's own `isInstance` that must also work unbound.
   */
  protected static isInstanceOfClass(type: SluiceErrorClass<unknown>, error: unknown): boolean {
    if (Object.hasOwn(type, 'marker')) return hasMarker(error, type.marker);
    return error instanceof (type as unknown as abstract new (...args: never[]) => unknown);
  }

  /** Wraps anything thrown into a `SluiceError` (kept as is when it already is one). */
  static from(error: unknown, code = 'unknown_error'): SluiceError {
    if (SluiceError.isInstance(error)) return error;
    const message = error instanceof Error ? error.message : String(error);
    return new SluiceError({ code, message, cause: error });
  }

  /** The JSON-safe form that travels in `error` events. */
  toJSON(): SerializedError {
    return { name: this.name, code: this.code, message: this.message, retryable: this.retryable };
  }
}
