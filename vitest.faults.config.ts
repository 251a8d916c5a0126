import { defineConfig } from 'vitest/config';

/** The fault and bad-input suite (npm run test:faults): worker processes killed, networks cut. */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One file at a time: these tests kill processes and time recoveries on a 2-core machine.
    fileParallelism: false,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
