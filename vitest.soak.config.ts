import { defineConfig } from 'vitest/config';

// `npm run test:soak`: only the opt-in suites (test/**/*.soak.test.ts) that `npm test` excludes.
export default defineConfig({
  test: {
    include: ['test/**/*.soak.test.ts'],
    exclude: ['**/node_modules/**'],
    testTimeout: 1_800_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
