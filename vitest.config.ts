import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Integration tests start real servers, pcscd and Chromium; two cores only.
    maxWorkers: 2,
    // One pcscd (with the vpcd virtual readers) for the whole run; NFC test files share it.
    globalSetup: ['test/support/global-setup.ts'],
  },
});
