import Anthropic from '@anthropic-ai/sdk';
import { AIMessage, HumanMessage, InvalidArgumentError, ModelError, SystemMessage, ToolMessage, type Message } from '@sluice/core';
import { startFakeAnthropic } from '@sluice/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatAnthropic } from '../src/index.ts';

let server: Awaited<ReturnType<typeof startFakeAnthropic>>;
beforeAll(async () => {
  server = await startFakeAnthropic();
});
afterEach(() => server.reset());
afterAll(() => server.close());

describe('ChatAnthropic requests', () => {
  it('sends system as `system`, tool calls as tool_use blocks and tool results merged into one user turn', async () => {
    const chat = new ChatAnthropic({
      apiKey: 'k',
      baseURL: server.baseURL,
      maxTokens: 300,
      thinking: { budgetTokens: 100 },
      tools: [{ name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
    });
    await chat.invoke([
      new SystemMessage('Be brief.'),
      new HumanMessage('Weather in Paris and Rome?'),
      new AIMessage({
        content: 'Checking.',
        reasoningBlocks: [{ type: 'thinking', text: 'Two cities.', signature: 'c2lnbmVk' }],
        toolCalls: [
          { id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { id: 'toolu_2', name: 'get_weather', arguments: '{"city":"Rome"}' },
        ],
      }),
      new ToolMessage({ content: '18°C', toolCallId: 'toolu_1' }),
      new ToolMessage({ content: '24°C', toolCallId: 'toolu_2' }),
    ]);
    expect(server.requests[0]?.body).toEqual({
      model: 'claude-haiku-4-5',
      max_tokens: 300,
      stream: true,
      system: 'Be brief.',
      thinking: { type: 'enabled', budget_tokens: 100 },
      tools: [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'Two cities.', signature: 'c2lnbmVk' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Rome' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: '24°C' },
          ],
        },
      ],
    });
  });

  it('works with a ready client using bearer auth (authToken)', async () => {
    const client = new Anthropic({ authToken: 'bearer-token', baseURL: server.baseURL });
    server.script({ text: 'Hi!' });
    const reply = await new ChatAnthropic({ client }).invoke('Hello');
    expect(reply.content).toBe('Hi!');
    expect(server.requests[0]?.headers.authorization).toBe('Bearer bearer-token');
  });

  it('reads the stream of a wrapped client (create() without asResponse) through the SDK\'s own stream, with the same result', async () => {
    const client = new Anthropic({ apiKey: 'k', baseURL: server.baseURL });
    const create = client.messages.create.bind(client.messages);
    // An instrumented client: create() hands back a plain promise of the SDK's stream.
    const wrapped = { messages: { create: (body: never, options: never) => create(body, options).then((stream) => stream) } } as unknown as Anthropic;
    server.script({ reasoning: 'hmm', text: ['Hello', ', ', 'world'] }, { reasoning: 'hmm', text: ['Hello', ', ', 'world'] });
    const direct = await new ChatAnthropic({ client }).stream('Hi');
    const viaWrapper = await new ChatAnthropic({ client: wrapped }).stream('Hi');
    expect(viaWrapper.text).toBe('Hello, world');
    const comparable = (result: typeof direct) => ({ ...result, runId: '', responseId: '', metrics: undefined });
    expect(comparable(viaWrapper)).toEqual(comparable(direct));
  });

  it('normalises usage: inputTokens counts cached input too, cachedInputTokens the cache reads', async () => {
    server.script({ text: 'a b', usage: { inputTokens: 10, cachedInputTokens: 90 } });
    const result = await new ChatAnthropic({ apiKey: 'k', baseURL: server.baseURL }).stream('Hi');
    expect(result.usage).toEqual({ inputTokens: 100, cachedInputTokens: 90, outputTokens: 2, totalTokens: 102 });
  });

  // The SDK's MessageStream.finalMessage() keeps message_start's counts that message_delta
  // leaves out and takes the ones it carries: sluice's usage must be the same figures.
  for (const shape of ['output-only', 'cumulative'] as const) {
    it(`reports the usage the SDK's final message accumulates when message_delta is ${shape}`, async () => {
      const reply = { text: 'one two three', usage: { inputTokens: 12, cachedInputTokens: 30 }, cacheCreationInputTokens: 7, messageDeltaUsage: shape };
      server.script(reply, reply);
      const client = new Anthropic({ apiKey: 'k', baseURL: server.baseURL, maxRetries: 0 });
      const final = await client.messages.stream({ model: 'claude-haiku-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'Hi' }] }).finalMessage();
      const result = await new ChatAnthropic({ client }).stream('Hi');
      const { input_tokens, cache_creation_input_tokens, cache_read_input_tokens, output_tokens } = final.usage;
      expect([input_tokens, cache_creation_input_tokens, cache_read_input_tokens, output_tokens]).toEqual([12, 7, 30, 3]);
      const input = input_tokens + (cache_creation_input_tokens ?? 0) + (cache_read_input_tokens ?? 0);
      expect(result.usage).toEqual({ inputTokens: input, cachedInputTokens: cache_read_input_tokens, outputTokens: output_tokens, totalTokens: input + output_tokens });
    });
  }

  it('maps refusal to content-filter and max_tokens to length', async () => {
    server.script({ text: 'no', finishReason: 'content-filter' }, { text: 'cut', finishReason: 'length' });
    const chat = new ChatAnthropic({ apiKey: 'k', baseURL: server.baseURL });
    expect(await chat.stream('a')).toMatchObject({ finishReason: 'content-filter', providerFinishReason: 'refusal' });
    expect(await chat.stream('b')).toMatchObject({ finishReason: 'length', providerFinishReason: 'max_tokens' });
  });

  it('types a 529 with the request id and a hint', async () => {
    server.script({ status: 529 });
    const error = await new ChatAnthropic({ apiKey: 'k', baseURL: server.baseURL, maxRetries: 0 }).invoke('Hi').catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ code: 'overloaded', status: 529, retryable: true, requestId: expect.stringMatching(/^req_/) });
    expect((error as Error).message).toContain('Anthropic is overloaded; retry later');
  });
});

describe('ChatAnthropic thinking with tools', () => {
  const weather = [{ name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } }];
  const question = new HumanMessage('Weather in Paris?');
  const call = { id: 'toolu_1', name: 'get_weather', arguments: { city: 'Paris' } };
  const assistantContent = (index: number) => ((server.requests[index]?.body as { messages: { content: unknown }[] }).messages[1]?.content ?? []) as Record<string, unknown>[];

  for (const streaming of [true, false]) {
    it(`keeps the signed thinking on the reply and sends it back first in the tool-calling turn (${streaming ? 'streamed' : 'not streamed'})`, async () => {
      const chat = new ChatAnthropic({ apiKey: 'k', baseURL: server.baseURL, maxTokens: 300, thinking: { budgetTokens: 100 }, tools: weather, streaming });
      server.script({ reasoning: 'I should look it up.', toolCalls: [call] }, { reasoning: 'It is mild.', text: 'Mild, 18°C.' });
      const first = await chat.invoke([question]);
      expect(first.reasoning).toBe('I should look it up.');
      expect(first.reasoningBlocks).toEqual([{ type: 'thinking', text: 'I should look it up.', signature: expect.stringMatching(/.+/) }]);
      const second = await chat.invoke([question, first, new ToolMessage({ content: '18°C', toolCallId: 'toolu_1' })]);
      expect(second.content).toBe('Mild, 18°C.');
      expect(assistantContent(1)).toEqual([
        { type: 'thinking', thinking: 'I should look it up.', signature: first.reasoningBlocks?.[0]?.type === 'thinking' ? first.reasoningBlocks[0].signature : '' },
        { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
      ]);
    });
  }

  it('is refused with 400 invalid_request, as by the real API, when the tool-calling turn goes back without its thinking', async () => {
    const chat = new ChatAnthropic({ apiKey: 'k', baseURL: server.baseURL, maxTokens: 300, thinking: { budgetTokens: 100 }, tools: weather });
    server.script({ reasoning: 'I should look it up.', toolCalls: [call] });
    const first = await chat.invoke([question]);
    const dropped: Message = { ...first, reasoningBlocks: undefined };
    const error = await chat.invoke([question, dropped, new ToolMessage({ content: '18°C', toolCallId: 'toolu_1' })]).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelError);
    expect(error).toMatchObject({ code: 'invalid_request', status: 400, retryable: false });
    expect((error as Error).message).toContain('Expected `thinking` or `redacted_thinking`, but found `tool_use`');
  });

  it('keeps redacted thinking (its data only) and thinking in the order they came, and sends both back in that order', async () => {
    const chat = new ChatAnthropic({ apiKey: 'k', baseURL: server.baseURL, maxTokens: 300, thinking: { budgetTokens: 100 }, tools: weather });
    server.script({ redactedThinking: ['EmwKAhgBEgy3va', 'EmwKAhgBEgy3vb'], reasoning: 'Look it up.', toolCalls: [call] }, { text: 'Mild.' });
    const first = await chat.invoke([question]);
    expect(first.reasoning).toBe('Look it up.');
    expect(first.reasoningBlocks?.map((block) => block.type)).toEqual(['redacted', 'redacted', 'thinking']);
    expect(first.reasoningBlocks?.slice(0, 2)).toEqual([
      { type: 'redacted', data: 'EmwKAhgBEgy3va' },
      { type: 'redacted', data: 'EmwKAhgBEgy3vb' },
    ]);
    await chat.invoke([question, first, new ToolMessage({ content: '18°C', toolCallId: 'toolu_1' })]);
    expect(assistantContent(1).map((block) => block.type)).toEqual(['redacted_thinking', 'redacted_thinking', 'thinking', 'tool_use']);
    expect(assistantContent(1)[0]).toEqual({ type: 'redacted_thinking', data: 'EmwKAhgBEgy3va' });
  });

  it('keeps no block for thinking whose signature never came (a cut stream): it could not be sent back', async () => {
    const chat = new ChatAnthropic({ apiKey: 'k', baseURL: server.baseURL, thinking: { budgetTokens: 100 }, maxRetries: 0 });
    server.script({ reasoning: 'a b c', text: 'x', fault: { type: 'truncate', afterChunks: 2 } });
    let finish: Message | undefined;
    const failed = await (async () => {
      for await (const event of chat.stream('Hi')) if (event.type === 'finish') finish = event.message;
    })().catch((error: unknown) => error);
    expect(failed).toMatchObject({ code: 'stream_truncated' });
    expect(finish?.reasoning).toBe('a b');
    expect(finish?.reasoningBlocks).toBeUndefined();
  });
});

