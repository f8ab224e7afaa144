import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeProviderServer } from '../src/index.ts';
import { parseSse, payloads, post } from './read-sse.ts';

let server: FakeProviderServer;
beforeAll(async () => {
  server = await startFakeOpenAI();
});
afterEach(() => server.reset());
afterAll(() => server.close());

const chatBody = (extra: Record<string, unknown> = {}) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'user', content: 'Say hello' }],
  stream: true,
  ...extra,
});

describe('startFakeOpenAI: Chat Completions', () => {
  it('listens on 127.0.0.1 and gives the SDK base URL with /v1', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.baseURL).toBe(`${server.url}/v1`);
  });

  it('streams the scripted text as data: chunks ending with the finish chunk and [DONE]', async () => {
    server.script({ text: 'Hello there friend' });
    const response = await post(`${server.baseURL}/chat/completions`, chatBody());
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = parseSse(response.text);
    expect(events.every((event) => event.event === undefined)).toBe(true);
    expect(events.at(-1)?.data).toBe('[DONE]');
    const chunks = payloads(response.text) as { object: string; choices: { delta: { content?: string | null }; finish_reason: string | null }[] }[];
    expect(chunks.every((chunk) => chunk.object === 'chat.completion.chunk')).toBe(true);
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe('Hello there friend');
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.some((chunk) => 'usage' in chunk)).toBe(false);
  });

  it('adds the usage chunk with empty choices when stream_options.include_usage is set', async () => {
    server.script({ text: 'one two three', usage: { inputTokens: 7 } });
    const response = await post(`${server.baseURL}/chat/completions`, chatBody({ stream_options: { include_usage: true } }));
    const chunks = payloads(response.text);
    const last = chunks.at(-1) as { choices: unknown[]; usage: Record<string, number> };
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
    expect(chunks.slice(0, -1).every((chunk) => chunk.usage === null)).toBe(true);
  });

  it('streams tool calls as tool_calls deltas and finishes with tool_calls', async () => {
    server.script({ toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: { city: 'Paris' }, chunks: ['{"city"', ':"Paris"}'] }] });
    const chunks = payloads((await post(`${server.baseURL}/chat/completions`, chatBody())).text) as {
      choices: { delta: { tool_calls?: { index: number; id?: string; function: { name?: string; arguments: string } }[] }; finish_reason: string | null }[];
    }[];
    const calls = chunks.flatMap((chunk) => chunk.choices[0]?.delta.tool_calls ?? []);
    expect(calls[0]).toEqual({ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } });
    expect(calls.map((call) => call.function.arguments).join('')).toBe('{"city":"Paris"}');
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('answers a non-streamed request with a chat.completion object', async () => {
    server.script({ text: 'Hi!', finishReason: 'length' });
    const response = await post(`${server.baseURL}/chat/completions`, chatBody({ stream: false }));
    const body = JSON.parse(response.text) as { object: string; choices: { message: { content: string }; finish_reason: string }[]; usage: { completion_tokens: number } };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]?.message.content).toBe('Hi!');
    expect(body.choices[0]?.finish_reason).toBe('length');
    expect(body.usage.completion_tokens).toBe(1);
  });

  it('answers a scripted 429 with retry-after, retry-after-ms, the OpenAI error body and a request id', async () => {
    server.script({ status: 429, retryAfter: 2, retryAfterMs: 1500 });
    const response = await post(`${server.baseURL}/chat/completions`, chatBody());
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('2');
    expect(response.headers.get('retry-after-ms')).toBe('1500');
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(JSON.parse(response.text)).toMatchObject({ error: { type: 'requests', code: 'rate_limit_exceeded' } });
    expect(server.pending).toBe(0);
  });

  it('rejects a request without a bearer key, or with a key other than the configured one, with 401', async () => {
    expect((await post(`${server.baseURL}/chat/completions`, chatBody(), {})).status).toBe(401);
    const strict = await startFakeOpenAI({ apiKey: 'right' });
    try {
      expect((await post(`${strict.baseURL}/chat/completions`, chatBody(), { authorization: 'Bearer wrong' })).status).toBe(401);
      expect((await post(`${strict.baseURL}/chat/completions`, chatBody(), { authorization: 'Bearer right' })).status).toBe(200);
    } finally {
      await strict.close();
    }
  });

  it('answers a malformed request with a 400 that names the missing field', async () => {
    const response = await post(`${server.baseURL}/chat/completions`, { model: 'gpt-4o-mini', stream: true });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text)).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringContaining("'messages'") } });
  });

  it('refuses, as the real API does, tool_choice without tools and JSON mode without the word json in the messages', async () => {
    const noTools = await post(`${server.baseURL}/chat/completions`, chatBody({ tool_choice: 'auto' }));
    expect(noTools.status).toBe(400);
    expect(JSON.parse(noTools.text)).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringContaining("'tool_choice' is only allowed when 'tools' are specified") } });
    const jsonMode = await post(`${server.baseURL}/chat/completions`, chatBody({ response_format: { type: 'json_object' } }));
    expect(jsonMode.status).toBe(400);
    expect(JSON.parse(jsonMode.text)).toMatchObject({ error: { message: expect.stringContaining("must contain the word 'json'") } });
    const fine = await post(`${server.baseURL}/chat/completions`, chatBody({ response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'Answer in JSON' }] }));
    expect(fine.status).toBe(200);
    const responsesNoTools = await post(`${server.baseURL}/responses`, { model: 'gpt-4o-mini', input: 'Say hello', stream: true, tool_choice: 'required' });
    expect(responsesNoTools.status).toBe(400);
    const responsesJson = await post(`${server.baseURL}/responses`, { model: 'gpt-4o-mini', input: 'Say hello', stream: true, text: { format: { type: 'json_object' } } });
    expect(responsesJson.status).toBe(400);
  });

  it('answers an unknown path with 404 and still records the request', async () => {
    const response = await post(`${server.url}/v2/nothing`, {});
    expect(response.status).toBe(404);
    expect(server.requests.map((request) => request.path)).toEqual(['/v2/nothing']);
  });

  it('records each request: path, headers, parsed body and outcome', async () => {
    await post(`${server.baseURL}/chat/completions`, chatBody());
    const [request] = server.requests;
    expect(request?.path).toBe('/v1/chat/completions');
    expect(request?.headers.authorization).toBe('Bearer test-key');
    expect(request?.body).toMatchObject({ model: 'gpt-4o-mini', stream: true });
    expect(await request?.settled).toBe('completed');
    expect(request?.outcome).toBe('completed');
  });

  it('sends a mid-stream error payload after the given number of chunks (error-event fault)', async () => {
    server.script({ text: 'a b c d', fault: { type: 'error-event', afterChunks: 2, message: 'boom' } });
    const events = parseSse((await post(`${server.baseURL}/chat/completions`, chatBody())).text);
    const contents = events.flatMap((event) => {
      const chunk = JSON.parse(event.data) as { choices?: { delta: { content?: string } }[] };
      return chunk.choices?.[0]?.delta.content ? [chunk.choices[0].delta.content] : [];
    });
    expect(contents).toEqual(['a', ' b']);
    expect(JSON.parse(events.at(-1)?.data ?? '{}')).toEqual({ error: { message: 'boom', type: 'server_error', param: null, code: null } });
    expect(server.requests[0]?.outcome).toBe('fault');
  });

  it('ends the body without [DONE] and without the finish chunk (truncate fault)', async () => {
    server.script({ text: 'a b c', fault: { type: 'truncate', afterChunks: 2 } });
    const text = (await post(`${server.baseURL}/chat/completions`, chatBody())).text;
    expect(text).not.toContain('[DONE]');
    expect(text).not.toContain('"finish_reason":"stop"');
    expect(payloads(text)).toHaveLength(3);
  });

  it('sends no bytes for stallMs, then the rest (stall fault)', async () => {
    server.script({ text: 'a b', fault: { type: 'stall', afterChunks: 1, stallMs: 150 } });
    const started = performance.now();
    const text = (await post(`${server.baseURL}/chat/completions`, chatBody())).text;
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });

  it('resets the connection mid-stream (reset fault)', async () => {
    server.script({ text: 'a b c', fault: { type: 'reset', afterChunks: 1 } });
    await expect(post(`${server.baseURL}/chat/completions`, chatBody())).rejects.toThrow();
    expect(await server.requests[0]?.settled).toBe('fault');
  });

  it('records client-closed when the client goes away mid-stream', async () => {
    server.script({ text: 'one two three four five six', tokenDelayMs: 30 });
    const controller = new AbortController();
    const response = await fetch(`${server.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
      body: JSON.stringify(chatBody()),
      signal: controller.signal,
    });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    controller.abort();
    expect(await server.requests[0]?.settled).toBe('client-closed');
  });

  it('paces content chunks by tokenDelayMs', async () => {
    server.script({ text: 'a b c d e', tokenDelayMs: 20 });
    const started = performance.now();
    await post(`${server.baseURL}/chat/completions`, chatBody());
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
  });

  it('uses the reply option when the script is empty, and script turns in order', async () => {
    const custom = await startFakeOpenAI({ reply: (request) => ({ text: `echo ${(request.body as { model: string }).model}` }) });
    try {
      custom.script({ text: 'first' });
      const first = JSON.parse((await post(`${custom.baseURL}/chat/completions`, chatBody({ stream: false }))).text) as { choices: { message: { content: string } }[] };
      const second = JSON.parse((await post(`${custom.baseURL}/chat/completions`, chatBody({ stream: false }))).text) as { choices: { message: { content: string } }[] };
      expect(first.choices[0]?.message.content).toBe('first');
      expect(second.choices[0]?.message.content).toBe('echo gpt-4o-mini');
    } finally {
      await custom.close();
    }
  });

  it('refuses a negative tokenDelayMs with a clear error', async () => {
    await expect(startFakeOpenAI({ tokenDelayMs: -1 })).rejects.toThrow('tokenDelayMs must be a number >= 0');
  });
});

describe('startFakeOpenAI: Responses API', () => {
  const responsesBody = (extra: Record<string, unknown> = {}) => ({ model: 'gpt-5-nano', input: 'Say hello', stream: true, ...extra });

  it('streams event: lines with increasing sequence_number and ends with response.completed', async () => {
    server.script({ reasoning: 'Think.', text: 'Hello there', usage: { inputTokens: 3 } });
    const events = parseSse((await post(`${server.baseURL}/responses`, responsesBody())).text);
    const data = events.map((event) => JSON.parse(event.data) as { type: string; sequence_number: number; delta?: string; response?: { usage: unknown } });
    expect(events.map((event) => event.event)).toEqual(data.map((item) => item.type));
    expect(data.map((item) => item.sequence_number)).toEqual(data.map((_, index) => index));
    expect(data[0]?.type).toBe('response.created');
    expect(data.filter((item) => item.type === 'response.reasoning_summary_text.delta').map((item) => item.delta).join('')).toBe('Think.');
    expect(data.filter((item) => item.type === 'response.output_text.delta').map((item) => item.delta).join('')).toBe('Hello there');
    expect(data.at(-1)?.type).toBe('response.completed');
    expect(data.at(-1)?.response?.usage).toMatchObject({ input_tokens: 3, output_tokens: 3, total_tokens: 6 });
  });

  it('ends a reply cut by its length with response.incomplete (reason max_output_tokens)', async () => {
    server.script({ text: 'Hello', finishReason: 'length' });
    const data = payloads((await post(`${server.baseURL}/responses`, responsesBody())).text);
    expect(data.at(-1)).toMatchObject({ type: 'response.incomplete', response: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } } });
  });

  it('streams function calls as function_call_arguments deltas', async () => {
    server.script({ toolCalls: [{ id: 'call_9', name: 'lookup', arguments: '{"q":"x"}' }] });
    const data = payloads((await post(`${server.baseURL}/responses`, responsesBody())).text) as { type: string; delta?: string; item?: { call_id?: string } }[];
    expect(data.find((item) => item.type === 'response.output_item.added')?.item?.call_id).toBe('call_9');
    expect(data.filter((item) => item.type === 'response.function_call_arguments.delta').map((item) => item.delta).join('')).toBe('{"q":"x"}');
  });

  it('fails mid-stream with an error event then response.failed, continuing the sequence numbers', async () => {
    server.script({ text: 'a b c', fault: { type: 'error-event', afterChunks: 1, errorType: 'server_error' } });
    const data = payloads((await post(`${server.baseURL}/responses`, responsesBody())).text) as { type: string; sequence_number: number }[];
    expect(data.slice(-2).map((item) => item.type)).toEqual(['error', 'response.failed']);
    expect(data.map((item) => item.sequence_number)).toEqual(data.map((_, index) => index));
  });

  it('answers a non-streamed request with the completed response object', async () => {
    server.script({ text: 'Hi' });
    const body = JSON.parse((await post(`${server.baseURL}/responses`, responsesBody({ stream: false }))).text) as { object: string; status: string; output: { type: string }[] };
    expect(body).toMatchObject({ object: 'response', status: 'completed' });
    expect(body.output.map((item) => item.type)).toEqual(['message']);
  });
});
