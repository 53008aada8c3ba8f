import { defineConfig } from 'vitest/config';

/** Tests whose assertions are rates of real threads (`*.timing.test.ts`): they run last and alone. */
const TIMING = 'test/**/*.timing.test.ts';

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Tests that start worker threads or the wasm backend are heavier than the default budget allows
    // on a 2-core CI machine; two forks keep the suite within a few minutes without oversubscribing.
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: [TIMING], sequence: { groupOrder: 0 } } },
      // A measured input rate is only meaningful when the input workers have the cores to themselves:
      // after the rest of the suite, one file at a time (they still fail on a machine loaded by others).
      { extends: true, test: { name: 'timing', include: [TIMING], fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
