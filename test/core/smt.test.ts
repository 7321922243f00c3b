// core/map/smt.ts: the sparse Merkle tree's hashing pinned by hand on small trees, then fast-check properties on
// random sets (keys drawn to share long prefixes): every membership and absence proof verifies, any flipped
// bit fails, incremental updates equal the from-scratch root and leave no stale node behind.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concatBytes, equalBytes, toHex } from '../../core/bytes.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { sha256 } from '../../core/crypto/hash.js';
import { isMedtrailError } from '../../core/errors.js';
import { leafHash as logLeafHash, nodeHash as logNodeHash } from '../../core/log/merkle.js';
import {
  IntTable,
  decodeMapProof,
  emptyHash,
  emptyMapRoot,
  encodeMapProof,
  mapLeafHash,
  mapNodeHash,
  mapRootOf,
  MemoryMapStore,
  proveMap,
  storedMapRoot,
  updateMap,
  verifyMapAbsence,
  verifyMapProof,
  verifyMapValue,
  PROOF_ABSENT_EMPTY,
  PROOF_ABSENT_OTHER,
  PROOF_PRESENT,
  type MapChange,
} from '../../core/map/smt.js';
import { expectCode } from '../support/expect-code.js';

installNodeCrypto();

const key = (...head: number[]): Uint8Array => {
  const k = new Uint8Array(32);
  k.set(head);
  return k;
};
const val = (n: number): Uint8Array => sha256(new Uint8Array([n]));

function storeWith(entries: [Uint8Array, Uint8Array][]): MemoryMapStore {
  const s = new MemoryMapStore();
  updateMap(s, entries.map(([k, v]) => ({ key: k, value: v })));
  return s;
}

