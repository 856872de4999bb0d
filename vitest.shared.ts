import { defineConfig } from 'vitest/config';

/**
 * Shared vitest settings for every package. Each run also writes a JSON report next to the package
 * (`.vitest-results.json`) so `.ci/run` can sum passed/failed/skipped over the whole monorepo.
 */
export function sharedVitestConfig(options: { testTimeout?: number } = {}) {
  return defineConfig({
    test: {
      include: ['test/**/*.test.ts'],
      testTimeout: options.testTimeout ?? 30_000,
      hookTimeout: 30_000,
      reporters: ['default', ['json', { outputFile: '.vitest-results.json' }]],
    },
  });
}
