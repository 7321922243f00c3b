// Key files: one Ed25519 key of a participant, of the log, or of the authority, as a small JSON document.
//
//   {"v":1,"type":"ed25519","name":"Acme Pharma","gln":"4098765432101","publicKey":"<base64 32 bytes>",
//    "seed":"<base64 32 bytes>","created":"2026-11-21T17:45:09.123Z"}
//
// The seed is the private key and never leaves its owner (the server never sees a participant's seed);
// publicKeyFile() is the part that may be shared. parseKeyFile() re-derives the public key from the seed and
// refuses a file where they disagree: a hand-edited or half-copied key file must not sign under a name
// it cannot verify under. No I/O here: reading and writing the file (with mode 0600) is the caller's job.
import { assertBytes, equalBytes, fromBase64, toBase64, toHex } from '../bytes.js';
import { PUBLIC_KEY_BYTES, SEED_BYTES, publicKeyFromSeed, randomSeed } from './ed25519.js';
import { FieldErrors, MedtrailError, isMedtrailError, checkedString } from '../errors.js';
import { isValidGln } from '../gs1/identifiers.js';
import { sha256 } from './hash.js';
import { memberPath } from '../entry/jcs.js';

export interface KeyFile {
  v: 1;
  type: 'ed25519';
  name: string;
  gln?: string;
  /** base64 of the 32-byte public key. */
  publicKey: string;
  /** base64 of the 32-byte RFC 8032 private seed. */
  seed: string;
  /** RFC 3339 time of creation. */
  created: string;
}

export type PublicKeyFile = Omit<KeyFile, 'seed'>;

export const MAX_KEY_NAME = 200;
const MEMBERS: ReadonlySet<string> = new Set(['v', 'type', 'name', 'gln', 'publicKey', 'seed', 'created']);
// RFC 3339 section 5.6 date-time (upper- or lowercase T and Z allowed by the RFC).
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
// C0 and C1 controls: a name is shown in logs, terminals and on the patient page.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** New key with a fresh random seed. Throws KEYFILE_BAD (with fields) for a bad name or GLN. */
export function generateKeyFile(name: string, gln?: string): KeyFile {
  const seed = randomSeed();
  const k: KeyFile = { v: 1, type: 'ed25519', name, publicKey: toBase64(publicKeyFromSeed(seed)), seed: toBase64(seed), created: new Date().toISOString() };
  if (gln !== undefined) k.gln = gln;
  return check(k, true);
}

/**
 * Checks a key file (a parsed JSON value, or its JSON text) and returns a clean copy. Every bad field is
 * reported at once (KEYFILE_BAD with fields); the public key must be the one the seed derives.
 */
export function parseKeyFile(json: unknown): KeyFile {
  return check(fromText(json), true);
}

/** Checks a shared key file (no seed allowed). */
export function parsePublicKeyFile(json: unknown): PublicKeyFile {
  return check(fromText(json), false);
}

function fromText(json: unknown): unknown {
  if (typeof json !== 'string') return json;
  try {
    return JSON.parse(json);
  } catch (e) {
    throw new MedtrailError('KEYFILE_BAD', 'key file is not JSON', { cause: e });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function check(json: unknown, withSeed: true): KeyFile;
function check(json: unknown, withSeed: false): PublicKeyFile;
function check(json: unknown, withSeed: boolean): KeyFile | PublicKeyFile {
  if (!isRecord(json)) {
    throw new MedtrailError('KEYFILE_BAD', 'key file is not a JSON object', { fields: [{ path: '', code: 'BAD_TYPE', message: 'not a JSON object' }] });
  }
  const o = json;
  const get = (k: string): unknown => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);
  const errs = new FieldErrors();
  for (const k of Object.keys(o)) {
    if (!MEMBERS.has(k) || (k === 'seed' && !withSeed)) errs.add(memberPath('', k), 'KEYFILE_BAD', k === 'seed' ? 'a shared key file must not hold the seed' : 'unknown member');
  }
  if (get('v') !== 1) errs.add('v', 'KEYFILE_BAD', 'must be 1');
  if (get('type') !== 'ed25519') errs.add('type', 'KEYFILE_BAD', 'must be "ed25519"');
  const name = get('name');
  if (typeof name !== 'string' || name.trim() === '' || name.length > MAX_KEY_NAME || CONTROL.test(name)) {
    errs.add('name', 'BAD_INPUT', `must be 1 to ${MAX_KEY_NAME} characters without control characters`);
  }
  const gln = get('gln');
  if (gln !== undefined && !isValidGln(gln)) errs.add('gln', 'GS1_BAD_GLN', 'must be a GLN: 13 digits with its check digit');
  const created = get('created');
  if (typeof created !== 'string' || !RFC3339.test(created) || Number.isNaN(Date.parse(created.toUpperCase()))) {
    errs.add('created', 'BAD_INPUT', 'must be an RFC 3339 date-time');
  }
  const publicKey = decodeKey(errs, 'publicKey', get('publicKey'), PUBLIC_KEY_BYTES);
  const seed = withSeed ? decodeKey(errs, 'seed', get('seed'), SEED_BYTES) : undefined;
  if (publicKey !== undefined && seed !== undefined && !equalBytes(publicKeyFromSeed(seed), publicKey)) {
    errs.add('publicKey', 'KEYFILE_BAD', 'does not match the seed');
  }
  errs.throwIfAny('KEYFILE_BAD', 'bad key file');
  const out: PublicKeyFile = { v: 1, type: 'ed25519', name: checkedString(name), publicKey: checkedString(get('publicKey')), created: checkedString(created) };
  if (gln !== undefined) out.gln = checkedString(gln);
  return withSeed ? { ...out, seed: checkedString(get('seed')) } : out;
}

function decodeKey(errs: FieldErrors, path: string, v: unknown, len: number): Uint8Array | undefined {
  if (typeof v !== 'string') {
    errs.add(path, 'KEYFILE_BAD', `must be base64 of ${len} bytes`);
    return undefined;
  }
  try {
    return fromBase64(v, len);
  } catch (e) {
    errs.add(path, isMedtrailError(e) && e.code === 'BAD_LENGTH' ? 'KEY_BAD_LENGTH' : 'BAD_BASE64', `must be base64 of ${len} bytes`);
    return undefined;
  }
}

/** Short, stable name of a public key: lowercase hex of the first 8 bytes of SHA-256(publicKey). */
export function keyId(publicKey: Uint8Array): string {
  assertBytes(publicKey, PUBLIC_KEY_BYTES, 'Ed25519 public key', 'KEY_BAD_LENGTH');
  return toHex(sha256(publicKey).subarray(0, 8));
}

export function keyFileSeed(k: KeyFile): Uint8Array {
  return fromKeyField(k.seed, SEED_BYTES, 'seed');
}

export function keyFilePublic(k: KeyFile | PublicKeyFile): Uint8Array {
  return fromKeyField(k.publicKey, PUBLIC_KEY_BYTES, 'publicKey');
}

function fromKeyField(v: unknown, len: number, what: string): Uint8Array {
  try {
    return fromBase64(checkedString(v), len);
  } catch (e) {
    throw new MedtrailError('KEYFILE_BAD', `key file ${what} is not base64 of ${len} bytes`, { cause: e });
  }
}

/** The part of a key file that may be shared: everything but the seed. */
export function publicKeyFile(k: KeyFile): PublicKeyFile {
  const out: PublicKeyFile = { v: 1, type: 'ed25519', name: k.name, publicKey: k.publicKey, created: k.created };
  if (k.gln !== undefined) out.gln = k.gln;
  return out;
}
