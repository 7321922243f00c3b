// Witness cosignatures, c2sp.org/tlog-cosignature v1 with Ed25519 (signature type 0x04): a witness's
// statement that, at a time, the checkpoint is the largest consistent one it has seen of the log
// (docs/architecture.md, Trust without a centre). Checked in the browser too: no node:* import.
//
//   key ID        SHA-256(<name> || 0x0A || 0x04 || 32-byte public key)[:4]
//   verifier key  <name>+<8 hex key ID>+<base64(0x04 || public key)>
//   signed bytes  "cosignature/v1\ntime <t>\n" || the checkpoint's note text (its final newline included)
//   line          — <name> base64(key ID (4) || timestamp (8, big-endian) || Ed25519 signature (64))
//
// The signed message does not hold the witness's name, so one key must never serve two witness names; the
// key ID (which holds the name) keeps lines apart. Timestamps are POSIX seconds; the spec allows up to
// 2^63-1, JavaScript numbers are exact up to 2^53-1, and a line past that is refused as malformed.
import { concatBytes, equalBytes, fromHex, toBase64, toHex, utf8 } from '../bytes.js';
import { PUBLIC_KEY_BYTES, publicKeyFromSeed, sign, SIGNATURE_BYTES, verify } from '../crypto/ed25519.js';
import { sha256 } from '../crypto/hash.js';
import { MedtrailError } from '../errors.js';
import { isValidName, parseNote, splitVerifierKey, type NoteSignature } from './checkpoint.js';

/** Signature type of Ed25519 cosignatures in key IDs and verifier keys. */
export const COSIGNATURE_V1_ED25519 = 0x04;
/** Bytes after the key ID: the timestamp and the signature. */
export const COSIGNATURE_BYTES = 8 + SIGNATURE_BYTES;
const SIG_PREFIX = '\u2014 ';
const TWO_32 = 2 ** 32;

export interface CosignerKey {
  name: string;
  keyId: Uint8Array;
  publicKey: Uint8Array;
}

export interface Cosignature {
  name: string;
  keyId: Uint8Array;
  /** POSIX seconds. */
  timestamp: number;
  signature: Uint8Array;
}

export interface VerifiedCosignature {
  key: CosignerKey;
  /** The newest timestamp among the key's lines. */
  timestamp: number;
}

function checkName(name: unknown): asserts name is string {
  if (!isValidName(name)) throw new MedtrailError('VKEY_MALFORMED', 'cosigner name must be non-empty, without spaces or "+"');
}

function checkTimestamp(t: unknown): asserts t is number {
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 1) {
    throw new MedtrailError('BAD_INPUT', 'a cosignature timestamp is a whole number of seconds, at least 1');
  }
}

/** SHA-256(name || "\n" || 0x04 || public key)[:4]. */
export function cosignerKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  checkName(name);
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== PUBLIC_KEY_BYTES) {
    throw new MedtrailError('KEY_BAD_LENGTH', `Ed25519 public key must be ${PUBLIC_KEY_BYTES} bytes`);
  }
  return sha256(concatBytes(utf8(name), utf8('\n'), new Uint8Array([COSIGNATURE_V1_ED25519]), publicKey)).slice(0, 4);
}

export function cosignerKey(name: string, publicKey: Uint8Array): CosignerKey {
  return { name, keyId: cosignerKeyId(name, publicKey), publicKey: publicKey.slice() };
}

/** "<name>+<8 hex key ID>+<base64(0x04 || public key)>": the form a tlog-policy `witness` line takes. */
export function cosignerVerifierKey(name: string, publicKey: Uint8Array): string {
  const id = cosignerKeyId(name, publicKey);
  return `${name}+${toHex(id)}+${toBase64(concatBytes(new Uint8Array([COSIGNATURE_V1_ED25519]), publicKey))}`;
}

/** Parses a cosigner verifier key; the key ID must match the name and key (VKEY_MALFORMED). */
export function parseCosignerVerifierKey(vkey: string): CosignerKey {
  const { name, hex, key, bad } = splitVerifierKey(vkey);
  if (key[0] !== COSIGNATURE_V1_ED25519) throw bad(`key type 0x${(key[0] ?? 0).toString(16).padStart(2, '0')} is not 0x04 (Ed25519 cosignature v1)`);
  if (key.length !== 1 + PUBLIC_KEY_BYTES) throw bad('key is not 0x04 followed by a 32-byte Ed25519 public key');
  const publicKey = key.slice(1);
  const keyId = fromHex(hex);
  if (!equalBytes(keyId, cosignerKeyId(name, publicKey))) throw bad('key ID does not match the name and key');
  return { name, keyId, publicKey };
}

