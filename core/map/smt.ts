// A sparse Merkle tree: an authenticated map from 32-byte keys to 32-byte values (docs/architecture.md, Trust
// without a centre). Its root commits to every (key, value) pair at once, so one root in a checkpoint proves
// the current value of any key (a proof of membership) or that a key has none (a proof of absence).
//
// The tree has 256 levels, one per key bit (most significant bit of byte 0 first, 0 = left). Written out in
// full it would have 2^256 leaves; three rules keep it to about 2n nodes for n keys:
//   - an empty subtree of height h hashes to EMPTY[h], precomputed: EMPTY[0] = SHA-256(0x04),
//     EMPTY[h] = node(EMPTY[h-1], EMPTY[h-1]);
//   - a subtree holding exactly one key hashes to that key's leaf hash, whatever its height (the leaf sits
//     as high as it can, where its path first parts from every other key's);
//   - any other subtree hashes to node(left, right).
// So a key's path is as long as the bits it shares with its nearest neighbour: about log2(n) levels.
//
// Hashes are domain-separated from the log's RFC 9162 tree (0x00 leaf, 0x01 node) and from each other, so no
// map node can pass for a log node, a leaf for a node, or a node for an empty subtree:
//   leaf  = SHA-256(0x02 || key || value)
//   node  = SHA-256(0x03 || left || right)
//   empty = SHA-256(0x04) at height 0, node() of two empties above.
// The leaf commits to its whole key, so a leaf placed at any height still names its one position.
//
// Compact proofs (bytes; the proof of one key, checked against a root without anything else):
//   kind (1 byte)      1 = present, 2 = absent (the path ends in an empty subtree),
//                      3 = absent (the path ends at another key's leaf)
//   depth (2 bytes)    big-endian, 0..256: how many levels the path runs down from the root
//   bitmap             ceil(depth/8) bytes; bit i (most significant first) set when the sibling at depth i+1
//                      is not empty; unused bits are zero; the deepest sibling is never empty
//   siblings           32 bytes per set bit, the one nearest the root first
//   tail               kind 1: the value (32); kind 2: nothing; kind 3: the other key and its value (64)
// Empty siblings are left out (the verifier knows EMPTY[h]), so a proof carries about log2(n) hashes.
//
// Nodes live in a MapNodeStore (the server keeps them in SQLite; MemoryMapStore here), addressed by depth and
// path prefix. updateMap applies a set of changes reading and writing only the nodes on their paths. It checks
// its input before the first write; a store whose writes can fail (a disk) runs it inside a transaction.
//
// Pure and synchronous, no node:* import: the patient page verifies proofs in the browser.
import { assertBytes, concatBytes, equalBytes } from '../bytes.js';
import { sha256 } from '../crypto/hash.js';
import { MedtrailError } from '../errors.js';

export const MAP_KEY_BYTES = 32;
export const MAP_VALUE_BYTES = 32;
/** Levels of the tree: one per key bit. */
export const MAP_DEPTH = 256;

const LEAF_PREFIX = 0x02;
const NODE_PREFIX = 0x03;
const EMPTY_PREFIX = 0x04;

export const PROOF_PRESENT = 1;
export const PROOF_ABSENT_EMPTY = 2;
export const PROOF_ABSENT_OTHER = 3;

/** A stored subtree: an inner node (two non-empty parts, or one part holding two keys or more) or a lone leaf. */
export type MapNode =
  | { readonly kind: 'node'; readonly hash: Uint8Array }
  | { readonly kind: 'leaf'; readonly key: Uint8Array; readonly value: Uint8Array; readonly hash: Uint8Array };

/**
 * Where the nodes live. A position is (depth, prefix): prefix holds the first `depth` bits of every key below
 * it, ceil(depth/8) bytes with the bits past `depth` zero. The root is (0, empty prefix). `get` returns a node
 * the caller may keep (not a view a later write changes). updateMap's puts and deletes make a consistent tree
 * only once all are made: a store that can fail midway (SQLite) runs updateMap inside one transaction.
 */
export interface MapNodeStore {
  get(depth: number, prefix: Uint8Array): MapNode | undefined;
  put(depth: number, prefix: Uint8Array, node: MapNode): void;
  delete(depth: number, prefix: Uint8Array): void;
}

