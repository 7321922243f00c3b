// Merkle log maths of RFC 9162 section 2.1 (the RFC 6962 tree): hashes, roots, inclusion and consistency
// proofs, their verification, and the perfect subtrees an append completes.
//
// The store keeps the hash of every perfect subtree (level, index), covering leaves
// [index*2^level, (index+1)*2^level). Every node of the RFC decomposition of a tree of size n is either such a
// perfect subtree or an imperfect subtree on the right edge, [start, n) with start a multiple of a power of two
// at least n-start; the latter's hash folds the O(log n) perfect subtrees it splits into. So a root or a proof
// costs O(log n) reads and never touches the leaves.
//
// Sizes and indices are JS numbers up to 2^53-1: all index arithmetic is division and multiplication by powers
// of two, never 32-bit bit operations (which silently wrap past 2^31).
import { assertBytes, equalBytes } from '../bytes.js';
import { MedtrailError } from '../errors.js';
import { sha256 } from '../crypto/hash.js';

export const HASH_BYTES = 32;

/** Hash of the perfect subtree at `level` (0 = a leaf hash) and `index`, covering leaves [index*2^level, (index+1)*2^level). Only called for subtrees wholly inside the tree. */
export type PerfectHashReader = (level: number, index: number) => Uint8Array;

/** SHA-256(0x00 || leaf). */
export function leafHash(leaf: Uint8Array): Uint8Array {
  if (!(leaf instanceof Uint8Array)) throw new MedtrailError('BAD_TYPE', 'leaf must be a Uint8Array');
  const buf = new Uint8Array(1 + leaf.length);
  buf.set(leaf, 1);
  return sha256(buf);
}

/** SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  assertBytes(left, HASH_BYTES, 'left child hash');
  assertBytes(right, HASH_BYTES, 'right child hash');
  const buf = new Uint8Array(1 + 2 * HASH_BYTES);
  buf[0] = 1;
  buf.set(left, 1);
  buf.set(right, 1 + HASH_BYTES);
  return sha256(buf);
}

/** Root of the empty tree: SHA-256 of the empty string. */
export function emptyRoot(): Uint8Array {
  return sha256(new Uint8Array(0));
}

/** Root of the tree over these leaf hashes, any count. O(n) hashing: for audits and tests, not for requests. */
export function rootFromLeafHashes(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (!Array.isArray(leafHashes)) throw new MedtrailError('BAD_TYPE', 'leaf hashes must be an array');
  if (leafHashes.length === 0) return emptyRoot();
  leafHashes.forEach((h, i) => assertBytes(h, HASH_BYTES, `leaf hash ${i}`));
  // Pairing level by level and carrying an odd last node up unchanged gives exactly the RFC tree, whose split
  // at the largest power of two below n leaves the right-edge node unpaired on the levels where it is alone.
  let level: Uint8Array[] = leafHashes.slice();
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!;
}

function checkSize(size: unknown, what: string): asserts size is number {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new MedtrailError('PROOF_BAD_SIZE', `${what} must be a non-negative safe integer`);
  }
}

function checkIndex(index: unknown, size: number): asserts index is number {
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0 || index >= size) {
    throw new MedtrailError('PROOF_BAD_INDEX', `leaf index must be an integer in [0, ${size})`);
  }
}

function checkHashList(proof: unknown): asserts proof is readonly Uint8Array[] {
  if (!Array.isArray(proof)) throw new MedtrailError('BAD_TYPE', 'proof must be an array of hashes');
  proof.forEach((h, i) => assertBytes(h, HASH_BYTES, `proof[${i}]`));
}

/** floor(log2(n)) for a safe integer n >= 1, exact where Math.log2 rounds near powers of two. */
function floorLog2(n: number): number {
  let l = Math.floor(Math.log2(n));
  if (2 ** l > n) l--;
  else if (2 ** (l + 1) <= n) l++;
  return l;
}

function isPowerOfTwo(n: number): boolean {
  return 2 ** floorLog2(n) === n;
}

/** Level k of the RFC split: 2^k is the largest power of two strictly below n (n >= 2). */
function splitLevel(n: number): number {
  return floorLog2(n - 1);
}

function readPerfect(read: PerfectHashReader, level: number, index: number): Uint8Array {
  const h = read(level, index);
  if (!(h instanceof Uint8Array) || h.length !== HASH_BYTES) {
    throw new MedtrailError('STORE_CORRUPT', `perfect subtree (${level}, ${index}) is missing or not ${HASH_BYTES} bytes`);
  }
  return h;
}

