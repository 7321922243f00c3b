// `medtrail mirror` (issue 14) as people run it, every part a real process on loopback with real SQLite files:
// a mirror follows a real `medtrail serve` from zero through several demo chains (batches, ships, receives,
// dispenses, recalls), is SIGKILLed in the middle and resumes, ends with the operator's tree root and map
// roots, and answers verify as the operator does. Then an operator turned rogue (test/support/forging-operator.ts,
// holding the log key) rewrites an entry, slips in one that breaks a custody rule, signs other map roots, and
// forks; each time the mirror refuses and writes evidence anyone can check, and the same forger telling the
// truth is followed (so it is the lie that is refused).
import { spawn } from 'node:child_process';
import { readFileSync, existsSync, copyFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../core/bytes.js';
import { keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { buildEntry } from '../../core/entry/builder.js';
import { decodeEntry, encodeEntry } from '../../core/entry/entry.js';
import { openCheckpoint, parseVerifierKey } from '../../core/log/checkpoint.js';
import { openDatabase, SqliteLedgerStore } from '../../server/store/ledger-store.js';
import { cli, cliAsync } from '../support/cli.js';
import { forgingOperator, mapRootsOfNote } from '../support/forging-operator.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { CLI, tempDir } from '../support/tmp.js';

const t = tempDir('medtrail-mirror-');
const opDb = join(t.dir, 'op', 'medtrail.db');
const authority = join(t.dir, 'op', 'authority.key.json');
const mirrorKey = join(t.dir, 'mirror.key.json');
let srv: ServerProcess;
let vkey: string;
const demos: { packs: Record<string, string> }[] = [];

async function demo(i: number): Promise<void> {
  const r = await cliAsync(['demo', '--server', srv.url, '--authority-key', authority, '--dir', join(t.dir, `demo${i}`), '--json']);
  expect(r.status, r.stderr).toBe(0);
  demos.push(JSON.parse(r.stdout) as { packs: Record<string, string> });
}

function mirrorArgs(db: string, from = srv.url): string[] {
  return ['mirror', '--from', from, '--db', db, '--key', mirrorKey, '--authority', authority, '--interval-ms', '50'];
}

async function opCheckpoint(): Promise<string> {
  return (await fetch(`${srv.url}/api/v1/checkpoint`)).text();
}

beforeAll(async () => {
  expect(cli(['init', '--db', opDb, '--json']).status).toBe(0);
  // Small pages of /log/entries, so that a catch-up takes many pages (and a kill lands between two).
  process.env['MEDTRAIL_LOG_PAGE_BYTES'] = '2048';
  srv = await startServerProcess(opDb);
  delete process.env['MEDTRAIL_LOG_PAGE_BYTES'];
  vkey = (await (await fetch(`${srv.url}/api/v1/log/key`)).text()).trim();
  expect(cli(['keygen', '--out', mirrorKey, '--name', 'Mirror of the regulator', '--gln', '4012345000009']).status).toBe(0);
  const en = cli(['enroll', '--server', srv.url, '--authority-key', authority, '--participant-key', mirrorKey, '--role', 'mirror', '--name', 'Mirror', '--json']);
  expect(en.status, en.stderr).toBe(0);
  for (let i = 0; i < 20; i++) await demo(i);
}, 600_000);

afterAll(async () => {
  await srv?.stop();
  t.cleanup();
});

function storeOf(db: string): SqliteLedgerStore {
  return new SqliteLedgerStore(openDatabase(db, { readonly: true }));
}

describe('medtrail mirror following a real operator', () => {
  const db = join(t.dir, 'mirror', 'mirror.db');

  it('catches up from zero, is SIGKILLed mid-follow, resumes, and ends with the same tree root and map roots', async () => {
    const note = await opCheckpoint();
    const cp = openCheckpoint(note, vkey);
    expect(cp.size).toBeGreaterThan(200);
    // A first run, killed once it has checked some pages.
    const child = spawn(process.execPath, [CLI, ...mirrorArgs(db), '--once', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    for await (const line of createInterface({ input: child.stderr! })) {
      if (/leaves checked/.test(line)) break;
    }
    child.kill('SIGKILL');
    await exited;
    // What was committed is consistent: leaves, custody rows and the maps' size move together, never past a checked page.
    const s = storeOf(db);
    const head = s.head();
    expect(head.size).toBeGreaterThan(0);
    expect(head.size).toBeLessThanOrEqual(cp.size);
    s.close();
    // The second run resumes and verifies the operator's newest checkpoint.
    const r = await cliAsync([...mirrorArgs(db), '--once', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { size: number; root: string; mapRoots: { packs: string; lots: string } };
    const now = openCheckpoint(await opCheckpoint(), vkey);
    expect(got.size).toBe(now.size);
    expect(got.root).toBe(toBase64(now.root));
    const roots = mapRootsOfNote(await opCheckpoint());
    expect(got.mapRoots).toEqual({ packs: toBase64(roots.packs), lots: toBase64(roots.lots) });
    // The same leaves at the same indexes, and custody tables that reflect all of them.
    const m = storeOf(db);
    const o = storeOf(opDb);
    for (const i of [0, 1, Math.floor(now.size / 2), now.size - 1]) expect(toBase64(m.leaf(i)!.bytes)).toBe(toBase64(o.leaf(i)!.bytes));
    m.close();
    o.close();
  }, 300_000);

  it('serves: verify answers equal the operator’s for a genuine, a dispensed and a recalled pack; writes are refused; it follows new entries', async () => {
    const child = spawn(process.execPath, [CLI, ...mirrorArgs(db), '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    try {
      let info: { url: string } | undefined;
      for await (const line of createInterface({ input: child.stdout! })) {
        info = JSON.parse(line) as { url: string };
        break;
      }
      expect(info, err).toBeDefined();
      const url = info!.url;
      for (const verdict of ['GENUINE', 'DISPENSED', 'RECALLED']) {
        const code = demos[0]!.packs[verdict]!;
        const ask = async (base: string): Promise<{ verdict: string; reasons: { code: string }[]; proof: { checkpoint: string } | null }> =>
          (await (await fetch(`${base}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) })).json()) as never;
        const [a, b] = [await ask(srv.url), await ask(url)];
        expect(b.verdict).toBe(verdict);
        expect(b.verdict).toBe(a.verdict);
        expect(b.reasons.map((x) => x.code)).toEqual(a.reasons.map((x) => x.code));
        // The answer says which log and checkpoint it stands on: a note of the operator's log.
        expect(openCheckpoint(b.proof!.checkpoint, vkey).size).toBeGreaterThan(0);
      }
      const w = await fetch(`${url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(w.status).toBe(405);
      expect(((await w.json()) as { error: { code: string } }).error.code).toBe('MIRROR_READ_ONLY');
      // New entries on the operator reach the mirror, checked: once the mirror holds the checkpoint the
      // operator's own answer stands on, the two answers agree.
      await demo(100);
      const code = demos[demos.length - 1]!.packs['DISPENSED']!;
      const ask = async (base: string): Promise<{ verdict: string; reasons: { code: string }[]; proof: { size: number } }> =>
        (await (await fetch(`${base}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) })).json()) as never;
      const a = await ask(srv.url);
      let status: { size: number; diverged: unknown; log: string } = { size: 0, diverged: null, log: '' };
      for (let i = 0; i < 600 && status.size < a.proof.size; i++) {
        status = (await (await fetch(`${url}/api/v1/mirror`)).json()) as typeof status;
        if (status.size < a.proof.size) await new Promise((r) => setTimeout(r, 100));
      }
      expect(status.size).toBeGreaterThanOrEqual(a.proof.size);
      expect(status.diverged).toBeNull();
      expect(status.log).toBe(vkey);
      const mcp = await (await fetch(`${url}/api/v1/checkpoint`)).text();
      expect(openCheckpoint(mcp, vkey).size).toBeGreaterThanOrEqual(a.proof.size);
      const b = await ask(url);
      expect(b.verdict).toBe('DISPENSED');
      expect(b.reasons.map((x) => x.code)).toEqual(a.reasons.map((x) => x.code));
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  }, 300_000);
});

describe('an operator turned rogue is caught with evidence', () => {
  let origin: string;
  let seed: Uint8Array;
  let real: Uint8Array[];
  let realNote: string;

  beforeAll(async () => {
    origin = parseVerifierKey(vkey).name;
    seed = keyFileSeed(parseKeyFile(readFileSync(join(t.dir, 'op', 'log.key.json'), 'utf8')));
    realNote = await opCheckpoint();
    const size = openCheckpoint(realNote, vkey).size;
    const o = storeOf(opDb);
    real = o.leaves(0, size).map((l) => l.bytes);
    o.close();
  });

  async function follow(name: string, leaves: Uint8Array[], extra: { root?: Uint8Array; mapRoots?: ReturnType<typeof mapRootsOfNote> } = {}, fromDb?: string) {
    const db = join(t.dir, `rogue-${name}.db`);
    if (fromDb !== undefined) copyFileSync(fromDb, db);
    const forger = await forgingOperator(origin, seed, vkey, () => ({ leaves, mapRoots: extra.mapRoots ?? mapRootsOfNote(realNote), ...(extra.root ? { root: extra.root } : {}) }));
    try {
      const r = await cliAsync([...mirrorArgs(db, forger.url), '--once', '--json']);
      const evidenceFile = `${db}.evidence.json`;
      const evidence = existsSync(evidenceFile) ? (JSON.parse(readFileSync(evidenceFile, 'utf8')) as { code: string; reason: string; shown: string; held: string | null; entry?: { index: number; leaf: string }; log: string }) : undefined;
      return { r, evidence, db };
    } finally {
      await forger.close();
    }
  }

  it('the forger telling the truth is followed to the real root (the control)', async () => {
    const { r, evidence } = await follow('honest', real);
    expect(r.status, r.stderr).toBe(0);
    expect(evidence).toBeUndefined();
    expect((JSON.parse(r.stdout) as { root: string }).root).toBe(toBase64(openCheckpoint(realNote, vkey).root));
  }, 120_000);

  it('a rewritten entry: ENTRY_BAD_SIGNATURE, the entry bytes and the signed checkpoint in the evidence', async () => {
    const k = 40;
    const e = decodeEntry(real[k]!);
    const forged = encodeEntry({ ...e, at: new Date(Date.parse(e.at) - 1000).toISOString() });
    const leaves = [...real];
    leaves[k] = forged;
    const { r, evidence, db } = await follow('rewrite', leaves);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('MIRROR_DIVERGED');
    expect(evidence!.code).toBe('ENTRY_BAD_SIGNATURE');
    expect(evidence!.entry!.index).toBe(k);
    expect(toBase64(fromBase64(evidence!.entry!.leaf))).toBe(toBase64(forged));
    expect(openCheckpoint(evidence!.shown, evidence!.log).size).toBe(leaves.length);
    // medtrail audit replays it from the mirror's database and the evidence: confirmed.
    const a = auditEvidence(`${db}.evidence.json`);
    expect(a.status, JSON.stringify(a.json)).toBe(0);
    expect(a.json).toMatchObject({ verdict: 'CONFIRMED', code: 'ENTRY_BAD_SIGNATURE', how: 'replayed', entry: k });
    // Doctored: the real entry put back (as someone framing the operator would have to, to make it check out
    // under a different claim) is not evidence of anything; a shown note altered is not the log's.
    const honest = doctored(db, 'rewrite-doctored', (ev) => {
      const page = ev['page'] as { start: number; leaves: string[] };
      page.leaves[k - page.start] = toBase64(real[k]!);
      (ev['entry'] as { leaf: string }).leaf = toBase64(real[k]!);
    });
    expect(auditEvidence(honest)).toMatchObject({ status: 1, code: 'EVIDENCE_NOT_CONFIRMED' });
    const unsigned = doctored(db, 'rewrite-unsigned', (ev) => {
      ev['shown'] = String(ev['shown']).replace(/\n([0-9]+)\n/, (_m, n: string) => `\n${Number(n) + 1}\n`);
    });
    expect(auditEvidence(unsigned)).toMatchObject({ status: 1, code: 'EVIDENCE_BAD' });
  }, 120_000);

  it('an entry that breaks a custody rule (a distributor dispensing): the rule’s code', async () => {
    const dist = parseKeyFile(readFileSync(join(t.dir, 'demo0', readdirKey(join(t.dir, 'demo0'), 'distributor')), 'utf8'));
    const bad = buildEntry('dispense', { gln: dist.gln!, seed: keyFileSeed(dist), log: origin }, { gtin: '09506000134352', serial: 'X1' } as never);
    const leaves = [...real, encodeEntry(bad as never)];
    const { r, evidence, db } = await follow('rule', leaves);
    expect(r.status).toBe(1);
    expect(evidence!.code).toBe('ROLE_NOT_ALLOWED');
    expect(evidence!.entry!.index).toBe(real.length);
    expect(auditEvidence(`${db}.evidence.json`).json).toMatchObject({ verdict: 'CONFIRMED', code: 'ROLE_NOT_ALLOWED', entry: real.length });
    // Another rule named for the same entry: the replay gives the real one, so the claim is not confirmed.
    const renamed = doctored(db, 'rule-renamed', (ev) => {
      ev['code'] = 'NOT_HOLDER';
    });
    expect(auditEvidence(renamed)).toMatchObject({ status: 1, code: 'EVIDENCE_NOT_CONFIRMED' });
  }, 120_000);

  it('map roots that are not the replay’s: MAP_ROOT_MISMATCH', async () => {
    const roots = mapRootsOfNote(realNote);
    const { r, evidence, db } = await follow('map', real, { mapRoots: { packs: roots.lots, lots: roots.packs } });
    expect(r.status).toBe(1);
    expect(evidence!.code).toBe('MAP_ROOT_MISMATCH');
    expect(auditEvidence(`${db}.evidence.json`).json).toMatchObject({ verdict: 'CONFIRMED', code: 'MAP_ROOT_MISMATCH', how: 'replayed' });
    // The shown checkpoint swapped for the real one (signed, its map roots right): the replay verifies it.
    const swapped = doctored(db, 'map-swapped', (ev) => {
      ev['shown'] = realNote;
    });
    expect(auditEvidence(swapped)).toMatchObject({ status: 1, code: 'EVIDENCE_NOT_CONFIRMED' });
  }, 120_000);

  it('history rewritten under a longer checkpoint: the consistency proof fails (PROOF_MISMATCH); audit asks the operator, which cannot prove it', async () => {
    const k = 30;
    const e = decodeEntry(real[k]!);
    const leaves = [...real, real[1]!];
    leaves[k] = encodeEntry({ ...e, at: new Date(Date.parse(e.at) - 1000).toISOString() });
    const db = join(t.dir, 'rogue-history.db');
    copyFileSync(join(t.dir, 'rogue-honest.db'), db);
    const forger = await forgingOperator(origin, seed, vkey, () => ({ leaves, mapRoots: mapRootsOfNote(realNote) }));
    try {
      const r = await cliAsync([...mirrorArgs(db, forger.url), '--once', '--json']);
      expect(r.status).toBe(1);
      const ev = JSON.parse(readFileSync(`${db}.evidence.json`, 'utf8')) as { code: string; shown: string };
      expect(ev.code).toBe('PROOF_MISMATCH');
      expect(openCheckpoint(ev.shown, vkey).size).toBe(real.length + 1);
      // The failing proof in the file proves nothing alone; the operator, asked now, has no proof that holds (the
      // audit runs beside the forger, which answers from this process: not a blocking spawn).
      const a = await cliAsync(['audit', '--evidence', `${db}.evidence.json`, '--json']);
      expect(a.status, a.stdout + a.stderr).toBe(0);
      expect(JSON.parse(a.stdout)).toMatchObject({ verdict: 'CONFIRMED', code: 'PROOF_MISMATCH', how: 'operator-proof', held: { size: real.length } });
    } finally {
      await forger.close();
    }
  }, 120_000);

  it('evidence made up against an honest operator is not confirmed: a bad proof between its consistent checkpoints, a bad entry it never signed', async () => {
    const honest = join(t.dir, 'rogue-honest.db');
    // The honest operator signs one more checkpoint (an enrolment), consistent with the one the mirror holds.
    expect(cli(['keygen', '--out', join(t.dir, 'late.key.json'), '--name', 'Late', '--gln', '4012345000047']).status).toBe(0);
    expect(cli(['enroll', '--server', srv.url, '--authority-key', authority, '--participant-key', join(t.dir, 'late.key.json'), '--role', 'pharmacy', '--name', 'Late', '--json']).status).toBe(0);
    const newer = await opCheckpoint();
    const base = { v: 1, reason: 'made up', log: vkey, operator: srv.url, at: new Date().toISOString(), held: realNote, mirror: { size: real.length, root: toBase64(openCheckpoint(realNote, vkey).root) } };
    const n = openCheckpoint(newer, vkey).size;
    const write = (name: string, ev: object): string => {
      copyFileSync(honest, join(t.dir, name));
      writeFileSync(join(t.dir, `${name}.evidence.json`), JSON.stringify(ev));
      return join(t.dir, `${name}.evidence.json`);
    };
    const badProof = write('framed-proof', { ...base, code: 'PROOF_MISMATCH', shown: newer, proof: { from: real.length, to: n, hashes: ['00'.repeat(32)] }, proofs: [{ from: real.length, to: n, hashes: ['00'.repeat(32)] }] });
    const p = auditEvidence(badProof);
    expect(p, JSON.stringify(p.json)).toMatchObject({ status: 1, code: 'EVIDENCE_NOT_CONFIRMED' });
    expect(JSON.stringify(p.json)).toMatch(/proves the checkpoints of sizes/);
    // A leaf with a bad signature put in a page of the honest log: not in its signed checkpoint.
    const o = storeOf(opDb);
    const tail = o.leaves(real.length, n).map((l) => l.bytes);
    o.close();
    const bogus = encodeEntry({ ...decodeEntry(tail[0]!), at: new Date(0).toISOString() });
    const badEntry = write('framed-entry', { ...base, code: 'ENTRY_BAD_SIGNATURE', shown: newer, entry: { index: real.length, leaf: toBase64(bogus) }, page: { start: real.length, leaves: [toBase64(bogus), ...tail.slice(1).map(toBase64)] } });
    const q = auditEvidence(badEntry);
    expect(q, JSON.stringify(q.json)).toMatchObject({ status: 1, code: 'EVIDENCE_NOT_CONFIRMED' });
    expect(JSON.stringify(q.json)).toMatch(/not shown to be in the signed checkpoint/);
  }, 120_000);

  it('a fork: another root at the size the mirror verified, then refused on restart too', async () => {
    const honest = join(t.dir, 'rogue-honest.db');
    const other = new Uint8Array(32).fill(7);
    const { r, evidence, db } = await follow('fork', real, { root: other }, honest);
    expect(r.status).toBe(1);
    expect(evidence!.code).toBe('PROOF_MISMATCH');
    // Both signed checkpoints: the one the mirror held and the one shown, each signed by the log.
    expect(openCheckpoint(evidence!.held!, vkey).root).toEqual(openCheckpoint(realNote, vkey).root);
    expect(openCheckpoint(evidence!.shown, vkey).root).toEqual(other);
    // Confirmed from the two signed notes alone; and with the shown note replaced by the held one, no fork.
    expect(auditEvidence(`${db}.evidence.json`).json).toMatchObject({ verdict: 'CONFIRMED', code: 'PROOF_MISMATCH', how: 'fork' });
    const same = doctored(db, 'fork-same', (ev) => {
      ev['shown'] = ev['held'];
    });
    expect(auditEvidence(same)).toMatchObject({ status: 1, code: 'EVIDENCE_NOT_CONFIRMED' });
    // It stopped following: the next run refuses at once, even with the honest operator.
    const again = await cliAsync([...mirrorArgs(db), '--once', '--json']);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('MIRROR_DIVERGED');
  }, 120_000);
});

/** `medtrail audit --evidence FILE --json` (the mirror's database next to it): its status and JSON or coded error. */
function auditEvidence(file: string): { status: number | null; json: Record<string, unknown>; code: string | undefined } {
  const r = cli(['audit', '--evidence', file, '--json']);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(r.stdout || r.stderr) as Record<string, unknown>;
  } catch {
    /* neither */
  }
  return { status: r.status, json, code: (json['error'] as { code?: string } | undefined)?.code };
}

/** A copy of an evidence file with `change` applied, beside the mirror's database (the audit finds it there). */
function doctored(db: string, name: string, change: (ev: Record<string, unknown>) => void): string {
  const ev = JSON.parse(readFileSync(`${db}.evidence.json`, 'utf8')) as Record<string, unknown>;
  change(ev);
  const file = join(t.dir, `${name}.evidence.json`);
  writeFileSync(file, JSON.stringify(ev));
  copyFileSync(db, join(t.dir, name));
  return file;
}

function readdirKey(dir: string, role: string): string {
  // cli/demo-chain.ts writes one key file per participant, named by its role.
  const names = readdirSync(dir);
  const hit = names.find((n) => n.endsWith(`-${role}.key.json`));
  if (hit === undefined) throw new Error(`no ${role} key in ${dir}: ${names.join(', ')}`);
  return hit;
}
