// Kept pack proofs (core/map/pack-proof.ts; cli/client/proof.ts): `medtrail verify --save-proof` against a real
// server, the server then gone, and `medtrail check-proof` confirming each pack's state from the file alone.
// Then the file is tampered with as a forger would, and each change is refused with a code.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64 } from '../../core/bytes.js';
import { cosignerVerifierKey } from '../../core/log/cosignature.js';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { signCheckpoint, openCheckpoint } from '../../core/log/checkpoint.js';
import { checkPackProof, formatTlogProof, parseTlogProof } from '../../core/map/pack-proof.js';
import { cli, cliAsync, type CliResult } from '../support/cli.js';
import { expectCode } from '../support/expect-code.js';
import { participantKey } from '../support/ledger.js';
import { tempDir } from '../support/tmp.js';
import { patientChain, tagUri, type PackId, type PatientChain } from '../web/patient-chain.js';

let chain: PatientChain;
let vkey = '';
const dir = tempDir('medtrail-pack-proof-');
const files: Record<string, string> = {};
let unknown: CliResult;

beforeAll(async () => {
  chain = await patientChain();
  vkey = (await (await fetch(`${chain.c.srv.url}/api/v1/log/key`)).text()).trim();
  // The server runs in this process: the CLI must not be waited for synchronously.
  const save = async (name: string, p: PackId): Promise<void> => {
    const f = join(dir.dir, `${name}.tlog-proof`);
    const r = await cliAsync(['verify', tagUri(chain.c.srv.url, p, chain.c.m), '--server', chain.c.srv.url, '--save-proof', f, '--json']);
    if (r.stdout === '') throw new Error(`verify ${name}: ${r.stderr}`);
    files[name] = f;
  };
  await save('genuine', chain.genuine);
  await save('dispensed', chain.dispensed);
  await save('recalled', chain.recalled);
  await save('inTransit', chain.inTransit);
  unknown = await cliAsync(['verify', `(01)${chain.gtin}(21)NOPE0001`, '--server', chain.c.srv.url, '--save-proof', join(dir.dir, 'none.tlog-proof'), '--json']);
  // From here on no server answers: everything below is checked from the files.
  await chain.c.srv.close();
}, 120_000);

afterAll(() => {
  chain.c.t.cleanup();
  dir.cleanup();
});

const check = (file: string, ...args: string[]): { status: number | null; json: Record<string, unknown>; stderr: string } => {
  const r = cli(['check-proof', file, ...args, '--json']);
  return { status: r.status, json: r.stdout === '' ? {} : (JSON.parse(r.stdout) as Record<string, unknown>), stderr: r.stderr };
};
const errorCode = (stderr: string): string => (JSON.parse(stderr.trim().split('\n').pop()!) as { error: { code: string } }).error.code;

describe('verify --save-proof, then check-proof with the server gone', () => {
  it('proves each pack’s state as the ledger signed it: active, dispensed, recalled, in transit', () => {
    const got = Object.fromEntries(['genuine', 'dispensed', 'recalled', 'inTransit'].map((n) => [n, check(files[n]!, '--log-key', vkey)]));
    for (const r of Object.values(got)) expect(r.status).toBe(0);
    expect(got['genuine']!.json).toMatchObject({ serial: 'GEN0001', state: 'active', recalled: false, lot: 'L-2401' });
    expect(got['dispensed']!.json).toMatchObject({ serial: 'DSP0001', state: 'dispensed' });
    expect(got['recalled']!.json).toMatchObject({ serial: 'RCL0001', recalled: true, lot: 'R-2402' });
    expect(got['inTransit']!.json).toMatchObject({ serial: 'TRN0001', state: 'in_transit' });
    expect(readFileSync(files['genuine']!, 'utf8').startsWith('c2sp.org/tlog-proof@v1\nextra ')).toBe(true);
  });

  it('checks the pack the user holds: the right code passes, another pack’s code is PROOF_OTHER_PACK', () => {
    expect(check(files['genuine']!, '--log-key', vkey, '--code', tagUri('https://example.org', chain.genuine, chain.c.m)).status).toBe(0);
    const r = check(files['genuine']!, '--log-key', vkey, '--code', `(01)${chain.gtin}(21)DSP0001`);
    expect(r.status).toBe(1);
    expect(errorCode(r.stderr)).toBe('PROOF_OTHER_PACK');
  });

  it('a policy whose witnesses never cosigned is CHECKPOINT_QUORUM; a usage without a key is CLI_USAGE (exit 2)', () => {
    const w = participantKey(90);
    const policy = join(dir.dir, 'policy.txt');
    writeFileSync(policy, `log ${vkey}\nwitness w1 ${cosignerVerifierKey('witness.example', fromBase64(w.publicKey))}\nquorum w1\n`);
    const r = check(files['genuine']!, '--policy', policy);
    expect(r.status).toBe(1);
    expect(errorCode(r.stderr)).toBe('CHECKPOINT_QUORUM');
    expect(check(files['genuine']!).status).toBe(2);
  });

  it('an unknown pack has nothing to keep: PROOF_NOTHING_TO_KEEP, and no file', () => {
    expect(unknown.status).toBe(1);
    expect(errorCode(unknown.stderr)).toBe('PROOF_NOTHING_TO_KEEP');
    expect(() => readFileSync(join(dir.dir, 'none.tlog-proof'))).toThrow();
  });
});

