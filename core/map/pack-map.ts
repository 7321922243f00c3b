// The two authenticated maps a checkpoint commits to (docs/architecture.md, Trust without a centre), as keys
// and values of the sparse Merkle tree of smt.ts:
//
//   pack map   key   = SHA-256("medtrail/map/pack-key/v1" 0x00 || GTIN-14 || len(serial) || serial)
//              value = SHA-256("medtrail/map/pack-value/v1" 0x00 || the pack's state record, encoded below)
//   lot map    key   = SHA-256("medtrail/map/lot-key/v1" 0x00 || GTIN-14 || len(lot) || lot)
//              value = SHA-256("medtrail/map/lot-value/v1" 0x00 || the lot's record, encoded below)
//
// Keys are hashes of a pack's (or lot's) identity, so the map's nodes never list a serial: a key is found only
// by someone who already knows the GTIN and serial (who could ask the verify route anyway). The GTIN is taken
// to its 14-digit form first, so a GTIN-13 and its GTIN-14 name the same pack.
//
// Lot-wide facts (a recall) live in the lot map: recalling a lot of 200,000 packs changes one leaf there and
// no pack value. A lot absent from the lot map has no lot-wide fact.
//
// Value records, canonical bytes (every string ASCII, each after its one-byte length):
//   pack: len(state) state | len(lot) lot | expiry (6 digits YYMMDD) | maker GLN (13 digits) | last entry (32)
//   lot:  len(state) state | last entry (32)
// `state` is a lowercase token (active, in_transit, dispensed, ... for packs; recalled for lots); new states
// need no new encoding. `last entry` is the leaf hash (RFC 9162) of the newest ledger entry about the pack or
// the lot, which ties the value to the entry a client can fetch with its inclusion proof. Each domain string
// differs, so no key is ever a value, no pack a lot, and the bytes hashed are never those of a map node.
import { concatBytes, fromHex, utf8 } from '../bytes.js';
import { sha256 } from '../crypto/hash.js';
import { FieldErrors } from '../errors.js';
import { isValidGln, normalizeGtin, validateLot, validateSerial } from '../gs1/identifiers.js';

const PACK_KEY_DOMAIN = 'medtrail/map/pack-key/v1';
const LOT_KEY_DOMAIN = 'medtrail/map/lot-key/v1';
const PACK_VALUE_DOMAIN = 'medtrail/map/pack-value/v1';
const LOT_VALUE_DOMAIN = 'medtrail/map/lot-value/v1';

/** The states of a pack as the custody rules know them today; the encoding takes any lowercase token. */
export const PACK_STATES = ['active', 'in_transit', 'dispensed', 'missing', 'destroyed', 'stolen', 'sample', 'free_sample', 'exported', 'locked'] as const;
export const LOT_STATES = ['recalled'] as const;

export interface PackMapValue {
  state: string;
  lot: string;
  /** YYMMDD (AI 17), as registered. */
  expiry: string;
  /** GLN of the manufacturer that registered the batch. */
  maker: string;
  /** Leaf hash of the newest ledger entry about the pack. */
  lastEntry: Uint8Array;
}

export interface LotMapValue {
  state: string;
  /** Leaf hash of the newest lot-wide ledger entry (the recall). */
  lastEntry: Uint8Array;
}

const STATE_RE = /^[a-z][a-z_]{0,31}$/;

function domain(name: string): Uint8Array {
  return concatBytes(utf8(name), new Uint8Array([0]));
}

/** One-byte length, then the ASCII bytes (strings here are at most 32 characters, all ASCII). */
function short(s: string): Uint8Array {
  return concatBytes(new Uint8Array([s.length]), utf8(s));
}

/** Key of a pack in the pack map. GS1 errors (with fields) for a bad GTIN or serial. */
export function packMapKey(gtin: string, serial: string): Uint8Array {
  const g = normalizeGtin(gtin);
  const s = validateSerial(serial);
  return sha256(concatBytes(domain(PACK_KEY_DOMAIN), utf8(g), short(s)));
}

/** Key of a lot in the lot map. GS1 errors (with fields) for a bad GTIN or lot. */
export function lotMapKey(gtin: string, lot: string): Uint8Array {
  const g = normalizeGtin(gtin);
  const l = validateLot(lot);
  return sha256(concatBytes(domain(LOT_KEY_DOMAIN), utf8(g), short(l)));
}

function checkState(errs: FieldErrors, state: unknown): void {
  if (typeof state !== 'string' || !STATE_RE.test(state)) errs.add('state', 'MAP_VALUE_MALFORMED', 'must be a lowercase token of 1 to 32 letters and underscores');
}

function checkLastEntry(errs: FieldErrors, h: unknown): void {
  if (!(h instanceof Uint8Array) || h.length !== 32) errs.add('lastEntry', 'MAP_VALUE_MALFORMED', 'must be a 32-byte leaf hash');
}

/** Canonical bytes of a pack's record (MAP_VALUE_MALFORMED, every bad field listed). */
export function encodePackValue(v: PackMapValue): Uint8Array {
  const errs = new FieldErrors();
  checkState(errs, v.state);
  try {
    validateLot(v.lot);
  } catch {
    errs.add('lot', 'MAP_VALUE_MALFORMED', 'must be a GS1 lot: 1 to 20 characters of the AI 82 set');
  }
  if (typeof v.expiry !== 'string' || !/^[0-9]{6}$/.test(v.expiry)) errs.add('expiry', 'MAP_VALUE_MALFORMED', 'must be YYMMDD');
  if (!isValidGln(v.maker)) errs.add('maker', 'MAP_VALUE_MALFORMED', 'must be a GLN: 13 digits with its check digit');
  checkLastEntry(errs, v.lastEntry);
  errs.throwIfAny('MAP_VALUE_MALFORMED', 'bad pack map value');
  return concatBytes(short(v.state), short(v.lot), utf8(v.expiry), utf8(v.maker), v.lastEntry);
}

/** Canonical bytes of a lot's record (MAP_VALUE_MALFORMED, every bad field listed). */
export function encodeLotValue(v: LotMapValue): Uint8Array {
  const errs = new FieldErrors();
  checkState(errs, v.state);
  checkLastEntry(errs, v.lastEntry);
  errs.throwIfAny('MAP_VALUE_MALFORMED', 'bad lot map value');
  return concatBytes(short(v.state), v.lastEntry);
}

/** The 32-byte value the pack map holds for this record. */
export function packValueHash(v: PackMapValue): Uint8Array {
  return sha256(concatBytes(domain(PACK_VALUE_DOMAIN), encodePackValue(v)));
}

/** The 32-byte value the lot map holds for this record. */
export function lotValueHash(v: LotMapValue): Uint8Array {
  return sha256(concatBytes(domain(LOT_VALUE_DOMAIN), encodeLotValue(v)));
}

/** A leaf hash given as 64 hex digits (how the custody tables keep it) to bytes, for `lastEntry` (BAD_HEX). */
export function lastEntryFromHex(hex: string): Uint8Array {
  return fromHex(hex, 32);
}
