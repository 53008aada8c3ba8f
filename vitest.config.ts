import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Tests that start worker threads or the wasm backend are heavier than the default budget allows
    // on a 2-core CI machine; two forks keep the suite within a few minutes without oversubscribing.
    pool: 'forks',
    maxWorkers: 2,
  },
});
