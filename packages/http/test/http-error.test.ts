import { ModelError, SluiceError } from '@sluice/core';
import { HttpError } from '@sluice/http';
import { describe, expect, it } from 'vitest';

describe('HttpError', () => {
  it('is told apart from other sluice errors by its own marker, and is a SluiceError', () => {
    const http = new HttpError({ status: 404, code: 'not_found', message: 'run not found' });
    const model = new ModelError({ code: 'rate_limited', message: 'slow down', retryable: true, provider: 'fake' });
    expect(HttpError.isInstance(http)).toBe(true);
    expect(HttpError.isInstance(model)).toBe(false);
    expect(ModelError.isInstance(http)).toBe(false);
    expect(SluiceError.isInstance(http)).toBe(true);
  });
});