/** One change to apply: `value` null removes the key (removing an absent key changes nothing). */
export interface MapChange {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

export interface MapUpdate {
  root: Uint8Array;
  /** SHA-256 computations the update made (leaves and nodes). */
  hashes: number;
  /** Positions written or removed. */
  writes: number;
}

/** What a verified proof says about its key. */
export type MapLookup = { present: true; value: Uint8Array } | { present: false };

export interface DecodedMapProof {
  kind: typeof PROOF_PRESENT | typeof PROOF_ABSENT_EMPTY | typeof PROOF_ABSENT_OTHER;
  depth: number;
  /** One entry per level from the root down: the sibling's hash, or undefined for an empty sibling. */
  siblings: (Uint8Array | undefined)[];
  /** kind 1: the key's value. */
  value?: Uint8Array;
  /** kind 3: the key whose leaf ends the path, and its value. */
  otherKey?: Uint8Array;
  otherValue?: Uint8Array;
}

// ---------------------------------------------------------------------------------------------- hashing

let emptyTable: Uint8Array[] | undefined;

/** EMPTY[h] for h = 0..256, computed once on first use. */
function empties(): Uint8Array[] {
  if (emptyTable === undefined) {
    const t = [sha256(new Uint8Array([EMPTY_PREFIX]))];
    for (let h = 1; h <= MAP_DEPTH; h++) t.push(nodeHashUnchecked(t[h - 1]!, t[h - 1]!));
    emptyTable = t;
  }
  return emptyTable;
}

/** Hash of an empty subtree of height `height` (0 = a single position, 256 = the empty map). */
export function emptyHash(height: number): Uint8Array {
  if (!Number.isInteger(height) || height < 0 || height > MAP_DEPTH) throw new MedtrailError('BAD_INPUT', `height must be 0..${MAP_DEPTH}`);
  return empties()[height]!;
}

/** Root of the empty map. */
export function emptyMapRoot(): Uint8Array {
  return empties()[MAP_DEPTH]!;
}

// One scratch buffer for the 65 bytes each hash reads (sha256 copies its input): an update hashes hundreds of
// thousands of times, and an allocation each was a fifth of its time in garbage collection.
const scratch = new Uint8Array(65);

function leafHashUnchecked(key: Uint8Array, value: Uint8Array): Uint8Array {
  scratch[0] = LEAF_PREFIX;
  scratch.set(key, 1);
  scratch.set(value, 1 + MAP_KEY_BYTES);
  return sha256(scratch);
}

function nodeHashUnchecked(left: Uint8Array, right: Uint8Array): Uint8Array {
  scratch[0] = NODE_PREFIX;
  scratch.set(left, 1);
  scratch.set(right, 33);
  return sha256(scratch);
}

/** SHA-256(0x02 || key || value). */
export function mapLeafHash(key: Uint8Array, value: Uint8Array): Uint8Array {
  assertBytes(key, MAP_KEY_BYTES, 'map key');
  assertBytes(value, MAP_VALUE_BYTES, 'map value');
  return leafHashUnchecked(key, value);
}

/** SHA-256(0x03 || left || right). */
export function mapNodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  assertBytes(left, 32, 'left child hash');
  assertBytes(right, 32, 'right child hash');
  return nodeHashUnchecked(left, right);
}

// ---------------------------------------------------------------------------------------------- key bits

/** Bit `i` of `key`, most significant bit of byte 0 first. */
function bit(key: Uint8Array, i: number): number {
  return (key[i >>> 3]! >>> (7 - (i & 7))) & 1;
}

/** First `depth` bits of `key` as ceil(depth/8) bytes, the bits past `depth` zero: a node position's prefix. */
export function mapPrefix(key: Uint8Array, depth: number): Uint8Array {
  const out = key.slice(0, (depth + 7) >>> 3);
  if ((depth & 7) !== 0) out[out.length - 1]! &= 0xff << (8 - (depth & 7));
  return out;
}

/** Prefix of the child on `side` (0 or 1) of the node at `depth` on `key`'s path. */
function childPrefix(key: Uint8Array, depth: number, side: number): Uint8Array {
  const out = mapPrefix(key, depth + 1);
  const mask = 0x80 >>> (depth & 7);
  if (side === 1) out[depth >>> 3]! |= mask;
  else out[depth >>> 3]! &= ~mask;
  return out;
}

/** Do `a` and `b` agree on their first `n` bits? */
function sharePrefix(a: Uint8Array, b: Uint8Array, n: number): boolean {
  const whole = n >>> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = n & 7;
  if (rest === 0) return true;
  const mask = 0xff << (8 - rest);
  return ((a[whole]! ^ b[whole]!) & mask & 0xff) === 0;
}

function checkChange(c: MapChange, i: number): void {
  if (typeof c !== 'object' || c === null) throw new MedtrailError('BAD_TYPE', `change ${i} must be an object`);
  assertBytes(c.key, MAP_KEY_BYTES, `change ${i} key`);
  if (c.value !== null) assertBytes(c.value, MAP_VALUE_BYTES, `change ${i} value`);
}

// ---------------------------------------------------------------------------------------------- from scratch

/**
 * Root of the map holding exactly these (key, value) pairs, from scratch and without a store: the
 * definition above written as plainly as it goes, for audits and to hold updateMap to it. O(n log n).
 * A key given twice is MAP_DUPLICATE_KEY.
 */
export function mapRootOf(entries: Iterable<readonly [Uint8Array, Uint8Array]>): Uint8Array {
  const list: (readonly [Uint8Array, Uint8Array])[] = [];
  for (const e of entries) {
    if (!Array.isArray(e) || e.length !== 2) throw new MedtrailError('BAD_TYPE', 'map entries must be [key, value] pairs');
    assertBytes(e[0], MAP_KEY_BYTES, 'map key');
    assertBytes(e[1], MAP_VALUE_BYTES, 'map value');
    list.push(e);
  }
  const rootOf = (items: (readonly [Uint8Array, Uint8Array])[], depth: number): Uint8Array => {
    if (items.length === 0) return empties()[MAP_DEPTH - depth]!;
    if (items.length === 1) return leafHashUnchecked(items[0]![0], items[0]![1]);
    if (depth === MAP_DEPTH) throw new MedtrailError('MAP_DUPLICATE_KEY', 'a key appears twice among the map entries');
    const left = items.filter((e) => bit(e[0], depth) === 0);
    const right = items.filter((e) => bit(e[0], depth) === 1);
    return nodeHashUnchecked(rootOf(left, depth + 1), rootOf(right, depth + 1));
  };
  return rootOf(list, 0);
}

