import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic } from '../src/index.ts';
import { parseSse, post } from './read-sse.ts';

let server: Awaited<ReturnType<typeof startFakeAnthropic>>;
beforeAll(async () => {
  server = await startFakeAnthropic();
});
afterEach(() => server.reset());
afterAll(() => server.close());

const body = (extra: Record<string, unknown> = {}) => ({
  model: 'claude-haiku-4-5',
  max_tokens: 100,
  messages: [{ role: 'user', content: 'Say hello' }],
  stream: true,
  ...extra,
});
const apiKey = { 'x-api-key': 'test-key' };

describe('startFakeAnthropic', () => {
  it('gives the SDK base URL without /v1 (the SDK adds /v1/messages)', () => {
    expect(server.baseURL).toBe(server.url);
  });

  it('streams every event with an event: line naming its type, in the recorded order', async () => {
    server.script({ reasoning: 'Hmm.', text: 'Hello there', toolCalls: [{ id: 'toolu_1', name: 'lookup', arguments: '{"q":1}' }] });
    const response = await post(`${server.url}/v1/messages`, body(), apiKey);
    const events = parseSse(response.text);
    for (const event of events) expect(event.event).toBe((JSON.parse(event.data) as { type: string }).type);
    const types = events.map((event) => event.event);
    expect(types[0]).toBe('message_start');
    expect(types[1]).toBe('content_block_start');
    expect(types[2]).toBe('ping');
    expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
    const deltas = events
      .filter((event) => event.event === 'content_block_delta')
      .map((event) => (JSON.parse(event.data) as { delta: Record<string, string> }).delta);
    expect(deltas.filter((delta) => delta.type === 'thinking_delta').map((delta) => delta.thinking).join('')).toBe('Hmm.');
    expect(deltas.some((delta) => delta.type === 'signature_delta')).toBe(true);
    expect(deltas.filter((delta) => delta.type === 'text_delta').map((delta) => delta.text).join('')).toBe('Hello there');
    expect(deltas.filter((delta) => delta.type === 'input_json_delta').map((delta) => delta.partial_json).join('')).toBe('{"q":1}');
    const messageDelta = JSON.parse(events.at(-2)?.data ?? '{}') as { delta: { stop_reason: string }; usage: { output_tokens: number } };
    expect(messageDelta.delta.stop_reason).toBe('tool_use');
    expect(messageDelta.usage.output_tokens).toBe(4); // 1 thinking + 2 text + 1 tool-argument chunk
  });

  it('sends message_delta usage as the current API does (cumulative input, cache and output counts), or only output_tokens (the classic format)', async () => {
    const reply = { text: 'a b', usage: { inputTokens: 4, cachedInputTokens: 6 }, cacheCreationInputTokens: 2 };
    server.script(reply, { ...reply, messageDeltaUsage: 'output-only' });
    const usages = async () => {
      const events = parseSse((await post(`${server.url}/v1/messages`, body(), apiKey)).text);
      const start = (JSON.parse(events[0]?.data ?? '{}') as { message: { usage: Record<string, unknown> } }).message.usage;
      return { start, delta: (JSON.parse(events.at(-2)?.data ?? '{}') as { usage: Record<string, unknown> }).usage };
    };
    const cumulative = await usages();
    expect(cumulative.start).toMatchObject({ input_tokens: 4, cache_creation_input_tokens: 2, cache_read_input_tokens: 6, output_tokens: 1 });
    expect(cumulative.delta).toEqual({ input_tokens: 4, cache_creation_input_tokens: 2, cache_read_input_tokens: 6, output_tokens: 2 });
    const classic = await usages();
    expect(classic.start).toMatchObject({ input_tokens: 4, cache_creation_input_tokens: 2, cache_read_input_tokens: 6 });
    expect(classic.delta).toEqual({ output_tokens: 2 });
  });

  it('sends redacted_thinking blocks whole in content_block_start, before the thinking', async () => {
    server.script({ redactedThinking: ['EmwKAhgBEgy3va'], reasoning: 'Hmm.', text: 'Hi' });
    const events = parseSse((await post(`${server.url}/v1/messages`, body(), apiKey)).text).map((event) => JSON.parse(event.data) as Record<string, unknown>);
    const starts = events.filter((event) => event.type === 'content_block_start').map((event) => event.content_block);
    expect(starts).toEqual([{ type: 'redacted_thinking', data: 'EmwKAhgBEgy3va' }, { type: 'thinking', thinking: '', signature: '' }, { type: 'text', text: '' }]);
  });

  it('answers 400 as the real API does when, with thinking on, the tool-calling turn sent back does not start with its thinking', async () => {
    const toolTurn = (content: unknown[]) => [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '18°C' }] },
    ];
    const toolUse = { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} };
    const thinking = { type: 'enabled', budget_tokens: 100 };
    const send = (messages: unknown[], extra: Record<string, unknown> = { thinking }) => post(`${server.url}/v1/messages`, body({ messages, ...extra }), apiKey);

    const refused = await send(toolTurn([{ type: 'text', text: 'Checking.' }, toolUse]));
    expect(refused.status).toBe(400);
    const error = (JSON.parse(refused.text) as { error: { type: string; message: string } }).error;
    expect(error.type).toBe('invalid_request_error');
    expect(error.message).toMatch(/^messages\.1\.content\.0\.type: Expected `thinking` or `redacted_thinking`, but found `text`\. When `thinking` is enabled/);
    expect((await send(toolTurn([{ type: 'thinking', thinking: 'Hmm.', signature: '' }, toolUse]))).status).toBe(400);

    expect((await send(toolTurn([{ type: 'thinking', thinking: 'Hmm.', signature: 'c2ln' }, toolUse]))).status).toBe(200);
    expect((await send(toolTurn([{ type: 'redacted_thinking', data: 'EmwK' }, toolUse]))).status).toBe(200);
    expect((await send(toolTurn([toolUse]), {})).status).toBe(200); // thinking off
    // Only the final tool-calling turn must keep its thinking; an earlier one may go without.
    expect((await send([...toolTurn([toolUse]), { role: 'assistant', content: 'Mild.' }, { role: 'user', content: 'Thanks!' }])).status).toBe(200);
  });

  it('answers 400 as the real API does for a tool_choice without tools, naming an undeclared tool, or forcing tool use with thinking on', async () => {
    const tools = [{ name: 'get_weather', input_schema: { type: 'object', properties: {} } }];
    const thinking = { type: 'enabled', budget_tokens: 50 };
    const send = async (extra: Record<string, unknown>) => {
      const response = await post(`${server.url}/v1/messages`, body(extra), apiKey);
      return { status: response.status, message: response.status === 200 ? undefined : (JSON.parse(response.text) as { error: { type: string; message: string } }).error };
    };
    expect(await send({ tool_choice: { type: 'any' } })).toEqual({ status: 400, message: { type: 'invalid_request_error', message: 'tool_choice may only be specified while providing tools.' } });
    expect((await send({ tools, tool_choice: { type: 'tool', name: 'get_time' } })).message?.message).toContain('`get_time` is not among');
    expect((await send({ tools, thinking, tool_choice: { type: 'any' } })).message?.message).toBe('Thinking may not be enabled when tool_choice forces tool use.');
    expect((await send({ tools, thinking, tool_choice: { type: 'tool', name: 'get_weather' } })).status).toBe(400);
    for (const accepted of [{ tools, tool_choice: { type: 'tool', name: 'get_weather' } }, { tools, thinking, tool_choice: { type: 'auto' } }, { tools, thinking, tool_choice: { type: 'none' } }, { tool_choice: { type: 'none' } }]) {
      expect((await send(accepted)).status).toBe(200);
    }
  });

  it('sends a text-only reply that is a JSON object as the forced tool\'s input, in its chunks, when tool_choice forces a tool', async () => {
    const tools = [{ name: 'json_response', input_schema: { type: 'object' } }];
    const forced = { tools, tool_choice: { type: 'tool', name: 'json_response' } };
    server.script({ text: ['{"city":', '"Paris"}'] }, { text: '{"ok":true}' }, { text: 'not JSON' });
    const events = parseSse((await post(`${server.url}/v1/messages`, body(forced), apiKey)).text).map((event) => JSON.parse(event.data) as Record<string, unknown>);
    expect(events.filter((event) => event.type === 'content_block_start').map((event) => (event.content_block as { type: string; name?: string }).name)).toEqual(['json_response']);
    const pieces = events.filter((event) => event.type === 'content_block_delta').map((event) => (event.delta as { partial_json: string }).partial_json);
    expect(pieces.filter((piece) => piece !== '')).toEqual(['{"city":', '"Paris"}']);
    const message = JSON.parse((await post(`${server.url}/v1/messages`, body({ ...forced, stream: false }), apiKey)).text) as Record<string, unknown>;
    expect(message).toMatchObject({ stop_reason: 'tool_use', content: [{ type: 'tool_use', name: 'json_response', input: { ok: true } }] });
    // Text that is no JSON object is sent as scripted.
    const plain = JSON.parse((await post(`${server.url}/v1/messages`, body({ ...forced, stream: false }), apiKey)).text) as Record<string, unknown>;
    expect(plain).toMatchObject({ stop_reason: 'end_turn', content: [{ type: 'text', text: 'not JSON' }] });
  });

  it('ends a reply on a stop sequence with stop_reason stop_sequence and the sequence, streamed or not', async () => {
    server.script({ text: 'one two', stopSequence: 'END' }, { text: 'one two', stopSequence: 'END' });
    const events = parseSse((await post(`${server.url}/v1/messages`, body({ stop_sequences: ['END'] }), apiKey)).text);
    expect((JSON.parse(events.at(-2)?.data ?? '{}') as { delta: unknown }).delta).toEqual({ stop_reason: 'stop_sequence', stop_sequence: 'END' });
    const message = JSON.parse((await post(`${server.url}/v1/messages`, body({ stream: false, stop_sequences: ['END'] }), apiKey)).text) as Record<string, unknown>;
    expect(message).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'END' });
  });

  it('accepts both x-api-key and Authorization: Bearer, and answers 401 without either', async () => {
    expect((await post(`${server.url}/v1/messages`, body(), apiKey)).status).toBe(200);
    expect((await post(`${server.url}/v1/messages`, body(), { authorization: 'Bearer test-key' })).status).toBe(200);
    const denied = await post(`${server.url}/v1/messages`, body(), {});
    expect(denied.status).toBe(401);
    expect(JSON.parse(denied.text)).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
  });

  it('answers 529 with overloaded_error, the request-id header and request_id in the body', async () => {
    server.script({ status: 529 });
    const response = await post(`${server.url}/v1/messages`, body(), apiKey);
    expect(response.status).toBe(529);
    const requestId = response.headers.get('request-id');
    expect(requestId).toMatch(/^req_/);
    expect(JSON.parse(response.text)).toEqual({ type: 'error', error: { type: 'overloaded_error', message: expect.any(String) }, request_id: requestId });
  });

  it('maps stop reasons: length to max_tokens, content-filter to refusal', async () => {
    server.script({ text: 'a', finishReason: 'length' }, { text: 'b', finishReason: 'content-filter' });
    const stop = async () => {
      const events = parseSse((await post(`${server.url}/v1/messages`, body(), apiKey)).text);
      return (JSON.parse(events.at(-2)?.data ?? '{}') as { delta: { stop_reason: string } }).delta.stop_reason;
    };
    expect(await stop()).toBe('max_tokens');
    expect(await stop()).toBe('refusal');
  });

  it('sends an error event after the given number of chunks (error-event fault)', async () => {
    server.script({ text: 'a b c', fault: { type: 'error-event', afterChunks: 1 } });
    const events = parseSse((await post(`${server.url}/v1/messages`, body(), apiKey)).text);
    expect(events.at(-1)).toEqual({ event: 'error', data: JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }) });
    expect(events.some((event) => event.event === 'message_stop')).toBe(false);
  });

  it('ends the body without message_stop (truncate fault)', async () => {
    server.script({ text: 'a b c', fault: { type: 'truncate', afterChunks: 3 } });
    const types = parseSse((await post(`${server.url}/v1/messages`, body(), apiKey)).text).map((event) => event.event);
    expect(types).not.toContain('message_stop');
    expect(types.filter((type) => type === 'content_block_delta')).toHaveLength(3);
  });

  it('requires max_tokens, as the real API does', async () => {
    const response = await post(`${server.url}/v1/messages`, { ...body(), max_tokens: undefined }, apiKey);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.text)).toMatchObject({ error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } });
  });

  it('answers a non-streamed request with a message object', async () => {
    server.script({ text: 'Hi', toolCalls: [{ id: 'toolu_2', name: 'f', arguments: { a: 1 } }] });
    const message = JSON.parse((await post(`${server.url}/v1/messages`, body({ stream: false }), apiKey)).text) as Record<string, unknown>;
    expect(message).toMatchObject({
      type: 'message',
      role: 'assistant',
      stop_reason: 'tool_use',
      content: [{ type: 'text', text: 'Hi' }, { type: 'tool_use', id: 'toolu_2', name: 'f', input: { a: 1 } }],
    });
  });
});
