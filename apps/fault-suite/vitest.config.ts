import { defineConfig, mergeConfig } from 'vitest/config';
import { sharedVitestConfig } from '../../vitest.shared.js';

// Every file starts its own cluster of real processes and runs one long property: one file at a time,
// so the suites do not starve each other's processes on a small machine.
// A ci run's suite ends in minutes; the long profile's crash loop (200 cycles and more) in tens of them.
const long = process.env.FAULTS_PROFILE === 'long';
export default mergeConfig(
  sharedVitestConfig({ testTimeout: long ? 4 * 3_600_000 : 600_000 }),
  defineConfig({ test: { hookTimeout: 120_000, fileParallelism: false } }),
);
