import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global.ts'],
    // CLI and service tests spawn real processes and open real databases.
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
