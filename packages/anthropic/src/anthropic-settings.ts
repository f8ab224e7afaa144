// A call's settings (`ModelCallOptions.settings`) as Messages API request fields.
import { InvalidArgumentError, jsonSchemaOf, type CallSettings, type ChatTool, type ToolChoice } from '@sluice/core';
import { toAnthropicTools } from './anthropic-messages.js';

/**
 * The tool a JSON response format is asked for with: the Messages API has no response format, so
 * the model is made to call this tool, whose input schema is the reply's JSON Schema, and its
 * input becomes the reply's text.
 */
export const JSON_RESPONSE_TOOL = 'json_response';

/** The request fields the settings give, and whether the reply is the JSON tool's input. */
export interface AnthropicSettingsFields {
  fields: Record<string, unknown>;
  /** Set when the reply is read from the `json_response` tool's input. */
  jsonTool: string | undefined;
}

function refuse(setting: string, message: string): InvalidArgumentError {
  return new InvalidArgumentError({ argument: setting, message: `[sluice/anthropic] ${message}` });
}

function toolChoiceField(choice: ToolChoice, tools: readonly ChatTool[], thinking: boolean): Record<string, unknown> | undefined {
  // Without tools there is nothing to choose from (and Anthropic refuses a tool_choice alone).
  if (choice === 'auto' || choice === 'none') return tools.length === 0 ? undefined : { type: choice };
  if (tools.length === 0) {
    throw refuse('toolChoice', `toolChoice ${JSON.stringify(choice)} needs tools: pass tools with it, or leave toolChoice out`);
  }
  // Anthropic refuses forced tool use with thinking on (400); say so before sending.
  if (thinking) {
    throw refuse('toolChoice', `toolChoice ${JSON.stringify(choice)} forces a tool call, which Anthropic refuses with thinking on: use 'auto' or 'none', or a model without thinking`);
  }
  if (choice === 'required') return { type: 'any' };
  if (!tools.some((tool) => tool.name === choice.name)) {
    throw refuse('toolChoice', `toolChoice names the tool "${choice.name}", which is not among the call's tools (${tools.map((tool) => tool.name).join(', ')})`);
  }
  return { type: 'tool', name: choice.name };
}

/** The JSON tool and its forced choice for a `json` or `json-schema` response format. */
function jsonResponseFields(settings: CallSettings, thinking: boolean): Record<string, unknown> {
  const format = settings.responseFormat;
  if (format === undefined || format.type === 'text') return {};
  if ((settings.tools ?? []).length > 0 || (settings.toolChoice !== undefined && settings.toolChoice !== 'none' && settings.toolChoice !== 'auto')) {
    throw refuse(
      'responseFormat',
      `responseFormat ${format.type} is asked of Anthropic with a forced call to a "${JSON_RESPONSE_TOOL}" tool, so it cannot go with other tools or a toolChoice: pass tools: [] (and no toolChoice) in this call, or ask for the JSON in a later turn`,
    );
  }
  if (thinking) {
    throw refuse(
      'responseFormat',
      `responseFormat ${format.type} is asked of Anthropic with a forced tool call, which Anthropic refuses with thinking on: use a model without thinking for structured output`,
    );
  }
  const schema = format.type === 'json' ? { type: 'object' } : jsonSchemaOf(format);
  if (schema.type !== 'object') {
    throw refuse(
      'responseFormat.schema',
      `Anthropic's tool input (how the JSON reply is asked for) must be an object, but the schema's type is ${JSON.stringify(schema.type)}: wrap it in an object schema, e.g. { type: 'object', properties: { items: yourSchema }, required: ['items'] }`,
    );
  }
  const name = format.type === 'json-schema' ? (format.name ?? 'response') : 'JSON';
  const description = format.type === 'json-schema' && format.description !== undefined ? format.description : `Respond with the ${name} object as this tool's input.`;
  return {
    tools: [{ name: JSON_RESPONSE_TOOL, description, input_schema: schema }],
    tool_choice: { type: 'tool', name: JSON_RESPONSE_TOOL },
  };
}

/**
 * Refuses the settings Anthropic cannot take whatever the call: `seed` (the Messages API has
 * none) and a temperature above 1. `ChatAnthropic` checks its defaults with it when built.
 */
export function refuseUnsupportedSettings(settings: CallSettings): void {
  if (settings.seed !== undefined) {
    throw refuse('seed', 'seed: the Anthropic Messages API has no seed, so replies cannot be made reproducible: leave seed out for Anthropic models');
  }
  if (settings.temperature !== undefined && settings.temperature > 1) {
    throw refuse('temperature', `temperature must be between 0 and 1 for Anthropic (got ${settings.temperature})`);
  }
}

/**
 * The request fields for a call's settings: `temperature`, `max_tokens`, `top_p`,
 * `stop_sequences`, `tools` and `tool_choice`; a `json`/`json-schema` response format as a forced
 * `json_response` tool call. Refuses, naming the setting, what the Messages API has no field for
 * (`seed`) and what it would refuse (a temperature above 1, a thinking budget not below
 * `maxTokens`, forced tool use with thinking on).
 */
export function anthropicSettingsFields(settings: CallSettings, defaultMaxTokens: number, thinkingBudget: number | undefined): AnthropicSettingsFields {
  refuseUnsupportedSettings(settings);
  const maxTokens = settings.maxTokens ?? defaultMaxTokens;
  if (thinkingBudget !== undefined && thinkingBudget >= maxTokens) {
    throw refuse('maxTokens', `maxTokens (${maxTokens}) must be above thinking.budgetTokens (${thinkingBudget}): raise maxTokens or lower the thinking budget`);
  }
  const thinking = thinkingBudget !== undefined;
  const fields: Record<string, unknown> = { max_tokens: maxTokens };
  if (settings.temperature !== undefined) fields.temperature = settings.temperature;
  if (settings.topP !== undefined) fields.top_p = settings.topP;
  if (settings.stop !== undefined && settings.stop.length > 0) fields.stop_sequences = settings.stop;
  const json = jsonResponseFields(settings, thinking);
  if (json.tools !== undefined) return { fields: { ...fields, ...json }, jsonTool: JSON_RESPONSE_TOOL };
  const tools = settings.tools ?? [];
  if (tools.length > 0) fields.tools = toAnthropicTools(tools);
  if (settings.toolChoice !== undefined) {
    const choice = toolChoiceField(settings.toolChoice, tools, thinking);
    if (choice !== undefined) fields.tool_choice = choice;
  }
  return { fields, jsonTool: undefined };
}
