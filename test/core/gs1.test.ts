import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  AI82_RE,
  SERIAL_ALPHABET,
  assertGln,
  checkDigit,
  gs1DateToIso,
  gtinHasCompanyPrefix,
  isAi82,
  isExpired,
  isValidGln,
  isValidGtin,
  isValidSscc,
  normalizeGtin,
  normalizeSscc,
  parseGs1Date,
  randomSerial,
  validateLot,
  validateSerial,
} from '../../core/gs1/identifiers.js';
import { expectCode, throwsOnlyCoded } from '../support/expect-code.js';

interface Vector {
  kind: 'gtin' | 'gln' | 'sscc';
  value: string;
  valid: boolean;
  src: string;
}
const vectors = (
  JSON.parse(readFileSync(new URL('../vectors/gs1/check-digits.json', import.meta.url), 'utf8')) as { cases: Vector[] }
).cases;

describe('check digits: published vectors (test/vectors/gs1)', () => {
  it('has the GS1 worked example', () => {
    expect(checkDigit('629104150021')).toBe(3);
  });
  it.each(vectors)('$kind $value ($src) valid=$valid', (v) => {
    const expected = checkDigit(v.value.slice(0, -1)) === Number(v.value.at(-1));
    expect(expected).toBe(v.valid);
    if (v.kind === 'gtin') {
      expect(isValidGtin(v.value)).toBe(v.valid);
      if (v.valid) expect(normalizeGtin(v.value)).toBe(v.value.padStart(14, '0'));
      else expectCode(() => normalizeGtin(v.value), 'GS1_BAD_CHECK_DIGIT');
    } else if (v.kind === 'gln') {
      expect(isValidGln(v.value)).toBe(v.valid);
      if (v.valid) assertGln(v.value);
      else expectCode(() => assertGln(v.value), 'GS1_BAD_CHECK_DIGIT');
    } else {
      expect(isValidSscc(v.value)).toBe(v.valid);
      if (v.valid) expect(normalizeSscc(v.value)).toBe(v.value);
      else expectCode(() => normalizeSscc(v.value), 'GS1_BAD_CHECK_DIGIT');
    }
  });
});

describe('GTIN', () => {
  it('normalises GTIN-8/12/13 to GTIN-14 with the check digit still valid', () => {
    expect(normalizeGtin('02345673')).toBe('00000002345673');
    expect(normalizeGtin('416000336108')).toBe('00416000336108');
    expect(normalizeGtin('9520123456788')).toBe('09520123456788');
    expect(isValidGtin(normalizeGtin('9520123456788'))).toBe(true);
  });
  it.each([
    ['empty', ''],
    ['7 digits', '1234565'],
    ['9 digits', '123456789'],
    ['10 digits', '1234567890'],
    ['11 digits', '12345678901'],
    ['15 digits', '012345678901231'],
    ['a letter', '0952012345678A'],
    ['spaces', ' 09520123456788'],
    ['a GS', '0952012345678\x1d'],
    ['Arabic-Indic digits', '٠٩٥٢٠١٢٣٤٥٦٧٨٨'],
  ])('%s → GS1_BAD_GTIN', (_, s) => {
    expectCode(() => normalizeGtin(s), 'GS1_BAD_GTIN');
    expect(isValidGtin(s)).toBe(false);
  });
  it('a non-string → GS1_BAD_GTIN', () => {
    expectCode(() => normalizeGtin(9520123456788 as unknown as string), 'GS1_BAD_GTIN');
  });
  it('a wrong check digit → GS1_BAD_CHECK_DIGIT naming the field', () => {
    const e = expectCode(() => normalizeGtin('09520123456787', 'body.items[3].gtin'), 'GS1_BAD_CHECK_DIGIT');
    expect(e.fields).toEqual([expect.objectContaining({ path: 'body.items[3].gtin', code: 'GS1_BAD_CHECK_DIGIT' })]);
  });
  it('every single-digit change of a GTIN-14 breaks the check digit', () => {
    const g = '09521234543213';
    for (let i = 0; i < 14; i++) {
      for (let d = 0; d < 10; d++) {
        const changed = g.slice(0, i) + String(d) + g.slice(i + 1);
        expect(isValidGtin(changed)).toBe(changed === g);
      }
    }
  });
});

describe('GLN and SSCC', () => {
  it('GLN failures one by one', () => {
    expectCode(() => assertGln('952012345678'), 'GS1_BAD_GLN');
    expectCode(() => assertGln('95201234567880'), 'GS1_BAD_GLN');
    expectCode(() => assertGln('952012345678X'), 'GS1_BAD_GLN');
    expectCode(() => assertGln(null), 'GS1_BAD_GLN');
    const e = expectCode(() => assertGln('9520123456787', 'participant.gln'), 'GS1_BAD_CHECK_DIGIT');
    expect(e.fields?.[0]?.path).toBe('participant.gln');
  });
  it('SSCC failures one by one', () => {
    expectCode(() => normalizeSscc('10614141123456789'), 'GS1_BAD_SSCC');
    expectCode(() => normalizeSscc('1061414112345678970'), 'GS1_BAD_SSCC');
    expectCode(() => normalizeSscc('10614141123456789O'), 'GS1_BAD_SSCC');
    expectCode(() => normalizeSscc('106141411234567898'), 'GS1_BAD_CHECK_DIGIT');
    expect(isValidSscc('106141411234567898')).toBe(false);
  });
});

