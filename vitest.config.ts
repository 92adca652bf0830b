import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Opt-in suites (soak, scale) live under test/**/*.soak.test.ts and run with `npm run test:soak`.
    exclude: ['**/node_modules/**', 'test/**/*.soak.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