/** The bytes a cosignature signs: "cosignature/v1\ntime <t>\n" followed by the note text. */
export function cosignedMessage(body: string, timestamp: number): Uint8Array {
  if (typeof body !== 'string' || !body.endsWith('\n')) throw new MedtrailError('CHECKPOINT_MALFORMED', 'note text must end in a newline');
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new MedtrailError('BAD_INPUT', 'timestamp must be a non-negative whole number of seconds');
  }
  return utf8(`cosignature/v1\ntime ${timestamp}\n${body}`);
}

/** Cosigns the note text `body` at `timestamp`: one signature line, "— <name> <base64>\n". */
export function cosignatureLine(body: string, name: string, seed: Uint8Array, timestamp: number): string {
  checkName(name);
  checkTimestamp(timestamp);
  const id = cosignerKeyId(name, publicKeyFromSeed(seed));
  const ts = new Uint8Array(8);
  const view = new DataView(ts.buffer);
  view.setUint32(0, Math.floor(timestamp / TWO_32));
  view.setUint32(4, timestamp % TWO_32);
  const sig = sign(cosignedMessage(body, timestamp), seed);
  return `${SIG_PREFIX}${name} ${toBase64(concatBytes(id, ts, sig))}\n`;
}

/** Splits a note signature (as parseNote gives it) into the cosignature's parts (COSIGNATURE_MALFORMED). */
export function decodeCosignature(s: NoteSignature): Cosignature {
  if (s.signature.length !== COSIGNATURE_BYTES) {
    throw new MedtrailError('COSIGNATURE_MALFORMED', `cosignature by ${s.name} has ${s.signature.length} bytes after its key ID, not ${COSIGNATURE_BYTES}`);
  }
  const view = new DataView(s.signature.buffer, s.signature.byteOffset, 8);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  if (hi >= 2 ** 21) throw new MedtrailError('COSIGNATURE_MALFORMED', `cosignature by ${s.name} has a timestamp past 2^53 seconds`);
  return { name: s.name, keyId: s.keyHash, timestamp: hi * TWO_32 + lo, signature: s.signature.slice(8) };
}

/**
 * The trusted cosigners whose cosignature of the note's text verifies. Lines by other keys are ignored (as
 * signed-note asks); a line carrying a trusted key's name and key ID that is malformed or does not verify
 * spoils the note (COSIGNATURE_MALFORMED, COSIGNATURE_BAD_SIGNATURE), as signed-note asks of a known key.
 * The log's own signature is not checked here (openCheckpoint does that).
 */
export function verifyCosignatures(note: string, keys: readonly CosignerKey[]): { body: string; cosigned: VerifiedCosignature[] } {
  const { body, signatures } = parseNote(note);
  const cosigned: VerifiedCosignature[] = [];
  for (const key of keys) {
    let newest = -1;
    for (const s of signatures) {
      if (s.name !== key.name || !equalBytes(s.keyHash, key.keyId)) continue;
      const c = decodeCosignature(s);
      if (!verify(cosignedMessage(body, c.timestamp), c.signature, key.publicKey)) {
        throw new MedtrailError('COSIGNATURE_BAD_SIGNATURE', `the cosignature by ${key.name} does not verify`);
      }
      newest = Math.max(newest, c.timestamp);
    }
    if (newest >= 0) cosigned.push({ key, timestamp: newest });
  }
  return { body, cosigned };
}

/** Signature lines as text ("— name base64\n" each), e.g. a witness's answer, parsed without a note around them. */
export function parseSignatureLines(text: string): NoteSignature[] {
  if (typeof text !== 'string' || text === '' || !text.endsWith('\n') || text.startsWith('\n') || text.includes('\n\n')) {
    throw new MedtrailError('CHECKPOINT_MALFORMED', 'signature lines must each end in a newline, with no blank line among them');
  }
  // parseNote splits at the last blank line: a one-line text in front gives it a note to parse.
  return parseNote(`x\n\n${text}`).signatures;
}

/** One signature line as text, "— <name> <base64(key ID || signature)>\n" (base64 is canonical: one text per line). */
export function signatureLine(s: NoteSignature): string {
  return `${SIG_PREFIX}${s.name} ${toBase64(concatBytes(s.keyHash, s.signature))}\n`;
}

/** The signed note with `lines` (signature lines) added after its own, leaving out lines it already holds. */
export function addSignatureLines(note: string, lines: string): string {
  const { body, signatures } = parseNote(note);
  const have = new Set(signatures.map(signatureLine));
  let out = `${body}\n${signatures.map(signatureLine).join('')}`;
  for (const s of parseSignatureLines(lines)) {
    const l = signatureLine(s);
    if (!have.has(l)) {
      have.add(l);
      out += l;
    }
  }
  // parseNote again: the whole still holds at most MAX_SIGNATURES lines.
  parseNote(out);
  return out;
}
