// Checkpoints (c2sp.org/tlog-checkpoint) inside signed notes (c2sp.org/signed-note), Ed25519 only (signature
// type 0x01). golang.org/x/mod/sumdb/note is the reference the formats follow.
//
//   <origin>\n<tree size>\n<base64 root>\n[<extension line>\n...]   the note text (the checkpoint body)
//   \n                                                              one blank line
//   — <key name> <base64(4-byte key ID || 64-byte signature)>\n     one or more signature lines
//
// The signature covers the note text including its final newline. A note's text must be ignored unless a
// trusted key's signature verifies, so openCheckpoint verifies before it parses the body.
import { concatBytes, equalBytes, fromBase64, fromHex, toBase64, toHex, utf8 } from '../bytes.js';
import { publicKeyFromSeed, PUBLIC_KEY_BYTES, sign, SIGNATURE_BYTES, verify } from '../crypto/ed25519.js';
import { MedtrailError } from '../errors.js';
import { sha256 } from '../crypto/hash.js';
import { HASH_BYTES } from './merkle.js';

export interface Checkpoint {
  origin: string;
  size: number;
  root: Uint8Array;
  extensions: string[];
}

export interface NoteSignature {
  name: string;
  keyHash: Uint8Array;
  signature: Uint8Array;
}

const ALG_ED25519 = 0x01;
const SIG_PREFIX = '\u2014 '; // em dash, space
/** Go's note.Open refuses more than 100 signatures; the spec asks verifiers to accept at least 16. */
export const MAX_SIGNATURES = 100;
/** Defensive cap on a whole note: a checkpoint with 100 Ed25519 signatures is under 20 kB. */
export const MAX_NOTE_LENGTH = 1 << 20;

// Go's unicode.IsSpace: ASCII white space, U+0085, U+00A0 and the Unicode Z categories.
const UNICODE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
// Control characters other than newline, and lone surrogates (a JS string that is not valid UTF-8).
const FORBIDDEN_IN_NOTE = /[\u0000-\u0009\u000b-\u001f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function malformed(message: string, cause?: unknown): MedtrailError {
  return new MedtrailError('CHECKPOINT_MALFORMED', message, cause === undefined ? undefined : { cause });
}

/** Key names: non-empty, no Unicode space, no '+', valid text without control characters. */
export function isValidName(name: unknown): name is string {
  return typeof name === 'string' && name !== '' && !UNICODE_SPACE.test(name) && !name.includes('+') && !FORBIDDEN_IN_NOTE.test(name);
}

function checkName(name: unknown): asserts name is string {
  if (!isValidName(name)) throw new MedtrailError('VKEY_MALFORMED', 'key name must be non-empty, without spaces or "+"');
}

/** Text that may appear in a note: no control characters but newline, valid UTF-16 (hence UTF-8). */
function checkNoteText(text: string, what: string): void {
  if (FORBIDDEN_IN_NOTE.test(text)) throw malformed(`${what} holds a control character or invalid UTF-8`);
}

export function checkpointBody(cp: Checkpoint): string {
  if (typeof cp !== 'object' || cp === null) throw malformed('checkpoint must be an object');
  const { origin, size, root, extensions } = cp;
  if (typeof origin !== 'string' || origin === '' || origin.includes('\n')) throw malformed('origin must be one non-empty line');
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw malformed('tree size must be a non-negative safe integer');
  if (!(root instanceof Uint8Array) || root.length !== HASH_BYTES) throw malformed(`root must be ${HASH_BYTES} bytes`);
  if (!Array.isArray(extensions)) throw malformed('extensions must be an array of lines');
  for (const ext of extensions) {
    if (typeof ext !== 'string' || ext === '' || ext.includes('\n')) throw malformed('extension lines must be non-empty single lines');
  }
  const body = [origin, String(size), toBase64(root), ...extensions].join('\n') + '\n';
  checkNoteText(body, 'checkpoint');
  return body;
}

/** Strict parse of a checkpoint body (the note text, ending in a newline). */
export function parseCheckpointBody(body: string): Checkpoint {
  if (typeof body !== 'string') throw malformed('checkpoint body must be a string');
  if (body.length > MAX_NOTE_LENGTH) throw malformed('checkpoint is too long');
  checkNoteText(body, 'checkpoint');
  if (!body.endsWith('\n')) throw malformed('checkpoint body must end in a newline');
  const lines = body.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed('checkpoint needs origin, size and root lines');
  if (lines.some((l) => l === '')) throw malformed('checkpoint lines must be non-empty');
  const [origin = '', sizeText = '', rootText = '', ...extensions] = lines;
  // ASCII decimal without leading zeros; sizes past 2^53 cannot be held exactly, so they are refused too.
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw malformed('tree size is not a canonical decimal integer in range');
  }
  let root: Uint8Array;
  try {
    root = fromBase64(rootText, HASH_BYTES);
  } catch (e) {
    throw malformed(`root hash is not base64 of ${HASH_BYTES} bytes`, e);
  }
  return { origin, size: Number(sizeText), root, extensions };
}

/** Key ID: SHA-256(name || "\n" || 0x01 || public key)[:4]. */
export function keyHash(name: string, publicKey: Uint8Array): Uint8Array {
  checkName(name);
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new MedtrailError('KEY_BAD_LENGTH', `Ed25519 public key must be ${PUBLIC_KEY_BYTES} bytes`);
  }
  return sha256(concatBytes(utf8(name), utf8('\n'), new Uint8Array([ALG_ED25519]), publicKey)).slice(0, 4);
}

