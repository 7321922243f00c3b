// core/log/merkle.ts against a naive recursive transcription of RFC 9162 2.1 (small trees, every index and size
// pair), then fast-check properties on trees up to 2^40 leaves that exist only as a sparse perfect-hash reader.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8 } from '../../core/bytes.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { isMedtrailError, type ErrorCode } from '../../core/errors.js';
import { sha256 } from '../../core/crypto/hash.js';
import {
  completedSubtrees,
  consistencyProof,
  emptyRoot,
  HASH_BYTES,
  inclusionProof,
  leafHash,
  nodeHash,
  rootAt,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
  perfectSubtrees,
  type PerfectHashReader,
} from '../../core/log/merkle.js';

installNodeCrypto();

// ---- naive reference: RFC 9162 2.1.1, 2.1.3.1, 2.1.4.1 read literally, recursion over leaf hash arrays ----
function k(n: number): number {
  let p = 1;
  while (p * 2 < n) p *= 2;
  return p;
}
// Memoized on (first leaf, length) only to keep the run short; the recursion is the RFC's.
const mthMemo = new Map<Uint8Array, Map<number, Uint8Array>>();
function mth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha256(new Uint8Array(0));
  if (d.length === 1) return d[0]!;
  let byLength = mthMemo.get(d[0]!);
  if (byLength === undefined) mthMemo.set(d[0]!, (byLength = new Map()));
  let h = byLength.get(d.length);
  if (h === undefined) {
    const s = k(d.length);
    h = nodeHash(mth(d.slice(0, s)), mth(d.slice(s)));
    byLength.set(d.length, h);
  }
  return h;
}
function refPath(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length === 1) return [];
  const s = k(d.length);
  return m < s ? [...refPath(m, d.slice(0, s)), mth(d.slice(s))] : [...refPath(m - s, d.slice(s)), mth(d.slice(0, s))];
}
function refSubproof(m: number, d: Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const s = k(d.length);
  return m <= s ? [...refSubproof(m, d.slice(0, s), b), mth(d.slice(s))] : [...refSubproof(m - s, d.slice(s), false), mth(d.slice(0, s))];
}

const leaves = Array.from({ length: 70 }, (_, i) => leafHash(utf8(`leaf ${i}`)));
/** Reader over the real small tree: the perfect subtree's hash, computed naively. */
const smallMemo = new Map<string, Uint8Array>();
const smallReader: PerfectHashReader = (level, index) => {
  const w = 2 ** level;
  if (index * w + w > leaves.length) throw new Error(`read outside the tree: (${level}, ${index})`);
  const key = `${level}/${index}`;
  let h = smallMemo.get(key);
  if (h === undefined) smallMemo.set(key, (h = mth(leaves.slice(index * w, index * w + w))));
  return h;
};

function codeOf(run: () => unknown): ErrorCode | 'none' {
  try {
    run();
    return 'none';
  } catch (e) {
    if (!isMedtrailError(e)) throw e;
    return e.code;
  }
}