/**
 * Hash of the RFC subtree over leaves [start, start+count), count >= 1, where start is a multiple of a power of
 * two >= count (true of every node of the decomposition). It splits into perfect subtrees of decreasing size,
 * one per set bit of count, folded from the right: popcount(count) reads.
 */
function subtreeHash(start: number, count: number, read: PerfectHashReader): Uint8Array {
  const parts: Uint8Array[] = [];
  let pos = start;
  let rest = count;
  for (let level = floorLog2(count); rest > 0; level--) {
    const width = 2 ** level;
    if (width <= rest) {
      parts.push(readPerfect(read, level, pos / width));
      pos += width;
      rest -= width;
    }
  }
  let h = parts[parts.length - 1]!;
  for (let i = parts.length - 2; i >= 0; i--) h = nodeHash(parts[i]!, h);
  return h;
}

/** Root of the tree of `size` leaves: popcount(size) reads. */
/**
 * The perfect subtrees (level, index) a tree of `size` leaves splits into, largest first: one per set bit of
 * `size`. Their hashes are all an append after `size` leaves, or the root at `size`, needs from the store.
 */
export function perfectSubtrees(size: number): [number, number][] {
  const out: [number, number][] = [];
  let start = 0;
  for (let level = 52; level >= 0; level--) {
    const width = 2 ** level;
    if (start + width <= size) {
      out.push([level, start / width]);
      start += width;
    }
  }
  return out;
}

export function rootAt(size: number, read: PerfectHashReader): Uint8Array {
  checkSize(size, 'tree size');
  return size === 0 ? emptyRoot() : subtreeHash(0, size, read);
}

/**
 * RFC 9162 2.1.3.1 PATH(index, D[0:size]), leaf level first. Walks the decomposition from the root down: at each
 * split the sibling of the half holding the leaf joins the path. Only the first sibling met after turning left
 * can be an imperfect right-edge subtree; every other is perfect. Reads <= 2*log2(size) + 1.
 */
export function inclusionProof(index: number, size: number, read: PerfectHashReader): Uint8Array[] {
  checkSize(size, 'tree size');
  checkIndex(index, size);
  const path: Uint8Array[] = [];
  let start = 0;
  let n = size;
  while (n > 1) {
    const k = splitLevel(n);
    const half = 2 ** k;
    if (index < start + half) {
      path.push(subtreeHash(start + half, n - half, read));
      n = half;
    } else {
      path.push(readPerfect(read, k, start / half));
      start += half;
      n -= half;
    }
  }
  return path.reverse();
}

/**
 * RFC 9162 2.1.4.1 PROOF(size1, D[0:size2]) = SUBPROOF(size1, D[0:size2], true), deepest node first.
 * Requires 0 < size1 <= size2 (a proof from the empty tree proves nothing); equal sizes give an empty proof.
 */
export function consistencyProof(size1: number, size2: number, read: PerfectHashReader): Uint8Array[] {
  checkSize(size1, 'first tree size');
  checkSize(size2, 'second tree size');
  if (size1 === 0 || size1 > size2) throw new MedtrailError('PROOF_BAD_SIZE', 'consistency proofs need 0 < size1 <= size2');
  const path: Uint8Array[] = [];
  let start = 0;
  let m = size1; // leaves of the old tree inside the current subtree [start, start+n)
  let n = size2;
  let whole = true; // SUBPROOF's b: still on the path of the old tree's own root
  while (m !== n) {
    const k = splitLevel(n);
    const half = 2 ** k;
    if (m <= half) {
      path.push(subtreeHash(start + half, n - half, read));
      n = half;
    } else {
      path.push(readPerfect(read, k, start / half));
      start += half;
      m -= half;
      n -= half;
      whole = false;
    }
  }
  // The old tree's subtree that ends the recursion is perfect here: it was reached by a left turn (n = 2^k).
  if (!whole) path.push(subtreeHash(start, m, read));
  return path.reverse();
}

/** Proof length RFC 9162 2.1.3.2 consumes for (index, size): the loop of step 4 run without hashing. */
function inclusionLength(index: number, size: number): number {
  return pathSteps(index, size - 1);
}

