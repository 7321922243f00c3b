// Tampering with the SQLite file behind the server's back. Each case starts from a copy of one real ledger
// (a chain of entries, two signed checkpoints a client kept, an older copy of the file) and edits it the way
// someone with write access to the disk would: drop the guard triggers, then alter, delete, reorder, rewrite,
// forge, truncate, or swap in the older copy. Each must be caught three times over:
//   - by `medtrail audit` (the real CLI, exit 1 with the finding named),
//   - by a client that kept a checkpoint (consistency proof, shrunken tree, or a leaf not in its checkpoint),
//   - by POST /api/v1/verify, which answers 500 LOG_INTEGRITY with the reason instead of a verdict.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex } from '../../core/bytes.js';
import { signCheckpoint, type Checkpoint } from '../../core/log/checkpoint.js';
import { generateKeyFile, keyFileSeed } from '../../core/crypto/keys.js';
import { completedSubtrees, emptyRoot, leafHash, rootAt } from '../../core/log/merkle.js';
import { witnessPath } from '../../server/log/integrity.js';
import { serviceModules } from '../../server/modules.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { cli } from '../support/cli.js';
import type { Party } from '../support/custody.js';
import { makeLedger, type TestLedger } from '../support/ledger.js';
import { tempDir } from '../support/tmp.js';
import { buildWorld, call, clientCheck, fetchCheckpoint, GTIN, signed, type World } from './world.js';

const FILES = ['medtrail.db', 'log.key.json', 'authority.key.json'];

let base: TestLedger;
let w: World;
let vkey: string;
let cp1: Checkpoint;
let cp2: Checkpoint;
let cp2Note: string;
const idx: Record<string, number> = {};
let olderDb: string;
const work = tempDir('medtrail-tamper-');

function open(db: string): Database.Database {
  const d = new Database(db);
  for (const t of ['leaves_no_update', 'leaves_no_delete', 'nodes_no_update', 'nodes_no_delete', 'checkpoints_no_update']) d.exec(`DROP TRIGGER IF EXISTS ${t}`);
  return d;
}

/** Recomputes every interior node and the head from the leaves, as a careful forger without the log key would. */
function rebuildTree(d: Database.Database): void {
  const leaves = d.prepare('SELECT idx, hash FROM leaves ORDER BY idx').all() as { idx: number; hash: Buffer }[];
  const nodes = new Map<string, Uint8Array>();
  const read = (level: number, index: number): Uint8Array => nodes.get(`${level}/${index}`)!;
  for (const l of leaves) for (const s of completedSubtrees(l.idx, new Uint8Array(l.hash), read)) nodes.set(`${s.level}/${s.index}`, s.hash);
  d.exec('DELETE FROM nodes');
  const ins = d.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)');
  for (const [k, h] of nodes) {
    const [level, index] = k.split('/').map(Number) as [number, number];
    if (level > 0) ins.run(level, index, Buffer.from(h));
  }
  const root = leaves.length === 0 ? emptyRoot() : rootAt(leaves.length, read);
  d.prepare('UPDATE head SET size = ?, root = ? WHERE id = 0').run(leaves.length, Buffer.from(root));
}

function editBatchBytes(d: Database.Database, rehash: boolean): void {
  const row = d.prepare('SELECT entry FROM leaves WHERE idx = ?').get(idx['batch']) as { entry: Buffer };
  // A later expiry: what a forger wants the ledger to say about expired stock.
  const bytes = Buffer.from(row.entry.toString('utf8').replace('"expiry":"301231"', '"expiry":"351231"'));
  expect(bytes.equals(row.entry)).toBe(false);
  d.prepare('UPDATE leaves SET entry = ? WHERE idx = ?').run(bytes, idx['batch']);
  if (rehash) d.prepare('UPDATE leaves SET hash = ? WHERE idx = ?').run(Buffer.from(leafHash(bytes)), idx['batch']);
}

interface Case {
  name: string;
  tamper: (db: string, dir: string) => void;
  /** A finding audit must name. */
  finding: string;
  /** A pack (serial index) whose verification stands on the altered data. */
  serial: number;
  /** Leaf indexes a client asks about. */
  probes: () => number[];
}