describe('hashes', () => {
  it('uses the RFC 6962 domain prefixes and the empty-string root', () => {
    expect(leafHash(new Uint8Array([1, 2]))).toEqual(sha256(new Uint8Array([0, 1, 2])));
    const a = leafHash(utf8('a'));
    const b = leafHash(utf8('b'));
    expect(nodeHash(a, b)).toEqual(sha256(new Uint8Array([1, ...a, ...b])));
    expect(Buffer.from(emptyRoot()).toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(codeOf(() => nodeHash(a, b.subarray(1)))).toBe('BAD_LENGTH');
  });
});

describe('against the naive RFC 9162 reference, sizes 0..70', () => {
  it('roots', () => {
    for (let n = 0; n <= 70; n++) {
      const want = mth(leaves.slice(0, n));
      expect(rootFromLeafHashes(leaves.slice(0, n))).toEqual(want);
      expect(rootAt(n, smallReader)).toEqual(want);
    }
  });

  it('inclusion proofs for every index, verified, and every wrong index or size refused', () => {
    for (let n = 1; n <= 70; n++) {
      const d = leaves.slice(0, n);
      const root = mth(d);
      for (let m = 0; m < n; m++) {
        const proof = inclusionProof(m, n, smallReader);
        expect(proof).toEqual(refPath(m, d));
        verifyInclusion(leaves[m]!, m, n, proof, root);
        for (const other of [m - 1, m + 1]) {
          if (other >= 0 && other < n) expect(codeOf(() => verifyInclusion(leaves[m]!, other, n, proof, root))).not.toBe('none');
        }
        // Another size is checked against that size's own root: a proof does not bind the size by itself (the
        // signed checkpoint binds size and root), so the same root under a neighbouring size can still pass.
        if (n < leaves.length) expect(codeOf(() => verifyInclusion(leaves[m]!, m, n + 1, proof, mth(leaves.slice(0, n + 1))))).not.toBe('none');
        if (m < n - 1) expect(codeOf(() => verifyInclusion(leaves[m]!, m, n - 1, proof, mth(leaves.slice(0, n - 1))))).not.toBe('none');
      }
      expect(codeOf(() => verifyInclusion(leaves[0]!, n, n, [], root))).toBe('PROOF_BAD_INDEX');
    }
  });

  it('consistency proofs for every 0 < size1 <= size2, verified', () => {
    for (let n = 1; n <= 70; n++) {
      const d = leaves.slice(0, n);
      const root2 = mth(d);
      for (let m = 1; m <= n; m++) {
        const proof = consistencyProof(m, n, smallReader);
        expect(proof).toEqual(refSubproof(m, d, true));
        const root1 = mth(d.slice(0, m));
        verifyConsistency(m, n, proof, root1, root2);
        if (m < n) {
          expect(codeOf(() => verifyConsistency(m, n, proof, root2, root2))).toBe('PROOF_MISMATCH');
          expect(codeOf(() => verifyConsistency(m, n, proof.slice(1), root1, root2))).not.toBe('none');
        }
      }
    }
  });

  it('completedSubtrees yields exactly the perfect subtrees each append finishes', () => {
    const stored = new Map<string, Uint8Array>();
    const read: PerfectHashReader = (level, index) => stored.get(`${level}/${index}`)!;
    for (let i = 0; i < 70; i++) {
      const done = completedSubtrees(i, leaves[i]!, read);
      for (const s of done) {
        expect(s.hash).toEqual(smallReader(s.level, s.index));
        expect((s.index + 1) * 2 ** s.level).toBe(i + 1); // ends at the new leaf
        stored.set(`${s.level}/${s.index}`, s.hash);
      }
      // One per trailing set bit of i, plus the leaf itself.
      let trailing = 0;
      for (let j = i; j % 2 === 1; j = (j - 1) / 2) trailing++;
      expect(done).toHaveLength(trailing + 1);
      expect(rootAt(i + 1, read)).toEqual(mth(leaves.slice(0, i + 1)));
    }
  });

  it('edge cases are coded errors', () => {
    const r = mth(leaves.slice(0, 4));
    expect(codeOf(() => consistencyProof(0, 4, smallReader))).toBe('PROOF_BAD_SIZE');
    expect(codeOf(() => consistencyProof(5, 4, smallReader))).toBe('PROOF_BAD_SIZE');
    expect(consistencyProof(4, 4, smallReader)).toEqual([]);
    expect(codeOf(() => verifyConsistency(0, 0, [], emptyRoot(), emptyRoot()))).toBe('PROOF_BAD_SIZE');
    expect(codeOf(() => verifyConsistency(4, 4, [r], r, r))).toBe('PROOF_BAD_LENGTH');
    for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53, '3' as unknown as number]) {
      expect(codeOf(() => rootAt(bad, smallReader))).toBe('PROOF_BAD_SIZE');
      expect(codeOf(() => verifyInclusion(leaves[0]!, 0, bad, [], r))).toBe('PROOF_BAD_SIZE');
      expect(codeOf(() => verifyInclusion(leaves[0]!, bad, 4, [], r))).toBe('PROOF_BAD_INDEX');
      expect(codeOf(() => verifyConsistency(bad, 4, [], r, r))).toBe('PROOF_BAD_SIZE');
      expect(codeOf(() => completedSubtrees(bad, r, smallReader))).toBe('PROOF_BAD_INDEX');
    }
    expect(codeOf(() => verifyInclusion(leaves[0]!, 0, 1, [], r.subarray(0, 31)))).toBe('BAD_LENGTH');
    expect(codeOf(() => verifyInclusion(leaves[0]!, 0, 2, [new Uint8Array(33)], r))).toBe('BAD_LENGTH');
    expect(codeOf(() => verifyInclusion(leaves[0]!, 0, 2, 'x' as unknown as Uint8Array[], r))).toBe('BAD_TYPE');
    expect(codeOf(() => rootAt(3, () => undefined as unknown as Uint8Array))).toBe('STORE_CORRUPT');
  });
});

