// The seed's first use case: print the reply as it is generated.
// Runs on the built-in fake model; set OPENAI_API_KEY or ANTHROPIC_API_KEY (or SLUICE_PROVIDER)
// to stream from a real provider instead.
import { HumanMessage, StreamingStdOutCallbackHandler } from '@sluice/core';
import { modelFromEnv } from '@sluice/example-providers';

const chat = await modelFromEnv({ streaming: true, callbacks: [new StreamingStdOutCallbackHandler()] });
const reply = await chat.invoke([new HumanMessage('Write me a song about sparkling water.')]);

console.error(`\n[${chat.provider}/${chat.model}] finish: ${reply.finishReason}, output tokens: ${reply.usage?.outputTokens ?? 'n/a'}`);
