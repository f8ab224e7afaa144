// The model settings a caller may set per call (or as a model's defaults), described once for
// every provider: each adapter maps them onto its own request body, and the run checks them
// and reads structured output the same way whatever the provider.
import { InvalidArgumentError } from './errors/invalid-argument-error.js';
import { ResponseFormatError } from './errors/response-format-error.js';

/** A tool the model may call, described once for every provider. */
export interface ChatTool {
  name: string;
  description?: string;
  /** JSON Schema of the arguments. Default: an object with no declared properties. */
  parameters?: Record<string, unknown>;
}

/**
 * Whether and which tool the model calls: `auto` (it decides, the providers' default), `none`
 * (it answers in text), `required` (it calls at least one), or `{ name }` (it calls that one).
 */
export type ToolChoice = 'auto' | 'none' | 'required' | { name: string };

/**
 * The structural subset of a schema library sluice needs, so that a zod 4 schema (4.1 and
 * later) fits as it is and sluice depends on no schema library:
 *
 * - `safeParse(value)` validates the parsed reply (`{ success, data }` or `{ success, error: { issues } }`);
 * - `toJSONSchema()` gives the JSON Schema sent to the provider.
 *
 * A schema without `toJSONSchema()` (zod 4.0, another library) is wrapped in two lines:
 *
 * @example
 * ```ts
 * import * as z from 'zod';
 *
 * const Weather = z.object({ city: z.string(), celsius: z.number() });
 * const format = { type: 'json-schema', name: 'weather', schema: Weather } as const; // zod >= 4.1
 * const wrapped = { safeParse: (value: unknown) => Weather.safeParse(value), toJSONSchema: () => z.toJSONSchema(Weather) };
 * ```
 */
export interface SchemaLike<TOutput = unknown> {
  safeParse(value: unknown): { success: true; data: TOutput } | { success: false; error: { issues: readonly unknown[] } };
  toJSONSchema(): object;
}

/**
 * The shape the reply must have: `text` (the default), `json` (any JSON value; say so in the
 * prompt too, as the providers require), or `json-schema` (JSON that fits `schema`). With `json`
 * or `json-schema` the run parses the reply into `result.object`, and fails with a
 * `ResponseFormatError` when it does not parse or (with a `SchemaLike`) does not validate.
 */
export type ResponseFormat<TObject = unknown> =
  | { type: 'text' }
  | { type: 'json' }
  | {
      type: 'json-schema';
      /**
       * A JSON Schema object (sent as it is; the reply is only checked to be JSON), or a
       * `SchemaLike` such as a zod schema (its JSON Schema is sent; the reply is validated with it).
       */
      schema: Record<string, unknown> | SchemaLike<TObject>;
      /** The schema's name, for providers that take one. Default `response`. */
      name?: string;
      /** What the reply is, for providers that take it. */
      description?: string;
      /** Ask the provider to hold the reply to the schema exactly (OpenAI's `strict`). Default: the provider's. */
      strict?: boolean;
    };

/** Model settings: per call (`ChatCallOptions`) or as a model's defaults (`ChatModelOptions`). */
export interface CallSettings<TObject = unknown> {
  /** Sampling temperature, >= 0 (the providers' ranges differ: OpenAI 0-2, Anthropic 0-1). Default: the provider's. */
  temperature?: number;
  /** The most tokens to generate, an integer >= 1. Default: the provider's (the adapter's for Anthropic, which requires one). */
  maxTokens?: number;
  /** Nucleus sampling: the probability mass to sample from, in (0, 1]. Default: the provider's. */
  topP?: number;
  /** Sequences that stop the reply when generated. Not every API has them: an adapter refuses those it cannot send. */
  stop?: string[];
  /** A seed for sampling, an integer, for providers that make replays (best effort) reproducible. */
  seed?: number;
  /** Tools the model may call. A call's list replaces the model's. */
  tools?: readonly ChatTool[];
  /** Whether and which tool the model calls. Default: the provider's (`auto`). */
  toolChoice?: ToolChoice;
  /** The shape of the reply; see `ResponseFormat`. Default `text`. */
  responseFormat?: ResponseFormat<TObject>;
  /**
   * Provider-specific request fields, keyed by provider name (`{ openai: { user: 'u-1' } }`): the
   * adapter of that provider merges its entry into the request body last, as it is; the others
   * ignore it.
   */
  providerOptions?: Record<string, Record<string, unknown>>;
}

const SETTING_NAMES: readonly (keyof CallSettings)[] = [
  'temperature',
  'maxTokens',
  'topP',
  'stop',
  'seed',
  'tools',
  'toolChoice',
  'responseFormat',
  'providerOptions',
];

function invalid(setting: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError({ argument: setting, message: `[sluice/core] ${setting} ${message}` });
}

function isSchemaLike(schema: unknown): schema is SchemaLike {
  return typeof schema === 'object' && schema !== null && typeof (schema as SchemaLike).safeParse === 'function';
}

