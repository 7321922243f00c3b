// `medtrail start --db postgres://...` as the README gives it: the first start makes the ledger's schema and its
// keys (in ./data/pg), serves it and sets up the demo chain; the packs it prints verify; a second start on the
// same schema makes nothing new and prints the demo packs again.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PgLogStore } from '../../server/store/pg/pg-log.js';
import { cliAsync } from '../support/cli.js';
import { freshSchema, PG_URL } from '../support/pg.js';
import { startUntil } from '../support/start.js';
import { tempDir } from '../support/tmp.js';

const t = tempDir('medtrail-pg-start-');
const schema = freshSchema('start');
const db = PG_URL === undefined ? '' : `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;

describe.skipIf(PG_URL === undefined)('medtrail start on PostgreSQL (needs MEDTRAIL_TEST_PG_URL)', () => {
  afterAll(async () => {
    const pg = await PgLogStore.open(PG_URL!, schema, { create: false }).catch(() => undefined);
    await pg?.query('DROP SCHEMA $schema CASCADE').catch(() => undefined);
    await pg?.close();
    t.cleanup();
  });

  it('makes the ledger on first start, serves the demo chain, and on a second start prints the packs again', async () => {
    const packsLine = (out: string): Record<string, string> | undefined => {
      const line = out.split('\n').find((l) => l.startsWith('{"packs"'));
      return line === undefined ? undefined : (JSON.parse(line) as { packs: Record<string, string> }).packs;
    };
    const first = await startUntil(['--db', db, '--port', '0', '--json'], (out) => packsLine(out) !== undefined, t.dir);
    expect(first.status).toBe(0);
    const packs = packsLine(first.out)!;
    for (const f of ['log.key.json', 'authority.key.json', 'rx.key']) expect(existsSync(join(t.dir, 'data', 'pg', f))).toBe(true);

    // A new process, a new working copy: the ledger lived on in PostgreSQL, and each saved pack is verified
    // afresh against it (a pack whose answer changed would say "the server answers ...").
    const second = await startUntil(['--db', db, '--port', '0'], (out) => /^IN_TRANSIT +http/m.test(out), t.dir);
    expect(second.status).toBe(0);
    expect(second.out).not.toContain('created a new ledger');
    expect(second.out).toMatch(/^GENUINE +http:\/\/127\.0\.0\.1:[0-9]+\/01\//m);
    expect(second.out).not.toContain('the server answers');
    const audit = await cliAsync(['audit', '--db', db, '--json']);
    expect(audit.status, audit.stdout + audit.stderr).toBe(0);
    expect((JSON.parse(audit.stdout) as { leaves: number }).leaves).toBeGreaterThan(10);
    expect(Object.keys(packs)).toEqual(expect.arrayContaining(['GENUINE', 'DISPENSED', 'RECALLED', 'COUNTERFEIT']));
  }, 120_000);
});
