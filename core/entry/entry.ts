// The signed entry: one leaf of the ledger (docs/architecture.md, Entries).
//
// Envelope `{v, kind, signer, at, nonce, prev, body, sig}`. Two byte strings matter, and both are RFC 8785
// canonical JSON, so every implementation in every language derives the same bytes from the same envelope:
//   signed bytes = utf8("medtrail/v1/<kind>\n<log origin>\n") || utf8(JCS(envelope without sig))
//   leaf bytes   = utf8(JCS(envelope with sig))          (the log hashes these: SHA-256(0x00 || leaf bytes))
// The kind sits in the signed prefix, so a signature made for one kind of record never verifies
// as another, even if the JSON were otherwise identical; the version sits in the prefix too. So does the origin
// of the log the entry is written to (its checkpoints' first line): an entry signed for one ledger never
// verifies on another (issue 12 #8: product and batch entries copied between deployments were accepted).
// The origin is not in the leaf: every reader of a leaf reads it from a log whose origin it knows.
//
// The envelope's shape is checked in core/entry/envelope.ts; nothing malformed is signed, encoded or decoded.
import { assertBytes, concatBytes, equalBytes, fromBase64, fromUtf8, toBase64, toBase64Url, utf8 } from '../bytes.js';
import { sign, verify, PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from '../crypto/ed25519.js';
import { checkEnvelope, NONCE_BYTES, type Entry, type EntryKind, type UnsignedEntry } from './envelope.js';
import { MedtrailError } from '../errors.js';
import { sha256 } from '../crypto/hash.js';
import { serializeChecked } from './jcs.js';

export { ENTRY_KINDS, MAX_PREV, NONCE_BYTES, type Entry, type EntryKind, type UnsignedEntry } from './envelope.js';

export const ENTRY_DOMAIN = 'medtrail/v1/';
/** Largest leaf: a batch of 100,000 packs lists its serials (20 chars each, quoted) with room to spare. */
export const MAX_ENTRY_BYTES = 16 * 1024 * 1024;
// Bytes that `,"sig":"<88 base64 chars>"` adds to the canonical text: sig sorts between prev and signer.
const SIG_MEMBER_BYTES = 1 + 5 + 1 + 2 + 88;

/** Checks a log origin as it goes into signed bytes: one non-empty line, as in a checkpoint. LOG_BAD_ORIGIN. */
export function checkLogOrigin(log: unknown): string {
  if (typeof log !== 'string' || log === '' || log.length > MAX_ORIGIN || /[\n\r]/.test(log)) {
    throw new MedtrailError('LOG_BAD_ORIGIN', `a log origin is one non-empty line of at most ${MAX_ORIGIN} characters`);
  }
  return log;
}
const MAX_ORIGIN = 256;

function prefix(kind: EntryKind, log: string): Uint8Array {
  return utf8(`${ENTRY_DOMAIN}${kind}\n${checkLogOrigin(log)}\n`);
}

/**
 * Canonical text of a checked envelope, with or without its sig. RFC 8785 orders members by UTF-16 code
 * units: at, body, kind, nonce, prev, sig, signer, v. checkEnvelope() holds every member but body to
 * characters JSON never escapes (digits, ASCII letters, - _ : . + / =), so their JCS form is the bare value
 * in quotes and only the body goes through the canonicaliser, once. A test holds this to canonicalJson().
 */
function envelopeText(u: UnsignedEntry, sig?: string): string {
  const prev = u.prev.length === 0 ? '' : `"${u.prev.join('","')}"`;
  const s = sig === undefined ? '' : `,"sig":"${sig}"`;
  return `{"at":"${u.at}","body":${serializeChecked(u.body)},"kind":"${u.kind}","nonce":"${u.nonce}","prev":[${prev}]${s},"signer":"${u.signer}","v":1}`;
}

function checkSize(n: number): void {
  if (n > MAX_ENTRY_BYTES) throw new MedtrailError('TOO_LARGE', `entry is ${n} bytes, over ${MAX_ENTRY_BYTES}`);
}

/** The bytes an entry's signature covers: utf8("medtrail/v1/<kind>\n<log>\n") || utf8(JCS(envelope without sig)). */
export function signingBytes(e: UnsignedEntry, log: string): Uint8Array {
  const u = checkEnvelope(e, 'ignore');
  return concatBytes(prefix(u.kind, log), utf8(envelopeText(u)));
}

/** 16 fresh random bytes, base64url. */
export function newNonce(): string {
  const b = new Uint8Array(NONCE_BYTES);
  globalThis.crypto.getRandomValues(b);
  return toBase64Url(b);
}

/**
 * Signs an envelope for the log whose origin is `log` (checked first: nothing malformed is ever signed).
 * An existing `sig` is replaced.
 */
export function signEntry<B>(e: UnsignedEntry<B>, seed: Uint8Array, log: string): Entry<B> {
  const u = checkEnvelope(e, 'ignore');
  const json = utf8(envelopeText(u));
  checkSize(json.length + SIG_MEMBER_BYTES);
  const sig = sign(concatBytes(prefix(u.kind, log), json), seed);
  return { ...(u as unknown as UnsignedEntry<B>), sig: toBase64(sig) };
}

// Entries that decodeEntry() returned keep the leaf bytes they were checked against (a private copy), and
// where the sig member sits in them. Those entries are deeply frozen, so the bytes cannot go stale:
// verifyEntry() cuts the signed bytes out of the leaf and encodeEntry() copies it, skipping a second envelope
// check and serialisation each (together about a fifth of a node:crypto verification per entry).
interface Decoded {
  leaf: Uint8Array;
  sigStart: number;
  sigEnd: number;
}
const decoded = new WeakMap<object, Decoded>();

function decodedOf(e: unknown): Decoded | undefined {
  return typeof e === 'object' && e !== null ? decoded.get(e) : undefined;
}

/**
 * True when `e.sig` is a valid signature of `e` by `publicKey` for the log `log`; false for a wrong signature
 * (and for a signature made for another log). Coded errors: KEY_BAD_LENGTH, SIG_BAD_LENGTH / BAD_BASE64 for a
 * malformed sig, ENTRY_* for a bad envelope, LOG_BAD_ORIGIN.
 */
export function verifyEntry(e: Entry, publicKey: Uint8Array, log: string): boolean {
  assertBytes(publicKey, PUBLIC_KEY_BYTES, 'Ed25519 public key', 'KEY_BAD_LENGTH');
  const d = decodedOf(e);
  const msg = d === undefined ? signingBytes(e, log) : concatBytes(prefix(e.kind, log), d.leaf.subarray(0, d.sigStart), d.leaf.subarray(d.sigEnd));
  const s: unknown = e.sig;
  if (typeof s !== 'string') throw new MedtrailError('SIG_BAD_LENGTH', 'entry has no signature string');
  const sig = fromBase64(s);
  assertBytes(sig, SIGNATURE_BYTES, 'entry signature', 'SIG_BAD_LENGTH');
  return verify(msg, sig, publicKey);
}

/** The leaf bytes: utf8(JCS(full envelope including sig)). The envelope is checked first. */
export function encodeEntry(e: Entry): Uint8Array {
  const d = decodedOf(e);
  if (d !== undefined) return d.leaf.slice();
  const c = checkEnvelope(e, 'check');
  const bytes = utf8(envelopeText(c, c.sig));
  checkSize(bytes.length);
  return bytes;
}

/** Checks a parsed JSON value as an entry envelope; every bad field is reported at once. */
export function parseEntry(value: unknown): Entry {
  return checkEnvelope(value, 'check');
}

/**
 * Leaf bytes back to an entry: strict UTF-8, JSON, envelope checks, and the bytes must be exactly the
 * canonical encoding (ENTRY_NOT_CANONICAL otherwise), so that one entry has one leaf hash.
 * The entry returned is deeply frozen: it is the ledger's record, and verifyEntry() relies on it.
 */
export function decodeEntry(bytes: Uint8Array): Entry {
  if (!(bytes instanceof Uint8Array)) throw new MedtrailError('BAD_TYPE', 'entry bytes must be a Uint8Array');
  checkSize(bytes.length);
  let value: unknown;
  try {
    value = JSON.parse(fromUtf8(bytes));
  } catch (e) {
    throw new MedtrailError('ENTRY_MALFORMED', 'entry bytes are not UTF-8 JSON', { cause: e });
  }
  const entry = checkEnvelope(value, 'check');
  // Whitespace, member order, escapes, duplicate members, a BOM, lossy numbers: all change the bytes.
  if (!equalBytes(utf8(envelopeText(entry, entry.sig)), bytes)) {
    throw new MedtrailError('ENTRY_NOT_CANONICAL', 'entry bytes are not the canonical JSON of the envelope');
  }
  // The sig member is followed only by `,"signer":"<GLN>","v":1}` (ASCII), so its byte offset is known.
  const sigEnd = bytes.length - `,"signer":"${entry.signer}","v":1}`.length;
  decoded.set(deepFreeze(entry), { leaf: bytes.slice(), sigStart: sigEnd - SIG_MEMBER_BYTES, sigEnd });
  return entry;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
  }
  return v;
}

/** RFC 9162 leaf hash of the entry's leaf bytes: SHA-256(0x00 || encodeEntry(e)). */
export function entryLeafHash(e: Entry): Uint8Array {
  return sha256(concatBytes(Uint8Array.of(0), encodeEntry(e)));
}