describe('a forger edits the kept file', () => {
  const text = (): string => readFileSync(files['dispensed']!, 'utf8');
  const record = (t: string): Record<string, unknown> => JSON.parse(Buffer.from(parseTlogProof(t).extra!).toString('utf8')) as Record<string, unknown>;
  const withRecord = (t: string, rec: Record<string, unknown>): string => formatTlogProof({ ...parseTlogProof(t), extra: new TextEncoder().encode(JSON.stringify(rec)) });

  it('the untouched file holds under the log key', () => {
    expect(checkPackProof(text(), { vkey }).proven.state).toBe('dispensed');
  });

  it('dispensed rewritten to active: MAP_PROOF_INVALID', () => {
    const rec = record(text());
    const value = rec['value'] as Record<string, unknown>;
    expectCode(() => checkPackProof(withRecord(text(), { ...rec, value: { ...value, state: 'active' } }), { vkey }), 'MAP_PROOF_INVALID');
  });

  it('another pack’s serial on this record: the map proof leads elsewhere', () => {
    const rec = record(text());
    expectCode(() => checkPackProof(withRecord(text(), { ...rec, serial: 'GEN0001' }), { vkey }), 'MAP_PROOF_MISMATCH');
  });

  it('the genuine pack’s map proof and record under the dispensed pack’s name: refused', () => {
    const gen = record(readFileSync(files['genuine']!, 'utf8'));
    expectCode(() => checkPackProof(withRecord(text(), { ...gen, serial: 'DSP0001' }), { vkey }), 'MAP_PROOF_MISMATCH');
  });

  it('another index, or an inclusion hash flipped: the entry is not proven in the tree', () => {
    const p = parseTlogProof(text());
    expectCode(() => checkPackProof(formatTlogProof({ ...p, index: p.index === 0 ? 1 : p.index - 1 }), { vkey }), 'PROOF_MISMATCH');
    const flipped = p.hashes.map((h, i) => (i === 0 ? h.map((b, k) => (k === 0 ? b ^ 1 : b)) : h));
    expectCode(() => checkPackProof(formatTlogProof({ ...p, hashes: flipped }), { vkey }), 'PROOF_MISMATCH');
  });

  it('a checkpoint re-signed by a key of the forger’s, under the same origin: CHECKPOINT_UNKNOWN_KEY', () => {
    const p = parseTlogProof(text());
    const cp = openCheckpoint(p.checkpoint, vkey);
    const forger = participantKey(91);
    const note = signCheckpoint({ origin: cp.origin, size: cp.size, root: cp.root, extensions: cp.extensions }, cp.origin, keyFileSeed(forger));
    expectCode(() => checkPackProof(formatTlogProof({ ...p, checkpoint: note }), { vkey }), 'CHECKPOINT_UNKNOWN_KEY');
  });

  it('no record at all, or a record that is not JSON: refused with a code', () => {
    const p = parseTlogProof(text());
    expectCode(() => checkPackProof(formatTlogProof({ ...p, extra: undefined }), { vkey }), 'MAP_PROOF_INVALID');
    expectCode(() => checkPackProof(formatTlogProof({ ...p, extra: new Uint8Array([0x7b]) }), { vkey }), 'MAP_PROOF_INVALID');
  });
});
