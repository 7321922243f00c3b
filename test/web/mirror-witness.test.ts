// Issue 13's attack that only a mirror can catch, and issue 14's "it cosigns only what it has checked": an
// operator that signs, with its real log key, a checkpoint whose map root is wrong (a dispensed pack shown as
// active). The tree stays consistent, so a plain witness (`medtrail witness`) cosigns it: it checks consistency
// only. A mirror in the witness policy (`medtrail mirror --witness-key`) replays every entry, finds that its own
// maps do not give the signed roots, answers 422 and writes the evidence. Every part is a real process on
// loopback with real SQLite files, the page runs in real Chromium.
//
// With a policy whose quorum needs the mirror (`group q all w1 mirror`) the page, `medtrail verify --policy` and
// `medtrail-reader --policy` never show GENUINE for the dispensed pack. With a policy of the plain witness alone
// the same lie gets through, GENUINE everywhere: that is why the mirror belongs in the quorum.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseKeyFile } from '../../core/crypto/keys.js';
import { formatAddCheckpoint } from '../../core/log/witness-protocol.js';
import { checkQuorum, parsePolicy } from '../../core/log/policy.js';
import { cli, cliAsync } from '../support/cli.js';
import { gtinOf, sign, type Party } from '../support/custody.js';
import { startMirrorProcess, type MirrorProcess } from '../support/mirror-process.js';
import { spawnReader } from '../support/reader-world.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';
import { until as waitFor } from '../support/until.js';
import { startWitnessProcess, type WitnessProcess } from '../support/witness-process.js';
import { buildAssets, launch, patientChain, tagUri, type PatientChain } from './browser.js';
import { checks, openPage, verdictOf } from './patient-visit.js';

/** Waiting on processes here (a mirror catching up, witnesses cosigning) gets 20 s. */
const until = <T>(what: string, f: () => Promise<T | undefined>): Promise<T> => waitFor(what, f, 20_000);

const t = tempDir('medtrail-mirror-witness-');
let chain: PatientChain;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let w1: WitnessProcess | undefined;
let mirror: MirrorProcess | undefined;
let op: ServerProcess | undefined;
let vkey = '';
let db = '';
const policyQ = join(t.dir, 'policy-with-mirror.txt');
const policyW = join(t.dir, 'policy-plain-witness.txt');
let textQ = '';
let textW = '';

/** The operator again on the same port (the mirror follows that address), with this policy. */
async function restartOperator(policy: string): Promise<void> {
  const port = new URL(op!.url).port;
  await op!.stop();
  op = await startServerProcess(db, ['--port', port, '--policy', policy, '--witness-max-age', '8']);
}

const checkpointOf = async (url: string): Promise<string> => (await fetch(`${url}/api/v1/checkpoint`)).text();

