// Verdicts and their reasons (docs/architecture.md, Verdicts): what a scan of a pack means, in codes a program can act
// on and sentences a person can read. Pure: the server's verdict engine, the reader and the patient page share
// this one table, so a reason reads the same everywhere and the web can translate the texts by code.
//
// Each reason names the verdict it implies, and its nearest equivalents in two systems people already know:
//  - `emvs`: the EU hub (European Medicines Verification System) alert codes raised to the level-5 "alert"
//    class. Sources: EMVO help centre "#A3 Unknown Serial Number" (help.emvo-medicines.eu); CZMVO "How to
//    correctly close alerts caused by end users" (czmvo.cz): A2 batch not found, A3 pack not found, A68 batch
//    ID mismatch, A52 expiry date mismatch, A7 pack already in the requested state, A24 status change could
//    not be performed; SecurMed "FMD NMVS Alert Codes" and "Release 1.8: Change to A99" (securmed.org.uk):
//    the EU hub propagates A2, A3, A52, A7, A24 and A68 to the manufacturer. Note A24 is not "product code
//    unknown": an unknown product code (NMVS_NC_PC_01) is an exception, not an alert, so PRODUCT_UNKNOWN has
//    no `emvs`. Reasons the EU system has no alert for leave `emvs` out rather than stretch one.
//  - `lmv`: GS1 Lightweight Messaging Standard for Verification of Product Identifiers (ref.gs1.org/standards/
//    lightweight-verification-messaging), values as the DSCSA implementation guideline release 1.3 spells
//    them (quoted by Movilitas and LSPedia support pages): `verificationFailureReason` No_match_GTIN_Serial,
//    No_match_GTIN_Serial_Lot, No_match_GTIN_Serial_Expiry, No_match_GTIN_Serial_Lot_Expiry,
//    Not_for_re-distribution; `additionalInfo` Expired, Recalled, Suspect, Illegitimate.
import { MedtrailError } from './errors.js';

/** Verdicts from the most to the least severe: the order is the precedence (see `decide`). */
export const VERDICTS = ['COUNTERFEIT', 'UNKNOWN', 'RECALLED', 'DISPENSED', 'EXPIRED', 'IN_TRANSIT', 'SUSPICIOUS', 'GENUINE'] as const;
export type Verdict = (typeof VERDICTS)[number];

// Why this precedence. The verdict must tell a person the one thing that most changes what they do next.
//  - COUNTERFEIT first: a forged or altered tag means the pack's identity itself is a lie; every other fact
//    the ledger holds about "this serial" is about a different, genuine pack, so nothing below can soften it.
//  - UNKNOWN next: no ledger record at all; there is nothing to recall, dispense or expire.
//  - RECALLED before DISPENSED and EXPIRED: a recall is a safety action about the medicine itself; a patient
//    holding a dispensed pack of a recalled lot must hear "recalled", not "already dispensed".
//  - DISPENSED (or otherwise decommissioned) before EXPIRED: the pack must not be supplied again whatever its
//    date, and a second scan of a dispensed pack is the EU system's sign of a copied code.
//  - EXPIRED before IN_TRANSIT: an expired pack must not be used whoever holds it; custody is secondary.
//  - IN_TRANSIT before SUSPICIOUS: a pack scanned between hand-offs is a known custody fact; SUSPICIOUS is a
//    pattern (seen far apart) that only matters when nothing firmer applies.
//  - GENUINE last: only when no reason above applies. Informational reasons (no signature on a printed code,
//    a scanner line repaired) imply GENUINE and so never lower a verdict.

export type ReasonCode =
  | 'TAG_SIGNATURE_INVALID'
  | 'TAG_SIGNATURE_WRONG_KEY'
  | 'TAG_SIGNATURE_ABSENT'
  | 'TAG_SIGNATURE_REQUIRED'
  | 'TAG_KEY_REVOKED'
  | 'TAG_COUNTER_REPLAYED'
  | 'TAG_SUN_NOT_CHECKED'
  | 'DATA_MISMATCH_LOT'
  | 'DATA_MISMATCH_EXPIRY'
  | 'DATA_MISMATCH_LOT_EXPIRY'
  | 'PRODUCT_UNKNOWN'
  | 'BATCH_UNKNOWN'
  | 'PACK_UNKNOWN'
  | 'LOT_RECALLED'
  | 'ALREADY_DISPENSED'
  | 'SCANNED_AFTER_DISPENSE'
  | 'DECOMMISSIONED_DESTROYED'
  | 'DECOMMISSIONED_STOLEN'
  | 'DECOMMISSIONED_SAMPLE'
  | 'DECOMMISSIONED_FREE_SAMPLE'
  | 'DECOMMISSIONED_EXPORTED'
  | 'DECOMMISSIONED_LOCKED'
  | 'PACK_EXPIRED'
  | 'IN_TRANSIT_NOT_RECEIVED'
  | 'PACK_MISSING'
  | 'SCANNED_OUTSIDE_CUSTODY'
  | 'SEEN_FAR_APART'
  | 'SCANNER_REPAIRED'
  | 'PACK_ACTIVE';

