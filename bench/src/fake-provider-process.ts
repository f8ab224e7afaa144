/**
 * Runs `@sluice/testing`'s fake OpenAI and Anthropic servers in their own process for the
 * adapter benchmark: a real provider never shares the client's event loop, so neither does
 * the fake one. Reports the base URLs over IPC and exits when told to.
 */
import { startFakeAnthropic, startFakeOpenAI } from '@sluice/testing';

const tokens = JSON.parse(process.argv[2] ?? '[]') as string[];
const openai = await startFakeOpenAI({ reply: { text: tokens } });
const anthropic = await startFakeAnthropic({ reply: { text: tokens } });
process.send?.({ type: 'ready', openai: openai.baseURL, anthropic: anthropic.baseURL });
process.on('message', async (message: { type: string }) => {
  if (message.type !== 'exit') return;
  await openai.close();
  await anthropic.close();
  process.exit(0);
});
