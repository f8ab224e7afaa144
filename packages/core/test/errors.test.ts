import { describe, expect, it } from 'vitest';
import { HandlerError, InvalidArgumentError, ModelError, SluiceError } from '../src/index.ts';

// A subclass as another package defines one (`StorageError` of @sluice/kysely), with its own marker.
class StorageLikeError extends SluiceError {
  static override readonly marker: symbol = Symbol.for('sluice.error.test-storage');
}

// A subclass of a subclass: it carries its own marker, its parent's and the base's.
class RateLimitLikeError extends ModelError {
  static override readonly marker: symbol = Symbol.for('sluice.error.test-rate-limit');
}

// A subclass that has not declared a marker of its own yet.
class UnmarkedError extends SluiceError {}

const model = () => new ModelError({ code: 'rate_limited', provider: 'test', message: '[test] slow down' });
const handler = () => new HandlerError({ handler: 'h', hook: 'onChatEvent', runId: 'r1', cause: new Error('boom') });
const invalid = () => new InvalidArgumentError({ argument: 'x', message: '[test] bad x' });

describe('error classes: one marker per class', () => {
  it('each core class recognises its own errors and only those', () => {
    const errors = { model: model(), handler: handler(), invalid: invalid(), storage: new StorageLikeError({ code: 'write_failed', message: '[test] no' }) };
    expect(Object.values(errors).map((error) => ModelError.isInstance(error))).toEqual([true, false, false, false]);
    expect(Object.values(errors).map((error) => HandlerError.isInstance(error))).toEqual([false, true, false, false]);
    expect(Object.values(errors).map((error) => InvalidArgumentError.isInstance(error))).toEqual([false, false, true, false]);
    expect(Object.values(errors).map((error) => StorageLikeError.isInstance(error))).toEqual([false, false, false, true]);
    expect(Object.values(errors).every((error) => SluiceError.isInstance(error))).toBe(true);
    // The check narrows to the class: its own fields are readable.
    const caught: unknown = errors.model;
    if (!ModelError.isInstance(caught)) throw new Error('expected a ModelError');
    expect(caught.provider).toBe('test');
  });

  it('uses the registered markers sluice.error and sluice.error.<class>, so another copy of the package recognises them', () => {
    const error = model();
    expect(Symbol.for('sluice.error') in error).toBe(true);
    expect(Symbol.for('sluice.error.model') in error).toBe(true);
    expect(Symbol.for('sluice.error.handler') in handler()).toBe(true);
    expect(Symbol.for('sluice.error.invalid-argument') in invalid()).toBe(true);
    // An error made by another copy: not this copy's class, but the same markers.
    const fromAnotherCopy = Object.assign(new Error('[test] other copy'), { [Symbol.for('sluice.error')]: true, [Symbol.for('sluice.error.model')]: true });
    expect(fromAnotherCopy).not.toBeInstanceOf(ModelError);
    expect(ModelError.isInstance(fromAnotherCopy)).toBe(true);
    expect(HandlerError.isInstance(fromAnotherCopy)).toBe(false);
    expect(SluiceError.isInstance(fromAnotherCopy)).toBe(true);
  });

  it('a subclass of a subclass carries every marker up to the base', () => {
    const error = new RateLimitLikeError({ code: 'rate_limited', provider: 'test', message: '[test] slow down' });
    expect(RateLimitLikeError.isInstance(error)).toBe(true);
    expect(ModelError.isInstance(error)).toBe(true);
    expect(SluiceError.isInstance(error)).toBe(true);
    expect(RateLimitLikeError.isInstance(model())).toBe(false);
  });

  it('a subclass without a marker of its own is checked with instanceof, never as any sluice error', () => {
    expect(UnmarkedError.isInstance(new UnmarkedError({ code: 'x', message: '[test] x' }))).toBe(true);
    expect(UnmarkedError.isInstance(model())).toBe(false);
    expect(SluiceError.isInstance(new UnmarkedError({ code: 'x', message: '[test] x' }))).toBe(true);
  });

  it('isInstance works unbound, e.g. passed to filter()', () => {
    const errors: unknown[] = [model(), handler(), new Error('plain'), 'text', null];
    expect(errors.filter(SluiceError.isInstance)).toHaveLength(2);
    expect(errors.filter(ModelError.isInstance)).toHaveLength(1);
  });

  it('SluiceError.from keeps a sluice error and wraps anything else', () => {
    const error = model();
    expect(SluiceError.from(error)).toBe(error);
    const wrapped = SluiceError.from(new TypeError('socket hang up'), 'model_error');
    expect(wrapped).toMatchObject({ code: 'model_error', message: 'socket hang up' });
    expect(ModelError.isInstance(wrapped)).toBe(false);
  });
});
