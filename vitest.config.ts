import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration suites share one PostgreSQL and bind ports; keep files in parallel but bounded.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
