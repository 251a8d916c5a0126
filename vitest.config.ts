import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fault suite runs on its own (npm run test:faults, vitest.faults.config.ts).
    exclude: ['test/faults/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests start their own emulators on free ports; files run in parallel. Most of
    // their time is spent waiting on emulators and child processes, so three files at a time on
    // 2 cores (vitest's default there is one) halves the wall time without starving any.
    pool: 'forks',
    maxWorkers: 3,
    // Files share their worker's module cache instead of importing aws-cdk-lib, the SDK and the
    // sources afresh for each of the 82 files: 390 s → 239 s on 2 cores (import time 218 s → 46 s).
    // The files start their own emulators and processes and keep no global state (no module
    // mocks or env stubs; the one fake-timer file restores real timers).
    isolate: false,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
