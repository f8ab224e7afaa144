import { AIMessage, HumanMessage, InvalidArgumentError, ModelError, SystemMessage, ToolMessage } from '@sluice/core';
import { startFakeOpenAI, type FakeProviderServer } from '@sluice/testing';
import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatOpenAI } from '../src/index.ts';

let server: FakeProviderServer;
beforeAll(async () => {
  server = await startFakeOpenAI();
});
afterEach(() => server.reset());
afterAll(() => server.close());

const conversation = [
  new SystemMessage('Be brief.'),
  new HumanMessage('Weather in Paris?'),
  new AIMessage({ content: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] }),
  new ToolMessage({ content: '18°C', toolCallId: 'call_1' }),
];

describe('ChatOpenAI requests', () => {
  it('sends Chat Completions requests with usage requested, tools and options, and the messages converted', async () => {
    const chat = new ChatOpenAI({
      apiKey: 'k',
      baseURL: server.baseURL,
      model: 'gpt-4.1-mini',
      temperature: 0.2,
      maxTokens: 50,
      tools: [{ name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } } }],
      extraBody: { seed: 7 },
    });
    await chat.invoke(conversation);
    expect(server.requests[0]?.body).toEqual({
      model: 'gpt-4.1-mini',
      stream: true,
      stream_options: { include_usage: true },
      temperature: 0.2,
      max_completion_tokens: 50,
      seed: 7,
      tools: [{ type: 'function', function: { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: '18°C' },
      ],
    });
    expect(server.requests[0]?.headers.authorization).toBe('Bearer k');
  });

  it('sends Responses API requests with input items, function calls and their outputs', async () => {
    const chat = new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL, api: 'responses', maxTokens: 20, reasoningEffort: 'low' });
    await chat.invoke(conversation);
    expect(server.requests[0]?.path).toBe('/v1/responses');
    expect(server.requests[0]?.body).toEqual({
      model: 'gpt-4o-mini',
      stream: true,
      max_output_tokens: 20,
      reasoning: { effort: 'low', summary: 'auto' },
      input: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather in Paris?' },
        { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'call_1', output: '18°C' },
      ],
    });
  });

  it('leaves stream_options out when includeUsage is false (for servers that reject it)', async () => {
    await new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL, includeUsage: false }).invoke('Hi');
    expect(server.requests[0]?.body).not.toHaveProperty('stream_options');
  });

  it('uses a ready client as given, bypassing its own retries (sluice retries)', async () => {
    const client = new OpenAI({ apiKey: 'from-client', baseURL: server.baseURL, maxRetries: 5 });
    server.script({ status: 500 }, { status: 500 }, { text: 'ok' });
    const chat = new ChatOpenAI({ client, maxRetries: 1, retry: { initialDelayMs: 1, maxDelayMs: 1 } });
    await expect(chat.invoke('Hi')).rejects.toMatchObject({ code: 'server_error' });
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]?.headers.authorization).toBe('Bearer from-client');
    expect(chat.client).toBe(client);
  });

  it('reads the stream of a wrapped client (create() without asResponse) through the SDK\'s own stream, with the same result', async () => {
    const client = new OpenAI({ apiKey: 'k', baseURL: server.baseURL });
    const create = client.chat.completions.create.bind(client.chat.completions);
    // An instrumented client: create() hands back a plain promise of the SDK's stream.
    const wrapped = { chat: { completions: { create: (body: never, options: never) => create(body, options).then((stream) => stream) } } } as unknown as OpenAI;
    server.script({ text: ['Hello', ', ', 'world'] }, { text: ['Hello', ', ', 'world'] });
    const direct = await new ChatOpenAI({ client }).stream('Hi');
    const viaWrapper = await new ChatOpenAI({ client: wrapped }).stream('Hi');
    expect(viaWrapper.text).toBe('Hello, world');
    const comparable = (result: typeof direct) => ({ ...result, runId: '', responseId: '', metrics: undefined });
    expect(comparable(viaWrapper)).toEqual(comparable(direct));
  });

  it('reads a body that is not a web ReadableStream (a custom fetch answering with a Node stream) through the SDK\'s own stream', async () => {
    const nodeBodies: unknown[] = [];
    const customFetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const response = await fetch(url, init);
      const body = Readable.fromWeb(response.body as never);
      nodeBodies.push(body);
      // What some fetch polyfills hand back: a response whose body is a Node stream.
      return { ok: response.ok, status: response.status, statusText: response.statusText, headers: response.headers, url: response.url, body } as unknown as Response;
    };
    const client = new OpenAI({ apiKey: 'k', baseURL: server.baseURL, fetch: customFetch as typeof fetch });
    server.script({ text: ['Hello', ', ', 'world'] });
    const result = await new ChatOpenAI({ client }).stream('Hi');
    expect(result.text).toBe('Hello, world');
    expect(result.finishReason).toBe('stop');
    expect(nodeBodies).toHaveLength(1);
  });

  it('reads OPENAI_API_KEY and OPENAI_BASE_URL when no key or URL is given', async () => {
    const saved = { key: process.env.OPENAI_API_KEY, url: process.env.OPENAI_BASE_URL };
    process.env.OPENAI_API_KEY = 'env-key';
    process.env.OPENAI_BASE_URL = server.baseURL;
    try {
      await new ChatOpenAI().invoke('Hi');
      expect(server.requests[0]?.headers.authorization).toBe('Bearer env-key');
    } finally {
      if (saved.key === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = saved.key;
      if (saved.url === undefined) delete process.env.OPENAI_BASE_URL;
      else process.env.OPENAI_BASE_URL = saved.url;
    }
  });

  it('assembles reasoning_content deltas (DeepSeek, vLLM) into the result\'s reasoning', async () => {
    server.script({ reasoning: 'deep thought', text: '42' });
    const result = await new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL }).stream('Q');
    expect(result.reasoning).toBe('deep thought');
  });
});

