// The signed entry: one leaf of the ledger (DESIGN.md "Entries").
//
// Envelope `{v, kind, signer, at, nonce, prev, body, sig}`. Two byte strings matter, and both are RFC 8785
// canonical JSON, so every implementation in every language derives the same bytes from the same envelope:
//   signed bytes = utf8("medtrail/v1/<kind>\n") || utf8(JCS(envelope without sig))
//   leaf bytes   = utf8(JCS(envelope with sig))          (the log hashes these: SHA-256(0x00 || leaf bytes))
// The kind sits in the signed prefix (STYLE.md 6), so a signature made for one kind of record never verifies
// as another, even if the JSON were otherwise identical; the version sits in the prefix too.
//
// Only the envelope is checked here; the body's shape belongs to the custody rules. A body must still be
// plain JSON (no lone surrogates, finite numbers, depth limit), or it would have no canonical form.
import { assertBytes, concatBytes, equalBytes, fromBase64, fromBase64Url, fromUtf8, toBase64, toBase64Url, utf8 } from './bytes.js';
import { sign, verify, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from './ed25519.js';
import { FieldErrors, MedtrailError, isMedtrailError } from './errors.js';
import { sha256 } from './hash.js';
import { isValidGln } from './gs1.js';
import { MAX_JSON_DEPTH, assertPlainJson, memberPath, serializeChecked } from './jcs.js';

export const ENTRY_KINDS = ['participant', 'product', 'batch', 'ship', 'receive', 'dispense', 'undo', 'recall', 'decommission'] as const;
export type EntryKind = (typeof ENTRY_KINDS)[number];

export interface UnsignedEntry<B = Record<string, unknown>> {
  v: 1;
  kind: EntryKind;
  /** GLN of the signer: 13 digits with its check digit. */
  signer: string;
  /** RFC 3339 UTC with milliseconds, e.g. 2026-11-21T17:45:09.123Z. */
  at: string;
  /** base64url (no padding) of 16 random bytes: makes every entry unique and replays detectable. */
  nonce: string;
  /** Leaf hashes (lowercase hex, 64 chars) of the entries this one continues; at most MAX_PREV, no duplicates. */
  prev: string[];
  /** A JSON object; its shape is checked by the custody rules, not here. */
  body: B;
}

export interface Entry<B = Record<string, unknown>> extends UnsignedEntry<B> {
  /** Standard base64 (with padding) of the 64-byte Ed25519 signature over signingBytes(). */
  sig: string;
}

export const ENTRY_DOMAIN = 'medtrail/v1/';
/** Largest leaf: a batch of 100,000 packs lists its serials (20 chars each, quoted) with room to spare. */
export const MAX_ENTRY_BYTES = 16 * 1024 * 1024;
export const MAX_PREV = 10_000;
export const NONCE_BYTES = 16;

const KINDS: ReadonlySet<string> = new Set(ENTRY_KINDS);
const MEMBERS: ReadonlySet<string> = new Set(['v', 'kind', 'signer', 'at', 'nonce', 'prev', 'body', 'sig']);
const AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const LEAF_HEX = /^[0-9a-f]{64}$/;
// Bytes that `,"sig":"<88 base64 chars>"` adds to the canonical text: sig sorts between prev and signer.
const SIG_MEMBER_BYTES = 1 + 5 + 1 + 2 + 88;
// A 10,000-item prev full of garbage should not produce a 10,000-line error: report the first few.
const MAX_ITEM_ERRORS = 20;

function own(o: Record<string, unknown>, k: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

// The round trip through Date refuses 30 February, hour 24 and the like; an invalid date (month 13) is NaN,
// and toISOString() would throw a RangeError on it, so that is checked first.
function isUtcMillis(at: unknown): boolean {
  if (typeof at !== 'string' || !AT.test(at)) return false;
  const t = Date.parse(at);
  return !Number.isNaN(t) && new Date(t).toISOString() === at;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const p: unknown = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/**
 * Checks the envelope, collecting every bad field, and returns a fresh envelope object with members in a
 * fixed order (prev copied, body shared). `sig`: 'check' validates it; 'ignore' lets it be present unchecked.
 */
function checkEnvelope(value: unknown, sig: 'check'): Entry;
function checkEnvelope(value: unknown, sig: 'ignore'): UnsignedEntry;
function checkEnvelope(value: unknown, sig: 'check' | 'ignore'): UnsignedEntry | Entry {
  if (!isPlainObject(value)) {
    throw new MedtrailError('ENTRY_MALFORMED', 'entry is not a JSON object', {
      fields: [{ path: '', code: 'BAD_TYPE', message: 'not a JSON object' }],
    });
  }
  const errs = new FieldErrors();
  const missing = (k: string): boolean => {
    if (own(value, k) !== undefined) return false;
    errs.add(k, 'ENTRY_MALFORMED', 'missing');
    return true;
  };

  // The version decides how everything else is read, so an unknown version is refused before the rest.
  const v = own(value, 'v');
  if (typeof v === 'number' && Number.isInteger(v) && v !== 1) {
    throw new MedtrailError('ENTRY_BAD_VERSION', `entry version ${v} is not supported`, {
      fields: [{ path: 'v', code: 'ENTRY_BAD_VERSION', message: `version ${v} not supported (only 1)` }],
    });
  }
  if (!missing('v') && v !== 1) errs.add('v', 'BAD_TYPE', 'must be the number 1');

  for (const k of Object.keys(value)) {
    if (!MEMBERS.has(k)) errs.add(memberPath('', k), 'ENTRY_MALFORMED', 'unknown member');
  }

  const kind = own(value, 'kind');
  if (!missing('kind')) {
    if (typeof kind !== 'string') errs.add('kind', 'BAD_TYPE', 'must be a string');
    else if (!KINDS.has(kind)) errs.add('kind', 'ENTRY_BAD_KIND', `unknown kind (one of ${ENTRY_KINDS.join(', ')})`);
  }

  const signer = own(value, 'signer');
  if (!missing('signer') && !isValidGln(signer)) {
    if (typeof signer === 'string' && /^[0-9]{13}$/.test(signer)) errs.add('signer', 'GS1_BAD_CHECK_DIGIT', 'GLN check digit does not match');
    else errs.add('signer', 'GS1_BAD_GLN', 'must be a GLN: 13 digits');
  }

  const at = own(value, 'at');
  if (!missing('at') && !isUtcMillis(at)) {
    errs.add('at', 'BAD_INPUT', 'must be an RFC 3339 UTC time with milliseconds, e.g. 2026-11-21T17:45:09.123Z');
  }

  const nonce = own(value, 'nonce');
  if (!missing('nonce')) {
    if (typeof nonce !== 'string') errs.add('nonce', 'BAD_TYPE', 'must be a string');
    else {
      try {
        fromBase64Url(nonce, NONCE_BYTES);
      } catch (e) {
        errs.add('nonce', isMedtrailError(e) ? e.code : 'BAD_INPUT', `must be base64url of ${NONCE_BYTES} bytes`);
      }
    }
  }

  const prev = own(value, 'prev');
  if (!missing('prev')) {
    if (!Array.isArray(prev)) errs.add('prev', 'BAD_TYPE', 'must be an array of leaf hashes');
    else if (prev.length > MAX_PREV) errs.add('prev', 'TOO_LARGE', `more than ${MAX_PREV} leaf hashes`);
    else {
      const seen = new Map<string, number>();
      let reported = 0;
      for (let i = 0; i < prev.length && reported < MAX_ITEM_ERRORS; i++) {
        const h: unknown = prev[i];
        if (typeof h !== 'string' || !LEAF_HEX.test(h)) {
          errs.add(`prev[${i}]`, 'BAD_HEX', 'must be 64 lowercase hex digits');
          reported++;
        } else if (seen.has(h)) {
          errs.add(`prev[${i}]`, 'ENTRY_MALFORMED', `duplicate of prev[${seen.get(h)}]`);
          reported++;
        } else seen.set(h, i);
      }
    }
  }

  const body = own(value, 'body');
  if (!missing('body')) {
    if (!isPlainObject(body)) errs.add('body', 'BAD_TYPE', 'must be a JSON object');
    else {
      try {
        assertPlainJson(body, { path: 'body', maxDepth: MAX_JSON_DEPTH - 1 });
      } catch (e) {
        if (!isMedtrailError(e)) throw e;
        for (const f of e.fields ?? [{ path: 'body', code: e.code, message: e.message }]) errs.add(f.path, f.code, f.message);
      }
    }
  }

  const s = own(value, 'sig');
  if (sig === 'check' && !missing('sig')) {
    if (typeof s !== 'string') errs.add('sig', 'BAD_TYPE', 'must be a string');
    else {
      try {
        if (fromBase64(s).length !== SIGNATURE_BYTES) errs.add('sig', 'SIG_BAD_LENGTH', `must be ${SIGNATURE_BYTES} bytes`);
      } catch (e) {
        errs.add('sig', isMedtrailError(e) ? e.code : 'BAD_BASE64', 'must be standard base64');
      }
    }
  }

  const onlyKind = errs.list.length > 0 && errs.list.every((f) => f.code === 'ENTRY_BAD_KIND');
  errs.throwIfAny(onlyKind ? 'ENTRY_BAD_KIND' : 'ENTRY_MALFORMED', 'malformed entry');
  const out: UnsignedEntry = {
    v: 1,
    kind: kind as EntryKind,
    signer: signer as string,
    at: at as string,
    nonce: nonce as string,
    prev: (prev as string[]).slice(),
    body: body as Record<string, unknown>,
  };
  return sig === 'check' ? { ...out, sig: s as string } : out;
}

function prefix(kind: EntryKind): Uint8Array {
  return utf8(`${ENTRY_DOMAIN}${kind}\n`);
}

/** The bytes an entry's signature covers: utf8("medtrail/v1/<kind>\n") || utf8(JCS(envelope without sig)). */
export function signingBytes(e: UnsignedEntry): Uint8Array {
  const u = checkEnvelope(e, 'ignore');
  return concatBytes(prefix(u.kind), utf8(serializeChecked(u)));
}

/** 16 fresh random bytes, base64url. */
export function newNonce(): string {
  const b = new Uint8Array(NONCE_BYTES);
  globalThis.crypto.getRandomValues(b);
  return toBase64Url(b);
}

/** Signs an envelope (checked first: nothing malformed is ever signed). An existing `sig` is replaced. */
export function signEntry<B>(e: UnsignedEntry<B>, seed: Uint8Array): Entry<B> {
  const u = checkEnvelope(e, 'ignore');
  const p = prefix(u.kind);
  const json = utf8(serializeChecked(u));
  if (json.length + SIG_MEMBER_BYTES > MAX_ENTRY_BYTES) {
    throw new MedtrailError('TOO_LARGE', `entry would be ${json.length + SIG_MEMBER_BYTES} bytes, over ${MAX_ENTRY_BYTES}`);
  }
  const sig = sign(concatBytes(p, json), seed);
  return { ...(u as unknown as UnsignedEntry<B>), sig: toBase64(sig) };
}

/**
 * True when `e.sig` is a valid signature of `e` by `publicKey`; false for a wrong signature.
 * Coded errors: KEY_BAD_LENGTH, SIG_BAD_LENGTH / BAD_BASE64 for a malformed sig, ENTRY_* for a bad envelope.
 */
export function verifyEntry(e: Entry, publicKey: Uint8Array): boolean {
  assertBytes(publicKey, PUBLIC_KEY_BYTES, 'Ed25519 public key', 'KEY_BAD_LENGTH');
  const msg = signingBytes(e);
  const s: unknown = (e as unknown as Record<string, unknown>)['sig'];
  if (typeof s !== 'string') throw new MedtrailError('SIG_BAD_LENGTH', 'entry has no signature string');
  const sig = fromBase64(s);
  assertBytes(sig, SIGNATURE_BYTES, 'entry signature', 'SIG_BAD_LENGTH');
  return hasCanonicalS(sig) && verify(msg, sig, publicKey);
}

// Ed25519 group order L, little-endian. RFC 8032 section 5.1.7 requires S < L; OpenSSL checks it, tweetnacl
// does not, so (R, S + L) would verify in the browser and not on the server. Checking here keeps the two
// implementations to the same answer and every entry to one valid signature string.
const L = [0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];

function hasCanonicalS(sig: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const a = sig[32 + i]!;
    const b = L[i]!;
    if (a !== b) return a < b;
  }
  return false; // S == L
}

function encodeChecked(e: Entry): Uint8Array {
  const bytes = utf8(serializeChecked(e));
  if (bytes.length > MAX_ENTRY_BYTES) throw new MedtrailError('TOO_LARGE', `entry is ${bytes.length} bytes, over ${MAX_ENTRY_BYTES}`);
  return bytes;
}

/** The leaf bytes: utf8(JCS(full envelope including sig)). The envelope is checked first. */
export function encodeEntry(e: Entry): Uint8Array {
  return encodeChecked(checkEnvelope(e, 'check'));
}

/** Checks a parsed JSON value as an entry envelope; every bad field is reported at once. */
export function parseEntry(value: unknown): Entry {
  return checkEnvelope(value, 'check');
}

/**
 * Leaf bytes back to an entry: strict UTF-8, JSON, envelope checks, and the bytes must be exactly the
 * canonical encoding (ENTRY_NOT_CANONICAL otherwise), so that one entry has one leaf hash.
 */
export function decodeEntry(bytes: Uint8Array): Entry {
  if (!(bytes instanceof Uint8Array)) throw new MedtrailError('BAD_TYPE', 'entry bytes must be a Uint8Array');
  if (bytes.length > MAX_ENTRY_BYTES) throw new MedtrailError('TOO_LARGE', `entry is ${bytes.length} bytes, over ${MAX_ENTRY_BYTES}`);
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(bytes));
  } catch (e) {
    throw new MedtrailError('ENTRY_MALFORMED', 'entry bytes are not UTF-8 JSON', { cause: e });
  }
  const entry = checkEnvelope(value, 'check');
  // Whitespace, member order, escapes, duplicate members, a BOM, lossy numbers: all change the bytes.
  if (!equalBytes(encodeChecked(entry), bytes)) {
    throw new MedtrailError('ENTRY_NOT_CANONICAL', 'entry bytes are not the canonical JSON of the envelope');
  }
  return entry;
}

/** RFC 9162 leaf hash of the entry's leaf bytes: SHA-256(0x00 || encodeEntry(e)). */
export function entryLeafHash(e: Entry): Uint8Array {
  return sha256(concatBytes(Uint8Array.of(0), encodeEntry(e)));
}
