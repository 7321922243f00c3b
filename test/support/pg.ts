// The real PostgreSQL the tests use: .ci/run starts a cluster of its own (Debian's postgresql, a temporary data
// directory, loopback only) and exports its URL as MEDTRAIL_TEST_PG_URL. Each test gets a schema of its own.
import { randomBytes } from 'node:crypto';

/** The cluster's URL, or undefined when none was started (the PostgreSQL tests then say why they did not run). */
export const PG_URL: string | undefined = process.env['MEDTRAIL_TEST_PG_URL'];

/** A fresh schema name for one ledger of one test. */
export function freshSchema(prefix = 't'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** Where the log put an acknowledged entry (the 201 of POST /entries). */
export interface Acked {
  index: number;
  leafHash: string;
}
