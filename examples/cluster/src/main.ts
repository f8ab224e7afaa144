// `pnpm --filter @sluice/example-cluster start`: three sluice instances (separate processes)
// sharing PostgreSQL and a run hub, behind a round-robin proxy. Chat through the proxy and
// watch resume and cancel land on other instances than the run's.
import { startProxy } from './proxy.ts';
import { spawnInstance } from './spawn-instance.ts';

const hub = process.env.SLUICE_HUB ?? 'postgres';
const instances = await Promise.all([0, 1, 2].map(() => spawnInstance({ SLUICE_HUB: hub, PORT: '0' })));
const proxy = await startProxy(
  instances.map((instance) => instance.url),
  Number(process.env.PORT ?? 3000),
);
console.log(`sluice cluster (${hub} hub): instances ${instances.map((instance) => instance.url).join(', ')}`);
console.log(`round-robin proxy: ${proxy.url}  (Ctrl-C to stop)`);
console.log(`start a run:  curl -N -H 'Authorization: Bearer me' -H 'Content-Type: application/json' -d '{"messages":[{"role":"user","content":"Hi"}]}' ${proxy.url}/chat`);
console.log(`resume it:    curl -N -H 'Authorization: Bearer me' ${proxy.url}/runs/<X-Sluice-Run-Id>/events   (another instance answers)`);
console.log(`cancel it:    curl -X POST -H 'Authorization: Bearer me' ${proxy.url}/runs/<X-Sluice-Run-Id>/cancel`);

const stop = (): void => {
  for (const instance of instances) instance.child.kill('SIGTERM');
  proxy.server.closeAllConnections();
  proxy.server.close();
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