// ---------------------------------------------------------------------------------------------- updates

const ROOT_PREFIX = new Uint8Array(0);

/** Hash of the root the store holds (the empty map's root when it holds nothing). */
export function storedMapRoot(store: MapNodeStore): Uint8Array {
  return store.get(0, ROOT_PREFIX)?.hash ?? emptyMapRoot();
}

/**
 * Applies `changes` to the map in `store` and returns the new root. Reads and writes only the nodes on the
 * changed keys' paths: O(changes x log n) nodes, the paths' shared upper levels once. The changes are checked
 * (sizes; a key twice: MAP_DUPLICATE_KEY) before anything is written.
 */
export function updateMap(store: MapNodeStore, changes: readonly MapChange[]): MapUpdate {
  if (!Array.isArray(changes)) throw new MedtrailError('BAD_TYPE', 'changes must be an array');
  changes.forEach(checkChange);
  const work = changes.slice();
  sortByBits(work, 0, work.length, 0);
  let hashes = 0;
  let writes = 0;

  const leafOf = (key: Uint8Array, value: Uint8Array): MapNode => {
    hashes++;
    return { kind: 'leaf', key, value, hash: leafHashUnchecked(key, value) };
  };
  const put = (depth: number, prefix: Uint8Array, node: MapNode | undefined): void => {
    writes++;
    if (node === undefined) store.delete(depth, prefix);
    else store.put(depth, prefix, node);
  };

  /**
   * The node at `depth` on `path` once its two children (old and new) are known; writes the children's
   * positions. One child a lone leaf and the other empty: the leaf moves up here.
   */
  const combine = (
    depth: number,
    path: Uint8Array,
    oldL: MapNode | undefined,
    oldR: MapNode | undefined,
    newL: MapNode | undefined,
    newR: MapNode | undefined,
    pL?: Uint8Array,
    pR?: Uint8Array,
  ): MapNode | undefined => {
    const collapse = (newL === undefined && (newR === undefined || newR.kind === 'leaf')) || (newR === undefined && newL?.kind === 'leaf');
    if (collapse) {
      if (oldL !== undefined) put(depth + 1, pL ?? childPrefix(path, depth, 0), undefined);
      if (oldR !== undefined) put(depth + 1, pR ?? childPrefix(path, depth, 1), undefined);
      return newL ?? newR;
    }
    if (newL !== oldL) put(depth + 1, pL ?? childPrefix(path, depth, 0), newL);
    if (newR !== oldR) put(depth + 1, pR ?? childPrefix(path, depth, 1), newR);
    const h = empties()[MAP_DEPTH - depth - 1]!;
    hashes++;
    return { kind: 'node', hash: nodeHashUnchecked(newL?.hash ?? h, newR?.hash ?? h) };
  };

  /** The subtree at `depth` holding list[lo, hi) (sorted) and nothing else: a subtree empty in the store. */
  const build = (list: MapChange[], lo: number, hi: number, depth: number): MapNode | undefined => {
    if (hi - lo === 0) return undefined;
    if (hi - lo === 1) {
      const c = list[lo]!;
      return c.value === null ? undefined : leafOf(c.key, c.value);
    }
    const mid = firstOne(list, lo, hi, depth);
    const l = build(list, lo, mid, depth + 1);
    const r = build(list, mid, hi, depth + 1);
    return combine(depth, list[lo]!.key, undefined, undefined, l, r);
  };

  /** The subtree at `depth` whose current node is `cur`, after work[lo, hi) (all on its path) is applied. */
  const apply = (cur: MapNode | undefined, lo: number, hi: number, depth: number): MapNode | undefined => {
    if (hi === lo) return cur;
    if (cur === undefined) return build(work, lo, hi, depth);
    if (cur.kind === 'leaf') {
      // The lone key here joins the changes unless one of them rewrites or removes it.
      const sub = work.slice(lo, hi);
      if (!sub.some((c) => equalBytes(c.key, cur.key))) {
        sub.push({ key: cur.key, value: cur.value });
        sortByBits(sub, 0, sub.length, depth);
      }
      const out = build(sub, 0, sub.length, depth);
      // Unchanged (the key set again to its value, or absent keys removed): keep the stored node as it is.
      return out !== undefined && out.kind === 'leaf' && equalBytes(out.key, cur.key) && equalBytes(out.hash, cur.hash) ? cur : out;
    }
    if (depth === MAP_DEPTH) throw new MedtrailError('STORE_CORRUPT', 'an inner map node at the bottom level');
    const path = work[lo]!.key;
    const mid = firstOne(work, lo, hi, depth);
    // The children's positions, computed once for the reads and the writes.
    const pL = childPrefix(path, depth, 0);
    const pR = childPrefix(path, depth, 1);
    const oldL = store.get(depth + 1, pL);
    const oldR = store.get(depth + 1, pR);
    const newL = apply(oldL, lo, mid, depth + 1);
    const newR = apply(oldR, mid, hi, depth + 1);
    if (newL === oldL && newR === oldR) return cur;
    return combine(depth, path, oldL, oldR, newL, newR, pL, pR);
  };

  const oldRoot = store.get(0, ROOT_PREFIX);
  const newRoot = apply(oldRoot, 0, work.length, 0);
  if (newRoot !== oldRoot) put(0, ROOT_PREFIX, newRoot);
  return { root: newRoot?.hash ?? emptyMapRoot(), hashes, writes };
}

