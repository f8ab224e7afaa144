// Runs the whole vitest suite and ends with the plain line CI reads:
//   tests: N passed, N failed
// derived from vitest's JSON report (not its own summary). Exits non-zero on any failure,
// on a test file that failed to load, on skipped or todo tests, and on zero tests run.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const report = join(root, '.vitest-report.json');
rmSync(report, { force: true });

const vitest = spawnSync(
  'pnpm',
  ['exec', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { cwd: root, stdio: 'inherit' },
);

let summary;
try {
  summary = JSON.parse(readFileSync(report, 'utf8'));
} catch (error) {
  console.error(`[sluice] vitest wrote no JSON report (${error.message})`);
  console.log('tests: 0 passed, 0 failed');
  process.exit(1);
}

const passed = summary.numPassedTests ?? 0;
const failed = summary.numFailedTests ?? 0;
const skipped = (summary.numPendingTests ?? 0) + (summary.numTodoTests ?? 0);
const brokenFiles = summary.numFailedTestSuites ?? 0;
const problems = [];
if (brokenFiles > 0) problems.push(`${brokenFiles} test file(s) failed`);
if (skipped > 0) problems.push(`${skipped} test(s) skipped or todo: CI runs every test`);
if (passed + failed === 0) problems.push('no test ran');
if (vitest.status !== 0 && failed === 0 && brokenFiles === 0) problems.push(`vitest exited with ${vitest.status}`);
for (const problem of problems) console.error(`[sluice] ${problem}`);

console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(failed > 0 || problems.length > 0 ? 1 : 0);