function checkSettings(settings: CallSettings): void {
  const { temperature, maxTokens, topP, stop, seed, tools, toolChoice, responseFormat, providerOptions } = settings;
  if (temperature !== undefined && !(typeof temperature === 'number' && Number.isFinite(temperature) && temperature >= 0)) {
    throw invalid('temperature', `must be a number >= 0 (got ${String(temperature)})`);
  }
  if (maxTokens !== undefined && !(Number.isInteger(maxTokens) && maxTokens >= 1)) {
    throw invalid('maxTokens', `must be an integer >= 1 (got ${String(maxTokens)})`);
  }
  if (topP !== undefined && !(typeof topP === 'number' && topP > 0 && topP <= 1)) {
    throw invalid('topP', `must be a number in (0, 1] (got ${String(topP)})`);
  }
  if (seed !== undefined && !Number.isInteger(seed)) {
    throw invalid('seed', `must be an integer (got ${String(seed)})`);
  }
  if (stop !== undefined && !(Array.isArray(stop) && stop.every((sequence) => typeof sequence === 'string' && sequence !== ''))) {
    throw invalid('stop', 'must be an array of non-empty strings');
  }
  if (tools !== undefined) {
    if (!Array.isArray(tools)) throw invalid('tools', 'must be an array of { name, description?, parameters? }');
    tools.forEach((tool: unknown, index) => {
      if (typeof tool !== 'object' || tool === null || typeof (tool as ChatTool).name !== 'string' || (tool as ChatTool).name === '') {
        throw invalid(`tools[${index}].name`, 'must be a non-empty string');
      }
    });
  }
  if (toolChoice !== undefined) {
    const named = typeof toolChoice === 'object' && toolChoice !== null && typeof toolChoice.name === 'string' && toolChoice.name !== '';
    if (!named && toolChoice !== 'auto' && toolChoice !== 'none' && toolChoice !== 'required') {
      throw invalid('toolChoice', `must be 'auto', 'none', 'required' or { name } (got ${JSON.stringify(toolChoice)})`);
    }
  }
  if (responseFormat !== undefined) {
    const type = (responseFormat as { type?: unknown } | null)?.type;
    if (type !== 'text' && type !== 'json' && type !== 'json-schema') {
      throw invalid('responseFormat', `must be { type: 'text' | 'json' | 'json-schema' } (got ${JSON.stringify(type)})`);
    }
    if (type === 'json-schema') {
      const { schema } = responseFormat as { schema?: unknown };
      if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
        throw invalid('responseFormat.schema', 'must be a JSON Schema object or a schema with safeParse() and toJSONSchema() (e.g. a zod schema)');
      }
      if (isSchemaLike(schema) && typeof schema.toJSONSchema !== 'function') {
        throw invalid(
          'responseFormat.schema',
          'has safeParse() but no toJSONSchema(): wrap it, e.g. { safeParse: (value) => schema.safeParse(value), toJSONSchema: () => z.toJSONSchema(schema) }',
        );
      }
    }
  }
  if (providerOptions !== undefined && (typeof providerOptions !== 'object' || providerOptions === null || Array.isArray(providerOptions))) {
    throw invalid('providerOptions', 'must be an object keyed by provider name, e.g. { openai: { user: "u-1" } }');
  }
}

/**
 * The settings of one call: the model's `defaults` overridden by the call's own (a setting the
 * call leaves `undefined` keeps the default), checked once. A bad value throws an
 * `InvalidArgumentError` that names the setting, before any request. `ChatModel` calls this;
 * an adapter reads the result from `ModelCallOptions.settings`.
 *
 * @example
 * ```ts
 * resolveCallSettings({ temperature: 0.2, maxTokens: 500 }, { temperature: 0 });
 * // { temperature: 0, maxTokens: 500 }
 * ```
 */
export function resolveCallSettings(defaults: CallSettings, call: CallSettings = {}): CallSettings {
  const settings: CallSettings = {};
  for (const name of SETTING_NAMES) {
    const value = call[name] ?? defaults[name];
    if (value !== undefined) (settings as Record<string, unknown>)[name] = value;
  }
  checkSettings(settings);
  return settings;
}

/**
 * The JSON Schema to send for a `json-schema` response format: the object itself, or the
 * `SchemaLike`'s `toJSONSchema()`. For adapters.
 */
export function jsonSchemaOf(format: Extract<ResponseFormat, { type: 'json-schema' }>): Record<string, unknown> {
  const { schema } = format;
  return isSchemaLike(schema) ? (schema.toJSONSchema() as Record<string, unknown>) : schema;
}

/**
 * Reads a reply as the response format asks: `undefined` for `text` (or no format), else the
 * parsed JSON (validated, and as the schema outputs it, with a `SchemaLike`). Throws a
 * `ResponseFormatError` when the text is not JSON or does not validate.
 */
export function parseStructuredOutput(text: string, format: ResponseFormat | undefined): unknown {
  if (format === undefined || format.type === 'text') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ResponseFormatError({
      text,
      issues: [{ message: detail }],
      cause: error,
      message: `[sluice/core] the reply is not JSON (${detail}) though responseFormat asked for ${format.type}: see error.text; ask for JSON in the prompt too, or raise maxTokens if it was cut off`,
    });
  }
  if (format.type === 'json' || !isSchemaLike(format.schema)) return value;
  const parsed = format.schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues;
  const first = issues[0] as { message?: unknown; path?: unknown } | undefined;
  const where = Array.isArray(first?.path) && first.path.length > 0 ? ` at ${first.path.join('.')}` : '';
  throw new ResponseFormatError({
    text,
    issues,
    cause: parsed.error,
    message: `[sluice/core] the reply does not fit the ${format.name ?? 'response'} schema (${issues.length} issue${issues.length === 1 ? '' : 's'}, first${where}: ${String(first?.message ?? 'invalid')}): see error.issues and error.text`,
  });
}