describe('gtinHasCompanyPrefix', () => {
  it('matches the prefix from the second digit on', () => {
    expect(gtinHasCompanyPrefix('09521234543213', '9521234')).toBe(true);
    expect(gtinHasCompanyPrefix('09521234543213', '9521')).toBe(true);
    expect(gtinHasCompanyPrefix('09521234543213', '952123454321')).toBe(true);
    expect(gtinHasCompanyPrefix('09521234543213', '9521235')).toBe(false);
    // the indicator digit is not part of the prefix
    expect(gtinHasCompanyPrefix('09521234543213', '0952123')).toBe(false);
  });
  it('refuses malformed prefixes and GTINs', () => {
    expect(gtinHasCompanyPrefix('09521234543213', '952')).toBe(false); // 3 digits
    expect(gtinHasCompanyPrefix('09521234543213', '9521234543213')).toBe(false); // 13 digits
    expect(gtinHasCompanyPrefix('09521234543213', '9521a')).toBe(false);
    expect(gtinHasCompanyPrefix('9521234543213', '9521234')).toBe(false); // not GTIN-14
    expect(gtinHasCompanyPrefix('09521234543212', '9521234')).toBe(false); // bad check digit
  });
});

describe('AI 82, serials and lots', () => {
  const all82 = '!"%&\'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
  it('the set has exactly 82 characters, and only those pass', () => {
    expect(all82.length).toBe(82);
    expect(isAi82(all82)).toBe(true);
    for (let c = 0; c < 256; c++) {
      expect(isAi82(String.fromCharCode(c))).toBe(all82.includes(String.fromCharCode(c)));
    }
  });
  it('accepts 1 and 20 characters', () => {
    expect(validateSerial('A')).toBe('A');
    expect(validateSerial('ABCDEFGHIJ0123456789')).toBe('ABCDEFGHIJ0123456789');
    expect(validateLot('x/y(z)')).toBe('x/y(z)');
  });
  it.each([
    ['empty', ''],
    ['21 characters', 'ABCDEFGHIJ01234567890'],
    ['a space', 'AB C'],
    ['#', 'AB#'],
    ['a GS', 'AB\x1dC'],
    ['a non-ASCII letter', 'ÄB'],
    ['an emoji', 'A😀'],
  ])('%s → GS1_BAD_SERIAL / GS1_BAD_LOT', (_, s) => {
    expectCode(() => validateSerial(s), 'GS1_BAD_SERIAL');
    expectCode(() => validateLot(s), 'GS1_BAD_LOT');
  });
  it('a non-string serial → GS1_BAD_SERIAL naming the field', () => {
    const e = expectCode(() => validateSerial(42, 'pack.serial'), 'GS1_BAD_SERIAL');
    expect(e.fields?.[0]?.path).toBe('pack.serial');
  });
});

describe('GS1 dates', () => {
  it('reads YYMMDD in the current century', () => {
    expect(parseGs1Date('261231', 2026)).toEqual({ year: 2026, month: 12, day: 31 });
    expect(gs1DateToIso('270615', 2026)).toBe('2027-06-15');
  });
  it('applies the sliding century window of General Specifications 7.12 at its edges', () => {
    expect(parseGs1Date('760101', 2026).year).toBe(2076); // YY - CY = 50: current century
    expect(parseGs1Date('770101', 2026).year).toBe(1977); // 51: previous century
    expect(parseGs1Date('990101', 2000).year).toBe(1999); // 99: previous century
    expect(parseGs1Date('300101', 2080).year).toBe(2130); // -50: next century
    expect(parseGs1Date('310101', 2080).year).toBe(2031); // -49: current century
    expect(parseGs1Date('000101', 2099).year).toBe(2100); // -99: next century
  });
  it('DD = 00 is the last day of the month, leap years included', () => {
    expect(gs1DateToIso('240200', 2026)).toBe('2024-02-29');
    expect(gs1DateToIso('250200', 2026)).toBe('2025-02-28');
    expect(gs1DateToIso('000200', 2026)).toBe('2000-02-29');
    expect(gs1DateToIso('261100', 2026)).toBe('2026-11-30');
    expect(gs1DateToIso('261200', 2026)).toBe('2026-12-31');
  });
  it.each([
    ['month 13', '261301'],
    ['month 00', '260001'],
    ['29 Feb of a common year', '250229'],
    ['31 April', '260431'],
    ['day 32', '260132'],
    ['5 digits', '26123'],
    ['7 digits', '2612310'],
    ['a letter', '26123A'],
    ['empty', ''],
  ])('%s → GS1_BAD_DATE', (_, s) => {
    expectCode(() => parseGs1Date(s, 2026), 'GS1_BAD_DATE');
    expectCode(() => gs1DateToIso(s, 2026), 'GS1_BAD_DATE');
    expectCode(() => isExpired(s, new Date('2026-01-01T00:00:00Z')), 'GS1_BAD_DATE');
  });
  it('a pack is good through its expiry day (UTC) and expired from the next midnight', () => {
    expect(isExpired('261231', new Date('2026-12-31T23:59:59.999Z'))).toBe(false);
    expect(isExpired('261231', new Date('2027-01-01T00:00:00.000Z'))).toBe(true);
    expect(isExpired('261200', new Date('2026-12-31T12:00:00Z'))).toBe(false);
    expect(isExpired('261200', new Date('2027-01-01T00:00:00Z'))).toBe(true);
    expect(isExpired('240200', new Date('2024-02-29T23:00:00Z'))).toBe(false);
    expect(isExpired('240200', new Date('2024-03-01T00:00:00Z'))).toBe(true);
    expect(isExpired('990101', new Date('2026-01-01T00:00:00Z'))).toBe(true); // 1999
  });
  it('an invalid Date → BAD_INPUT', () => {
    expectCode(() => isExpired('261231', new Date('nonsense')), 'BAD_INPUT');
  });
});

