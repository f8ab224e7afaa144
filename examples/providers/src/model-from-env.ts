import { FakeChatModel, type ChatModel, type ChatModelOptions } from '@sluice/core';

/** Which model the examples use. */
export type ProviderName = 'openai' | 'anthropic' | 'fake';

/**
 * The provider the environment asks for: `SLUICE_PROVIDER` when set, else the first provider
 * whose API key is set (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`), else the built-in fake model.
 */
export function providerFromEnv(env: NodeJS.ProcessEnv = process.env): ProviderName {
  const chosen = env.SLUICE_PROVIDER;
  if (chosen !== undefined && chosen !== '') {
    if (chosen === 'openai' || chosen === 'anthropic' || chosen === 'fake') return chosen;
    throw new Error(`SLUICE_PROVIDER must be openai, anthropic or fake (got "${chosen}")`);
  }
  if (env.OPENAI_API_KEY) return 'openai';
  if (env.ANTHROPIC_API_KEY) return 'anthropic';
  return 'fake';
}

/**
 * The chat model the examples run on, chosen by `providerFromEnv()`. The fake model streams
 * at a visible pace (`SLUICE_FAKE_RATE` tokens per second, default 30).
 */
export async function modelFromEnv(options: ChatModelOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<ChatModel> {
  const provider = providerFromEnv(env);
  switch (provider) {
    case 'fake':
      return new FakeChatModel({ ...options, rate: Number(env.SLUICE_FAKE_RATE ?? 30) });
    default:
      throw new Error(`the ${provider} adapter is not wired into the examples yet`);
  }
}
