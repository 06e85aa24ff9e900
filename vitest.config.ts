import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // These restart the Docker engine: they run alone afterwards (vitest.engine.config.ts).
    exclude: ['test/engine/**', '**/node_modules/**'],
    globalSetup: ['test/globalSetup.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Integration files each run their own instances; two at a time suits a 2-core host.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
