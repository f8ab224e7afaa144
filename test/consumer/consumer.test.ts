// Proves the packages work as published: packs every public package with `pnpm pack`,
// installs the tarballs into a throwaway project outside the workspace with npm, and runs
// the stdout example there against them.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const project = mkdtempSync(join(tmpdir(), 'sluice-consumer-'));
const tarballs = new Map<string, string>();

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Rewrites workspace dependencies of a copied example package to the packed tarballs. */
function pointAtTarballs(dependencies: Record<string, string> | undefined): Record<string, string> {
  const rewritten: Record<string, string> = {};
  for (const [name, spec] of Object.entries(dependencies ?? {})) {
    if (!spec.startsWith('workspace:')) rewritten[name] = spec;
    else if (tarballs.has(name)) rewritten[name] = `file:${tarballs.get(name)}`;
    else if (name === '@sluice/example-providers') rewritten[name] = 'file:./providers';
    else throw new Error(`${name} is not a public package: the consumer project cannot install it`);
  }
  return rewritten;
}

beforeAll(() => {
  const packs = join(project, 'packs');
  mkdirSync(packs);
  for (const name of readdirSync(join(root, 'packages')).sort()) {
    const dir = join(root, 'packages', name);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; private?: boolean };
    if (manifest.private) continue;
    const output = run('pnpm', ['pack', '--pack-destination', packs, '--json'], dir);
    const packed = JSON.parse(output) as { filename: string };
    tarballs.set(manifest.name, packed.filename);
  }

  // The example's provider picker is a private workspace package: copy it as a local folder.
  const providers = join(project, 'providers');
  cpSync(join(root, 'examples', 'providers'), providers, { recursive: true, filter: (path) => !path.includes('node_modules') });
  const providersManifest = JSON.parse(readFileSync(join(providers, 'package.json'), 'utf8'));
  providersManifest.dependencies = pointAtTarballs(providersManifest.dependencies);
  writeFileSync(join(providers, 'package.json'), JSON.stringify(providersManifest, null, 2));

  const exampleManifest = JSON.parse(readFileSync(join(root, 'examples', 'stdout', 'package.json'), 'utf8'));
  const overrides = Object.fromEntries([...tarballs].map(([name, file]) => [name, `file:${file}`]));
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify(
      {
        name: 'sluice-consumer',
        private: true,
        type: 'module',
        // Every public package, as a user installing them would get them, and the example's own.
        dependencies: { ...overrides, ...pointAtTarballs(exampleManifest.dependencies) },
        overrides,
      },
      null,
      2,
    ),
  );
  cpSync(join(root, 'examples', 'stdout', 'src'), join(project, 'src'), { recursive: true });
  run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--install-links'], project);
}, 240_000);

afterAll(() => {
  rmSync(project, { recursive: true, force: true });
});

describe('the packages as published', () => {
  it('install from their tarballs outside the workspace', () => {
    expect(tarballs.has('@sluice/core')).toBe(true);
    const installed = JSON.parse(readFileSync(join(project, 'node_modules', '@sluice', 'core', 'package.json'), 'utf8'));
    expect(installed.name).toBe('@sluice/core');
    // A published manifest never carries the workspace protocol.
    for (const name of tarballs.keys()) {
      const manifest = readFileSync(join(project, 'node_modules', ...name.split('/'), 'package.json'), 'utf8');
      expect(manifest).not.toContain('workspace:');
    }
  });

  it('run the stdout example: the song streams to stdout', () => {
    const output = run('node', ['src/main.ts'], project, { SLUICE_PROVIDER: 'fake', SLUICE_FAKE_RATE: '0' });
    expect(output).toContain('Sparkling water, dancing on my tongue,');
    expect(output.trimEnd().endsWith('The happiest drink that I have ever found.')).toBe(true);
  });
});
