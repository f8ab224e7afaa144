import { describe, expect, it } from 'vitest';
import {
  ChatModel,
  InvalidArgumentError,
  ResponseFormatError,
  SluiceError,
  jsonSchemaOf,
  resolveCallSettings,
  type CallSettings,
  type ChatModelOptions,
  type Message,
  type ModelCallOptions,
  type ModelStreamPart,
  type SchemaLike,
  type StreamEvent,
} from '../src/index.ts';

/** A model that replies with a fixed text and keeps the settings each call reached `_stream` with. */
class RecordingModel extends ChatModel {
  readonly provider = 'recording';
  readonly model = 'recording-1';
  readonly seen: CallSettings[] = [];
  reply: string;
  toolCall = false;

  constructor(reply: string, options: ChatModelOptions = {}) {
    super(options);
    this.reply = reply;
  }

  protected async *_stream(_messages: readonly Message[], call: ModelCallOptions): AsyncGenerator<ModelStreamPart> {
    this.seen.push(call.settings);
    // Two deltas, so the parsed object is the joined text, not one chunk of it.
    const middle = Math.floor(this.reply.length / 2);
    yield { type: 'text-delta', text: this.reply.slice(0, middle) };
    yield { type: 'text-delta', text: this.reply.slice(middle) };
    if (this.toolCall) yield { type: 'tool-call-delta', index: 0, id: 'call_1', name: 'lookup', argumentsDelta: '{}' };
  }
}

interface Weather {
  city: string;
  celsius: number;
}

/** A schema with zod 4's shape (`safeParse`, `toJSONSchema`), written by hand: core depends on no schema library. */
const weatherSchema: SchemaLike<Weather> = {
  safeParse(value) {
    const candidate = value as Partial<Weather> | null;
    const issues: { path: string[]; message: string }[] = [];
    if (typeof candidate?.city !== 'string') issues.push({ path: ['city'], message: 'Invalid input: expected string' });
    if (typeof candidate?.celsius !== 'number') issues.push({ path: ['celsius'], message: 'Invalid input: expected number' });
    return issues.length === 0 ? { success: true, data: candidate as Weather } : { success: false, error: { issues } };
  },
  toJSONSchema: () => ({ type: 'object', properties: { city: { type: 'string' }, celsius: { type: 'number' } }, required: ['city', 'celsius'] }),
};

describe('per-call settings', () => {
  it('reach _stream as the model defaults overridden one by one by the call', async () => {
    const model = new RecordingModel('ok', { temperature: 0.7, maxTokens: 100, stop: ['END'], providerOptions: { recording: { a: 1 } } });
    await model.invoke('Hi', { temperature: 0, topP: 0.5, seed: 42 });
    await model.invoke('Hi');
    expect(model.seen[0]).toEqual({ temperature: 0, maxTokens: 100, topP: 0.5, stop: ['END'], seed: 42, providerOptions: { recording: { a: 1 } } });
    expect(model.seen[1]).toEqual({ temperature: 0.7, maxTokens: 100, stop: ['END'], providerOptions: { recording: { a: 1 } } });
  });

  it('reach _stream empty when neither the model nor the call sets any', async () => {
    const model = new RecordingModel('ok');
    await model.invoke('Hi', { runId: 'r-1' });
    expect(model.seen[0]).toEqual({});
  });

  it.each([
    ['temperature', { temperature: -0.1 }],
    ['temperature', { temperature: Number.NaN }],
    ['maxTokens', { maxTokens: 0 }],
    ['maxTokens', { maxTokens: 10.5 }],
    ['topP', { topP: 0 }],
    ['topP', { topP: 1.5 }],
    ['seed', { seed: 1.5 }],
    ['stop', { stop: 'END' as unknown as string[] }],
    ['tools[0].name', { tools: [{ name: '' }] }],
    ['toolChoice', { toolChoice: 'any' as never }],
    ['responseFormat', { responseFormat: { type: 'xml' } as never }],
    ['responseFormat.schema', { responseFormat: { type: 'json-schema', schema: 'weather' } as never }],
    ['responseFormat.schema', { responseFormat: { type: 'json-schema', schema: { safeParse: () => ({ success: true, data: 1 }) } } as never }],
  ] satisfies [string, CallSettings][])('refuse a bad %s from the call with an InvalidArgumentError naming it, before any request', (setting, settings) => {
    const model = new RecordingModel('ok');
    let thrown: unknown;
    try {
      model.stream('Hi', settings);
    } catch (error) {
      thrown = error;
    }
    expect(InvalidArgumentError.isInstance(thrown)).toBe(true);
    expect(thrown).toMatchObject({ code: 'invalid_argument', argument: setting });
    expect((thrown as Error).message).toContain(setting);
    expect(model.seen).toHaveLength(0);
  });

  it('refuse a bad default at construction', () => {
    expect(() => new RecordingModel('ok', { maxTokens: -1 })).toThrow(/maxTokens must be an integer >= 1/);
  });

  it('keep a default a call leaves undefined, and a call list of tools replaces the model list', () => {
    const settings = resolveCallSettings({ temperature: 1, tools: [{ name: 'a' }] }, { temperature: undefined, tools: [{ name: 'b' }] });
    expect(settings).toEqual({ temperature: 1, tools: [{ name: 'b' }] });
  });
});

