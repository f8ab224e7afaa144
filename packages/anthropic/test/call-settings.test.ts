import { InvalidArgumentError, ResponseFormatError, type ChatCallOptions, type ChatTool, type SchemaLike } from '@sluice/core';
import { startFakeAnthropic } from '@sluice/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChatAnthropic, type ChatAnthropicOptions } from '../src/index.ts';

let server: Awaited<ReturnType<typeof startFakeAnthropic>>;
beforeAll(async () => {
  server = await startFakeAnthropic();
});
afterEach(() => server.reset());
afterAll(() => server.close());

const weather: ChatTool = { name: 'get_weather', description: 'The weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } };
const time: ChatTool = { name: 'get_time' };
const wireWeather = { name: 'get_weather', description: 'The weather in a city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } };
const wireTime = { name: 'get_time', input_schema: { type: 'object', properties: {} } };

const chatWith = (options: ChatAnthropicOptions = {}) => new ChatAnthropic({ apiKey: 'k', baseURL: server.baseURL, ...options });
const bodyOf = (index: number) => server.requests[index]?.body as Record<string, unknown>;

/** The InvalidArgumentError a call is refused with, after checking nothing was sent. */
async function refusal(chat: ChatAnthropic, options: ChatCallOptions): Promise<InvalidArgumentError> {
  const error = await chat.invoke('Hi', options).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(InvalidArgumentError);
  expect(server.requests).toHaveLength(0);
  return error as InvalidArgumentError;
}

describe('ChatAnthropic per-call settings on the wire', () => {
  it("sends the model's settings as temperature, max_tokens, top_p, stop_sequences, tools and tool_choice", async () => {
    await chatWith({ temperature: 0.4, maxTokens: 300, topP: 0.8, stop: ['END'], tools: [weather], toolChoice: 'auto' }).invoke('Hi');
    expect(bodyOf(0)).toMatchObject({ temperature: 0.4, max_tokens: 300, top_p: 0.8, stop_sequences: ['END'], tools: [wireWeather], tool_choice: { type: 'auto' } });
  });

  it("sends a call's settings instead of the model's, one by one, and the model's again on the next call", async () => {
    const chat = chatWith({ temperature: 0.9, maxTokens: 500, topP: 0.5, stop: ['A'], tools: [weather], toolChoice: 'auto' });
    await chat.invoke('Hi', { temperature: 0.1, maxTokens: 50, stop: ['B', 'C'], tools: [weather, time], toolChoice: { name: 'get_time' } });
    expect(bodyOf(0)).toMatchObject({
      temperature: 0.1,
      max_tokens: 50,
      top_p: 0.5, // not set by the call: the model's
      stop_sequences: ['B', 'C'],
      tools: [wireWeather, wireTime],
      tool_choice: { type: 'tool', name: 'get_time' },
    });
    await chat.invoke('Hi');
    expect(bodyOf(1)).toMatchObject({ temperature: 0.9, max_tokens: 500, top_p: 0.5, stop_sequences: ['A'], tools: [wireWeather], tool_choice: { type: 'auto' } });
  });

  it("maps toolChoice: 'required' to any, 'none' to none, { name } to { type: 'tool', name }", async () => {
    const chat = chatWith({ tools: [weather] });
    for (const toolChoice of ['required', 'none', 'auto', { name: 'get_weather' }] as const) await chat.invoke('Hi', { toolChoice });
    expect(server.requests.map((request) => (request.body as { tool_choice: unknown }).tool_choice)).toEqual([
      { type: 'any' },
      { type: 'none' },
      { type: 'auto' },
      { type: 'tool', name: 'get_weather' },
    ]);
  });

  it('sends no tool_choice for auto or none without tools (Anthropic refuses one alone), and nothing unset', async () => {
    const chat = chatWith();
    await chat.invoke('Hi', { toolChoice: 'none' });
    await chat.invoke('Hi', { toolChoice: 'auto', tools: [] });
    for (const index of [0, 1]) expect(Object.keys(bodyOf(index)).sort()).toEqual(['max_tokens', 'messages', 'model', 'stream']);
  });

  it("merges providerOptions.anthropic into the body last (over the mapped settings and extraBody); other providers' entries are ignored", async () => {
    const chat = chatWith({ temperature: 0.5, extraBody: { top_k: 3, metadata: { user_id: 'model' } } });
    await chat.invoke('Hi', { providerOptions: { anthropic: { temperature: 0.2, metadata: { user_id: 'u-1' } }, openai: { user: 'u-2' } } });
    expect(bodyOf(0)).toMatchObject({ temperature: 0.2, top_k: 3, metadata: { user_id: 'u-1' } });
    expect(bodyOf(0)).not.toHaveProperty('user');
  });

  it('ends on a stop sequence with finishReason stop and the provider reason stop_sequence', async () => {
    server.script({ text: 'one two', stopSequence: 'END' });
    const result = await chatWith().stream('Count', { stop: ['END'] });
    expect(result).toMatchObject({ text: 'one two', finishReason: 'stop', providerFinishReason: 'stop_sequence' });
    expect(bodyOf(0).stop_sequences).toEqual(['END']);
  });
});

describe('ChatAnthropic refuses, before any request, what the Messages API cannot take', () => {
  it('refuses seed (the Messages API has none), per call and as a model default', async () => {
    const error = await refusal(chatWith(), { seed: 42 });
    expect(error.argument).toBe('seed');
    expect(error.message).toContain('the Anthropic Messages API has no seed');
    expect(() => chatWith({ seed: 1 })).toThrow(InvalidArgumentError);
  });

  it('refuses a temperature above 1 (Anthropic takes 0 to 1)', async () => {
    expect((await refusal(chatWith(), { temperature: 1.5 })).argument).toBe('temperature');
    expect(() => chatWith({ temperature: 2 })).toThrow('between 0 and 1 for Anthropic');
  });

  it('refuses a forcing toolChoice without tools, one naming a tool the call does not have, and a forced tool call with thinking on', async () => {
    const required = await refusal(chatWith(), { toolChoice: 'required' });
    expect(required).toMatchObject({ argument: 'toolChoice', message: expect.stringContaining('needs tools') });
    expect((await refusal(chatWith({ tools: [weather] }), { toolChoice: { name: 'get_time' } })).message).toContain('"get_time", which is not among the call\'s tools (get_weather)');
    const thinker = chatWith({ tools: [weather], maxTokens: 300, thinking: { budgetTokens: 100 } });
    expect((await refusal(thinker, { toolChoice: 'required' })).message).toContain('refuses with thinking on');
    expect((await refusal(thinker, { toolChoice: { name: 'get_weather' } })).argument).toBe('toolChoice');
  });

  it("refuses a call's maxTokens not above the thinking budget", async () => {
    const error = await refusal(chatWith({ maxTokens: 300, thinking: { budgetTokens: 100 } }), { maxTokens: 100 });
    expect(error).toMatchObject({ argument: 'maxTokens', message: expect.stringContaining('must be above thinking.budgetTokens (100)') });
  });

  it('refuses a bad maxTokens and a thinking budget not below it when the model is built', () => {
    expect(() => chatWith({ maxTokens: 0 })).toThrow('maxTokens must be an integer >= 1');
    expect(() => chatWith({ maxTokens: 100, thinking: { budgetTokens: 100 } })).toThrow('below maxTokens');
  });
});

describe('ChatAnthropic JSON replies (a forced json_response tool call)', () => {
  const schema = { type: 'object', properties: { city: { type: 'string' }, celsius: { type: 'number' } }, required: ['city', 'celsius'] };
  const answer = { city: 'Paris', celsius: 18 };
  const jsonCall = { name: 'json_response', arguments: answer };

  for (const streaming of [true, false]) {
    it(`asks for the schema as the input of a forced json_response tool and reads its input as the reply (${streaming ? 'streamed' : 'not streamed'})`, async () => {
      server.script({ toolCalls: [jsonCall] });
      const chat = chatWith({ streaming });
      const reply = await chat.invoke('Weather in Paris?', { responseFormat: { type: 'json-schema', name: 'weather', schema } });
      expect(bodyOf(0)).toMatchObject({
        tools: [{ name: 'json_response', description: "Respond with the weather object as this tool's input.", input_schema: schema }],
        tool_choice: { type: 'tool', name: 'json_response' },
      });
      expect(JSON.parse(reply.content)).toEqual(answer);
      expect(reply.toolCalls ?? []).toEqual([]);
      expect(reply.finishReason).toBe('stop');
    });
  }

  it("gives the parsed reply as result.object, as the schema's safeParse outputs it", async () => {
    const Weather: SchemaLike<{ city: string; celsius: number; fahrenheit: number }> = {
      safeParse: (value) => {
        const { city, celsius } = value as { city?: unknown; celsius?: unknown };
        if (typeof city !== 'string' || typeof celsius !== 'number') return { success: false, error: { issues: [{ message: 'city and celsius required', path: ['celsius'] }] } };
        return { success: true, data: { city, celsius, fahrenheit: celsius * 1.8 + 32 } };
      },
      toJSONSchema: () => schema,
    };
    server.script({ toolCalls: [jsonCall] }, { toolCalls: [{ name: 'json_response', arguments: { city: 'Paris' } }] });
    const result = await chatWith().stream('Weather in Paris?', { responseFormat: { type: 'json-schema', schema: Weather } });
    expect(result).toMatchObject({ object: { city: 'Paris', celsius: 18, fahrenheit: 64.4 }, finishReason: 'stop', providerFinishReason: 'tool_use' });
    expect(bodyOf(0)).toMatchObject({ tools: [{ input_schema: schema }] });
    const failed = await chatWith().invoke('Weather in Paris?', { responseFormat: { type: 'json-schema', schema: Weather } }).catch((caught: unknown) => caught);
    expect(failed).toBeInstanceOf(ResponseFormatError);
    expect((failed as ResponseFormatError).text).toBe('{"city":"Paris"}');
  });

  it("asks for any JSON object with responseFormat json, and leaves out text the model writes besides the tool's input", async () => {
    server.script({ text: 'Here you go:', toolCalls: [{ name: 'json_response', arguments: { ok: true } }] });
    const result = await chatWith().stream('Say ok as JSON', { responseFormat: { type: 'json' } });
    expect(bodyOf(0)).toMatchObject({ tools: [{ name: 'json_response', input_schema: { type: 'object' } }], tool_choice: { type: 'tool', name: 'json_response' } });
    expect(result).toMatchObject({ text: '{"ok":true}', object: { ok: true } });
  });

  it('refuses JSON replies with tools or a forcing toolChoice, with thinking on, and for a schema that is not an object', async () => {
    const withTools = await refusal(chatWith({ tools: [weather] }), { responseFormat: { type: 'json' } });
    expect(withTools).toMatchObject({ argument: 'responseFormat', message: expect.stringContaining('pass tools: [] (and no toolChoice) in this call') });
    await refusal(chatWith(), { responseFormat: { type: 'json' }, toolChoice: 'required' });
    const thinker = chatWith({ maxTokens: 300, thinking: { budgetTokens: 100 } });
    expect((await refusal(thinker, { responseFormat: { type: 'json' } })).message).toContain('refuses with thinking on');
    const list = await refusal(chatWith(), { responseFormat: { type: 'json-schema', schema: { type: 'array', items: { type: 'string' } } } });
    expect(list).toMatchObject({ argument: 'responseFormat.schema', message: expect.stringContaining('must be an object') });
    // A call's empty tools list replaces the model's: then JSON can be asked for.
    server.script({ toolCalls: [{ name: 'json_response', arguments: { ok: true } }] });
    expect((await chatWith({ tools: [weather] }).stream('ok?', { tools: [], responseFormat: { type: 'json' } })).object).toEqual({ ok: true });
  });
});