/**
 * Sorts list[lo, hi) by key, bit by bit from `depth` on (an MSD radix sort: every key there shares the bits
 * before `depth`), and refuses a key that is there twice (MAP_DUPLICATE_KEY): two keys that no bit parts.
 */
function sortByBits(list: MapChange[], lo: number, hi: number, depth: number): void {
  if (hi - lo < 2) return;
  if (depth === MAP_DEPTH) throw new MedtrailError('MAP_DUPLICATE_KEY', 'one map update names the same key twice');
  let i = lo;
  let j = hi - 1;
  for (;;) {
    while (i <= j && bit(list[i]!.key, depth) === 0) i++;
    while (i <= j && bit(list[j]!.key, depth) === 1) j--;
    if (i >= j) break;
    const t = list[i]!;
    list[i] = list[j]!;
    list[j] = t;
    i++;
    j--;
  }
  sortByBits(list, lo, i, depth + 1);
  sortByBits(list, i, hi, depth + 1);
}

/** In sorted list[lo, hi), whose keys share the bits before `depth`: the first index whose bit `depth` is 1. */
function firstOne(list: readonly MapChange[], lo: number, hi: number, depth: number): number {
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (bit(list[m]!.key, depth) === 0) lo = m + 1;
    else hi = m;
  }
  return lo;
}

// ---------------------------------------------------------------------------------------------- proofs

/** The compact proof of `key` in the map held by `store` (of presence or of absence). */
export function proveMap(store: MapNodeStore, key: Uint8Array): Uint8Array {
  assertBytes(key, MAP_KEY_BYTES, 'map key');
  // The in-memory store walks its own index (no node object per level): the same proof, a fifth of the time.
  if (store instanceof MemoryMapStore) return store.prove(key);
  let node = store.get(0, ROOT_PREFIX);
  let depth = 0;
  const siblings: (Uint8Array | undefined)[] = [];
  while (node !== undefined && node.kind === 'node') {
    if (depth === MAP_DEPTH) throw new MedtrailError('STORE_CORRUPT', 'an inner map node at the bottom level');
    const b = bit(key, depth);
    siblings.push(store.get(depth + 1, childPrefix(key, depth, 1 - b))?.hash);
    node = store.get(depth + 1, childPrefix(key, depth, b));
    depth++;
  }
  if (node === undefined) return encodeMapProof({ kind: PROOF_ABSENT_EMPTY, depth, siblings });
  if (equalBytes(node.key, key)) return encodeMapProof({ kind: PROOF_PRESENT, depth, siblings, value: node.value });
  return encodeMapProof({ kind: PROOF_ABSENT_OTHER, depth, siblings, otherKey: node.key, otherValue: node.value });
}

export function encodeMapProof(p: DecodedMapProof): Uint8Array {
  if (p.siblings.length !== p.depth || p.depth > MAP_DEPTH) throw new MedtrailError('BAD_INPUT', 'a proof needs one sibling entry per level');
  const bitmap = new Uint8Array((p.depth + 7) >>> 3);
  const hashes: Uint8Array[] = [];
  p.siblings.forEach((s, i) => {
    if (s === undefined) return;
    assertBytes(s, 32, `sibling ${i}`);
    bitmap[i >>> 3]! |= 0x80 >>> (i & 7);
    hashes.push(s);
  });
  const tail: Uint8Array[] = [];
  if (p.kind === PROOF_PRESENT) {
    assertBytes(p.value, MAP_VALUE_BYTES, 'value');
    tail.push(p.value);
  } else if (p.kind === PROOF_ABSENT_OTHER) {
    assertBytes(p.otherKey, MAP_KEY_BYTES, 'other key');
    assertBytes(p.otherValue, MAP_VALUE_BYTES, 'other value');
    tail.push(p.otherKey, p.otherValue);
  }
  return concatBytes(new Uint8Array([p.kind, p.depth >>> 8, p.depth & 0xff]), bitmap, ...hashes, ...tail);
}