describe('hashing, pinned by hand', () => {
  it('domain-separates leaves, nodes and empties from each other and from the RFC 9162 log', () => {
    const k = key(7);
    const v = val(1);
    expect(mapLeafHash(k, v)).toEqual(sha256(concatBytes(new Uint8Array([2]), k, v)));
    expect(mapNodeHash(k, v)).toEqual(sha256(concatBytes(new Uint8Array([3]), k, v)));
    expect(emptyHash(0)).toEqual(sha256(new Uint8Array([4])));
    expect(emptyHash(1)).toEqual(mapNodeHash(emptyHash(0), emptyHash(0)));
    expect(emptyMapRoot()).toEqual(emptyHash(256));
    // The log's node over the same two hashes, and its leaf over the same 64 bytes, differ.
    expect(equalBytes(mapNodeHash(k, v), logNodeHash(k, v))).toBe(false);
    expect(equalBytes(mapLeafHash(k, v), logLeafHash(concatBytes(k, v)))).toBe(false);
  });

  it('an empty map, a lone leaf at the root, two keys parting at bit 0 and at bit 3', () => {
    expect(mapRootOf([])).toEqual(emptyMapRoot());
    const a = key(0b0000_0000);
    const b = key(0b0001_0000); // parts from a at bit 3
    const c = key(0b1000_0000); // parts from both at bit 0
    expect(mapRootOf([[a, val(1)]])).toEqual(mapLeafHash(a, val(1)));
    expect(mapRootOf([[a, val(1)], [c, val(3)]])).toEqual(mapNodeHash(mapLeafHash(a, val(1)), mapLeafHash(c, val(3))));
    // a and b share bits 0..2: three levels with an empty right sibling, then the split.
    const ab = mapNodeHash(mapLeafHash(a, val(1)), mapLeafHash(b, val(2)));
    const want = mapNodeHash(mapNodeHash(mapNodeHash(ab, emptyHash(253)), emptyHash(254)), emptyHash(255));
    expect(mapRootOf([[b, val(2)], [a, val(1)]])).toEqual(want);
    expect(storedMapRoot(storeWith([[a, val(1)], [b, val(2)]]))).toEqual(want);
    // Adding c changes only the top: its sibling is the a/b subtree.
    expect(mapRootOf([[a, val(1)], [b, val(2)], [c, val(3)]])).toEqual(
      mapNodeHash(mapNodeHash(mapNodeHash(ab, emptyHash(253)), emptyHash(254)), mapLeafHash(c, val(3))),
    );
  });

  it('keys that part only at the last bit sit at depth 256', () => {
    const a = key(9);
    const b = key(9);
    b[31] = 1;
    const s = storeWith([[a, val(1)], [b, val(2)]]);
    expect(storedMapRoot(s)).toEqual(mapRootOf([[a, val(1)], [b, val(2)]]));
    const p = decodeMapProof(proveMap(s, b));
    expect(p.depth).toBe(256);
    expect(p.siblings.filter((x) => x !== undefined)).toHaveLength(1);
    verifyMapValue(storedMapRoot(s), b, val(2), proveMap(s, b));
  });

  it('proof kinds and sizes: present, absent at an empty subtree, absent at another leaf', () => {
    const a = key(0x00);
    const c = key(0x80);
    const s = storeWith([[a, val(1)], [c, val(3)]]);
    const root = storedMapRoot(s);
    const pa = proveMap(s, a);
    expect(pa[0]).toBe(PROOF_PRESENT);
    expect(pa.length).toBe(3 + 1 + 32 + 32); // header, 1-byte bitmap, c's leaf, a's value
    expect(verifyMapProof(root, a, pa)).toEqual({ present: true, value: val(1) });
    const other = key(0x40); // on a's side, a's leaf ends its path
    const po = proveMap(s, other);
    expect(po[0]).toBe(PROOF_ABSENT_OTHER);
    expect(verifyMapProof(root, other, po)).toEqual({ present: false });
    verifyMapAbsence(root, other, po);
    expectCode(() => verifyMapAbsence(root, a, pa), 'MAP_PROOF_MISMATCH');
    expectCode(() => verifyMapValue(root, a, val(2), pa), 'MAP_PROOF_MISMATCH');
    // A kind-3 proof naming the key itself, or a leaf off the key's path, proves nothing.
    const selfOther = encodeMapProof({ kind: PROOF_ABSENT_OTHER, depth: 1, siblings: [mapLeafHash(c, val(3))], otherKey: a, otherValue: val(1) });
    expectCode(() => verifyMapProof(root, a, selfOther), 'MAP_PROOF_MALFORMED');
    expectCode(() => verifyMapProof(root, c, po), 'MAP_PROOF_MALFORMED');
    const empty = new MemoryMapStore();
    const pe = proveMap(empty, a);
    expect(Array.from(pe)).toEqual([PROOF_ABSENT_EMPTY, 0, 0]);
    verifyMapAbsence(emptyMapRoot(), a, pe);
  });

  it('refuses a key given twice and writes nothing', () => {
    const s = storeWith([[key(1), val(1)]]);
    const before = storedMapRoot(s);
    expectCode(() => updateMap(s, [{ key: key(2), value: val(2) }, { key: key(2), value: null }]), 'MAP_DUPLICATE_KEY');
    expect(storedMapRoot(s)).toEqual(before);
    expect(s.size).toBe(1);
    expectCode(() => mapRootOf([[key(2), val(1)], [key(2), val(1)]]), 'MAP_DUPLICATE_KEY');
    expectCode(() => updateMap(s, [{ key: new Uint8Array(31), value: val(1) }]), 'BAD_LENGTH');
  });
});

// ---- properties ----

/** Keys that share long prefixes often: a few leading bytes from a small set, the rest random. */
const mapKey = fc
  .tuple(fc.constantFrom(0x00, 0x01, 0x80, 0xff), fc.constantFrom(0x00, 0x10, 0x11), fc.uint8Array({ minLength: 32, maxLength: 32 }))
  .map(([a, b, k]) => {
    const out = k.slice();
    out[0] = a;
    if (a < 0x80) out[1] = b;
    return out;
  });