describe('randomSerial', () => {
  it('uses an unambiguous subset of AI 82 without layout-swapped letters', () => {
    expect(AI82_RE.test(SERIAL_ALPHABET)).toBe(true);
    expect(new Set(SERIAL_ALPHABET).size).toBe(26);
    for (const c of '01ILOYZAQWabcdefghijklmnopqrstuvwxyz') expect(SERIAL_ALPHABET.includes(c)).toBe(false);
  });
  it('gives valid serials of the requested length', () => {
    expect(randomSerial()).toHaveLength(12);
    for (const n of [1, 7, 20]) {
      const s = randomSerial(n);
      expect(s).toHaveLength(n);
      expect(validateSerial(s)).toBe(s);
      expect([...s].every((c) => SERIAL_ALPHABET.includes(c))).toBe(true);
    }
  });
  it('refuses lengths outside 1..20', () => {
    for (const n of [0, 21, 1.5, -1, Number.NaN]) expectCode(() => randomSerial(n), 'BAD_INPUT');
  });
  it('does not repeat in 20,000 draws and spreads evenly over the alphabet', () => {
    const seen = new Set<string>();
    const counts = new Map<string, number>();
    for (let i = 0; i < 20_000; i++) {
      const s = randomSerial(12);
      seen.add(s);
      for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    expect(seen.size).toBe(20_000);
    // Chi-square with 25 degrees of freedom; 80 is exceeded by chance with p < 1e-7. A `byte % 26` bias
    // (22 symbols at 10/9 the weight of the other 4) gives about 320 on this sample.
    const n = 20_000 * 12;
    const expected = n / 26;
    let chi2 = 0;
    for (const c of SERIAL_ALPHABET) chi2 += ((counts.get(c) ?? 0) - expected) ** 2 / expected;
    expect(chi2).toBeLessThan(80);
  });
});

describe('hostile input only ever produces MedtrailError', () => {
  const anyString = fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary-ascii' }), fc.stringMatching(/^[0-9]{0,20}$/));
  it('for every validator and the date functions', () => {
    fc.assert(
      fc.property(anyString, fc.integer({ min: 1000, max: 9999 }), (s, year) => {
        const fns: Array<() => unknown> = [
          () => normalizeGtin(s),
          () => assertGln(s),
          () => normalizeSscc(s),
          () => validateSerial(s),
          () => validateLot(s),
          () => parseGs1Date(s, year),
          () => gs1DateToIso(s),
          () => isExpired(s, new Date()),
          () => gtinHasCompanyPrefix(s, s.slice(1, 8)),
        ];
        return fns.every(throwsOnlyCoded);
      }),
      { numRuns: 2000 },
    );
  });
  it('for non-string values', () => {
    fc.assert(
      fc.property(fc.anything(), (x) =>
        [
          () => normalizeGtin(x as string),
          () => assertGln(x),
          () => normalizeSscc(x as string),
          () => validateSerial(x),
          () => validateLot(x),
          () => parseGs1Date(x as string, 2026),
          () => isExpired(x as string, x as Date),
          () => gtinHasCompanyPrefix(x as string, x as string),
        ].every(throwsOnlyCoded),
      ),
    );
  });
  // With 2000 as the reference year the window is 1951..2050 (YY - 00 = 51 is the first previous-century YY).
  it('valid dates always parse to an ISO date that round-trips through Date', () => {
    fc.assert(
      fc.property(fc.date({ min: new Date('1951-01-01'), max: new Date('2050-12-31T23:59:59.999Z'), noInvalidDate: true }), (d) => {
        const yymmdd = d.toISOString().slice(2, 10).replace(/-/g, '');
        expect(gs1DateToIso(yymmdd, 2000)).toBe(d.toISOString().slice(0, 10));
      }),
    );
  });
});