/** Strict parse of a compact proof: every byte accounted for, unused bitmap bits zero (MAP_PROOF_MALFORMED). */
export function decodeMapProof(proof: Uint8Array): DecodedMapProof {
  const bad = (why: string): MedtrailError => new MedtrailError('MAP_PROOF_MALFORMED', `map proof: ${why}`);
  if (!(proof instanceof Uint8Array)) throw new MedtrailError('BAD_TYPE', 'map proof must be a Uint8Array');
  if (proof.length < 3) throw bad('shorter than its header');
  const kind = proof[0]!;
  if (kind !== PROOF_PRESENT && kind !== PROOF_ABSENT_EMPTY && kind !== PROOF_ABSENT_OTHER) throw bad(`unknown kind ${kind}`);
  const depth = (proof[1]! << 8) | proof[2]!;
  if (depth > MAP_DEPTH) throw bad(`depth ${depth} is past the bottom level`);
  const bitmapLen = (depth + 7) >>> 3;
  if (proof.length < 3 + bitmapLen) throw bad('cut off in its bitmap');
  const bitmap = proof.subarray(3, 3 + bitmapLen);
  if ((depth & 7) !== 0 && (bitmap[bitmapLen - 1]! & (0xff >>> (depth & 7))) !== 0) throw bad('bitmap bits past the depth are set');
  let count = 0;
  for (let i = 0; i < depth; i++) if (bitmap[i >>> 3]! & (0x80 >>> (i & 7))) count++;
  // The sibling next to where a path ends is never empty: the node above would then hold one key or none and
  // sit higher itself. Refusing it keeps one proof per key (no padding with empty levels).
  if (depth > 0 && (bitmap[(depth - 1) >>> 3]! & (0x80 >>> ((depth - 1) & 7))) === 0) throw bad('its deepest sibling is empty');
  const tailLen = kind === PROOF_PRESENT ? 32 : kind === PROOF_ABSENT_OTHER ? 64 : 0;
  const want = 3 + bitmapLen + 32 * count + tailLen;
  if (proof.length !== want) throw bad(`${proof.length} bytes, expected ${want}`);
  const siblings: (Uint8Array | undefined)[] = [];
  let o = 3 + bitmapLen;
  for (let i = 0; i < depth; i++) {
    if (bitmap[i >>> 3]! & (0x80 >>> (i & 7))) {
      siblings.push(proof.slice(o, o + 32));
      o += 32;
    } else siblings.push(undefined);
  }
  const out: DecodedMapProof = { kind, depth, siblings };
  if (kind === PROOF_PRESENT) out.value = proof.slice(o, o + 32);
  if (kind === PROOF_ABSENT_OTHER) {
    out.otherKey = proof.slice(o, o + 32);
    out.otherValue = proof.slice(o + 32, o + 64);
  }
  return out;
}

/**
 * Checks `proof` for `key` against `root` and returns what it proves: the key's value, or that it has none.
 * MAP_PROOF_MALFORMED for bytes that are no proof (or a kind-3 proof whose other leaf is not on the key's
 * path), MAP_PROOF_MISMATCH when the path does not lead to `root`.
 */
export function verifyMapProof(root: Uint8Array, key: Uint8Array, proof: Uint8Array): MapLookup {
  assertBytes(root, 32, 'map root');
  assertBytes(key, MAP_KEY_BYTES, 'map key');
  const p = decodeMapProof(proof);
  let h: Uint8Array;
  if (p.kind === PROOF_PRESENT) h = leafHashUnchecked(key, p.value!);
  else if (p.kind === PROOF_ABSENT_EMPTY) h = empties()[MAP_DEPTH - p.depth]!;
  else {
    // Another key's lone leaf ends the path: it proves absence only if it sits on this key's path.
    if (equalBytes(p.otherKey!, key)) throw new MedtrailError('MAP_PROOF_MALFORMED', 'map proof: the other leaf is the key itself');
    if (!sharePrefix(p.otherKey!, key, p.depth)) throw new MedtrailError('MAP_PROOF_MALFORMED', "map proof: the other leaf is not on the key's path");
    h = leafHashUnchecked(p.otherKey!, p.otherValue!);
  }
  for (let d = p.depth - 1; d >= 0; d--) {
    const s = p.siblings[d] ?? empties()[MAP_DEPTH - d - 1]!;
    h = bit(key, d) === 0 ? nodeHashUnchecked(h, s) : nodeHashUnchecked(s, h);
  }
  if (!equalBytes(h, root)) throw new MedtrailError('MAP_PROOF_MISMATCH', 'map proof does not lead to the map root');
  return p.kind === PROOF_PRESENT ? { present: true, value: p.value! } : { present: false };
}

/** Checks that `proof` proves `key` holds exactly `value` under `root` (MAP_PROOF_MISMATCH otherwise). */
export function verifyMapValue(root: Uint8Array, key: Uint8Array, value: Uint8Array, proof: Uint8Array): void {
  assertBytes(value, MAP_VALUE_BYTES, 'map value');
  const r = verifyMapProof(root, key, proof);
  if (!r.present) throw new MedtrailError('MAP_PROOF_MISMATCH', 'the map proves the key absent');
  if (!equalBytes(r.value, value)) throw new MedtrailError('MAP_PROOF_MISMATCH', 'the map holds another value for the key');
}

/** Checks that `proof` proves `key` absent under `root` (MAP_PROOF_MISMATCH when the map holds it). */
export function verifyMapAbsence(root: Uint8Array, key: Uint8Array, proof: Uint8Array): void {
  if (verifyMapProof(root, key, proof).present) throw new MedtrailError('MAP_PROOF_MISMATCH', 'the map holds the key');
}

// ---------------------------------------------------------------------------------------------- memory store

/** Fixed-size byte slots in large slabs, with a free list: no object per node stays on the heap. */
class Slots {
  private readonly slabs: Uint8Array[] = [];
  private readonly free: number[] = [];
  private next = 0;
  constructor(private readonly width: number) {}

  alloc(): number {
    const s = this.free.pop();
    if (s !== undefined) return s;
    const n = this.next++;
    if (n >>> SLAB_BITS >= this.slabs.length) this.slabs.push(new Uint8Array(this.width << SLAB_BITS));
    return n;
  }

  release(slot: number): void {
    this.free.push(slot);
  }

  /** A view of `len` bytes at `at` in the slot, valid until the slot is written again. */
  view(slot: number, at: number, len: number): Uint8Array {
    const o = (slot & SLAB_MASK) * this.width + at;
    return this.slabs[slot >>> SLAB_BITS]!.subarray(o, o + len);
  }

