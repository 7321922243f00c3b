// GS1 identifiers: check digits (GS1 General Specifications 7.9.1, the mod-10 scheme with weights 3 and 1
// from the right), GTIN, GLN, SSCC.
// (Being extended: see the GS1 work in progress; keep these two exports stable, others import them.)

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
