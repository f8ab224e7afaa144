import { defineConfig, type Options } from 'tsup';
import packageConfig from '../../tsup.package.ts';

// A second entry: the run hub conformance suite imports vitest, an optional peer, so it is
// kept out of the main entry (`@sluice/testing/run-hub-conformance`).
export default defineConfig({ ...(packageConfig as Options), entry: ['src/index.ts', 'src/run-hub-conformance.ts'] });
