import { defineConfig } from 'tsup';

/** How every sluice package is built: one ESM entry with its types and source maps, for Node >= 22. */
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node22',
});
