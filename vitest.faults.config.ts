import { defineConfig } from 'vitest/config';

/** The fault and bad-input suite (npm run test:faults): worker processes killed, networks cut. */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time: these tests mostly wait (for leases, outages, restarts), and their
    // deadlines are generous enough for a second file's workers beside them on 2 cores.
    maxWorkers: 2,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
