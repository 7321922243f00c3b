// Issue 15 with a witness policy: two `medtrail serve --policy` processes over one PostgreSQL and a real
// `medtrail witness`. Only the server holding the signing lease submits checkpoints to the witness; the
// cosignatures it gets are kept in PostgreSQL, so the server that follows serves the same checkpoints with the
// same cosignatures, and `medtrail verify --policy` (which refuses a checkpoint without the quorum) answers
// GENUINE through either. The witness sees one submitter: every checkpoint it cosigned is consistent.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliAsync } from '../support/cli.js';
import { freshSchema, PG_URL } from '../support/pg.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../support/until.js';
import { startWitnessProcess, type WitnessProcess } from '../support/witness-process.js';
import { PgLogStore } from '../../server/store/pg/pg-log.js';

const t = tempDir('medtrail-pg-policy-');
const schema = freshSchema('policy');
const db = PG_URL === undefined ? '' : `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
const keys = join(t.dir, 'keys');
const policyFile = join(t.dir, 'policy.txt');
const procs: { stop(): Promise<void> }[] = [];
let a: ServerProcess;
let b: ServerProcess;
let w: WitnessProcess;
let packs: Record<string, string> = {};

describe.skipIf(PG_URL === undefined)('two servers over PostgreSQL with a witness policy (needs MEDTRAIL_TEST_PG_URL)', () => {
  beforeAll(async () => {
    const init = cli(['init', '--db', db, '--keys', keys, '--json']);
    expect(init.status, init.stderr).toBe(0);
    const vkey = (JSON.parse(init.stdout) as { logVerifierKey: string }).logVerifierKey;
    w = await startWitnessProcess(t.dir, 'witness.test/w1', vkey);
    procs.push(w);
    writeFileSync(policyFile, [`log ${vkey}`, `witness w1 ${w.vkey} ${w.url}`, 'quorum w1', ''].join('\n'));
    const serve = async (): Promise<ServerProcess> => {
      const s = await startServerProcess(db, ['--log-key', join(keys, 'log.key.json'), '--policy', policyFile]);
      procs.push(s);
      return s;
    };
    a = await serve();
    b = await serve();
    const d = await cliAsync(['demo', '--server', b.url, '--authority-key', join(keys, 'authority.key.json'), '--dir', join(t.dir, 'demo'), '--json']);
    expect(d.status, d.stderr).toBe(0);
    packs = (JSON.parse(d.stdout) as { packs: Record<string, string> }).packs;
  }, 90_000);

  afterAll(async () => {
    for (const p of procs) await p.stop();
    const pg = await PgLogStore.open(PG_URL!, schema, { create: false }).catch(() => undefined);
    await pg?.query('DROP SCHEMA $schema CASCADE').catch(() => undefined);
    await pg?.close();
    t.cleanup();
  });

  it('the server that follows serves the cosigned checkpoints, and verify --policy answers through either', async () => {
    const cosigned = async (url: string): Promise<string | undefined> => {
      const note = await (await fetch(`${url}/api/v1/checkpoint`)).text();
      return note.includes('— witness.test/w1 ') ? note : undefined;
    };
    const fromB = await until('a cosigned checkpoint on the following server', () => cosigned(b.url), 20_000);
    expect(fromB.split('\n')[1]).toMatch(/^[0-9]+$/);
    for (const s of [b, a]) {
      const uri = packs['GENUINE']!.replace(/^http:\/\/[^/]+/, s.url);
      const v = await cliAsync(['verify', '--server', s.url, '--policy', policyFile, '--json', uri]);
      expect(v.status, v.stdout + v.stderr).toBe(0);
      expect((JSON.parse(v.stdout) as { verdict: string }).verdict).toBe('GENUINE');
    }
    // Only one of the two submits: the other says nothing of the witness.
    expect([a, b].filter((s) => s.stderr().includes('signing lease taken')).length).toBe(1);
  }, 60_000);
});
