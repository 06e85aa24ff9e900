import { defineConfig } from 'vitest/config';

/**
 * Tests that restart the Docker engine of the machine (test/engine/): they would break every other
 * test running at the time, so they run after the main suite, one file at a time (`npm test`).
 */
export default defineConfig({
  test: {
    include: ['test/engine/**/*.test.ts'],
    globalSetup: ['test/globalSetup.ts'],
    testTimeout: 300_000,
    hookTimeout: 180_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
