// c2sp.org/tlog-tiles: the log as static, cacheable resources (docs/architecture.md, Mirrors). Pure: paths, the
// tiles a tree of a given size is made of, and what a tile or an entry bundle holds; the server reads the hashes
// and entries (server/http/log-routes.ts), any client can rebuild every proof from them.
//
//   <prefix>/tile/<L>/<N>[.p/<W>]        L: 0..63; N: 3-digit groups, all but the last prefixed by x
//                                        (1234067 -> x001/x234/067); W: 1..255 for a partial tile
//   <prefix>/tile/entries/<N>[.p/<W>]    the entries of level-0 tile N, each a big-endian uint16 length and the
//                                        entry's bytes
//
// Hash i of tile N at level L is MTH(D[(N*256 + i) * 256^L : (N*256 + i + 1) * 256^L]): the perfect subtree at
// tree level 8L, index N*256 + i. A tree of size s has floor(s / 256^L) such subtrees at level L.
import { MedtrailError } from '../errors.js';

export const TILE_WIDTH = 256;
export const TILE_HEIGHT = 8;
/** The largest entry an entry bundle can carry (its uint16 length prefix). */
export const MAX_BUNDLE_ENTRY = 0xffff;

export interface TileRef {
  /** 0..63 for hash tiles; 'entries' for entry bundles. */
  level: number | 'entries';
  index: number;
  /** 256 for a full tile, 1..255 for a partial one. */
  width: number;
}

function bad(message: string): MedtrailError {
  return new MedtrailError('BAD_INPUT', `tile path: ${message}`, { fields: [{ path: 'path', code: 'BAD_INPUT', message }] });
}

/** `<N>` as tlog-tiles writes it: 1234067 -> x001/x234/067, 5 -> 005. */
export function encodeTileIndex(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw bad('a tile index is a non-negative integer');
  const groups: string[] = [];
  let rest = n;
  do {
    groups.unshift(String(rest % 1000).padStart(3, '0'));
    rest = Math.floor(rest / 1000);
  } while (rest > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

/** The path under the prefix of a tile (`tile/...`). */
export function tilePath(t: TileRef): string {
  return `tile/${t.level === 'entries' ? 'entries' : String(t.level)}/${encodeTileIndex(t.index)}${t.width === TILE_WIDTH ? '' : `.p/${t.width}`}`;
}

/** Parses what follows `tile/` exactly as tlog-tiles writes it (no extra zeroes, no other spelling): BAD_INPUT. */
export function parseTilePath(rest: string): TileRef {
  const parts = rest.split('/');
  const head = parts.shift();
  let level: number | 'entries';
  if (head === 'entries') level = 'entries';
  else if (head !== undefined && /^(0|[1-9][0-9]?)$/.test(head) && Number(head) <= 63) level = Number(head);
  else throw bad('the level is 0 to 63 (or "entries")');
  let width = TILE_WIDTH;
  if (parts.length >= 2 && parts[parts.length - 2]!.endsWith('.p')) {
    const w = parts.pop()!;
    if (!/^[1-9][0-9]{0,2}$/.test(w) || Number(w) > 255) throw bad('a partial width is 1 to 255');
    width = Number(w);
    parts[parts.length - 1] = parts[parts.length - 1]!.slice(0, -2);
  }
  if (parts.length === 0 || parts.length > 6) throw bad('the index is 1 to 6 groups of three digits');
  let index = 0;
  parts.forEach((g, i) => {
    const last = i === parts.length - 1;
    if (!(last ? /^[0-9]{3}$/ : /^x[0-9]{3}$/).test(g)) throw bad('index groups are three digits, all but the last after an x');
    index = index * 1000 + Number(last ? g : g.slice(1));
  });
  if (parts.length > 1 && parts[0] === 'x000') throw bad('no leading zero groups in the index');
  return { level, index, width };
}

/** Perfect subtrees at tile level `level` (tree level 8*level) in a tree of `size` leaves. */
export function hashesAtLevel(size: number, level: number): number {
  return Math.floor(size / TILE_WIDTH ** level);
}

/**
 * Whether a tree of `size` leaves holds tile `t` (its `width` hashes exist): full tiles once complete, a
 * partial tile of any width up to what exists. A partial tile is never the prefix of a tile the tree completed.
 */
export function tileExists(size: number, t: TileRef): boolean {
  const n = hashesAtLevel(size, t.level === 'entries' ? 0 : t.level);
  const start = t.index * TILE_WIDTH;
  if (t.width === TILE_WIDTH) return n >= start + TILE_WIDTH;
  return n >= start + t.width && n < start + TILE_WIDTH;
}

/** The tiles a tree of `size` leaves is made of, level by level (full ones, then the partial one if any). */
export function tilesOf(size: number): TileRef[] {
  const out: TileRef[] = [];
  for (let level = 0; level < 64; level++) {
    const n = hashesAtLevel(size, level);
    if (n === 0) break;
    const full = Math.floor(n / TILE_WIDTH);
    for (let i = 0; i < full; i++) out.push({ level, index: i, width: TILE_WIDTH });
    if (n % TILE_WIDTH !== 0) out.push({ level, index: full, width: n % TILE_WIDTH });
  }
  return out;
}

/** An entry bundle: each entry as a big-endian uint16 length and its bytes (an entry over 65,535 bytes: TOO_LARGE). */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const e of entries) {
    if (e.length > MAX_BUNDLE_ENTRY) throw new MedtrailError('TOO_LARGE', `an entry of ${e.length} bytes does not fit a tlog-tiles entry bundle (at most ${MAX_BUNDLE_ENTRY})`);
    total += 2 + e.length;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const e of entries) {
    out[at] = e.length >>> 8;
    out[at + 1] = e.length & 0xff;
    out.set(e, at + 2);
    at += 2 + e.length;
  }
  return out;
}

/** The entries of a bundle (BAD_INPUT when its lengths do not add up). */
export function decodeEntryBundle(b: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < b.length) {
    if (at + 2 > b.length) throw new MedtrailError('BAD_INPUT', 'entry bundle: a length prefix is cut short');
    const len = (b[at]! << 8) | b[at + 1]!;
    if (at + 2 + len > b.length) throw new MedtrailError('BAD_INPUT', 'entry bundle: an entry is cut short');
    out.push(b.slice(at + 2, at + 2 + len));
    at += 2 + len;
  }
  return out;
}
