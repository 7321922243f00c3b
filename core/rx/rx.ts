// Prescriptions (issue 16; docs/architecture.md, Prescriptions): the pure parts every side shares. The
// prescriber's CLI and console make the id, the patient commitment and the access code here; the pharmacy signs
// its claim with the code; the patient page signs its view request with it; the custody rule checks the claim.
// Pure: runs in Node and in the browser.
import { concatBytes, fromHex, toHex, utf8 } from '../bytes.js';
import { publicKeyFromSeed, randomSeed, sign, verify } from '../crypto/ed25519.js';
import { sha256 } from '../crypto/hash.js';
import { RX_ID, type Medicine, type PrescribeBody } from '../entry/bodies.js';
import { MedtrailError } from '../errors.js';

/** A fresh prescription id: 16 random bytes as 32 lowercase hex digits. */
export function newRxId(): string {
  return toHex(randomSeed().subarray(0, 16));
}

/**
 * A fresh access code: 32 random bytes (256 bits) as 64 hex digits. It is the seed of an Ed25519 key whose
 * public half is the prescription's `token`: the ledger and the server keep only that one-way image of it.
 */
export function newAccessCode(): string {
  return toHex(randomSeed());
}

function codeSeed(code: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(code)) throw new MedtrailError('RX_TOKEN_BAD', 'an access code is 64 lowercase hex digits');
  return fromHex(code, 32);
}

/** The token key (base64 is the entry's `token`) of an access code. */
export function tokenKeyOf(code: string): Uint8Array {
  return publicKeyFromSeed(codeSeed(code));
}

/** A fresh salt for the patient commitment (kept off the ledger, erasable). */
export function newSalt(): string {
  return toHex(randomSeed());
}

/**
 * The patient commitment on the ledger: hex SHA-256(salt || UTF-8 patient identifier). A fresh salt per
 * prescription, so two prescriptions of one patient are not linkable on the ledger; once the salt is erased,
 * nothing links the commitment to anyone.
 */
export function patientCommitment(saltHex: string, patientId: string): string {
  if (!/^[0-9a-f]{64}$/.test(saltHex)) throw new MedtrailError('BAD_INPUT', 'a salt is 64 lowercase hex digits');
  if (patientId.trim() === '') throw new MedtrailError('BAD_INPUT', 'the patient identifier is empty');
  return toHex(sha256(concatBytes(fromHex(saltHex, 32), utf8(patientId))));
}

/** What the access code signs to claim a prescription for `pharmacy` (an rx_claim entry's tokenSig). */
export function rxClaimMessage(log: string, id: string, pharmacy: string, at: string): Uint8Array {
  return utf8(`medtrail/v1/rx-claim\n${log}\n${id}\n${pharmacy}\n${at}`);
}

/** What the access code signs to see a prescription (the patient page, POST /rx/view). */
export function rxViewMessage(log: string, id: string, at: string): Uint8Array {
  return utf8(`medtrail/v1/rx-view\n${log}\n${id}\n${at}`);
}

export function signWithCode(code: string, message: Uint8Array): Uint8Array {
  return sign(message, codeSeed(code));
}

export function verifyWithToken(tokenKey: Uint8Array, message: Uint8Array, sig: Uint8Array): boolean {
  return sig.length === 64 && verify(message, sig, tokenKey);
}

/**
 * The token the patient carries, as the page URL shown on a phone and printed as a QR code:
 * `<server>/rx/<id>#ac=<code>` (the code in the fragment never reaches a server's logs). Also read: gematik's
 * `Task/<id>/$accept?ac=<code>` (the string inside the e-prescription DataMatrix), and `<id>:<code>`.
 */
export function tokenUrl(server: string, id: string, code: string): string {
  return `${server.replace(/\/+$/, '')}/rx/${id}#ac=${code}`;
}

export function gematikToken(id: string, code: string): string {
  return `Task/${id}/$accept?ac=${code}`;
}

export function parseToken(text: string): { id: string; code: string } {
  const t = text.trim();
  const m = /\/rx\/([0-9a-f]{32})#ac=([0-9a-f]{64})$/.exec(t) ?? /^Task\/([0-9a-f]{32})\/\$accept\?ac=([0-9a-f]{64})$/.exec(t) ?? /^([0-9a-f]{32}):([0-9a-f]{64})$/.exec(t);
  if (m === null) {
    // The gematik DataMatrix holds {"urls":["Task/.../$accept?ac=..."]}.
    try {
      const v: unknown = JSON.parse(t);
      const urls = typeof v === 'object' && v !== null && 'urls' in v && Array.isArray(v.urls) ? v.urls : [];
      if (typeof urls[0] === 'string') return parseToken(urls[0]);
    } catch {
      // not JSON either
    }
    throw new MedtrailError('RX_TOKEN_BAD', 'not a prescription token (<server>/rx/<id>#ac=<code>, Task/<id>/$accept?ac=<code> or <id>:<code>)');
  }
  return { id: m[1]!, code: m[2]! };
}

export function isRxId(s: unknown): s is string {
  return typeof s === 'string' && RX_ID.test(s);
}

export const RX_STATUSES = ['open', 'claimed', 'completed', 'cancelled', 'expired', 'not_yet_valid'] as const;
export type RxStatus = (typeof RX_STATUSES)[number];

/** The UTC day (YYYY-MM-DD) of a time in ms. */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Packs a prescription allows in all: each fill's quantity, for the first fill and every repeat. */
export function totalPacks(b: Pick<PrescribeBody, 'quantity' | 'repeats'>): number {
  return b.quantity * (1 + b.repeats);
}

/** Where a prescription stands at `now` (ms): the first that holds of cancelled, completed, expired, not yet valid, claimed, open. */
export function rxStatus(r: { validFrom: string; validUntil: string; quantity: number; repeats: number; dispensed: number; cancelled: boolean; claimedBy: string | null }, now: number): RxStatus {
  if (r.cancelled) return 'cancelled';
  if (r.dispensed >= totalPacks(r)) return 'completed';
  const day = dayOf(now);
  if (day > r.validUntil) return 'expired';
  if (day < r.validFrom) return 'not_yet_valid';
  return r.claimedBy !== null ? 'claimed' : 'open';
}

/** The product facts a medicine is matched against. */
export interface ProductFacts {
  gtin: string;
  form: string;
  strength: string;
  substance: string | null;
}

/** Whether a pack of `product` satisfies `m`: the same GTIN, or the same substance, strength and form (case-blind). */
export function medicineMatches(m: Medicine, product: ProductFacts): boolean {
  if ('gtin' in m) return m.gtin === product.gtin;
  const same = (a: string, b: string | null): boolean => b !== null && a.trim().toLowerCase() === b.trim().toLowerCase();
  return same(m.substance, product.substance) && same(m.strength, product.strength) && same(m.form, product.form);
}

/** A line naming the medicine, for people. */
export function medicineText(m: Medicine, productName?: string): string {
  if ('gtin' in m) return productName !== undefined ? `${productName} (GTIN ${m.gtin})` : `GTIN ${m.gtin}`;
  return `${m.substance} ${m.strength} ${m.form}${m.atc !== undefined ? ` (ATC ${m.atc})` : ''}`;
}