async function post(body: unknown): Promise<void> {
  const r = await fetch(`${op!.url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  expect(r.status, await r.text()).toBe(201);
}

beforeAll(async () => {
  await buildAssets();
  chain = await patientChain();
  vkey = chain.c.srv.ledger.log.verifierKey;
  db = chain.c.t.db;
  // The mirror: a participant of role `mirror` (it reads the entries), with a witness key of its own.
  const mirrorKey = join(t.dir, 'mirror.key.json');
  expect(cli(['keygen', '--out', mirrorKey, '--name', 'Regulator mirror', '--gln', '4012345000504']).status).toBe(0);
  const mk = parseKeyFile(readFileSync(mirrorKey, 'utf8')) as Party;
  await chain.c.ok(chain.c.participant(mk, 'mirror'));
  const witnessKey = join(t.dir, 'mirror-witness.key.json');
  expect(cli(['keygen', '--out', witnessKey, '--name', 'mirror.test/m1']).status).toBe(0);
  await chain.c.srv.close();
  w1 = await startWitnessProcess(t.dir, 'witness.test/w1', vkey);
  // The operator first without a policy, so that the mirror can catch up and say its address; then again with
  // the policy that names the mirror. The mirror's own follow loop waits 10 minutes between rounds: whatever it
  // learns after its start, it learns from the checkpoints submitted to it as a witness, following up to them.
  op = await startServerProcess(db);
  mirror = await startMirrorProcess(['--from', op.url, '--db', join(t.dir, 'mirror.db'), '--key', mirrorKey, '--authority', chain.c.t.init.authorityKey, '--interval-ms', '600000', '--witness-key', witnessKey]);
  expect(mirror.witness?.name).toBe('mirror.test/m1');
  textQ = [`log ${vkey}`, `witness w1 ${w1.vkey} ${w1.url}`, `witness mirror ${mirror.witness!.vkey} ${mirror.witness!.url}`, 'group q all w1 mirror', 'quorum q', ''].join('\n');
  textW = [`log ${vkey}`, `witness w1 ${w1.vkey} ${w1.url}`, 'quorum w1', ''].join('\n');
  writeFileSync(policyQ, textQ);
  writeFileSync(policyW, textW);
  await restartOperator(policyQ);
  ({ browser, close: closeBrowser } = await launch());
}, 120_000);

afterAll(async () => {
  await closeBrowser?.();
  await op?.stop();
  await mirror?.stop();
  await w1?.stop();
  chain?.c.t.cleanup();
  t.cleanup();
});

describe('the mirror as a witness of the honest log', () => {
  it('cosigns a new checkpoint once it has followed the log up to it and checked it, beside the plain witness', async () => {
    await post(sign('product', chain.c.m, { gtin: gtinOf(2), name: 'Honest', form: 'tablets', strength: '1 mg', packSize: 10 }));
    const q = await until('both cosignatures', async () => {
      const r = checkQuorum(parsePolicy(textQ), await checkpointOf(op!.url));
      return r.satisfied ? r : undefined;
    }).catch((e: unknown) => {
      throw new Error(`${String(e)}\nmirror: ${mirror!.stderr()}\noperator: ${op!.stderr()}`);
    });
    expect(q.witnessed).toEqual(['w1', 'mirror']);
    // The mirror cosigned a checkpoint it holds, verified.
    const status = (await (await fetch(`${mirror!.url}/api/v1/mirror`)).json()) as { size: number; diverged: unknown };
    expect(status.size).toBeGreaterThanOrEqual(q.checkpoint.size);
    expect(status.diverged).toBeNull();
  });

  it('answers as a c2sp.org/tlog-witness witness: 409 with the size it holds, 403 for a note the log did not sign', async () => {
    const note = await checkpointOf(op!.url);
    const held = await fetch(`${mirror!.witness!.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: 1, proof: [], checkpoint: note }) });
    expect(held.status, `${await held.text()} ${mirror!.stderr()} ${op!.stderr()}`).toBe(409);
    // The log's signature line altered: no signature by the log's key, and the mirror does not follow for it.
    const forged = note.replace(/^(— \S+ )(\S)/m, (_m, a: string, c: string) => `${a}${c === 'A' ? 'B' : 'A'}`);
    expect(forged).not.toBe(note);
    const bad = await fetch(`${mirror!.witness!.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: forged }) });
    expect(bad.status).toBe(403);
  });
});

describe('an operator that signs a wrong map root: a dispensed pack shown as active', () => {
  beforeAll(async () => {
    // The operator edits its custody tables (the dispensed pack active again) and has its server rebuild and sign
    // the maps they give, with the real log key; then one more entry, so that the lie is in a new checkpoint that
    // is consistent with the old one (a plain witness, holding the honest checkpoint, cosigns it).
    const port = new URL(op!.url).port;
    await op!.stop();
    const d = new Database(db);
    expect(d.prepare("UPDATE custody_packs SET state = 'active' WHERE serial = ?").run(chain.dispensed.serial).changes).toBe(1);
    d.close();
    op = await startServerProcess(db, ['--port', port, '--policy', policyQ, '--witness-max-age', '8']);
    await post(sign('product', chain.c.m, { gtin: gtinOf(3), name: 'After the lie', form: 'tablets', strength: '1 mg', packSize: 10 }));
  }, 60_000);

  it('the plain witness cosigns the lie (it checks consistency only); the mirror refuses it with 422 and writes the evidence', async () => {
    const q = await until('the plain witness cosigning the lying checkpoint', async () => {
      const r = checkQuorum(parsePolicy(textW), await checkpointOf(op!.url));
      return r.satisfied ? r : undefined;
    });
    expect(q.witnessed).toEqual(['w1']);
    const evidenceFile = join(t.dir, 'mirror.db.evidence.json');
    await until('the evidence file', async () => (existsSync(evidenceFile) ? true : undefined));
    const ev = JSON.parse(readFileSync(evidenceFile, 'utf8')) as { code: string; shown: string };
    expect(ev.code).toBe('MAP_ROOT_MISMATCH');
    // medtrail audit replays it from the (running) mirror's database and the evidence: the operator's own entries
    // do not give the map roots its signed checkpoint carries.
    const audited = cli(['audit', '--evidence', evidenceFile, '--json']);
    expect(audited.status, audited.stderr).toBe(0);
    expect(JSON.parse(audited.stdout)).toMatchObject({ verdict: 'CONFIRMED', code: 'MAP_ROOT_MISMATCH', how: 'replayed' });
    const status = (await (await fetch(`${mirror!.url}/api/v1/mirror`)).json()) as { diverged: { code: string } | null };
    expect(status.diverged?.code).toBe('MAP_ROOT_MISMATCH');
    // Submitted again by hand: 422, and the quorum of the mirror's policy is never there.
    const note = await checkpointOf(op!.url);
    const again = await fetch(`${mirror!.witness!.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize: 0, proof: [], checkpoint: note }) });
    expect(again.status).toBe(422);
    expect(await again.text()).toMatch(/WITNESS_INCONSISTENT/);
    const withMirror = checkQuorum(parsePolicy(textQ), note);
    expect(withMirror.satisfied).toBe(false);
    expect(withMirror.witnessed).toEqual(['w1']);
    // The lie is real: the operator's own answer says GENUINE for the dispensed pack.
    const a = (await (await fetch(`${op!.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: tagUri(op!.url, chain.dispensed, chain.c.m) }) })).json()) as { verdict: string };
    expect(a.verdict).toBe('GENUINE');
  });

  it('with the mirror in the quorum: the page, verify --policy and the reader never show GENUINE for the dispensed pack', async () => {
    const uri = tagUri(op!.url, chain.dispensed, chain.c.m);
    const { ctx, page } = await openPage(browser, 'en-US', { width: 390, height: 844 });
    try {
      const v = await verdictOf(page, uri);
      expect(v.key).not.toBe('GENUINE');
      expect((await checks(page))['witnesses']).toBe('missing');
    } finally {
      await ctx.close();
    }
    const r = await cliAsync(['verify', '--server', op!.url, '--policy', policyQ, '--json', uri]);
    expect(r.status).not.toBe(0);
    expect(r.stdout).not.toMatch(/"verdict":"GENUINE"/);
    expect(r.stderr).toMatch(/CHECKPOINT_QUORUM/);
    const reader = await spawnReader(['--server', op!.url, '--policy', policyQ, '--state', join(t.dir, 'reader-q'), '--no-nfc']);
    try {
      reader.write(uri);
      const line = await reader.next((l) => 'verdict' in l && l['provisional'] === false, 20_000);
      expect(line['verdict']).not.toBe('GENUINE');
      expect(String(line['cannotCheck'])).toMatch(/CHECKPOINT_QUORUM/);
    } finally {
      await reader.stop();
    }
  });

  it('without the mirror in the quorum the same lie gets through: GENUINE on verify, the reader and the page', async () => {
    const uri = tagUri(op!.url, chain.dispensed, chain.c.m);
    const r = await cliAsync(['verify', '--server', op!.url, '--policy', policyW, '--json', uri]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: 'GENUINE', witnessed: ['w1'], proven: { state: 'active' } });
    const reader = await spawnReader(['--server', op!.url, '--policy', policyW, '--state', join(t.dir, 'reader-w'), '--no-nfc']);
    try {
      reader.write(uri);
      const line = await reader.next((l) => 'verdict' in l && l['provisional'] === false, 20_000);
      expect(line['verdict']).toBe('GENUINE');
    } finally {
      await reader.stop();
    }
    // The page pins the policy its server is given: the same lying operator, serving the plain witness's policy.
    await restartOperator(policyW);
    const { ctx, page } = await openPage(browser, 'en-US', { width: 390, height: 844 });
    try {
      const v = await until('the page on the re-witnessed checkpoint', async () => {
        const got = await verdictOf(page, tagUri(op!.url, chain.dispensed, chain.c.m));
        return got.key === 'GENUINE' ? got : undefined;
      });
      expect(v.key).toBe('GENUINE');
      expect(await checks(page)).toMatchObject({ witnesses: 'ok', pack_state: 'ok' });
    } finally {
      await ctx.close();
    }
  });
});