const CASES: Case[] = [
  {
    name: "alter a leaf's bytes (the batch entry's expiry)",
    tamper: (db) => {
      const d = open(db);
      editBatchBytes(d, false);
      d.close();
    },
    finding: 'LEAF_HASH_MISMATCH',
    serial: 9,
    probes: () => [idx['batch']!],
  },
  {
    name: 'alter a leaf and store the new leaf hash too',
    tamper: (db) => {
      const d = open(db);
      editBatchBytes(d, true);
      d.close();
    },
    finding: 'NODE_MISMATCH',
    serial: 9,
    probes: () => [idx['batch']!],
  },
  {
    name: 'alter a leaf and recompute every node and the head (a full rewrite without the log key)',
    tamper: (db) => {
      const d = open(db);
      editBatchBytes(d, true);
      rebuildTree(d);
      d.close();
    },
    finding: 'CHECKPOINT_ROOT_MISMATCH',
    serial: 9,
    probes: () => [],
  },
  {
    name: 'delete a row (the dispense entry)',
    tamper: (db) => {
      const d = open(db);
      d.prepare('DELETE FROM leaves WHERE idx = ?').run(idx['dispense']);
      d.close();
    },
    finding: 'LEAF_MISSING',
    serial: 0,
    probes: () => [idx['dispense']!],
  },
  {
    name: 'reorder two rows (the ship and receive entries swap places)',
    tamper: (db) => {
      const d = open(db);
      const a = idx['ship2']!;
      const b = idx['recv2']!;
      const get = d.prepare('SELECT hash, kind, signer, nonce, at, entry FROM leaves WHERE idx = ?');
      const ra = get.get(a) as Record<string, unknown>;
      const rb = get.get(b) as Record<string, unknown>;
      const put = d.prepare('UPDATE leaves SET hash = ?, kind = ?, signer = ?, nonce = ?, at = ?, entry = ? WHERE idx = ?');
      put.run(Buffer.alloc(32, 0xee), 'x', 'x', 'tmp', 'x', Buffer.from('x'), a);
      put.run(ra['hash'], ra['kind'], ra['signer'], ra['nonce'], ra['at'], ra['entry'], b);
      put.run(rb['hash'], rb['kind'], rb['signer'], rb['nonce'], rb['at'], rb['entry'], a);
      d.close();
    },
    finding: 'NODE_MISMATCH',
    serial: 1,
    probes: () => [idx['ship2']!],
  },
  {
    name: 'forge the newest checkpoint (signed by another key)',
    tamper: (db) => {
      const d = open(db);
      const cp = d.prepare('SELECT size, root, signed_at FROM checkpoints ORDER BY size DESC LIMIT 1').get() as { size: number; root: Buffer; signed_at: string };
      const origin = d.prepare("SELECT value FROM meta WHERE key = 'origin'").pluck().get() as string;
      const forger = generateKeyFile('forger');
      const note = signCheckpoint({ origin, size: cp.size, root: new Uint8Array(cp.root), extensions: [] }, origin, keyFileSeed(forger));
      d.prepare('DELETE FROM checkpoints WHERE size = ?').run(cp.size);
      d.prepare('INSERT INTO checkpoints (size, root, note, signed_at) VALUES (?, ?, ?, ?)').run(cp.size, cp.root, note, cp.signed_at);
      d.close();
    },
    finding: 'CHECKPOINT_BAD_SIGNATURE',
    serial: 9,
    probes: () => [],
  },
  {
    name: 'truncate the tail (leaves, nodes and checkpoints after the older checkpoint; head moved back)',
    tamper: (db) => {
      const d = open(db);
      d.prepare('DELETE FROM leaves WHERE idx >= ?').run(cp1.size);
      d.prepare('DELETE FROM checkpoints WHERE size > ?').run(cp1.size);
      rebuildTree(d);
      d.close();
    },
    finding: 'TREE_SHRANK',
    serial: 9,
    probes: () => [],
  },
  {
    name: 'swap the database for an older copy',
    tamper: (db) => {
      copyFileSync(olderDb, db);
    },
    finding: 'TREE_SHRANK',
    serial: 9,
    probes: () => [],
  },
];

async function withServer<T>(db: string, fn: (s: RunningServer) => Promise<T>): Promise<T> {
  const s = await startServer({ db, port: 0, modules: serviceModules() });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

function caseDir(name: string): { dir: string; db: string } {
  const dir = join(work.dir, name.replace(/[^a-z0-9]+/gi, '-').slice(0, 40));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of FILES) copyFileSync(join(base.dir, f), join(dir, f));
  const wp = witnessPath(join(base.dir, 'medtrail.db'));
  if (existsSync(wp)) copyFileSync(wp, witnessPath(join(dir, 'medtrail.db')));
  return { dir, db: join(dir, 'medtrail.db') };
}

function audit(db: string, extra: string[] = []): { status: number | null; codes: string[] } {
  const r = cli(['audit', '--db', db, '--json', ...extra]);
  const rep = JSON.parse(r.stdout) as { ok: boolean; findings: { code: string }[] };
  return { status: r.status, codes: rep.findings.map((f) => f.code) };
}

beforeAll(async () => {
  base = makeLedger();
  await withServer(base.db, async (s) => {
    w = await buildWorld(s.url, base.authority as Party);
    for (const [k, h] of Object.entries(w.hashes)) idx[k] = s.ledger.store.leafIndexByHash(fromHex(h, 32))!;
    s.ledger.log.signNow();
    ({ vkey, cp: cp1 } = await fetchCheckpoint(s.url));
  });
  olderDb = join(work.dir, 'older.db');
  copyFileSync(base.db, olderDb);
  await withServer(base.db, async (s) => {
    const r = await call(s.url, 'POST', '/api/v1/entries', signed('batch', w.m, { gtin: GTIN, lot: 'LOT-P2', expiry: '301231', serials: ['QQ1', 'QQ2', 'QQ3'] }, [w.hashes['product']!]));
    expect(r.status, r.text).toBe(201);
    s.ledger.log.signNow();
    ({ note: cp2Note, cp: cp2 } = await fetchCheckpoint(s.url));
    expect(cp2.size).toBeGreaterThan(cp1.size);
  });
  // Closing the server brought its witness up to cp2.
  expect(existsSync(witnessPath(base.db))).toBe(true);
});

