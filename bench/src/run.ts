/**
 * Runs every benchmark (`src/*.bench.ts`) and writes BENCHMARKS.md at the repository root.
 * `pnpm bench` runs them all; `pnpm bench <word>` runs those whose file name contains the word
 * and keeps the other sections of BENCHMARKS.md as they were.
 *
 * Each benchmark runs in a process of its own (`run.ts --one <file>`), so none measures in a
 * heap, JIT state or young generation that the benchmarks before it left behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchModule, BenchReport } from './bench-report.ts';

const here = dirname(fileURLToPath(import.meta.url));

if (process.argv[2] === '--one') {
  // The child: runs one benchmark and leaves its report where the parent said.
  const [file, reportPath] = process.argv.slice(3) as [string, string];
  const module = (await import(join(here, file))) as { default: BenchModule };
  await writeFile(reportPath, JSON.stringify(await module.default()));
  process.exit(0);
}

const output = join(here, '..', '..', 'BENCHMARKS.md');
const filters = process.argv.slice(2);

const files = (await readdir(here)).filter((file) => file.endsWith('.bench.ts')).sort();
const selected = files.filter((file) => filters.length === 0 || filters.some((word) => file.includes(word)));
if (selected.length === 0) {
  console.error(`[bench] no benchmark matches ${filters.join(', ')}; have: ${files.join(', ')}`);
  process.exit(1);
}

const previous = await readFile(output, 'utf8').catch(() => '');
const sections = new Map<string, string>();
for (const match of previous.matchAll(/<!-- bench:(\S+) -->\n([\s\S]*?)<!-- \/bench:\1 -->/g)) {
  sections.set(match[1] as string, match[2] as string);
}

let failedTargets = 0;
for (const file of selected) {
  const name = file.replace(/\.bench\.ts$/, '');
  console.log(`\n[bench] ${name} ...`);
  const directory = mkdtempSync(join(os.tmpdir(), 'sluice-bench-'));
  const reportPath = join(directory, 'report.json');
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--one', file, reportPath], { stdio: 'inherit' });
  if (child.status !== 0) {
    rmSync(directory, { recursive: true, force: true });
    console.error(`[bench] ${name} failed (exit ${child.status ?? child.signal})`);
    process.exit(1);
  }
  const report = JSON.parse(readFileSync(reportPath, 'utf8')) as BenchReport;
  rmSync(directory, { recursive: true, force: true });
  const targets = report.targets
    .map((target) => `- ${target.met ? 'met' : '**missed**'}: ${target.description}`)
    .join('\n');
  const stamp = `_Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, Node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}._`;
  const body = `## ${report.title}\n\n${stamp}\n\n${report.markdown}\n\n**Targets**\n\n${targets}\n\n`;
  sections.set(name, body);
  console.log(body);
  failedTargets += report.targets.filter((target) => !target.met).length;
}

const ordered = [...sections.keys()].sort();
const document = [
  '# Benchmarks',
  '',
  'Written by `pnpm bench` (see `bench/`). Each section was measured in one run on the machine it names; compare the ratios inside a section, not absolute times across sections or machines.',
  '',
  ...ordered.map((name) => `<!-- bench:${name} -->\n${sections.get(name) as string}<!-- /bench:${name} -->\n`),
].join('\n');
await writeFile(output, document);
console.log(`[bench] wrote ${output}${failedTargets > 0 ? ` — ${failedTargets} target(s) missed` : ''}`);
