// The examples pick their model from the environment: a real provider when its key is set
// (here pointed at the fake servers through the base URL variables), the fake model otherwise.
import { startFakeAnthropic, startFakeOpenAI } from '@sluice/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { modelFromEnv, providerFromEnv } from '../../examples/providers/src/model-from-env.ts';

type Server = Awaited<ReturnType<typeof startFakeOpenAI>>;
let openai: Server;
let anthropic: Server;
beforeAll(async () => {
  openai = await startFakeOpenAI({ reply: { text: 'from openai' } });
  anthropic = await startFakeAnthropic({ reply: { text: 'from anthropic' } });
});
afterAll(async () => {
  await openai.close();
  await anthropic.close();
});

describe('examples switch providers by environment', () => {
  it('picks openai, then anthropic, by which key is set, and the fake model without keys', () => {
    expect(providerFromEnv({ OPENAI_API_KEY: 'a', ANTHROPIC_API_KEY: 'b' })).toBe('openai');
    expect(providerFromEnv({ ANTHROPIC_API_KEY: 'b' })).toBe('anthropic');
    expect(providerFromEnv({})).toBe('fake');
    expect(providerFromEnv({ OPENAI_API_KEY: 'a', SLUICE_PROVIDER: 'fake' })).toBe('fake');
    expect(() => providerFromEnv({ SLUICE_PROVIDER: 'gemini' })).toThrow('SLUICE_PROVIDER must be openai, anthropic or fake');
  });

  it('streams from ChatOpenAI with OPENAI_API_KEY and OPENAI_BASE_URL', async () => {
    const model = await modelFromEnv({}, { OPENAI_API_KEY: 'k', OPENAI_BASE_URL: openai.baseURL, SLUICE_MODEL: 'gpt-test' });
    expect(model.provider).toBe('openai');
    expect((await model.invoke('Hi')).content).toBe('from openai');
    expect(openai.requests.at(-1)?.body).toMatchObject({ model: 'gpt-test' });
  });

  it('streams from ChatAnthropic with SLUICE_PROVIDER=anthropic', async () => {
    const model = await modelFromEnv({}, { SLUICE_PROVIDER: 'anthropic', ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: anthropic.baseURL });
    expect(model.provider).toBe('anthropic');
    expect((await model.invoke('Hi')).content).toBe('from anthropic');
  });

  it('uses the Responses API with OPENAI_API=responses', async () => {
    const model = await modelFromEnv({}, { OPENAI_API_KEY: 'k', OPENAI_BASE_URL: openai.baseURL, OPENAI_API: 'responses' });
    expect((await model.invoke('Hi')).content).toBe('from openai');
    expect(openai.requests.at(-1)?.path).toBe('/v1/responses');
  });
});