afterAll(() => {
  base?.cleanup();
  work.cleanup();
});

describe('tampering with the SQLite file', () => {
  it('control: the untouched copy passes audit, the client checks and verification', async () => {
    const { db } = caseDir('control');
    expect(audit(db)).toEqual({ status: 0, codes: [] });
    await withServer(db, async (s) => {
      expect(await clientCheck(s.url, vkey, cp1, [idx['batch']!, idx['dispense']!, idx['ship2']!], w.reg)).toBe('ok');
      expect(await clientCheck(s.url, vkey, cp2)).toBe('ok');
      for (const serial of [0, 1, 9]) {
        const r = await call(s.url, 'POST', '/api/v1/verify', { code: w.tags.get(w.serials[serial]!)! });
        expect(r.status).toBe(200);
        expect(typeof r.json['verdict']).toBe('string');
      }
    });
  });

  let detected = 0;
  for (const c of CASES) {
    it(`${c.name}: audit, a client's checkpoint and POST /verify all catch it`, async () => {
      const { dir, db } = caseDir(c.name);
      c.tamper(db, dir);
      const a = audit(db);
      expect(a.status).toBe(1);
      expect(a.codes).toContain(c.finding);
      const checkpointRows = (): number => {
        const d = new Database(db, { readonly: true });
        try {
          return d.prepare<[], number>('SELECT count(*) FROM checkpoints').pluck().get()!;
        } finally {
          d.close();
        }
      };
      const rowsBefore = checkpointRows();
      await withServer(db, async (s) => {
        const seen = [await clientCheck(s.url, vkey, cp1, c.probes(), w.reg), await clientCheck(s.url, vkey, cp2, c.probes().filter((i) => i < cp2.size), w.reg)];
        expect(seen.some((x) => x !== 'ok'), `client saw ${seen.join(', ')}`).toBe(true);
        const r = await call(s.url, 'POST', '/api/v1/verify', { code: w.tags.get(w.serials[c.serial]!)! });
        expect(r.status, r.text).toBe(500);
        expect((r.json['error'] as Record<string, unknown>)['code']).toBe('LOG_INTEGRITY');
        expect(r.json['verdict']).toBeUndefined();
        // The pack read refuses too, and the failure stays (sticky) on the next request.
        const again = await call(s.url, 'GET', `/api/v1/packs/${GTIN}/${w.serials[c.serial]!}`);
        expect((again.json['error'] as Record<string, unknown> | undefined)?.['code']).toBe('LOG_INTEGRITY');
        // Once caught, the log is frozen: no checkpoint is signed over the altered tree.
        const cp = await call(s.url, 'GET', '/api/v1/checkpoint');
        expect(cp.status).toBe(500);
        expect((cp.json['error'] as Record<string, unknown> | undefined)?.['code']).toBe('LOG_INTEGRITY');
      });
      expect(checkpointRows()).toBe(rowsBefore);
      detected++;
    });
  }

  it('an older copy with the witness deleted too is still caught by audit against a checkpoint the auditor kept', () => {
    const { dir, db } = caseDir('older-no-witness');
    copyFileSync(olderDb, db);
    rmSync(witnessPath(db), { force: true });
    expect(audit(db)).toEqual({ status: 0, codes: [] }); // self-consistent on its own: only outside memory shows it
    const kept = join(dir, 'kept.checkpoint');
    writeFileSync(kept, cp2Note);
    const a = audit(db, ['--checkpoint', kept]);
    expect(a.status).toBe(1);
    expect(a.codes).toContain('TREE_SHRANK');
  });

  it('detects a rewrite made while the server runs, within a second', async () => {
    const { db } = caseDir('live');
    await withServer(db, async (s) => {
      const code = w.tags.get(w.serials[9]!)!;
      expect((await call(s.url, 'POST', '/api/v1/verify', { code })).status).toBe(200);
      const d = open(db);
      editBatchBytes(d, true);
      rebuildTree(d);
      d.close();
      await new Promise((r) => setTimeout(r, 1200));
      const r = await call(s.url, 'POST', '/api/v1/verify', { code });
      expect((r.json['error'] as Record<string, unknown> | undefined)?.['code']).toBe('LOG_INTEGRITY');
    });
  });

  afterAll(() => {
    console.log(`tamper: ${detected} of ${CASES.length} tampering cases detected by audit, by a client's kept checkpoint and by POST /verify`);
  });
});
