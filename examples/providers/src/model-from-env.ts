import { ChatAnthropic } from '@sluice/anthropic';
import { FakeChatModel, type ChatModel, type ChatModelOptions } from '@sluice/core';
import { ChatOpenAI } from '@sluice/openai';

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
 * The chat model the examples run on, chosen by `providerFromEnv()`:
 * - `openai`: `ChatOpenAI` with `OPENAI_API_KEY` (and `OPENAI_BASE_URL` for an OpenAI-compatible
 *   server such as Ollama or vLLM); model `SLUICE_MODEL` or `OPENAI_MODEL`, default `gpt-4o-mini`;
 *   `OPENAI_API=responses` uses the Responses API;
 * - `anthropic`: `ChatAnthropic` with `ANTHROPIC_API_KEY` (`ANTHROPIC_BASE_URL`); model
 *   `SLUICE_MODEL` or `ANTHROPIC_MODEL`, default `claude-haiku-4-5`;
 * - `fake`: the built-in fake model, streaming at a visible pace (`SLUICE_FAKE_RATE` tokens per
 *   second, default 30).
 */
export async function modelFromEnv(options: ChatModelOptions = {}, env: NodeJS.ProcessEnv = process.env): Promise<ChatModel> {
  const provider = providerFromEnv(env);
  switch (provider) {
    case 'openai':
      return new ChatOpenAI({
        ...options,
        model: env.SLUICE_MODEL || env.OPENAI_MODEL || undefined,
        apiKey: env.OPENAI_API_KEY,
        baseURL: env.OPENAI_BASE_URL || undefined,
        api: env.OPENAI_API === 'responses' ? 'responses' : 'chat',
      });
    case 'anthropic':
      return new ChatAnthropic({
        ...options,
        model: env.SLUICE_MODEL || env.ANTHROPIC_MODEL || undefined,
        apiKey: env.ANTHROPIC_API_KEY,
        baseURL: env.ANTHROPIC_BASE_URL || undefined,
      });
    case 'fake':
      return new FakeChatModel({ ...options, rate: Number(env.SLUICE_FAKE_RATE ?? 30) });
  }
}
