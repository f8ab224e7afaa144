// The call's model settings, as each OpenAI API names them. The Chat Completions and Responses
// APIs differ in names and in what they have at all: what one of them lacks is refused before
// the request, not dropped silently.
import { InvalidArgumentError, jsonSchemaOf, type CallSettings, type ResponseFormat, type ToolChoice } from '@sluice/core';
import { toChatTools, toResponsesTools } from './openai-messages.js';

type JsonSchemaFormat = Extract<ResponseFormat, { type: 'json-schema' }>;

/** `{ name, schema, description?, strict? }`: the fields both APIs share for a JSON Schema format. */
function jsonSchemaFields(format: JsonSchemaFormat): Record<string, unknown> {
  const fields: Record<string, unknown> = { name: format.name ?? 'response', schema: jsonSchemaOf(format) };
  if (format.description !== undefined) fields.description = format.description;
  if (format.strict !== undefined) fields.strict = format.strict;
  return fields;
}

function chatToolChoice(choice: ToolChoice): unknown {
  return typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
}

function responsesToolChoice(choice: ToolChoice): unknown {
  return typeof choice === 'string' ? choice : { type: 'function', name: choice.name };
}

/**
 * The tool choice to send, or undefined: OpenAI refuses `tool_choice` without tools (a 400), so
 * `auto` and `none` are left out then, and a choice that needs a tool is refused here.
 */
function checkedToolChoice(settings: CallSettings): ToolChoice | undefined {
  const choice = settings.toolChoice;
  if (choice === undefined) return undefined;
  const tools = settings.tools ?? [];
  if (tools.length === 0) {
    if (choice === 'auto' || choice === 'none') return undefined;
    throw new InvalidArgumentError({ argument: 'toolChoice', message: `[sluice/openai] toolChoice ${JSON.stringify(choice)} needs tools: pass tools with it, or leave toolChoice out` });
  }
  if (typeof choice === 'object' && !tools.some((tool) => tool.name === choice.name)) {
    throw new InvalidArgumentError({ argument: 'toolChoice', message: `[sluice/openai] toolChoice names the tool ${JSON.stringify(choice.name)}, which is not among the call's tools (${tools.map((tool) => tool.name).join(', ')})` });
  }
  return choice;
}

/** The settings' Chat Completions fields, added to `body`. */
export function applyChatSettings(body: Record<string, unknown>, settings: CallSettings): void {
  if (settings.temperature !== undefined) body.temperature = settings.temperature;
  if (settings.maxTokens !== undefined) body.max_completion_tokens = settings.maxTokens;
  if (settings.topP !== undefined) body.top_p = settings.topP;
  if (settings.stop !== undefined) body.stop = settings.stop;
  if (settings.seed !== undefined) body.seed = settings.seed;
  if (settings.tools !== undefined && settings.tools.length > 0) body.tools = toChatTools(settings.tools);
  const chatChoice = checkedToolChoice(settings);
  if (chatChoice !== undefined) body.tool_choice = chatToolChoice(chatChoice);
  const format = settings.responseFormat;
  if (format?.type === 'json') body.response_format = { type: 'json_object' };
  else if (format?.type === 'json-schema') body.response_format = { type: 'json_schema', json_schema: jsonSchemaFields(format) };
}

/** The settings' Responses API fields, added to `body`; throws for those the API does not have. */
export function applyResponsesSettings(body: Record<string, unknown>, settings: CallSettings): void {
  if (settings.stop !== undefined) {
    throw new InvalidArgumentError({
      argument: 'stop',
      message: "[sluice/openai] the Responses API has no stop sequences: leave stop out, or use api: 'chat' (Chat Completions sends them as stop)",
    });
  }
  if (settings.seed !== undefined) {
    throw new InvalidArgumentError({
      argument: 'seed',
      message: "[sluice/openai] the Responses API takes no seed: leave seed out, or use api: 'chat' (Chat Completions sends it as seed)",
    });
  }
  if (settings.temperature !== undefined) body.temperature = settings.temperature;
  if (settings.maxTokens !== undefined) body.max_output_tokens = settings.maxTokens;
  if (settings.topP !== undefined) body.top_p = settings.topP;
  if (settings.tools !== undefined && settings.tools.length > 0) body.tools = toResponsesTools(settings.tools);
  const responsesChoice = checkedToolChoice(settings);
  if (responsesChoice !== undefined) body.tool_choice = responsesToolChoice(responsesChoice);
  const format = settings.responseFormat;
  if (format?.type === 'json') body.text = { format: { type: 'json_object' } };
  else if (format?.type === 'json-schema') body.text = { format: { type: 'json_schema', ...jsonSchemaFields(format) } };
}

/** The call's `providerOptions.openai`, merged into the body last, as it is. */
export function openAIProviderOptions(settings: CallSettings): Record<string, unknown> | undefined {
  return settings.providerOptions?.openai;
}