// ---- huge trees without leaves ----
// A consistent tree of up to 2^40 leaves where every leaf hash is the same constant except at a few "special"
// indices. Perfect subtrees without a special leaf have one hash per level (zero[level]); the others are
// computed from their children, recursing only into subtrees that hold a special leaf. (Independent pseudo-hashes
// per (level, index) would not do: the verifier recomputes inner nodes from their children, so the reader must
// describe one real tree.)
const zero: Uint8Array[] = [leafHash(utf8('plain leaf'))];
for (let l = 1; l <= 53; l++) zero.push(nodeHash(zero[l - 1]!, zero[l - 1]!));

function sparseTree(special: readonly number[]): { read: PerfectHashReader; leaf: (i: number) => Uint8Array } {
  const memo = new Map<string, Uint8Array>();
  const leaf = (i: number) => (special.includes(i) ? leafHash(utf8(`special ${i}`)) : zero[0]!);
  const read: PerfectHashReader = (level, index) => {
    const lo = index * 2 ** level;
    const hi = lo + 2 ** level;
    if (!special.some((s) => s >= lo && s < hi)) return zero[level]!;
    if (level === 0) return leaf(index);
    const key = `${level}/${index}`;
    let h = memo.get(key);
    if (h === undefined) {
      h = nodeHash(read(level - 1, index * 2), read(level - 1, index * 2 + 1));
      memo.set(key, h);
    }
    return h;
  };
  return { read, leaf };
}

function counting(read: PerfectHashReader): { read: PerfectHashReader; count: () => number } {
  let n = 0;
  return {
    read: (level, index) => {
      n++;
      return read(level, index);
    },
    count: () => n,
  };
}

const MAX = 2 ** 40;
const sizeArb = fc.oneof(fc.integer({ min: 1, max: MAX }), fc.constantFrom(1, 2, 3, 2 ** 31, 2 ** 31 + 1, 2 ** 32, MAX - 1, MAX));
const readBound = (n: number) => 2 * Math.ceil(Math.log2(n)) + 2;

function flipped(h: Uint8Array, byte: number, bit: number): Uint8Array {
  const c = h.slice();
  c[byte % HASH_BYTES]! ^= 1 << bit;
  return c;
}

