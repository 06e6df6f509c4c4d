import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real servers (JVM, emulator); give them room on a 2-core CI machine.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    // Lambda runs Node 22; tests run on the local Node 20 on purpose.
    env: {
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      // Powertools Metrics prints an EMF JSON blob per flush, which floods the output; no test reads it.
      // TRIBUTARY_TEST_METRICS=1 prints them (an explicit 'false' also wins over POWERTOOLS_DEV).
      POWERTOOLS_METRICS_DISABLED: process.env.TRIBUTARY_TEST_METRICS === '1' ? 'false' : 'true',
    },
  },
});
