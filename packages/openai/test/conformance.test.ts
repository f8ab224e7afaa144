import { startFakeOpenAI, type FakeProviderServer } from '@sluice/testing';
import { describeProviderConformance, type ConformanceServer } from '../../../test/conformance/provider-conformance.ts';
import { ChatOpenAI } from '../src/index.ts';

function lastUserText(items: unknown): string | undefined {
  const list = Array.isArray(items) ? (items as { role?: string; content?: unknown }[]) : [];
  const content = list.filter((item) => item.role === 'user').at(-1)?.content;
  return typeof content === 'string' ? content : undefined;
}

for (const api of ['chat', 'responses'] as const) {
  describeProviderConformance({
    name: `ChatOpenAI (api: ${api})`,
    startServer: () => startFakeOpenAI(),
    createModel: (server: ConformanceServer, options) =>
      new ChatOpenAI({ api, apiKey: 'test-key', baseURL: (server as FakeProviderServer).baseURL, ...options }),
    promptOf: (body) => lastUserText(api === 'chat' ? (body as { messages?: unknown }).messages : (body as { input?: unknown }).input),
    midStreamErrorCode: 'server_error',
    supports: { perCallSettings: true, contentParts: true },
    partsOf: (body) => {
      const items = (api === 'chat' ? (body as { messages?: unknown }).messages : (body as { input?: unknown }).input) as { role?: string; content?: unknown }[] | undefined;
      const content = (items ?? []).filter((item) => item.role === 'user').at(-1)?.content;
      const kinds: Record<string, 'text' | 'image' | 'file'> = { text: 'text', input_text: 'text', image_url: 'image', input_image: 'image', file: 'file', input_file: 'file' };
      return Array.isArray(content) ? (content as { type: string }[]).map((part) => kinds[part.type] ?? 'other') : [];
    },
    settingsOf: (body) => {
      const wire = body as { temperature?: number; max_completion_tokens?: number; max_output_tokens?: number };
      return { temperature: wire.temperature, maxTokens: api === 'chat' ? wire.max_completion_tokens : wire.max_output_tokens };
    },
  });
}
