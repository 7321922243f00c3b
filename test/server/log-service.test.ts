import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { encodeEntry } from '../../core/entry/entry.js';
import { equalBytes } from '../../core/bytes.js';
import { isMedtrailError } from '../../core/errors.js';
import { leafHash, rootFromLeafHashes, verifyConsistency, verifyInclusion } from '../../core/log/merkle.js';
import { openLedger, type Ledger } from '../../server/context.js';
import { toAppendInput } from '../../server/log/ingest.js';
import { admit, makeLedger, participantKey, type TestLedger } from '../support/ledger.js';

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(isMedtrailError(e) ? e.code : e).toBe(code);
    return;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

describe('log service on a real SQLite file', () => {
  let t: TestLedger;
  let l: Ledger;
  beforeEach(() => {
    t = makeLedger();
    l = openLedger({ db: t.db });
  });
  afterEach(() => {
    l.close();
    t.cleanup();
  });

  it('appends batches; the root, every inclusion proof and every consistency proof match a recomputation', () => {
    const hashes: Uint8Array[] = [];
    const sizes = [1, 2, 5, 8, 13, 64, 100];
    for (const n of sizes) {
      const batch = Array.from({ length: n }, (_, i) => admit(t.authority, participantKey(hashes.length + i + 2)));
      const appended = l.log.append(batch.map(toAppendInput));
      expect(appended.map((a) => a.index)).toEqual(batch.map((_, i) => hashes.length + i));
      for (const e of batch) hashes.push(leafHash(encodeEntry(e)));
      const head = l.store.head();
      expect(head.size).toBe(hashes.length);
      expect(equalBytes(head.root, rootFromLeafHashes(hashes))).toBe(true);
    }
    const size = hashes.length;
    const root = l.log.rootAt(size);
    for (let i = 0; i < size; i++) {
      const p = l.log.inclusion(i, size);
      verifyInclusion(p.leafHash, i, size, p.proof, root);
    }
    let from = 0;
    for (const n of sizes) {
      from += n;
      verifyConsistency(from, size, l.log.consistency(from, size), rootFromLeafHashes(hashes.slice(0, from)), root);
    }
  });

  it('refuses a replayed entry and leaves the log exactly as it was', () => {
    const e = admit(t.authority, participantKey(2));
    l.log.append([toAppendInput(e)]);
    const before = l.store.head();
    expectCode(() => l.log.append([toAppendInput(admit(t.authority, participantKey(3))), toAppendInput(e)]), 'ENTRY_REPLAYED');
    const after = l.store.head();
    expect(after.size).toBe(before.size);
    expect(equalBytes(after.root, before.root)).toBe(true);
    expect(l.store.leaf(1)).toBeUndefined();
  });

  it('moves the head by compare-and-swap: a stale expected size writes nothing', () => {
    l.log.append([toAppendInput(admit(t.authority, participantKey(2)))]);
    const head = l.store.head();
    expectCode(() => l.store.appendLeaves(0, [], [], { size: 5, root: head.root }), 'STORE_CONFLICT');
    expect(l.store.head().size).toBe(1);
  });

  it('refuses UPDATE and DELETE of leaves and nodes at the database level', () => {
    l.log.append([2, 3].map((n) => toAppendInput(admit(t.authority, participantKey(n)))));
    l.close();
    const db = new Database(t.db);
    expect(() => db.prepare('UPDATE leaves SET kind = ? WHERE idx = 0').run('x')).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM leaves WHERE idx = 0').run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM nodes').run()).toThrow(/append-only/);
    db.close();
    l = openLedger({ db: t.db });
  });

  it('signs checkpoints only over committed leaves, one signature for many appends', () => {
    const first = l.log.signNow();
    for (let i = 0; i < 5; i++) l.log.append([toAppendInput(admit(t.authority, participantKey(10 + i)))]);
    const cp = l.log.signNow();
    expect(cp.size).toBe(5);
    expect(first.size).toBe(0);
    expect(l.store.checkpoints().map((c) => c.size)).toEqual([0, 5]);
  });

  it('answers coded errors for out-of-range proofs and pages', () => {
    l.log.append([toAppendInput(admit(t.authority, participantKey(2)))]);
    expectCode(() => l.log.inclusion(1, 1), 'PROOF_BAD_INDEX');
    expectCode(() => l.log.inclusion(0, 2), 'PROOF_BAD_SIZE');
    expectCode(() => l.log.consistency(2, 1), 'PROOF_BAD_SIZE');
    expectCode(() => l.log.entries(5, 6), 'NOT_FOUND');
    expectCode(() => l.log.entries(1, 1), 'BAD_INPUT');
  });
});