export interface ReasonInfo {
  /** The verdict this reason implies on its own. */
  verdict: Verdict;
  /** One plain English sentence for a person (the web translates by code). */
  message: string;
  /** Nearest EU hub alert code. */
  emvs?: string;
  /** Nearest GS1 Lightweight Messaging verification value. */
  lmv?: string;
}

/** The reasons table: one row per code, every text in one place. */
export const REASONS: Readonly<Record<ReasonCode, ReasonInfo>> = {
  TAG_SIGNATURE_INVALID: { verdict: 'COUNTERFEIT', message: "The pack's code carries a signature that is not its manufacturer's: do not use it.", lmv: 'Illegitimate' },
  TAG_SIGNATURE_WRONG_KEY: { verdict: 'COUNTERFEIT', message: 'The pack was signed by someone who is not the manufacturer of this medicine: do not use it.', lmv: 'Illegitimate' },
  TAG_SIGNATURE_ABSENT: { verdict: 'GENUINE', message: 'The code scanned carries no signature (a printed barcode); the pack was checked against the ledger only.' },
  // Anyone can read a serial off a shelf or a photo: to the public, an unsigned code proves nothing (SECURITY.md).
  TAG_SIGNATURE_REQUIRED: {
    verdict: 'SUSPICIOUS',
    message: "This code carries no manufacturer's signature, so the pack cannot be confirmed from it: scan the pack's signed tag or QR code.",
  },
  TAG_KEY_REVOKED: {
    verdict: 'SUSPICIOUS',
    message: "The manufacturer's signing key was revoked: this pack's tag can no longer vouch for it. Ask a pharmacist.",
  },
  TAG_COUNTER_REPLAYED: { verdict: 'COUNTERFEIT', message: 'The NFC tag repeated a reading already seen: it is probably a copy of a genuine tag.', lmv: 'Illegitimate' },
  TAG_SUN_NOT_CHECKED: { verdict: 'GENUINE', message: "The tag's secure reading counter could not be checked here." },
  DATA_MISMATCH_LOT: { verdict: 'COUNTERFEIT', message: 'The lot number on the pack does not match the one its manufacturer registered.', emvs: 'A68', lmv: 'No_match_GTIN_Serial_Lot' },
  DATA_MISMATCH_EXPIRY: { verdict: 'COUNTERFEIT', message: 'The expiry date on the pack does not match the one its manufacturer registered.', emvs: 'A52', lmv: 'No_match_GTIN_Serial_Expiry' },
  DATA_MISMATCH_LOT_EXPIRY: { verdict: 'COUNTERFEIT', message: 'Neither the lot number nor the expiry date on the pack match what its manufacturer registered.', emvs: 'A68', lmv: 'No_match_GTIN_Serial_Lot_Expiry' },
  PRODUCT_UNKNOWN: { verdict: 'UNKNOWN', message: 'This medicine is not registered in the ledger.', lmv: 'No_match_GTIN_Serial' },
  BATCH_UNKNOWN: { verdict: 'UNKNOWN', message: 'Neither this lot nor this pack number is registered for this medicine.', emvs: 'A2', lmv: 'No_match_GTIN_Serial' },
  PACK_UNKNOWN: { verdict: 'UNKNOWN', message: 'This pack number is not registered for this medicine.', emvs: 'A3', lmv: 'No_match_GTIN_Serial' },
  LOT_RECALLED: { verdict: 'RECALLED', message: 'This lot has been recalled: do not use it, and return it to a pharmacy.', lmv: 'Recalled' },
  ALREADY_DISPENSED: { verdict: 'DISPENSED', message: 'This pack was already handed out by a pharmacy; if you did not just receive it from one, do not use it.', emvs: 'A7' },
  SCANNED_AFTER_DISPENSE: { verdict: 'DISPENSED', message: 'This pack was scanned before, after it was dispensed; if that was not you, its code may have been copied.', emvs: 'A7', lmv: 'Suspect' },
  DECOMMISSIONED_DESTROYED: { verdict: 'DISPENSED', message: 'This pack was recorded as destroyed: it should not exist.', emvs: 'A24', lmv: 'Suspect' },
  DECOMMISSIONED_STOLEN: { verdict: 'DISPENSED', message: 'This pack was reported stolen: do not use it, and tell a pharmacist.', emvs: 'A24', lmv: 'Not_for_re-distribution' },
  DECOMMISSIONED_SAMPLE: { verdict: 'DISPENSED', message: 'This pack was taken out of the supply chain as a sample.', emvs: 'A24' },
  DECOMMISSIONED_FREE_SAMPLE: { verdict: 'DISPENSED', message: 'This pack was taken out of the supply chain as a free sample.', emvs: 'A24' },
  DECOMMISSIONED_EXPORTED: { verdict: 'DISPENSED', message: 'This pack was exported out of this market.', emvs: 'A24' },
  DECOMMISSIONED_LOCKED: { verdict: 'DISPENSED', message: 'This pack is locked pending an investigation: do not supply it.', emvs: 'A24', lmv: 'Suspect' },
  PACK_EXPIRED: { verdict: 'EXPIRED', message: 'This pack is past its expiry date: do not use it.', lmv: 'Expired' },
  IN_TRANSIT_NOT_RECEIVED: { verdict: 'IN_TRANSIT', message: 'This pack is on its way between two companies and has not been received yet.' },
  PACK_MISSING: { verdict: 'SUSPICIOUS', message: 'This pack was reported missing from a delivery.', lmv: 'Suspect' },
  SCANNED_OUTSIDE_CUSTODY: { verdict: 'SUSPICIOUS', message: 'This pack was scanned by a company that does not hold it.', lmv: 'Suspect' },
  SEEN_FAR_APART: { verdict: 'SUSPICIOUS', message: 'This pack number was scanned in two different places within a short time: one of them may be a copy.', lmv: 'Suspect' },
  SCANNER_REPAIRED: { verdict: 'GENUINE', message: 'The scanner garbled the code; it was repaired before checking.' },
  PACK_ACTIVE: { verdict: 'GENUINE', message: "This pack is genuine and registered by its manufacturer." },
};

