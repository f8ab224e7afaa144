// `pnpm --filter @sluice/example-cluster start`: three sluice instances (separate processes)
// sharing PostgreSQL and a run hub, behind a round-robin proxy. Chat through the proxy and
// watch resume and cancel land on other instances than the run's.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startProxy } from './proxy.ts';

const here = dirname(fileURLToPath(import.meta.url));

/** Starts `node src/instance.ts` and resolves with its URL once it listens. */
export async function spawnInstance(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(here, 'instance.ts')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`[cluster] an instance exited with code ${String(code)} before it listened`);
  });
  const listening = (async () => {
    for await (const line of lines) if (line.startsWith('listening ')) return line.slice('listening '.length);
    throw new Error('[cluster] an instance closed its output before it listened');
  })();
  const url = await Promise.race([listening, exited]);
  lines.on('line', (line) => console.log(`[${url}] ${line}`));
  return { url, child };
}

if (import.meta.url === `file://${process.argv[1] ?? ''}`) {
  const hub = process.env.SLUICE_HUB ?? 'postgres';
  const instances = await Promise.all([0, 1, 2].map(() => spawnInstance({ SLUICE_HUB: hub, PORT: '0' })));
  const proxy = await startProxy(instances.map((instance) => instance.url), Number(process.env.PORT ?? 3000));
  console.log(`sluice cluster (${hub} hub): 3 instances ${instances.map((instance) => instance.url).join(', ')}`);
  console.log(`round-robin proxy: ${proxy.url}`);
  console.log(`try:  curl -N -H 'Authorization: Bearer me' -H 'Content-Type: application/json' -d '{"messages":[{"role":"user","content":"Hi"}]}' ${proxy.url}/chat`);
  console.log(`then: curl -N -H 'Authorization: Bearer me' ${proxy.url}/runs/<run id>/events   (served by another instance)`);
  const stop = (): void => {
    for (const instance of instances) instance.child.kill('SIGTERM');
    proxy.server.close();
    proxy.server.closeAllConnections();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