const mapValue = fc.uint8Array({ minLength: 32, maxLength: 32 });

const hex = (k: Uint8Array): string => toHex(k);

function uniqueEntries(list: [Uint8Array, Uint8Array][]): [Uint8Array, Uint8Array][] {
  const m = new Map<string, [Uint8Array, Uint8Array]>();
  for (const e of list) m.set(hex(e[0]), e);
  return [...m.values()];
}

const entriesArb = fc.array(fc.tuple(mapKey, mapValue), { maxLength: 60 }).map(uniqueEntries);

describe('properties on random maps', () => {
  it('every key present proves its value, every other key its absence', () => {
    fc.assert(
      fc.property(entriesArb, fc.array(mapKey, { maxLength: 10 }), (entries, probes) => {
        const s = storeWith(entries);
        const root = storedMapRoot(s);
        expect(root).toEqual(mapRootOf(entries));
        for (const [k, v] of entries) verifyMapValue(root, k, v, proveMap(s, k));
        const present = new Set(entries.map((e) => hex(e[0])));
        for (const k of probes) {
          if (present.has(hex(k))) continue;
          verifyMapAbsence(root, k, proveMap(s, k));
        }
      }),
      { numRuns: 150 },
    );
  });

  it("the in-memory store's own walk gives byte for byte the proof of the generic walk over get()", () => {
    // MemoryMapStore.prove reads its index from the key's bits; a plain MapNodeStore over the same nodes takes
    // proveMap's generic path. Keys share long prefixes, so positions past depth 29 (string-keyed) are walked too.
    fc.assert(
      fc.property(entriesArb, fc.array(fc.tuple(fc.uint8Array({ minLength: 28, maxLength: 28 }), mapValue), { maxLength: 12 }), fc.array(mapKey, { maxLength: 10 }), (some, deep, probes) => {
        // Keys sharing their first 32 bits sit below depth 32.
        const entries = uniqueEntries([...some, ...deep.map(([tail, v]): [Uint8Array, Uint8Array] => [concatBytes(new Uint8Array([1, 0x10, 3, 4]), tail), v])]);
        const s = storeWith(entries);
        const plain = { get: s.get.bind(s), put: s.put.bind(s), delete: s.delete.bind(s) };
        for (const k of [...entries.map((e) => e[0]), ...probes]) expect(toHex(proveMap(s, k))).toBe(toHex(proveMap(plain, k)));
      }),
      { numRuns: 150 },
    );
  });

  it('proofs stay small: about log2(n) sibling hashes', () => {
    const entries = Array.from({ length: 4096 }, (_, i) => [sha256(new Uint8Array([i & 255, i >> 8])), val(i & 255)] as [Uint8Array, Uint8Array]);
    const s = storeWith(entries);
    let worst = 0;
    let total = 0;
    for (const [k] of entries.slice(0, 512)) {
      const n = decodeMapProof(proveMap(s, k)).siblings.filter((x) => x !== undefined).length;
      worst = Math.max(worst, n);
      total += n;
    }
    expect(total / 512).toBeLessThan(12 + 2); // log2(4096) = 12
    expect(worst).toBeLessThan(30);
  });

  it('any flipped bit of a proof, a value or a root fails', () => {
    fc.assert(
      fc.property(entriesArb.filter((e) => e.length > 0), fc.nat(), fc.nat(), mapKey, (entries, pick, bitPick, probe) => {
        const s = storeWith(entries);
        const root = storedMapRoot(s);
        const [k, v] = entries[pick % entries.length]!;
        const fails = (run: () => unknown): boolean => {
          try {
            run();
            return false;
          } catch (e) {
            return isMedtrailError(e, 'MAP_PROOF_MISMATCH') || isMedtrailError(e, 'MAP_PROOF_MALFORMED');
          }
        };
        const flip = (b: Uint8Array, i: number): Uint8Array => {
          const c = b.slice();
          c[i >>> 3]! ^= 0x80 >>> (i & 7);
          return c;
        };
        for (const [target, proof] of [
          [k, proveMap(s, k)],
          [probe, proveMap(s, probe)],
        ] as const) {
          const i = bitPick % (proof.length * 8);
          expect(fails(() => verifyMapProof(root, target, flip(proof, i)))).toBe(true);
          // Every bit of the structure (kind, depth, bitmap), one by one.
          const structure = (3 + ((decodeMapProof(proof).depth + 7) >>> 3)) * 8;
          for (let j = 0; j < structure; j++) expect(fails(() => verifyMapProof(root, target, flip(proof, j)))).toBe(true);
          expect(fails(() => verifyMapProof(flip(root, bitPick % 256), target, proof))).toBe(true);
        }
        const p = proveMap(s, k);
        expect(fails(() => verifyMapValue(root, k, flip(v, bitPick % 256), p))).toBe(true);
        // A membership proof does not carry over to any other key.
        expect(fails(() => verifyMapValue(root, flip(k, bitPick % 256), v, p))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('incremental updates (insert, change, remove, in batches) equal the root from scratch and leave no stale node', () => {
    const change = fc.tuple(mapKey, fc.option(mapValue, { nil: null }));
    fc.assert(
      fc.property(entriesArb, fc.array(fc.array(change, { maxLength: 25 }), { maxLength: 6 }), (initial, batches) => {
        const s = storeWith(initial);
        const model = new Map(initial.map(([k, v]) => [hex(k), [k, v] as [Uint8Array, Uint8Array]]));
        const keys = initial.map((e) => e[0]);
        for (const batch of batches) {
          // Half the changes hit keys already there (changes and removals), the rest new ones.
          const byKey = new Map<string, MapChange>();
          batch.forEach(([k, v], i) => {
            const target = i % 2 === 0 && keys.length > 0 ? keys[(i * 7) % keys.length]! : k;
            byKey.set(hex(target), { key: target, value: v });
          });
          const changes = [...byKey.values()];
          const r = updateMap(s, changes);
          for (const c of changes) {
            if (c.value === null) model.delete(hex(c.key));
            else {
              model.set(hex(c.key), [c.key, c.value]);
              keys.push(c.key);
            }
          }
          const entries = [...model.values()];
          expect(r.root).toEqual(mapRootOf(entries));
          expect(storedMapRoot(s)).toEqual(r.root);
          // The same set built fresh holds exactly as many positions: nothing stale was left behind.
          expect(s.size).toBe(storeWith(entries).size);
        }
      }),
      { numRuns: 120 },
    );
  });

  it('a pinned map keeps answering for the version at pin() while updates go on, in slices, until unpin()', () => {
    const change = fc.tuple(mapKey, fc.option(mapValue, { nil: null }));
    fc.assert(
      fc.property(entriesArb, fc.array(fc.array(change, { maxLength: 25 }), { minLength: 1, maxLength: 6 }), (initial, slices) => {
        const s = storeWith(initial);
        const before = storedMapRoot(s);
        const probes = [...initial.map((e) => e[0]), ...slices.flat().map((c) => c[0])];
        const proofsBefore = probes.map((k) => proveMap(s, k));
        s.pin();
        const model = new Map(initial.map(([k, v]) => [hex(k), [k, v] as [Uint8Array, Uint8Array]]));
        for (const slice of slices) {
          const byKey = new Map<string, MapChange>();
          slice.forEach(([k, v], i) => {
            const target = i % 2 === 0 && initial.length > 0 ? initial[(i * 7) % initial.length]![0] : k;
            byKey.set(hex(target), { key: target, value: v });
          });
          updateMap(s, [...byKey.values()]);
          for (const c of byKey.values()) {
            if (c.value === null) model.delete(hex(c.key));
            else model.set(hex(c.key), [c.key, c.value]);
          }
          // The pinned version: the old root, and byte for byte the old proofs, whatever changed since.
          expect(storedMapRoot(s.pinned())).toEqual(before);
          probes.forEach((k, i) => expect(proveMap(s.pinned(), k)).toEqual(proofsBefore[i]));
          // The store's own walk of the pinned version gives the same bytes; unpinned, the walk of the map as is.
          probes.forEach((k, i) => expect(s.prove(k, true)).toEqual(proofsBefore[i]));
          probes.forEach((k) => expect(s.prove(k)).toEqual(proveMap({ get: (d, p) => s.get(d, p), put: () => undefined, delete: () => undefined }, k)));
        }
        const after = mapRootOf([...model.values()]);
        expect(storedMapRoot(s)).toEqual(after);
        s.unpin();
        expect(storedMapRoot(s.pinned())).toEqual(after);
        expect(() => s.pinned().put(0, new Uint8Array(0), { kind: 'node', hash: val(1) })).toThrow();
      }),
      { numRuns: 80 },
    );
  });

  it('an update touches only the nodes on the changed paths', () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => [sha256(new Uint8Array([i & 255, (i >> 8) & 255, i >> 16])), val(1)] as [Uint8Array, Uint8Array]);
    const s = storeWith(entries);
    const one = updateMap(s, [{ key: entries[5]![0], value: val(2) }]);
    // One change: one leaf and the inner nodes above it (about log2(20,000) = 14.3 of them).
    expect(one.hashes).toBeLessThan(30);
    expect(one.writes).toBeLessThan(30);
    const hundred = updateMap(
      s,
      entries.slice(100, 200).map(([k]) => ({ key: k, value: val(3) })),
    );
    expect(hundred.hashes).toBeLessThan(100 * 16);
    expect(hundred.root).toEqual(mapRootOf(entries.map(([k], i) => [k, i === 5 ? val(2) : i >= 100 && i < 200 ? val(3) : val(1)])));
  });
});

describe('IntTable (the map index outside the JS heap)', () => {
  it('answers as a Map does through sets, overwrites and deletions, with collisions and growth', () => {
    // Keys from a small range collide often; thousands of operations make the tables grow several times and
    // the backward-shift deletions move whole runs.
    const op = fc.tuple(fc.constantFrom('set', 'delete', 'get'), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: -1, max: 2 ** 31 - 1 }));
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 6000 }), fc.constantFrom(0.5, 0.6, 0.75), (ops, load) => {
        const t = new IntTable(load);
        const model = new Map<number, number>();
        for (const [kind, k, v] of ops) {
          if (kind === 'set') {
            t.set(k, v);
            model.set(k, v);
          } else if (kind === 'delete') {
            t.delete(k);
            model.delete(k);
          } else expect(t.get(k)).toBe(model.get(k));
        }
        expect(t.size).toBe(model.size);
        for (let k = 0; k <= 3000; k++) {
          expect(t.get(k)).toBe(model.get(k));
          expect(t.has(k)).toBe(model.has(k));
        }
      }),
      { numRuns: 40 },
    );
  });

  it('holds a million positions and gives each back', () => {
    const t = new IntTable();
    for (let k = 0; k < 1_000_000; k++) t.set(k * 7 + (k & 3), k);
    expect(t.size).toBe(1_000_000);
    for (let k = 0; k < 1_000_000; k += 997) expect(t.get(k * 7 + (k & 3))).toBe(k);
    for (let k = 0; k < 1_000_000; k += 2) t.delete(k * 7 + (k & 3));
    expect(t.size).toBe(500_000);
    for (let k = 0; k < 1_000_000; k += 999) expect(t.get(k * 7 + (k & 3))).toBe(k % 2 === 0 ? undefined : k);
  });
});
