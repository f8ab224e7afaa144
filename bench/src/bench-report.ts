/** What one benchmark module gives the runner. */
export interface BenchReport {
  /** Section heading in BENCHMARKS.md. */
  title: string;
  /** Markdown: what was measured, the table, notes. */
  markdown: string;
  /** Each target the issue sets, and whether this run met it. */
  targets: { description: string; met: boolean }[];
}

/** A benchmark module: `bench/src/<name>.bench.ts` default-exports one of these. */
export type BenchModule = () => Promise<BenchReport>;

/** Median of a list of numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

/** The value below which `fraction` of the values fall (nearest rank). */
export function percentile(values: readonly number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Runs `body` `warmup` times, then `runs` times, and gives each measured run's milliseconds. */
export async function timeRuns(body: () => Promise<void>, options: { warmup: number; runs: number }): Promise<number[]> {
  for (let index = 0; index < options.warmup; index++) await body();
  const times: number[] = [];
  for (let index = 0; index < options.runs; index++) {
    (globalThis as { gc?: () => void }).gc?.();
    const started = performance.now();
    await body();
    times.push(performance.now() - started);
  }
  return times;
}

/** A markdown table from a header row and data rows. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** Formats a number with a fixed count of decimals. */
export function fixed(value: number, decimals = 1): string {
  return value.toFixed(decimals);
}

/** Throws when a benchmark's correctness check fails: a fast wrong answer is no result. */
export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`[bench] check failed: ${message}`);
}
