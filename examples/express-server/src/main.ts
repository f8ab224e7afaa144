// The main job: `npm run demo` starts this. Open the printed address and chat.
import { startServer } from './server.ts';

const running = await startServer();
console.log(`sluice demo: ${running.url}  (API at ${running.url}/api; Ctrl-C to stop)`);
const stop = async () => {
  await running.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