describe('structured output', () => {
  it('parses a json reply into result.object', async () => {
    const model = new RecordingModel('{"answer": [1, 2, 3]}');
    const result = await model.stream('Numbers as JSON', { responseFormat: { type: 'json' } });
    expect(result.object).toEqual({ answer: [1, 2, 3] });
    expect(result.text).toBe('{"answer": [1, 2, 3]}');
    expect(result.finishReason).toBe('stop');
  });

  it('validates a json-schema reply with its SchemaLike and types result.object by it', async () => {
    const model = new RecordingModel('{"city":"Paris","celsius":18}');
    const result = await model.stream('Weather in Paris', { responseFormat: { type: 'json-schema', name: 'weather', schema: weatherSchema } });
    const celsius: number | undefined = result.object?.celsius;
    expect(celsius).toBe(18);
    expect(result.object).toEqual({ city: 'Paris', celsius: 18 });
  });

  it('only parses a reply against a plain JSON Schema object (the provider holds it to the schema)', async () => {
    const model = new RecordingModel('{"city":"Paris"}');
    const result = await model.stream('Weather', { responseFormat: { type: 'json-schema', schema: { type: 'object' } } });
    expect(result.object).toEqual({ city: 'Paris' });
  });

  it('fails the run with a ResponseFormatError carrying the text and the schema issues when the reply does not fit', async () => {
    const model = new RecordingModel('{"city":"Paris","celsius":"warm"}');
    const stream = model.stream('Weather', { responseFormat: { type: 'json-schema', name: 'weather', schema: weatherSchema } });
    const events: StreamEvent[] = [];
    let thrown: unknown;
    try {
      for await (const event of stream) events.push(event);
    } catch (error) {
      thrown = error;
    }
    expect(ResponseFormatError.isInstance(thrown)).toBe(true);
    expect(SluiceError.isInstance(thrown)).toBe(true);
    const error = thrown as ResponseFormatError;
    expect(error.code).toBe('response_format_mismatch');
    expect(error.text).toBe('{"city":"Paris","celsius":"warm"}');
    expect(error.issues).toEqual([{ path: ['celsius'], message: 'Invalid input: expected number' }]);
    expect(error.message).toContain('weather schema');
    expect(events.at(-2)).toMatchObject({ type: 'error', error: { code: 'response_format_mismatch' } });
    expect(events.at(-1)).toMatchObject({ type: 'finish', reason: 'error' });
    await expect(stream).rejects.toBe(error);
  });

  it('fails the run with a ResponseFormatError when a json reply is not JSON', async () => {
    const model = new RecordingModel('Sure! Here it is: {');
    const error = await model.invoke('JSON please', { responseFormat: { type: 'json' } }).catch((caught: unknown) => caught);
    expect(ResponseFormatError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ code: 'response_format_mismatch', text: 'Sure! Here it is: {' });
    expect((error as ResponseFormatError).issues).toHaveLength(1);
  });

  it('leaves a text reply and a tool-calling reply unparsed', async () => {
    const text = await new RecordingModel('not json').stream('Hi', { responseFormat: { type: 'text' } });
    expect(text.object).toBeUndefined();
    expect(text.error).toBeUndefined();
    const calling = new RecordingModel('');
    calling.toolCall = true;
    const result = await calling.stream('Hi', { responseFormat: { type: 'json' } });
    expect(result.finishReason).toBe('tool-calls');
    expect(result.error).toBeUndefined();
    expect(result.object).toBeUndefined();
  });

  it('gives adapters the JSON Schema to send: a SchemaLike\'s toJSONSchema(), or the object as it is', () => {
    expect(jsonSchemaOf({ type: 'json-schema', schema: weatherSchema })).toEqual(weatherSchema.toJSONSchema());
    const plain = { type: 'object', properties: {} };
    expect(jsonSchemaOf({ type: 'json-schema', schema: plain })).toBe(plain);
  });
});
