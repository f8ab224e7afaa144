import { ModelError, SluiceError } from '@sluice/core';
import { StorageError } from '@sluice/kysely';
import { describe, expect, it } from 'vitest';

describe('StorageError', () => {
  it('is told apart from other sluice errors by its own marker, and is a SluiceError', () => {
    const storage = new StorageError({ code: 'write_failed', message: 'refused' });
    const model = new ModelError({ code: 'rate_limited', message: 'slow down', retryable: true, provider: 'fake' });
    expect(StorageError.isInstance(storage)).toBe(true);
    expect(StorageError.isInstance(model)).toBe(false);
    expect(ModelError.isInstance(storage)).toBe(false);
    expect(SluiceError.isInstance(storage)).toBe(true);
    // Another copy of the package (a duplicated install) is recognised through the marker.
    expect(StorageError.isInstance({ [Symbol.for('sluice.error.storage')]: true })).toBe(true);
  });
});