/** The sentence shown for each verdict as a whole. */
export const VERDICT_MESSAGES: Readonly<Record<Verdict, string>> = {
  GENUINE: 'Genuine: this pack is registered by its manufacturer and may be used.',
  DISPENSED: 'Already dispensed: this pack has left the supply chain and must not be supplied again.',
  RECALLED: 'Recalled: do not use this medicine; return it to a pharmacy.',
  EXPIRED: 'Expired: do not use this medicine.',
  IN_TRANSIT: 'In transit: this pack has not yet been received by its next holder.',
  UNKNOWN: 'Unknown: this pack is not in the ledger; do not use it and ask a pharmacist.',
  COUNTERFEIT: 'Counterfeit: this pack is not what its code claims; do not use it and report it.',
  SUSPICIOUS: 'Suspicious: this pack is registered, but something about it is unusual; ask a pharmacist before use.',
};

export interface Reason {
  code: ReasonCode;
  message: string;
  emvs?: string;
  lmv?: string;
}

export function isReasonCode(s: unknown): s is ReasonCode {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(REASONS, s);
}

/** The wire form of a reason: code, its sentence, and its equivalents where they exist. */
export function reason(code: ReasonCode): Reason {
  // hasOwnProperty, not `REASONS[code] === undefined`: `__proto__` and friends are not reasons.
  if (!isReasonCode(code)) throw new MedtrailError('BAD_INPUT', `unknown reason code ${String(code)}`);
  const r = REASONS[code];
  const out: Reason = { code, message: r.message };
  if (r.emvs !== undefined) out.emvs = r.emvs;
  if (r.lmv !== undefined) out.lmv = r.lmv;
  return out;
}

/**
 * The data a tag or code claims against the pack's record (EU hub A68 / A52): which of lot and expiry differ,
 * as one reason, or undefined when what it gives agrees.
 */