  /** A copy of `len` bytes at `at` in the slot. */
  read(slot: number, at: number, len: number): Uint8Array {
    const o = (slot & SLAB_MASK) * this.width + at;
    return this.slabs[slot >>> SLAB_BITS]!.slice(o, o + len);
  }

  write(slot: number, at: number, bytes: Uint8Array): void {
    this.slabs[slot >>> SLAB_BITS]!.set(bytes, (slot & SLAB_MASK) * this.width + at);
  }
}

/**
 * A Map split in 256 by the key's low bits: a JS Map doubles its table as it grows and copies every entry
 * when it does, which for the millions of positions of a country's map held the event loop ~100 ms at once;
 * split, each copy is 1/256 of that (issue 12 item 4).
 */
/** What ShardedMap needs of a shard: a JS Map, or an IntTable for number keys. */
interface Shard<K> {
  readonly size: number;
  get(k: K): number | undefined;
  has(k: K): boolean;
  set(k: K, v: number): unknown;
  delete(k: K): unknown;
}

class ShardedMap<K extends number | string> {
  private readonly shards: Shard<K>[];
  constructor(
    private readonly shardOf: (k: K) => number,
    make: (shard: number) => Shard<K>,
  ) {
    this.shards = Array.from({ length: 256 }, (_, i) => make(i));
  }

  get size(): number {
    let n = 0;
    for (const m of this.shards) n += m.size;
    return n;
  }

  get(k: K): number | undefined {
    return this.shards[this.shardOf(k)]!.get(k);
  }

  has(k: K): boolean {
    return this.shards[this.shardOf(k)]!.has(k);
  }

  set(k: K, v: number): void {
    this.shards[this.shardOf(k)]!.set(k, v);
  }

  delete(k: K): void {
    this.shards[this.shardOf(k)]!.delete(k);
  }
}

/**
 * An open-addressing hash table from non-negative int32 keys to int32 values in two typed arrays (linear
 * probing, kept at most half full, deletion by backward shift). Its memory is outside V8's heap: the millions
 * of positions of a country's map were JS Map entries that every major garbage collection walked. Exported for
 * its own test (test/core/smt.test.ts).
 */
export class IntTable {
  private keys = new Int32Array(16).fill(-1);
  private vals = new Int32Array(16);
  private shift = 28;
  size = 0;

  /** `maxLoad`: the share of slots in use at which the table doubles (0.5 to 0.75). */
  constructor(private readonly maxLoad = 0.5) {}

  private slot(k: number): number {
    return Math.imul(k, 0x9e3779b1) >>> this.shift;
  }

  private find(k: number): number {
    const mask = this.keys.length - 1;
    let i = this.slot(k);
    for (;;) {
      const at = this.keys[i]!;
      if (at === k || at === -1) return i;
      i = (i + 1) & mask;
    }
  }

  get(k: number): number | undefined {
    const i = this.find(k);
    return this.keys[i] === -1 ? undefined : this.vals[i];
  }

  has(k: number): boolean {
    return this.keys[this.find(k)] !== -1;
  }

  set(k: number, v: number): void {
    const i = this.find(k);
    if (this.keys[i] === -1) {
      this.keys[i] = k;
      this.size++;
    }
    this.vals[i] = v;
    if (this.size > this.keys.length * this.maxLoad) this.grow();
  }

  delete(k: number): void {
    let i = this.find(k);
    if (this.keys[i] === -1) return;
    this.size--;
    // Backward shift: move up every later entry of the run whose home is not between the hole and itself.
    const mask = this.keys.length - 1;
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const kj = this.keys[j]!;
      if (kj === -1) break;
      const home = this.slot(kj);
      if (((j - home) & mask) >= ((j - i) & mask)) {
        this.keys[i] = kj;
        this.vals[i] = this.vals[j]!;
        i = j;
      }
    }
    this.keys[i] = -1;
  }

  private grow(): void {
    const keys = this.keys;
    const vals = this.vals;
    this.keys = new Int32Array(keys.length * 2).fill(-1);
    this.vals = new Int32Array(keys.length * 2);
    this.shift--;
    this.size = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== -1) this.set(keys[i]!, vals[i]!);
  }
}

const numShard = (k: number): number => k & 255;
const strShard = (k: string): number => k.charCodeAt(k.length - 1) & 255;
/**
 * Positions by number, in 256 IntTables: a table doubles 1/256 of the index at a time. Keys spread evenly over
 * the shards, so tables that doubled at the same load would all double within a few updates (a round's pinned
 * version grows from nothing: 256 copies in a row held the loop 30-80 ms); each shard doubles at a load of its
 * own between 0.5 and 0.75, which spreads the copies over the index's growth by half.
 */
const numMap = (): ShardedMap<number> => new ShardedMap<number>(numShard, (i) => new IntTable(0.5 + i / 1024));
const strMap = (): ShardedMap<string> => new ShardedMap<string>(strShard, () => new Map<string, number>());

/** A slot number as the index holds it (twice the slot, plus 1 for a leaf) read back as a node (copies). */
function decodeSlot(v: number, nodes: Slots, leaves: Slots): MapNode {
  const slot = v >>> 1;
  if ((v & 1) === 0) return { kind: 'node', hash: nodes.read(slot, 0, 32) };
  return { kind: 'leaf', hash: leaves.read(slot, 0, 32), key: leaves.read(slot, 32, 32), value: leaves.read(slot, 64, 32) };
}

