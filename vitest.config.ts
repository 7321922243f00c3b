import { defineConfig } from 'vitest/config';

// The behaviour suites that also run with the ledger in PostgreSQL (issue 15): their chain is served from a
// fresh schema of the test cluster (test/support/custody.ts startChain, MEDTRAIL_TEST_BACKEND=postgres), through
// the same HTTP API. Suites that reach into the SQLite file itself (tamper, crash, replay of the file) or call
// the synchronous submit() stay SQLite-only; PostgreSQL's own tamper, crash and multi-process tests are test/pg.
const BOTH_BACKENDS = [
  'test/custody/authorization.test.ts',
  'test/verify/verdicts.test.ts',
  'test/verify/reads.test.ts',
  'test/verify/journey.test.ts',
  'test/verify/hot-path.test.ts',
  'test/verify/fuzz.test.ts',
  'test/verify/alerts.test.ts',
  'test/web/server.test.ts',
  'test/web/console.test.ts',
  'test/web/evidence.test.ts',
  'test/server/openapi.test.ts',
  'test/rx/fhir-r4.test.ts',
];

const timeouts = { testTimeout: 60_000, hookTimeout: 120_000 };

export default defineConfig({
  test: {
    exclude: ['node_modules/**', 'dist/**'],
    // Integration tests start real servers, pcscd and Chromium; two cores only.
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'sqlite',
          include: ['test/**/*.test.ts'],
          exclude: ['node_modules/**', 'dist/**'],
          ...timeouts,
          // One pcscd (with the vpcd virtual readers) for the whole run; NFC test files share it.
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
      ...(process.env['MEDTRAIL_TEST_PG_URL'] !== undefined
        ? [{ test: { name: 'postgres', include: BOTH_BACKENDS, ...timeouts, env: { MEDTRAIL_TEST_BACKEND: 'postgres' } } }]
        : []),
    ],
  },
});
