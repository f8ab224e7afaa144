// The fake servers' events must have the shapes of real recorded streams (fixtures/*.sse):
// for every event a server sends, some recorded event of the same kind has exactly the same
// field paths. A field the servers invent, or a recorded field they leave out, fails here.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, startFakeOpenAI, type FakeProviderServer, type FakeTurn } from '../src/index.ts';
import { parseSse, post } from './read-sse.ts';

type Json = Record<string, unknown>;

function fixture(name: string): Json[] {
  const text = readFileSync(new URL(`../fixtures/${name}`, import.meta.url), 'utf8');
  return parseSse(text)
    .filter((event) => event.data !== '[DONE]')
    .map((event) => JSON.parse(event.data) as Json);
}

/** Every field path in a value: `a.b`, `a[].c` (array elements merged). */
function paths(value: unknown, prefix = '', into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    if (value.length === 0) into.add(`${prefix}[]`);
    for (const item of value) paths(item, `${prefix}[]`, into);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) paths(item, prefix === '' ? key : `${prefix}.${key}`, into);
  } else {
    into.add(prefix);
  }
  return into;
}

function shape(value: Json, ignore: (path: string) => boolean): string[] {
  return [...paths(value)].filter((path) => !ignore(path)).sort();
}

interface Rules {
  kind(event: Json): string;
  /** Paths left out of the comparison (with why, in the caller). */
  ignore(kind: string, path: string): boolean;
}

function expectRecordedShapes(emitted: Json[], recorded: Json[], rules: Rules): void {
  const byKind = new Map<string, string[][]>();
  for (const event of recorded) {
    const kind = rules.kind(event);
    const list = byKind.get(kind) ?? [];
    list.push(shape(event, (path) => rules.ignore(kind, path)));
    byKind.set(kind, list);
  }
  for (const event of emitted) {
    const kind = rules.kind(event);
    const candidates = byKind.get(kind);
    expect(candidates, `no recorded event of kind ${kind}`).toBeDefined();
    const mine = shape(event, (path) => rules.ignore(kind, path));
    const match = (candidates as string[][]).find((candidate) => candidate.join('|') === mine.join('|'));
    if (match === undefined) expect(mine, `kind ${kind}`).toEqual((candidates as string[][])[0]);
  }
}

async function emittedEvents(server: FakeProviderServer, path: string, body: Json, turn: FakeTurn, headers?: Record<string, string>): Promise<Json[]> {
  server.script(turn);
  const response = await post(`${server.url}${path}`, body, headers);
  return parseSse(response.text)
    .filter((event) => event.data !== '[DONE]')
    .map((event) => JSON.parse(event.data) as Json);
}

let openai: FakeProviderServer;
let anthropic: FakeProviderServer;
beforeAll(async () => {
  openai = await startFakeOpenAI();
  anthropic = await startFakeAnthropic();
});
afterAll(async () => {
  await openai.close();
  await anthropic.close();
});