/** A pinned version's old nodes (MemoryMapStore.pin): -1 where a position was empty. */
interface Undo {
  upper: ShardedMap<number>;
  deep: ShardedMap<string>;
  nodes: Slots;
  leaves: Slots;
}

const SLAB_BITS = 15;
const SLAB_MASK = (1 << SLAB_BITS) - 1;

/** Positions down to this depth get a small-integer id (2^depth + prefix), the rest a string. */
const NUMERIC_DEPTH = 29;

/**
 * Nodes in memory. Positions map to a slot number (twice the slot, plus 1 for a leaf); the bytes sit in slabs
 * of fixed-size slots (32 for an inner node's hash, 96 for a leaf's hash, key and value). Positions down to
 * depth 29 (all but a few in maps of millions of keys) are keyed by a small integer, so the index holds no
 * object per node and a map of a million keys costs about 200 MB and little garbage collection.
 */
export class MemoryMapStore implements MapNodeStore {
  private readonly upper = numMap();
  private readonly deep = strMap();
  private readonly nodes = new Slots(32);
  private readonly leaves = new Slots(96);
  /** While pinned: every position's node as it was at pin(), kept at its first change since (pinned()). */
  private undo: Undo | undefined;

  /** Positions held. */
  get size(): number {
    return this.upper.size + this.deep.size;
  }

  /** 2^depth + the prefix's bits as a number: below 2^30, a small integer. */
  private static num(depth: number, p: Uint8Array): number {
    if (depth === 0) return 1;
    const v = (((p[0] ?? 0) << 24) | ((p[1] ?? 0) << 16) | ((p[2] ?? 0) << 8) | (p[3] ?? 0)) >>> 0;
    return (1 << depth) + (v >>> (32 - depth));
  }

  /** The depth, then the prefix two bytes per UTF-16 unit, built flat by one fromCharCode. */
  private static str(depth: number, p: Uint8Array): string {
    const units = [depth];
    for (let i = 0; i < p.length; i += 2) units.push((p[i]! << 8) | (p[i + 1] ?? 0));
    return String.fromCharCode(...units);
  }

  private lookup(depth: number, prefix: Uint8Array): number | undefined {
    return depth <= NUMERIC_DEPTH ? this.upper.get(MemoryMapStore.num(depth, prefix)) : this.deep.get(MemoryMapStore.str(depth, prefix));
  }

  private set(depth: number, prefix: Uint8Array, v: number | undefined): void {
    if (depth <= NUMERIC_DEPTH) {
      const k = MemoryMapStore.num(depth, prefix);
      if (v === undefined) this.upper.delete(k);
      else this.upper.set(k, v);
    } else {
      const k = MemoryMapStore.str(depth, prefix);
      if (v === undefined) this.deep.delete(k);
      else this.deep.set(k, v);
    }
  }

  /**
   * The entry of the child on `side` of the node at `depth` - 1 on `key`'s path, that is the position at
   * `depth` whose prefix is key's first depth - 1 bits then `side`. Down to NUMERIC_DEPTH its number comes
   * from the key's first 32 bits, with nothing allocated.
   */
  private childOf(key: Uint8Array, depth: number, side: number): number | undefined {
    if (depth > NUMERIC_DEPTH) return this.deep.get(MemoryMapStore.str(depth, childPrefix(key, depth - 1, side)));
    const top = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
    const above = depth === 1 ? 0 : top >>> (33 - depth);
    return this.upper.get((1 << depth) + ((above << 1) | side));
  }

  /**
   * childOf() in the version kept at pin(): an entry kept there comes back as -(entry + 2) (its bytes are in the
   * undo slots), a position empty then as undefined, any other as the live entry.
   */
  private pinnedChildOf(key: Uint8Array, depth: number, side: number): number | undefined {
    const u = this.undo!;
    let kept: number | undefined;
    if (depth > NUMERIC_DEPTH) {
      const k = MemoryMapStore.str(depth, childPrefix(key, depth - 1, side));
      kept = u.deep.get(k);
      if (kept === undefined) return this.deep.get(k);
    } else {
      const top = ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
      const above = depth === 1 ? 0 : top >>> (33 - depth);
      const n = (1 << depth) + ((above << 1) | side);
      kept = u.upper.get(n);
      if (kept === undefined) return this.upper.get(n);
    }
    return kept === -1 ? undefined : -(kept + 2);
  }