describe('ChatOpenAI errors', () => {
  it('fails with a clear model_error on an event that is not JSON, keeping the text before it', async () => {
    // A server that breaks the wire format mid-stream (the fake server only sends valid frames).
    const broken = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (content: string) => `data: ${JSON.stringify({ id: 'c1', model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
      response.end(`${chunk('Hello')}${chunk(' there')}data: {"id": "c1", "choices": [\n\n${chunk('never')}`);
    });
    await new Promise<void>((resolve) => broken.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = broken.address() as AddressInfo;
      const stream = new ChatOpenAI({ apiKey: 'k', baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 }).stream('Hi');
      const texts: string[] = [];
      const error = await (async () => {
        for await (const event of stream) if (event.type === 'text-delta') texts.push(event.text);
      })().catch((thrown: unknown) => thrown);
      expect(texts).toEqual(['Hello', ' there']);
      expect(error).toBeInstanceOf(ModelError);
      expect((error as ModelError).code).toBe('model_error');
      expect((error as ModelError).message).toContain('not JSON: {"id": "c1", "choices": [');
      const result = await stream.then(undefined, () => undefined);
      expect(result).toBeUndefined();
    } finally {
      await new Promise((resolve) => broken.close(resolve));
    }
  });

  it('types a mid-stream error event on the Responses API as server_error and says the stream failed', async () => {
    server.script({ text: 'a b', fault: { type: 'error-event', afterChunks: 1 } });
    const error = await new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL, api: 'responses' }).invoke('Hi').catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(ModelError);
    expect((error as ModelError).message).toMatch(/^\[sluice\/openai\] server_error: the stream failed/);
  });

  it('says what to do when the key is rejected', async () => {
    server.script({ status: 401 });
    const error = (await new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL }).invoke('Hi').catch((thrown: unknown) => thrown)) as ModelError;
    expect(error.message).toContain('check OPENAI_API_KEY or the apiKey option');
    expect(error.requestId).toMatch(/^req_/);
  });

  it('fails at once (no retry) when retry-after asks for more than a minute', async () => {
    server.script({ status: 429, retryAfter: 120 });
    const error = (await new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL }).invoke('Hi').catch((thrown: unknown) => thrown)) as ModelError;
    expect(error).toMatchObject({ code: 'rate_limited', retryAfterMs: 120_000 });
    expect(server.requests).toHaveLength(1);
  });

  it('types a 404 (unknown model or wrong baseURL) as not_found', async () => {
    const chat = new ChatOpenAI({ apiKey: 'k', baseURL: `${server.url}/wrong` });
    await expect(chat.invoke('Hi')).rejects.toMatchObject({ code: 'not_found', status: 404, retryable: false });
  });
});

describe('ChatOpenAI per-call settings', () => {
  const weatherSchema = { type: 'object', properties: { city: { type: 'string' }, celsius: { type: 'number' } }, required: ['city', 'celsius'], additionalProperties: false };
  const lookup = { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } } };

  it('maps every setting onto a Chat Completions body, the call over the constructor, providerOptions.openai last', async () => {
    const chat = new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL, temperature: 1, maxTokens: 500, topP: 0.5, extraBody: { user: 'from-extra' } });
    server.script({ text: '{"city":"Paris","celsius":18}' });
    await chat.invoke('Weather in Paris as JSON', {
      temperature: 0,
      maxTokens: 64,
      stop: ['END'],
      seed: 7,
      tools: [lookup],
      toolChoice: { name: 'get_weather' },
      responseFormat: { type: 'json-schema', name: 'weather', description: 'The weather', schema: weatherSchema, strict: true },
      providerOptions: { openai: { user: 'u-1', logprobs: true }, anthropic: { top_k: 5 } },
    });
    expect(server.requests[0]?.body).toMatchObject({
      temperature: 0,
      max_completion_tokens: 64,
      top_p: 0.5,
      stop: ['END'],
      seed: 7,
      tools: [{ type: 'function', function: { name: 'get_weather' } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
      response_format: { type: 'json_schema', json_schema: { name: 'weather', description: 'The weather', schema: weatherSchema, strict: true } },
      user: 'u-1',
      logprobs: true,
    });
    expect(server.requests[0]?.body).not.toHaveProperty('top_k');
  });

  it('maps every setting the Responses API has onto its body (max_output_tokens, tool_choice, text.format)', async () => {
    const chat = new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL, api: 'responses', temperature: 1 });
    server.script({ text: '{"city":"Paris","celsius":18}' }, { text: '{}' });
    await chat.invoke('Weather in Paris as JSON', {
      temperature: 0.3,
      maxTokens: 64,
      topP: 0.9,
      tools: [lookup],
      toolChoice: 'required',
      responseFormat: { type: 'json-schema', name: 'weather', schema: weatherSchema },
      providerOptions: { openai: { store: false } },
    });
    expect(server.requests[0]?.body).toMatchObject({
      temperature: 0.3,
      max_output_tokens: 64,
      top_p: 0.9,
      tools: [{ type: 'function', name: 'get_weather' }],
      tool_choice: 'required',
      text: { format: { type: 'json_schema', name: 'weather', schema: weatherSchema } },
      store: false,
    });
    await chat.invoke('Hi as JSON', { toolChoice: { name: 'get_weather' }, tools: [lookup], responseFormat: { type: 'json' } });
    expect(server.requests[1]?.body).toMatchObject({ tool_choice: { type: 'function', name: 'get_weather' }, text: { format: { type: 'json_object' } }, temperature: 1 });
  });

  it('leaves tool_choice auto or none out without tools, and refuses a choice that needs a tool, before any request (the API answers 400)', async () => {
    for (const api of ['chat', 'responses'] as const) {
      server.reset();
      const chat = new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL, api });
      server.script({ text: 'fine' });
      await chat.invoke('Hi', { toolChoice: 'auto' });
      expect(server.requests[0]?.body).not.toHaveProperty('tool_choice');
      await expect(chat.invoke('Hi', { toolChoice: 'required' })).rejects.toMatchObject({ code: 'invalid_argument', argument: 'toolChoice' });
      await expect(chat.invoke('Hi', { tools: [lookup], toolChoice: { name: 'nope' } })).rejects.toMatchObject({ argument: 'toolChoice' });
      expect(server.requests).toHaveLength(1);
    }
  });

  it("sends json mode as response_format json_object on Chat Completions, and text (the default) as nothing", async () => {
    const chat = new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL, responseFormat: { type: 'json' } });
    server.script({ text: '{"ok":true}' }, { text: 'plain' });
    const result = await chat.stream('JSON please');
    expect(result.object).toEqual({ ok: true });
    expect(server.requests[0]?.body).toMatchObject({ response_format: { type: 'json_object' } });
    await chat.stream('Now plain text', { responseFormat: { type: 'text' } });
    expect(server.requests[1]?.body).not.toHaveProperty('response_format');
  });

  it('sends a zod-shaped schema as its toJSONSchema() and validates the reply with its safeParse()', async () => {
    const schema = {
      safeParse: (value: unknown) =>
        typeof (value as { celsius?: unknown }).celsius === 'number'
          ? { success: true as const, data: value as { celsius: number } }
          : { success: false as const, error: { issues: [{ path: ['celsius'], message: 'expected number' }] } },
      toJSONSchema: () => ({ type: 'object', properties: { celsius: { type: 'number' } } }),
    };
    server.script({ text: '{"celsius":18}' });
    const result = await new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL }).stream('Temperature?', { responseFormat: { type: 'json-schema', schema } });
    expect(result.object?.celsius).toBe(18);
    expect(server.requests[0]?.body).toMatchObject({
      response_format: { type: 'json_schema', json_schema: { name: 'response', schema: { type: 'object', properties: { celsius: { type: 'number' } } } } },
    });
  });

  it('refuses stop and seed on the Responses API, which has neither, before any request', async () => {
    const chat = new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL, api: 'responses' });
    const stop = await chat.invoke('Hi', { stop: ['END'] }).catch((caught: unknown) => caught);
    expect(InvalidArgumentError.isInstance(stop)).toBe(true);
    expect(stop).toMatchObject({ argument: 'stop', message: expect.stringContaining('the Responses API has no stop sequences') });
    const seed = await chat.invoke('Hi', { seed: 1 }).catch((caught: unknown) => caught);
    expect(seed).toMatchObject({ code: 'invalid_argument', argument: 'seed' });
    expect(server.requests).toHaveLength(0);
  });
});

describe('ChatOpenAI options are checked', () => {
  it('refuses to start without an API key, saying where one comes from', () => {
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      expect(() => new ChatOpenAI()).toThrow(InvalidArgumentError);
      expect(() => new ChatOpenAI()).toThrow(/pass apiKey, set OPENAI_API_KEY, or pass a ready client/);
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
    }
  });

  it('rejects an unknown api, a negative idle timeout and a fractional maxRetries', () => {
    expect(() => new ChatOpenAI({ apiKey: 'k', api: 'completions' as never })).toThrow('api must be "chat" or "responses"');
    expect(() => new ChatOpenAI({ apiKey: 'k', idleTimeoutMs: -1 })).toThrow('idleTimeoutMs must be a number >= 0');
    expect(() => new ChatOpenAI({ apiKey: 'k', maxRetries: 1.5 })).toThrow('maxRetries must be a whole number >= 0');
    expect(() => new ChatOpenAI({ apiKey: 'k', model: '' })).toThrow('model must be a non-empty string');
  });

  it('rejects a tool message without toolCallId with a clear error', async () => {
    const chat = new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL });
    await expect(chat.invoke([new HumanMessage('Hi'), { role: 'tool', content: 'x' }])).rejects.toThrow('has role "tool" but no toolCallId');
    expect(server.requests).toHaveLength(0);
  });
});

describe('ChatOpenAI content parts', () => {
  const png = 'iVBORw0KGgo=';
  const pdf = 'JVBERi0xLjQ=';
  const question = new HumanMessage([
    { type: 'text', text: 'Compare these.' },
    { type: 'image', url: 'https://example.com/cat.png' },
    { type: 'image', data: png, mediaType: 'image/png' },
    { type: 'file', data: pdf, mediaType: 'application/pdf', filename: 'report.pdf' },
  ]);

  it('sends parts to Chat Completions as text, image_url (base64 as a data: URL) and file parts', async () => {
    await new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL }).invoke([new SystemMessage('Be brief.'), question]);
    expect(server.requests[0]?.body).toMatchObject({
      messages: [
        { role: 'system', content: 'Be brief.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Compare these.' },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.png' } },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${png}` } },
            { type: 'file', file: { file_data: `data:application/pdf;base64,${pdf}`, filename: 'report.pdf' } },
          ],
        },
      ],
    });
  });

  it('sends parts to the Responses API as input_text, input_image and input_file (by data or URL)', async () => {
    const withUrl = new HumanMessage([{ type: 'file', url: 'https://example.com/a.pdf', mediaType: 'application/pdf' }]);
    await new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL, api: 'responses' }).invoke([question, new AIMessage('Done.'), withUrl]);
    expect(server.requests[0]?.body).toMatchObject({
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'Compare these.' },
            { type: 'input_image', image_url: 'https://example.com/cat.png', detail: 'auto' },
            { type: 'input_image', image_url: `data:image/png;base64,${png}`, detail: 'auto' },
            { type: 'input_file', file_data: `data:application/pdf;base64,${pdf}`, filename: 'report.pdf' },
          ],
        },
        { role: 'assistant', content: 'Done.' },
        { role: 'user', content: [{ type: 'input_file', file_url: 'https://example.com/a.pdf' }] },
      ],
    });
  });

  it('refuses a part OpenAI cannot take, naming it, before any request', async () => {
    const chat = new ChatOpenAI({ apiKey: 'k', baseURL: server.baseURL });
    const text = new HumanMessage([{ type: 'file', data: 'aGVsbG8=', mediaType: 'text/plain', filename: 'a.txt' }]);
    const refused = await chat.invoke([text]).catch((caught: unknown) => caught);
    expect(InvalidArgumentError.isInstance(refused)).toBe(true);
    expect(refused).toMatchObject({ argument: 'messages[0].content[0]', message: expect.stringContaining('OpenAI takes PDF files (application/pdf) only') });
    const byUrl = new HumanMessage([{ type: 'file', url: 'https://example.com/a.pdf', mediaType: 'application/pdf' }]);
    await expect(chat.invoke([byUrl])).rejects.toThrow('Chat Completions takes files as base64 `data` only');
    const tiff = new HumanMessage([{ type: 'image', data: 'AAAA', mediaType: 'image/tiff' }]);
    await expect(chat.invoke([tiff])).rejects.toThrow('is a image/tiff image');
    expect(server.requests).toHaveLength(0);
  });
});