describe('properties on trees up to 2^40 leaves', () => {
  it('an inclusion proof verifies against rootAt, in O(log n) reads; any change fails with a coded error', () => {
    fc.assert(
      fc.property(
        sizeArb.chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: size - 1 }), fc.array(fc.integer({ min: 0, max: size - 1 }), { maxLength: 3 }))),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        ([size, index, others], which, byte, bit) => {
          const tree = sparseTree([index, size - 1, ...others]);
          const c = counting(tree.read);
          const proof = inclusionProof(index, size, c.read);
          expect(c.count()).toBeLessThanOrEqual(readBound(size));
          const root = rootAt(size, tree.read);
          const lh = tree.leaf(index);
          verifyInclusion(lh, index, size, proof, root);

          expect(codeOf(() => verifyInclusion(lh, index, size, proof, flipped(root, byte, bit)))).toBe('PROOF_MISMATCH');
          expect(codeOf(() => verifyInclusion(flipped(lh, byte, bit), index, size, proof, root))).toBe('PROOF_MISMATCH');
          if (proof.length > 0) {
            const i = which % proof.length;
            const bad = proof.map((h, j) => (j === i ? flipped(h, byte, bit) : h));
            expect(codeOf(() => verifyInclusion(lh, index, size, bad, root))).toBe('PROOF_MISMATCH');
          }
          const otherIndex = (index + 1 + (which % size)) % size;
          if (otherIndex !== index) expect(codeOf(() => verifyInclusion(lh, otherIndex, size, proof, root))).not.toBe('none');
          // A changed size is checked against that size's true root (see the small-tree test for why).
          const bigger = size + 1 + (which % 1000);
          expect(codeOf(() => verifyInclusion(lh, index, bigger, proof, rootAt(bigger, tree.read)))).not.toBe('none');
          if (size - 1 > index) expect(codeOf(() => verifyInclusion(lh, index, size - 1, proof, rootAt(size - 1, tree.read)))).not.toBe('none');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a consistency proof verifies between rootAt(size1) and rootAt(size2); any change fails with a coded error', () => {
    fc.assert(
      fc.property(
        sizeArb.chain((size2) => fc.tuple(fc.integer({ min: 1, max: size2 }), fc.constant(size2))),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        ([size1, size2], which, byte, bit) => {
          const tree = sparseTree([size1 - 1, size2 - 1, Math.floor(size1 / 2)]);
          const c = counting(tree.read);
          const proof = consistencyProof(size1, size2, c.read);
          expect(c.count()).toBeLessThanOrEqual(readBound(size2));
          const root1 = rootAt(size1, tree.read);
          const root2 = rootAt(size2, tree.read);
          verifyConsistency(size1, size2, proof, root1, root2);

          expect(codeOf(() => verifyConsistency(size1, size2, proof, flipped(root1, byte, bit), root2))).toBe('PROOF_MISMATCH');
          expect(codeOf(() => verifyConsistency(size1, size2, proof, root1, flipped(root2, byte, bit)))).toBe('PROOF_MISMATCH');
          if (proof.length > 0) {
            const i = which % proof.length;
            const bad = proof.map((h, j) => (j === i ? flipped(h, byte, bit) : h));
            expect(codeOf(() => verifyConsistency(size1, size2, bad, root1, root2))).toBe('PROOF_MISMATCH');
          }
          // Changed sizes are checked against their true roots (a proof alone does not bind the sizes).
          const rootOf = (n: number) => rootAt(n, tree.read);
          if (size1 < size2) expect(codeOf(() => verifyConsistency(size1 + 1, size2, proof, rootOf(size1 + 1), root2))).not.toBe('none');
          if (size1 > 1) expect(codeOf(() => verifyConsistency(size1 - 1, size2, proof, rootOf(size1 - 1), root2))).not.toBe('none');
          const bigger = size2 + 1 + (which % 1000);
          expect(codeOf(() => verifyConsistency(size1, bigger, proof, root1, rootOf(bigger)))).not.toBe('none');
          if (size2 - 1 > size1) expect(codeOf(() => verifyConsistency(size1, size2 - 1, proof, root1, rootOf(size2 - 1)))).not.toBe('none');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('rootAt reads at most log2(n)+1 perfect subtrees', () => {
    fc.assert(
      fc.property(sizeArb, (size) => {
        const c = counting(sparseTree([size - 1]).read);
        rootAt(size, c.read);
        expect(c.count()).toBeLessThanOrEqual(Math.floor(Math.log2(size)) + 1);
      }),
    );
  });

  it('indices past 2^31 and 2^32 keep their high bits (no 32-bit wrap)', () => {
    const size = 2 ** 33 + 5;
    const index = 2 ** 32 + 3; // 32-bit arithmetic would see index 3
    const tree = sparseTree([index, 3, size - 1]);
    const root = rootAt(size, tree.read);
    const proof = inclusionProof(index, size, tree.read);
    verifyInclusion(tree.leaf(index), index, size, proof, root);
    expect(codeOf(() => verifyInclusion(tree.leaf(3), 3, size, proof, root))).not.toBe('none');
  });
});

describe('perfectSubtrees', () => {
  it('splits a tree into one perfect subtree per set bit of its size, largest first, covering every leaf once', () => {
    expect(perfectSubtrees(0)).toEqual([]);
    expect(perfectSubtrees(1)).toEqual([[0, 0]]);
    expect(perfectSubtrees(6)).toEqual([
      [2, 0],
      [1, 2],
    ]);
    for (const size of [7, 1000, 2 ** 20 + 3]) {
      let next = 0;
      for (const [level, index] of perfectSubtrees(size)) {
        expect(index * 2 ** level).toBe(next);
        next += 2 ** level;
      }
      expect(next).toBe(size);
    }
  });
});
