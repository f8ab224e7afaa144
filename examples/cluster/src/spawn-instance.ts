// Starts one cluster instance as a process of its own (`node src/instance.ts`).
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** A running instance process. */
export interface InstanceProcess {
  url: string;
  child: ChildProcess;
}

/**
 * Starts `node src/instance.ts` with these environment variables (see `InstanceOptions`) and
 * resolves with its URL once it listens. Its output is echoed with its URL in front.
 */
export function spawnInstance(env: Record<string, string>): Promise<InstanceProcess> {
  const child = spawn(process.execPath, [join(here, 'instance.ts')], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let url: string | undefined;
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      if (url === undefined && line.startsWith('listening ')) {
        url = line.slice('listening '.length);
        resolve({ url, child });
      } else if (process.env.SLUICE_CLUSTER_QUIET === undefined) {
        console.log(`[${url ?? `pid ${child.pid}`}] ${line}`);
      }
    });
    child.once('exit', (code, signal) => {
      if (url === undefined) reject(new Error(`[cluster] an instance exited (${signal ?? `code ${String(code)}`}) before it listened`));
    });
  });
}