describe('fake server events have the shapes of recorded streams', () => {
  it('OpenAI Chat Completions chunks match openai-chat-*.sse', async () => {
    const body = { model: 'gpt-4.1-nano', messages: [{ role: 'user', content: 'Hi' }], stream: true, stream_options: { include_usage: true } };
    const emitted = [
      ...(await emittedEvents(openai, '/v1/chat/completions', body, { reasoning: 'Think', text: 'Hello there', toolCalls: [{ name: 'f', arguments: '{"a":1}' }] })),
      ...(await emittedEvents(openai, '/v1/chat/completions', body, { text: 'a b', fault: { type: 'error-event', afterChunks: 1 } })),
    ];
    const errors = JSON.parse(readFileSync(new URL('../fixtures/openai-errors.json', import.meta.url), 'utf8')) as { serverError: Json };
    const recorded = [...fixture('openai-chat-text.sse'), ...fixture('openai-chat-tool-call.sse'), ...fixture('openai-chat-reasoning.sse'), errors.serverError];
    expectRecordedShapes(emitted, recorded, {
      kind(event) {
        if ('error' in event) return 'error';
        const choices = event.choices as { delta: Json; finish_reason: unknown }[];
        const choice = choices[0];
        if (choice === undefined) return 'usage';
        const delta = choice.delta;
        if ('role' in delta) return 'role';
        if ('reasoning_content' in delta) return 'reasoning';
        if ('tool_calls' in delta) return (delta.tool_calls as Json[])[0]?.id === undefined ? 'tool-arguments' : 'tool-start';
        if (choice.finish_reason !== null) return 'finish';
        return 'content';
      },
      ignore(kind, path) {
        // The tool-call recording predates `obfuscation`; the reasoning recording is DeepSeek's,
        // whose envelope differs from OpenAI's: only its delta is compared. The reasoning chunk's
        // role chunk (`reasoning_content: ""`) is DeepSeek-only and not sent.
        if (kind === 'reasoning') return !path.startsWith('choices[].delta');
        if (path === 'obfuscation') return kind === 'tool-start' || kind === 'tool-arguments';
        return false;
      },
    });
  });

  it('OpenAI Responses events match openai-responses-*.sse', async () => {
    const body = { model: 'gpt-5-nano', input: 'Hi', stream: true };
    const emitted = [
      ...(await emittedEvents(openai, '/v1/responses', body, { reasoning: 'Think', text: 'Hello there', toolCalls: [{ name: 'f', arguments: '{"a":1}' }] })),
      ...(await emittedEvents(openai, '/v1/responses', body, { text: 'a b', fault: { type: 'error-event', afterChunks: 1 } })),
    ];
    const recorded = [
      ...fixture('openai-responses-text.sse'),
      ...fixture('openai-responses-tool-call.sse'),
      ...fixture('openai-responses-reasoning.sse'),
      ...fixture('openai-responses-error.sse'),
    ];
    expectRecordedShapes(emitted, recorded, {
      kind(event) {
        const item = event.item as { type?: string } | undefined;
        return item?.type === undefined ? String(event.type) : `${String(event.type)}:${item.type}`;
      },
      ignore(_kind, path) {
        // The response object's output items are compared through output_item events; the
        // recordings span API versions whose response objects differ in a few optional fields
        // (prompt_cache_retention, tool_usage...), so each must equal some recording, and the
        // encrypted reasoning is only sent when asked for (include: reasoning.encrypted_content).
        return path.startsWith('response.output[]') || path === 'item.encrypted_content' || path === 'response.prompt_cache_retention';
      },
    });
  });

  it('Anthropic Messages events match anthropic-*.sse', async () => {
    const body = { model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }], stream: true };
    const headers = { 'x-api-key': 'k' };
    const emitted = [
      ...(await emittedEvents(anthropic, '/v1/messages', body, { reasoning: 'Think', text: 'Hello there', toolCalls: [{ name: 'f', arguments: '{"a":1}' }] }, headers)),
      ...(await emittedEvents(anthropic, '/v1/messages', body, { text: 'a b', fault: { type: 'error-event', afterChunks: 1 } }, headers)),
    ];
    const errors = JSON.parse(readFileSync(new URL('../fixtures/anthropic-errors.json', import.meta.url), 'utf8')) as { streamErrorEvent: string };
    const recorded = [
      ...fixture('anthropic-text.sse'),
      ...fixture('anthropic-thinking.sse'),
      ...fixture('anthropic-tool-use.sse'),
      ...parseSse(errors.streamErrorEvent).map((event) => JSON.parse(event.data) as Json),
    ];
    expectRecordedShapes(emitted, recorded, {
      kind(event) {
        const block = event.content_block as { type?: string } | undefined;
        const delta = event.delta as { type?: string } | undefined;
        return `${String(event.type)}:${block?.type ?? delta?.type ?? ''}`;
      },
      ignore(_kind, path) {
        // inference_geo is reported by some models and not others; context_management only
        // when context editing is on.
        return path === 'message.usage.inference_geo' || path.startsWith('context_management');
      },
    });
  });
});