  /**
   * proveMap(this, key): the walk down key's path reading the index directly; `pinned`, in the version kept at
   * pin() (proveMap(this.pinned(), key), without a node object per level).
   */
  prove(key: Uint8Array, pinned = false): Uint8Array {
    const u = pinned ? this.undo : undefined;
    const child = (depth: number, side: number): number | undefined => (u === undefined ? this.childOf(key, depth, side) : this.pinnedChildOf(key, depth, side));
    /** `len` bytes at `at` of an entry's slot: the undo slots' for a kept one (negative). */
    const view = (e: number, at: number, len: number): Uint8Array => {
      if (e < 0) {
        const v = -e - 2;
        return (v & 1) === 0 ? u!.nodes.view(v >>> 1, at, len) : u!.leaves.view(v >>> 1, at, len);
      }
      return (e & 1) === 0 ? this.nodes.view(e >>> 1, at, len) : this.leaves.view(e >>> 1, at, len);
    };
    const isLeaf = (e: number): boolean => ((e < 0 ? -e - 2 : e) & 1) === 1;
    let v: number | undefined;
    if (u === undefined) v = this.upper.get(1);
    else {
      const kept = u.upper.get(1);
      v = kept === undefined ? this.upper.get(1) : kept === -1 ? undefined : -(kept + 2);
    }
    let depth = 0;
    const siblings: (Uint8Array | undefined)[] = [];
    while (v !== undefined && !isLeaf(v)) {
      if (depth === MAP_DEPTH) throw new MedtrailError('STORE_CORRUPT', 'an inner map node at the bottom level');
      const b = bit(key, depth);
      const s = child(depth + 1, 1 - b);
      siblings.push(s === undefined ? undefined : view(s, 0, 32));
      v = child(depth + 1, b);
      depth++;
    }
    if (v === undefined) return encodeMapProof({ kind: PROOF_ABSENT_EMPTY, depth, siblings });
    const leafKey = view(v, 32, 32);
    if (equalBytes(leafKey, key)) return encodeMapProof({ kind: PROOF_PRESENT, depth, siblings, value: view(v, 64, 32) });
    return encodeMapProof({ kind: PROOF_ABSENT_OTHER, depth, siblings, otherKey: leafKey, otherValue: view(v, 64, 32) });
  }

  get(depth: number, prefix: Uint8Array): MapNode | undefined {
    const v = this.lookup(depth, prefix);
    return v === undefined ? undefined : decodeSlot(v, this.nodes, this.leaves);
  }

  /**
   * Starts keeping the map as it stands now, while updates go on: pinned() reads that version until unpin().
   * A server updates its maps in slices between requests while answering proofs against the roots its newest
   * checkpoint signed (server/map/map-service.ts). Each position changed since costs its old bytes once.
   */
  pin(): void {
    if (this.undo !== undefined) throw new MedtrailError('INTERNAL', 'the map is pinned already');
    this.undo = { upper: numMap(), deep: strMap(), nodes: new Slots(32), leaves: new Slots(96) };
  }

  /** Forgets the pinned version: reads see the map as it is. */
  unpin(): void {
    this.undo = undefined;
  }

  get isPinned(): boolean {
    return this.undo !== undefined;
  }

  /** The map as it stood at pin() (the map as it is when not pinned). */
  pinned(): MapNodeStore {
    const get = (depth: number, prefix: Uint8Array): MapNode | undefined => {
      const u = this.undo;
      if (u === undefined) return this.get(depth, prefix);
      const kept = depth <= NUMERIC_DEPTH ? u.upper.get(MemoryMapStore.num(depth, prefix)) : u.deep.get(MemoryMapStore.str(depth, prefix));
      if (kept === undefined) return this.get(depth, prefix);
      return kept === -1 ? undefined : decodeSlot(kept, u.nodes, u.leaves);
    };
    const readOnly = (): never => {
      throw new MedtrailError('INTERNAL', 'the pinned version of a map is read-only');
    };
    return { get, put: readOnly, delete: readOnly };
  }

  /** Keeps the node at a position before its first change since pin(). */
  private remember(depth: number, prefix: Uint8Array): void {
    const u = this.undo!;
    const numeric = depth <= NUMERIC_DEPTH;
    const n = numeric ? MemoryMapStore.num(depth, prefix) : 0;
    const k = numeric ? '' : MemoryMapStore.str(depth, prefix);
    if (numeric ? u.upper.has(n) : u.deep.has(k)) return;
    const v = numeric ? this.upper.get(n) : this.deep.get(k);
    let kept = -1;
    if (v !== undefined) {
      const slot = v >>> 1;
      if ((v & 1) === 0) {
        const s = u.nodes.alloc();
        u.nodes.write(s, 0, this.nodes.view(slot, 0, 32));
        kept = s * 2;
      } else {
        const s = u.leaves.alloc();
        u.leaves.write(s, 0, this.leaves.view(slot, 0, 96));
        kept = s * 2 + 1;
      }
    }
    if (numeric) u.upper.set(n, kept);
    else u.deep.set(k, kept);
  }

  put(depth: number, prefix: Uint8Array, node: MapNode): void {
    if (this.undo !== undefined) this.remember(depth, prefix);
    const old = this.lookup(depth, prefix);
    const leaf = node.kind === 'leaf' ? 1 : 0;
    let slot: number;
    if (old !== undefined && (old & 1) === leaf) slot = old >>> 1;
    else {
      if (old !== undefined) this.release(old);
      slot = (leaf ? this.leaves : this.nodes).alloc();
      this.set(depth, prefix, slot * 2 + leaf);
    }
    if (node.kind === 'leaf') {
      this.leaves.write(slot, 0, node.hash);
      this.leaves.write(slot, 32, node.key);
      this.leaves.write(slot, 64, node.value);
    } else this.nodes.write(slot, 0, node.hash);
  }

  delete(depth: number, prefix: Uint8Array): void {
    if (this.undo !== undefined) this.remember(depth, prefix);
    const old = this.lookup(depth, prefix);
    if (old === undefined) return;
    this.release(old);
    this.set(depth, prefix, undefined);
  }

  private release(v: number): void {
    ((v & 1) === 1 ? this.leaves : this.nodes).release(v >>> 1);
  }
}
