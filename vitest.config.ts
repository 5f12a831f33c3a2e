import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests start real servers and databases; two files at a time fit the 2-core CI machines.
    maxWorkers: 2,
    pool: 'forks',
  },
});