/** Steps of the RFC 9162 verification loop (2.1.3.2 step 4, 2.1.4.2 step 6) from (fn, sn) until sn = 0. */
function pathSteps(fn: number, sn: number): number {
  let count = 0;
  while (sn !== 0) {
    if (fn % 2 === 1 || fn === sn) {
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
    count++;
  }
  return count;
}

/**
 * RFC 9162 2.1.3.2. Throws PROOF_BAD_SIZE / PROOF_BAD_INDEX (index >= size included), BAD_LENGTH (a hash that is
 * not 32 bytes), PROOF_BAD_LENGTH (wrong number of hashes) or PROOF_MISMATCH; returns only when the proof holds.
 */
export function verifyInclusion(leafHash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): void {
  checkSize(size, 'tree size');
  checkIndex(index, size);
  assertBytes(leafHash, HASH_BYTES, 'leaf hash');
  assertBytes(root, HASH_BYTES, 'root');
  checkHashList(proof);
  const want = inclusionLength(index, size);
  if (proof.length !== want) throw new MedtrailError('PROOF_BAD_LENGTH', `inclusion proof has ${proof.length} hashes, expected ${want}`);
  let fn = index;
  let sn = size - 1;
  let r = leafHash;
  for (const p of proof) {
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (!equalBytes(r, root)) throw new MedtrailError('PROOF_MISMATCH', 'inclusion proof does not lead to the root');
}

/** Number of proof hashes RFC 9162 2.1.4.2 consumes for (size1, size2), 0 < size1 < size2. */
function consistencyLength(size1: number, size2: number): number {
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  // The first hash seeds both roots (it is root1 itself, left out of the proof, when size1 is a power of two).
  return (isPowerOfTwo(size1) ? 0 : 1) + pathSteps(fn, sn);
}

/**
 * RFC 9162 2.1.4.2, with the cases it leaves out: size1 > size2 or size1 = 0 is PROOF_BAD_SIZE (nothing can be
 * proved from the empty tree); size1 = size2 needs an empty proof and equal roots. Errors otherwise as for
 * verifyInclusion.
 */
export function verifyConsistency(size1: number, size2: number, proof: readonly Uint8Array[], root1: Uint8Array, root2: Uint8Array): void {
  checkSize(size1, 'first tree size');
  checkSize(size2, 'second tree size');
  if (size1 > size2) throw new MedtrailError('PROOF_BAD_SIZE', 'first tree size is larger than the second');
  if (size1 === 0) throw new MedtrailError('PROOF_BAD_SIZE', 'a consistency proof from the empty tree proves nothing');
  checkHashList(proof);
  if (size1 === size2) {
    // Equal sizes: the proof is empty and the roots are the same bytes. RFC 9162 2.1.4.2 step 1 asks nothing
    // more, and the published vectors hold a case with placeholder roots of another length, so no length check.
    if (!(root1 instanceof Uint8Array) || !(root2 instanceof Uint8Array)) throw new MedtrailError('BAD_TYPE', 'roots must be byte arrays');
    if (proof.length !== 0) throw new MedtrailError('PROOF_BAD_LENGTH', 'equal sizes need an empty proof');
    if (!equalBytes(root1, root2)) throw new MedtrailError('PROOF_MISMATCH', 'equal sizes but different roots');
    return;
  }
  assertBytes(root1, HASH_BYTES, 'first root');
  assertBytes(root2, HASH_BYTES, 'second root');
  const want = consistencyLength(size1, size2);
  if (proof.length !== want) throw new MedtrailError('PROOF_BAD_LENGTH', `consistency proof has ${proof.length} hashes, expected ${want}`);
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = (fn - 1) / 2;
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn /= 2;
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Both comparisons always run, so timing does not say which root failed.
  const ok1 = equalBytes(fr, root1);
  const ok2 = equalBytes(sr, root2);
  if (!(ok1 && ok2)) throw new MedtrailError('PROOF_MISMATCH', 'consistency proof does not lead to both roots');
}

/**
 * Perfect subtrees completed by appending the leaf at `index` with hash `leafHash`, bottom-up:
 * [{level:0,index,hash:leafHash}, {level:1,index:index>>1,...}, ...]; one more per trailing 1 bit of index.
 * `read` supplies earlier perfect hashes (the left siblings).
 */
export function completedSubtrees(index: number, leafHash: Uint8Array, read: PerfectHashReader): { level: number; index: number; hash: Uint8Array }[] {
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
    throw new MedtrailError('PROOF_BAD_INDEX', 'leaf index must be a non-negative safe integer');
  }
  assertBytes(leafHash, HASH_BYTES, 'leaf hash');
  const out = [{ level: 0, index, hash: leafHash }];
  let level = 0;
  let i = index;
  let h = leafHash;
  while (i % 2 === 1) {
    h = nodeHash(readPerfect(read, level, i - 1), h);
    i = (i - 1) / 2;
    level++;
    out.push({ level, index: i, hash: h });
  }
  return out;
}
