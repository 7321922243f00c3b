// `medtrail mirror --witness-key` against an operator turned rogue (test/support/forging-operator.ts, holding the
// log key): the mirror, as a c2sp.org/tlog-witness witness, cosigns a checkpoint past what it holds only after
// following the log up to it and checking it, and answers a fork (another root at a size it verified) with 422
// and the evidence, then vouches for nothing more of this log. Its follow loop is idle (a 10-minute interval):
// what it learns, it learns from the checkpoints submitted to it.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { openCheckpoint, parseNote, parseVerifierKey, signCheckpoint } from '../../core/log/checkpoint.js';
import { parseCosignerVerifierKey, verifyCosignatures } from '../../core/log/cosignature.js';
import { withMapRoots } from '../../core/map/extension.js';
import { formatAddCheckpoint } from '../../core/log/witness-protocol.js';
import { openDatabase, SqliteLedgerStore } from '../../server/store/ledger-store.js';
import { cli, cliAsync } from '../support/cli.js';
import { forgingOperator, mapRootsOfNote, type Forgery } from '../support/forging-operator.js';
import { startMirrorProcess, type MirrorProcess } from '../support/mirror-process.js';
import { startServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';

const t = tempDir('medtrail-mirror-witness-');
let forgery: Forgery;
let forger: { url: string; close: () => Promise<void> } | undefined;
let mirror: MirrorProcess | undefined;
let real: Uint8Array[] = [];
let realNote = '';
let vkey = '';
let origin = '';
let seed: Uint8Array;
let early = 0;

async function submit(oldSize: number, note: string): Promise<{ status: number; text: string }> {
  const r = await fetch(`${mirror!.witness!.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpoint({ oldSize, proof: [], checkpoint: note }) });
  return { status: r.status, text: await r.text() };
}

beforeAll(async () => {
  const opDb = join(t.dir, 'op', 'medtrail.db');
  expect(cli(['init', '--db', opDb, '--json']).status).toBe(0);
  const op = await startServerProcess(opDb);
  const demo = async (i: number): Promise<void> => {
    const d = await cliAsync(['demo', '--server', op.url, '--authority-key', join(t.dir, 'op', 'authority.key.json'), '--dir', join(t.dir, `demo${i}`), '--json']);
    expect(d.status, d.stderr).toBe(0);
  };
  await demo(0);
  // A checkpoint of a prefix of the log, with its map roots, where the mirror starts.
  const prefixNote = await (await fetch(`${op.url}/api/v1/checkpoint`)).text();
  await demo(1);
  realNote = await (await fetch(`${op.url}/api/v1/checkpoint`)).text();
  vkey = (await (await fetch(`${op.url}/api/v1/log/key`)).text()).trim();
  await op.stop();
  origin = parseVerifierKey(vkey).name;
  seed = keyFileSeed(parseKeyFile(readFileSync(join(t.dir, 'op', 'log.key.json'), 'utf8')));
  const s = new SqliteLedgerStore(openDatabase(opDb, { readonly: true }));
  real = s.leaves(0, openCheckpoint(realNote, vkey).size).map((l) => l.bytes);
  s.close();
  early = openCheckpoint(prefixNote, vkey).size;
  expect(early).toBeLessThan(real.length);
  // The mirror starts on that prefix only.
  forgery = { leaves: real.slice(0, early), mapRoots: mapRootsOfNote(prefixNote) };
  forger = await forgingOperator(origin, seed, vkey, () => forgery);
  const key = join(t.dir, 'mirror.key.json');
  expect(cli(['keygen', '--out', key, '--name', 'Mirror', '--gln', '4012345000009']).status).toBe(0);
  const wkey = join(t.dir, 'witness.key.json');
  expect(cli(['keygen', '--out', wkey, '--name', 'mirror.test/m2']).status).toBe(0);
  mirror = await startMirrorProcess(['--from', forger.url, '--db', join(t.dir, 'mirror.db'), '--key', key, '--authority', join(t.dir, 'op', 'authority.key.json'), '--interval-ms', '600000', '--witness-key', wkey]);
}, 120_000);

afterAll(async () => {
  await mirror?.stop();
  await forger?.close();
  t.cleanup();
});

describe('the mirror as a witness of a rogue operator', () => {
  it('a checkpoint past what it holds: it follows the log up to it, checks it, then cosigns', async () => {
    expect(((await (await fetch(`${mirror!.url}/api/v1/mirror`)).json()) as { size: number }).size).toBe(early);
    forgery = { leaves: real, mapRoots: mapRootsOfNote(realNote) };
    const r = await submit(0, realNote);
    expect(r.status, r.text).toBe(200);
    const key = parseCosignerVerifierKey(mirror!.witness!.vkey);
    expect(verifyCosignatures(`${parseNote(realNote).body}\n${r.text}`, [key]).cosigned.map((c) => c.key.name)).toEqual(['mirror.test/m2']);
    // It holds the checkpoint it cosigned, verified (its own follow loop is idle).
    expect(((await (await fetch(`${mirror!.url}/api/v1/mirror`)).json()) as { size: number }).size).toBe(real.length);
  });

  it('a fork (another root at the size it verified, signed by the log): 422, evidence with both notes, and nothing cosigned after', async () => {
    const other = new Uint8Array(32).fill(9);
    const size = openCheckpoint(realNote, vkey).size;
    const fork = signCheckpoint(withMapRoots({ origin, size, root: other, extensions: [] }, mapRootsOfNote(realNote)), origin, seed);
    const r = await submit(size, fork);
    expect(r.status).toBe(422);
    expect(r.text).toMatch(/WITNESS_INCONSISTENT/);
    const file = join(t.dir, 'mirror.db.evidence.json');
    expect(existsSync(file)).toBe(true);
    const ev = JSON.parse(readFileSync(file, 'utf8')) as { code: string; held: string; shown: string };
    expect(ev.code).toBe('PROOF_MISMATCH');
    expect(openCheckpoint(ev.shown, vkey).root).toEqual(other);
    expect(openCheckpoint(ev.held, vkey).root).toEqual(openCheckpoint(realNote, vkey).root);
    // Anyone confirms it from the two signed notes: medtrail audit --evidence.
    const a = cli(['audit', '--evidence', file, '--json']);
    expect(a.status, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({ verdict: 'CONFIRMED', code: 'PROOF_MISMATCH', how: 'fork', shown: { size }, held: { size } });
    // The honest checkpoint again: the mirror no longer vouches for this log.
    expect((await submit(size, realNote)).status).toBe(422);
  });
});