/** "<name>+<8 hex key ID>+<base64(0x01 || public key)>", the form `GET log/key` serves. */
export function verifierKey(name: string, publicKey: Uint8Array): string {
  const id = keyHash(name, publicKey);
  return `${name}+${toHex(id)}+${toBase64(concatBytes(new Uint8Array([ALG_ED25519]), publicKey))}`;
}

/**
 * The three parts of a signed-note verifier key `<name>+<8 hex key ID>+<base64 key>` (the log's, type 0x01, and
 * a cosigner's, type 0x04: core/log/cosignature.ts), checked for form; the caller checks the key type.
 */
export function splitVerifierKey(vkey: string): { name: string; hex: string; key: Uint8Array; bad: (message: string, cause?: unknown) => MedtrailError } {
  const bad = (message: string, cause?: unknown): MedtrailError => new MedtrailError('VKEY_MALFORMED', message, cause === undefined ? undefined : { cause });
  if (typeof vkey !== 'string' || vkey.length > 1024) throw bad('verifier key must be a short string');
  // The name holds no '+', the hex holds none, so the first two '+' split; base64 may hold more.
  const p1 = vkey.indexOf('+');
  const p2 = p1 < 0 ? -1 : vkey.indexOf('+', p1 + 1);
  if (p2 < 0) throw bad('verifier key must be <name>+<hex key ID>+<base64 key>');
  const name = vkey.slice(0, p1);
  const hex = vkey.slice(p1 + 1, p2);
  if (!isValidName(name)) throw bad('key name must be non-empty, without spaces or "+"');
  if (!/^[0-9a-fA-F]{8}$/.test(hex)) throw bad('key ID must be 8 hex digits');
  try {
    return { name, hex, key: fromBase64(vkey.slice(p2 + 1)), bad };
  } catch (e) {
    throw bad('key is not base64', e);
  }
}

export function parseVerifierKey(vkey: string): { name: string; keyHash: Uint8Array; publicKey: Uint8Array } {
  const { name, hex, key, bad } = splitVerifierKey(vkey);
  if (key.length !== 1 + PUBLIC_KEY_BYTES || key[0] !== ALG_ED25519) throw bad('key is not 0x01 followed by a 32-byte Ed25519 public key');
  const publicKey = key.slice(1);
  const id = fromHex(hex);
  if (!equalBytes(id, keyHash(name, publicKey))) throw bad('key ID does not match the name and key');
  return { name, keyHash: id, publicKey };
}

/** Signs the note text `body` (ending in a newline) with the Ed25519 seed; returns the whole signed note. */
export function signNote(body: string, name: string, seed: Uint8Array): string {
  if (typeof body !== 'string' || !body.endsWith('\n')) throw malformed('note text must end in a newline');
  checkNoteText(body, 'note text');
  checkName(name);
  const id = keyHash(name, publicKeyFromSeed(seed));
  const sig = sign(utf8(body), seed);
  return `${body}\n${SIG_PREFIX}${name} ${toBase64(concatBytes(id, sig))}\n`;
}

/** Splits a signed note into its text and signature lines, checking the syntax only (no signature is verified). */
export function parseNote(note: string): { body: string; signatures: NoteSignature[] } {
  if (typeof note !== 'string') throw malformed('note must be a string');
  if (note.length > MAX_NOTE_LENGTH) throw malformed('note is too long');
  checkNoteText(note, 'note');
  // The text runs to the last blank line (it may hold blank lines itself); signature lines follow.
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('note has no blank line before its signatures');
  const body = note.slice(0, split + 1);
  const sigBlock = note.slice(split + 2);
  if (sigBlock === '' || !sigBlock.endsWith('\n')) throw malformed('note must end with signature lines, each ending in a newline');
  const lines = sigBlock.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw malformed(`note has more than ${MAX_SIGNATURES} signatures`);
  const signatures = lines.map((line) => {
    if (!line.startsWith(SIG_PREFIX)) throw malformed('signature line must start with an em dash and a space');
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    const b64 = space < 0 ? '' : rest.slice(space + 1);
    if (!isValidName(name)) throw malformed('signature line has an invalid key name');
    let raw: Uint8Array;
    try {
      raw = fromBase64(b64);
    } catch (e) {
      throw malformed('signature is not base64', e);
    }
    if (raw.length < 5) throw malformed('signature is shorter than a key ID and one byte');
    return { name, keyHash: raw.slice(0, 4), signature: raw.slice(4) };
  });
  return { body, signatures };
}

export function signCheckpoint(cp: Checkpoint, name: string, seed: Uint8Array): string {
  return signNote(checkpointBody(cp), name, seed);
}

/**
 * Opens a checkpoint note with one trusted key: every signature line carrying that key's name and key ID must
 * verify (signed-note: a known key's signature is always checked), at least one must be present, and lines of
 * other keys are ignored (cosigners, rotated keys). Only then is the body parsed.
 */
export function openCheckpoint(note: string, vkey: string): Checkpoint {
  const key = parseVerifierKey(vkey);
  const { body, signatures } = parseNote(note);
  const mine = signatures.filter((s) => s.name === key.name && equalBytes(s.keyHash, key.keyHash));
  if (mine.length === 0) throw new MedtrailError('CHECKPOINT_UNKNOWN_KEY', `no signature by ${key.name}+${toHex(key.keyHash)}`);
  const text = utf8(body);
  for (const s of mine) {
    if (s.signature.length !== SIGNATURE_BYTES || !verify(text, s.signature, key.publicKey)) {
      throw new MedtrailError('CHECKPOINT_BAD_SIGNATURE', `signature by ${key.name} does not verify`);
    }
  }
  return parseCheckpointBody(body);
}
