import { startFakeAnthropic, type FakeProviderServer } from '@sluice/testing';
import { describeProviderConformance, type ConformanceServer } from '../../../test/conformance/provider-conformance.ts';
import { ChatAnthropic } from '../src/index.ts';

describeProviderConformance({
  name: 'ChatAnthropic',
  startServer: () => startFakeAnthropic(),
  createModel: (server: ConformanceServer, options) => new ChatAnthropic({ apiKey: 'test-key', baseURL: (server as FakeProviderServer).baseURL, ...options }),
  promptOf: (body) => {
    const messages = ((body as { messages?: { role: string; content: unknown }[] }).messages ?? []).filter((message) => message.role === 'user');
    const content = messages.at(-1)?.content;
    return typeof content === 'string' ? content : undefined;
  },
  midStreamErrorCode: 'overloaded',
  supports: { perCallSettings: true, contentParts: true },
  partsOf: (body) => {
    const content = ((body as { messages?: { role: string; content: unknown }[] }).messages ?? []).filter((message) => message.role === 'user').at(-1)?.content;
    const kinds: Record<string, 'text' | 'image' | 'file'> = { text: 'text', image: 'image', document: 'file' };
    return Array.isArray(content) ? (content as { type: string }[]).map((part) => kinds[part.type] ?? 'other') : [];
  },
  settingsOf: (body) => {
    const wire = body as { temperature?: number; max_tokens?: number };
    return { temperature: wire.temperature, maxTokens: wire.max_tokens };
  },
});
