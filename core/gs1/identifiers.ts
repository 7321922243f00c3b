// GS1 identifiers: check digits (GS1 General Specifications 7.9.1, the mod-10 scheme with weights 3 and 1
// from the right), GTIN, GLN, SSCC, company prefixes, and the AI 82 character set that lots and serials use.
// Dates (AI 17) live in gs1-date.ts and serial generation in serial.ts; both are re-exported here so that
// callers import every GS1 rule from one place.
//
// Every assert/normalize function throws a MedtrailError whose `fields` names the offending field (`path`),
// so that a 400 can list it; every is* function is a total predicate that never throws.
import type { ErrorCode } from '../errors.js';
import { fieldError } from '../field-error.js';

export { parseGs1Date, gs1DateToIso, isExpired, isValidGs1Date, type Gs1Date } from './date.js';
export { randomSerial, SERIAL_ALPHABET } from './serial.js';
export { fieldError } from '../field-error.js';

/** GS1 mod-10 check digit of `digits` (all digits except the check digit). */
export function checkDigit(digits: string): number {
  let sum = 0;
  let weight = 3;
  for (let i = digits.length - 1; i >= 0; i--) {
    const d = digits.charCodeAt(i) - 48;
    sum += d * weight;
    weight = weight === 3 ? 1 : 3;
  }
  return (10 - (sum % 10)) % 10;
}

/** A GLN is 13 digits whose last is the check digit of the first 12. */
export function isValidGln(s: unknown): s is string {
  return typeof s === 'string' && /^[0-9]{13}$/.test(s) && checkDigit(s.slice(0, 12)) === s.charCodeAt(12) - 48;
}

/** True when the last digit of an all-digit string is the check digit of the others. */
function checkDigitHolds(s: string): boolean {
  return checkDigit(s.slice(0, -1)) === s.charCodeAt(s.length - 1) - 48;
}

/** What a person needs to mend a wrong check digit: the digit given and the one these digits need. */
function checkDigitMessage(what: string, s: string): string {
  const want = checkDigit(s.slice(0, -1));
  return `${what} ${s} ends in check digit ${s.slice(-1)}, but its other digits need ${want} (${s.slice(0, -1)}${want})`;
}

const GTIN_RE = /^(?:[0-9]{8}|[0-9]{12,14})$/;

/** GTIN-8, -12, -13 or -14 with a valid check digit (not normalised). */
export function isValidGtin(s: unknown): s is string {
  return typeof s === 'string' && GTIN_RE.test(s) && checkDigitHolds(s);
}

/**
 * GTIN-8/12/13/14 → GTIN-14 (left-padded with zeros, which leaves the check digit valid because the weights
 * run from the right). GS1_BAD_GTIN for a wrong shape, GS1_BAD_CHECK_DIGIT for a wrong check digit.
 */
export function normalizeGtin(s: unknown, path = 'gtin'): string {
  if (typeof s !== 'string' || !GTIN_RE.test(s)) fieldError('GS1_BAD_GTIN', path, 'GTIN must be 8, 12, 13 or 14 digits');
  if (!checkDigitHolds(s)) fieldError('GS1_BAD_CHECK_DIGIT', path, checkDigitMessage('GTIN', s));
  return s.padStart(14, '0');
}

/** Asserts a GLN (13 digits, check digit). */
export function assertGln(s: unknown, path = 'gln'): asserts s is string {
  if (typeof s !== 'string' || !/^[0-9]{13}$/.test(s)) fieldError('GS1_BAD_GLN', path, 'GLN must be 13 digits');
  if (!checkDigitHolds(s)) fieldError('GS1_BAD_CHECK_DIGIT', path, checkDigitMessage('GLN', s));
}

/** An SSCC is 18 digits (extension digit, company prefix, serial reference, check digit). */
export function isValidSscc(s: unknown): s is string {
  return typeof s === 'string' && /^[0-9]{18}$/.test(s) && checkDigitHolds(s);
}

/** Validates an SSCC and returns it (it has one form only, so "normalising" is validating). */
export function normalizeSscc(s: unknown, path = 'sscc'): string {
  if (typeof s !== 'string' || !/^[0-9]{18}$/.test(s)) fieldError('GS1_BAD_SSCC', path, 'SSCC must be 18 digits');
  if (!checkDigitHolds(s)) fieldError('GS1_BAD_CHECK_DIGIT', path, checkDigitMessage('SSCC', s));
  return s;
}

/** A GS1 company prefix is 4 to 12 digits (GS1 General Specifications 1.4.4). */
export function isValidCompanyPrefix(prefix: unknown): prefix is string {
  return typeof prefix === 'string' && /^[0-9]{4,12}$/.test(prefix);
}

/**
 * Whether a GTIN-14 was allocated under `prefix`. The first digit of a GTIN-14 is the indicator digit (or a
 * padding zero), so the company prefix starts at the second digit. A GTIN-8 (six padding zeros, then an
 * 8-digit number from GS1-8 prefixes) thus only matches a prefix that starts with zeros, as it should:
 * GTIN-8s are not allocated under company prefixes. Never throws; malformed input is simply `false`.
 */
export function gtinHasCompanyPrefix(gtin14: string, prefix: string): boolean {
  if (!isValidCompanyPrefix(prefix) || typeof gtin14 !== 'string' || gtin14.length !== 14 || !isValidGtin(gtin14)) {
    return false;
  }
  // The prefix must leave room for at least the check digit after it.
  return prefix.length <= 12 && gtin14.startsWith(prefix, 1);
}

/**
 * GS1 AI encodable character set 82 (GS1 General Specifications, figure 7.11-1):
 * `!"%&'()*+,-./0-9:;<=>?A-Z_a-z`. It excludes space, `#$@[\]^\`{|}~`, every control character (so the GS
 * separator 0x1D can never occur inside a value) and everything outside ASCII.
 */
export const AI82_RE = /^[!"%&'()*+,\-./0-9:;<=>?A-Z_a-z]*$/;

export function isAi82(s: unknown): s is string {
  return typeof s === 'string' && AI82_RE.test(s);
}

function validateX20(s: unknown, code: ErrorCode, path: string, what: string): string {
  if (typeof s !== 'string') fieldError(code, path, `${what} must be a string`);
  if (s.length < 1 || s.length > 20) fieldError(code, path, `${what} must be 1 to 20 characters, got ${s.length}`);
  if (!AI82_RE.test(s)) fieldError(code, path, `${what} has a character outside the GS1 AI 82 set`);
  return s;
}

/** Serial (AI 21, X..20): 1 to 20 characters of the AI 82 set. Returns it unchanged. */
export function validateSerial(s: unknown, path = 'serial'): string {
  return validateX20(s, 'GS1_BAD_SERIAL', path, 'serial');
}

/** Lot / batch (AI 10, X..20): 1 to 20 characters of the AI 82 set. Returns it unchanged. */
export function validateLot(s: unknown, path = 'lot'): string {
  return validateX20(s, 'GS1_BAD_LOT', path, 'lot');
}

/** Consumer product variant (AI 22, X..20). */
export function validateCpv(s: unknown, path = 'cpv'): string {
  return validateX20(s, 'GS1_BAD_CPV', path, 'consumer product variant');
}