export function dataMismatchReason(claimed: { lot?: string | undefined; expiry?: string | undefined }, pack: { lot: string; expiry: string }): ReasonCode | undefined {
  const lotBad = claimed.lot !== undefined && claimed.lot !== pack.lot;
  const expBad = claimed.expiry !== undefined && claimed.expiry !== pack.expiry;
  if (lotBad && expBad) return 'DATA_MISMATCH_LOT_EXPIRY';
  if (lotBad) return 'DATA_MISMATCH_LOT';
  return expBad ? 'DATA_MISMATCH_EXPIRY' : undefined;
}

/** The decommission state of a pack as its reason code (DECOMMISSIONED_<STATE>). */
const DECOMMISSIONED_REASONS = {
  destroyed: 'DECOMMISSIONED_DESTROYED',
  stolen: 'DECOMMISSIONED_STOLEN',
  sample: 'DECOMMISSIONED_SAMPLE',
  free_sample: 'DECOMMISSIONED_FREE_SAMPLE',
  exported: 'DECOMMISSIONED_EXPORTED',
  locked: 'DECOMMISSIONED_LOCKED',
} as const satisfies Record<string, ReasonCode>;

export type DecommissionedState = keyof typeof DECOMMISSIONED_REASONS;

export function isDecommissionedState(s: string): s is DecommissionedState {
  return Object.prototype.hasOwnProperty.call(DECOMMISSIONED_REASONS, s);
}

export function decommissionedReason(state: DecommissionedState): ReasonCode {
  return DECOMMISSIONED_REASONS[state];
}

/** Verdict precedence: the index in VERDICTS (0 is the most severe). */
function rank(v: Verdict): number {
  return VERDICTS.indexOf(v);
}

/** The most severe verdict any of the reasons implies; GENUINE when there are none. */
export function decide(codes: readonly ReasonCode[]): Verdict {
  let best: Verdict = 'GENUINE';
  for (const c of codes) {
    if (!isReasonCode(c)) throw new MedtrailError('BAD_INPUT', `unknown reason code ${String(c)}`);
    const v = REASONS[c].verdict;
    if (rank(v) < rank(best)) best = v;
  }
  return best;
}

/** Orders reasons most severe first (stable), so the first reason explains the verdict. */
export function sortReasons(codes: readonly ReasonCode[]): ReasonCode[] {
  return [...new Set(codes)].sort((a, b) => rank(REASONS[a].verdict) - rank(REASONS[b].verdict));
}

export function isVerdict(s: unknown): s is Verdict {
  return VERDICTS.some((v) => v === s);
}

/**
 * The one exit-code rule of `medtrail verify` and `medtrail-reader --once` (README, Exit codes), so that a
 * script can act on the class of answer without parsing it:
 *   0 GENUINE
 *   1 no verdict: the code could not be read, the server could not be asked, or (reader offline, never
 *     synced) the pack cannot be checked yet
 *   2 usage error
 *   3 a real pack with an alert about its state: DISPENSED, RECALLED, EXPIRED, IN_TRANSIT, SUSPICIOUS
 *   4 not a genuine pack: COUNTERFEIT, UNKNOWN
 */
export const EXIT_NO_VERDICT = 1;
export const EXIT_USAGE = 2;
export function exitCodeOf(verdict: Verdict | 'NOT_CHECKED'): number {
  if (verdict === 'GENUINE') return 0;
  if (verdict === 'NOT_CHECKED') return EXIT_NO_VERDICT;
  if (verdict === 'COUNTERFEIT' || verdict === 'UNKNOWN') return 4;
  return 3;
}

/** The rule above in words for both commands' --help, the verdicts of each code read from exitCodeOf itself. */
export function exitCodeHelp(): string {
  const of = (code: number): string => VERDICTS.filter((v) => exitCodeOf(v) === code).join(', ');
  return [
    'Exit codes (one rule for `medtrail verify` and `medtrail-reader --once`):',
    `  0  ${of(0)}`,
    '  1  no verdict: the code could not be read, or the server could not be asked (the reader: also a pack it',
    '     cannot check offline yet, never synced)',
    '  2  usage error',
    `  3  a real pack with an alert about its state: ${of(3)}`,
    `  4  not a genuine pack: ${of(4)}`,
  ].join('\n');
}