describe('ChatAnthropic options are checked', () => {
  it('refuses to start without an API key, saying where one comes from', () => {
    const saved = process.env.ANTHROPIC_API_KEY;
    delete process.env.ANTHROPIC_API_KEY;
    try {
      expect(() => new ChatAnthropic()).toThrow(InvalidArgumentError);
      expect(() => new ChatAnthropic()).toThrow(/set ANTHROPIC_API_KEY/);
    } finally {
      if (saved !== undefined) process.env.ANTHROPIC_API_KEY = saved;
    }
  });

  it('rejects tool-call arguments that are not JSON, and a prompt with only a system message', async () => {
    const chat = new ChatAnthropic({ apiKey: 'k', baseURL: server.baseURL });
    await expect(chat.invoke([new AIMessage({ content: '', toolCalls: [{ id: 't', name: 'f', arguments: '{oops' }] })])).rejects.toThrow('arguments are not JSON');
    await expect(chat.invoke([new SystemMessage('only a system prompt')])).rejects.toThrow('at least one user or assistant message');
    expect(server.requests).toHaveLength(0);
  });
});

describe('ChatAnthropic content parts', () => {
  const png = 'iVBORw0KGgo=';
  const pdf = 'JVBERi0xLjQ=';

  it('sends parts as text, image (base64 or url source) and document blocks; a data: URL goes as base64', async () => {
    await new ChatAnthropic({ apiKey: 'k', baseURL: server.baseURL }).invoke([
      new HumanMessage([
        { type: 'text', text: 'Compare these.' },
        { type: 'image', url: 'https://example.com/cat.png' },
        { type: 'image', data: png, mediaType: 'image/png' },
        { type: 'image', url: `data:image/jpeg;base64,${png}` },
        { type: 'file', data: pdf, mediaType: 'application/pdf', filename: 'report.pdf' },
        { type: 'file', url: 'https://example.com/a.pdf', mediaType: 'application/pdf' },
      ]),
    ]);
    expect(server.requests[0]?.body).toMatchObject({
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare these.' },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: png } },
            { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: png } },
            { type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf }, title: 'report.pdf' },
            { type: 'document', source: { type: 'url', url: 'https://example.com/a.pdf' } },
          ],
        },
      ],
    });
  });

  it('refuses a part Anthropic cannot take, naming it, before any request', async () => {
    const chat = new ChatAnthropic({ apiKey: 'k', baseURL: server.baseURL });
    const csv = new HumanMessage([{ type: 'text', text: 'Sum it' }, { type: 'file', data: 'YSxi', mediaType: 'text/csv' }]);
    const refused = await chat.invoke([csv]).catch((caught: unknown) => caught);
    expect(InvalidArgumentError.isInstance(refused)).toBe(true);
    expect(refused).toMatchObject({ argument: 'messages[0].content[1]', message: expect.stringContaining('Anthropic takes PDF documents (application/pdf) only') });
    await expect(chat.invoke([new HumanMessage([{ type: 'image', data: 'AAAA', mediaType: 'image/bmp' }])])).rejects.toThrow('is a image/bmp image');
    expect(server.requests).toHaveLength(0);
  });
});
