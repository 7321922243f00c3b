import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatElementString, parseElementString, type Ai, type ElementAis } from '../../core/gs1/element-string.js';
import { expectCode, throwsOnlyCoded } from '../support/expect-code.js';
import { AI82_CHARS, gln, gtin14, hostileString, sscc, x20, yymmdd } from '../support/gs1-arbitraries.js';

const GS = '\x1d';

describe('parseElementString: raw form', () => {
  it('reads a GS1 DataMatrix with symbology identifier, GS after variable-length fields', () => {
    const r = parseElementString(`]d20109521234543213` + `21ABC123${GS}10LOT-1${GS}17261231`);
    expect(r).toEqual({
      symbology: ']d2',
      ais: { gtin: '09521234543213', serial: 'ABC123', lot: 'LOT-1', expiry: '261231' },
      order: ['01', '21', '10', '17'],
    });
  });
  it('reads the GS1 Digital Link example as an element string with FNC1 first (gs1-syntax-engine dl.c)', () => {
    const r = parseElementString(`${GS}010952012345678810ABC1${GS}2112345${GS}17180426`);
    expect(r.symbology).toBeUndefined();
    expect(r.ais).toEqual({ gtin: '09520123456788', lot: 'ABC1', serial: '12345', expiry: '180426' });
  });
  it('reports any "]" + letter + digit symbology identifier', () => {
    for (const sym of [']Q3', ']C1', ']e0', ']d1']) {
      expect(parseElementString(`${sym}0109521234543213`).symbology).toBe(sym);
    }
  });
  it('reads SSCC and GLN', () => {
    expect(parseElementString('00106141411234567897').ais).toEqual({ sscc: '106141411234567897' });
    expect(parseElementString('4149520123456788').ais).toEqual({ gln: '9520123456788' });
  });
  it('tolerates a GS after a fixed-length field and a trailing GS', () => {
    const r = parseElementString(`0109521234543213${GS}21ABC${GS}`);
    expect(r.ais).toEqual({ gtin: '09521234543213', serial: 'ABC' });
  });
});

describe('parseElementString: bracket form', () => {
  it('reads (AI)value pairs', () => {
    const r = parseElementString('(01)09521234543213(17)261200(10)ABC(21)XYZ/1');
    expect(r.ais).toEqual({ gtin: '09521234543213', expiry: '261200', lot: 'ABC', serial: 'XYZ/1' });
    expect(r.order).toEqual(['01', '17', '10', '21']);
  });
  it('unescapes \\( inside values; ")" needs no escape', () => {
    expect(parseElementString('(10)A\\(B)(21)X)').ais).toEqual({ lot: 'A(B)', serial: 'X)' });
  });
  it('accepts a symbology identifier before the brackets', () => {
    expect(parseElementString(']d2(01)09521234543213').symbology).toBe(']d2');
  });
});

describe('parseElementString: failures one by one', () => {
  it.each([
    ['empty', ''],
    ['only a symbology identifier', ']d2'],
    ['a lone "]"', ']'],
    ['a malformed symbology identifier', ']dd0109521234543213'],
    ['only FNC1', GS],
    ['letters instead of an AI', 'ABC'],
    ['one digit', '0'],
    ['two separators in a row', `0109521234543213${GS}${GS}21ABC`],
    ['bracket without its close', '(01'],
    ['text before the first bracket', 'x(01)09521234543213'],
    ['a non-numeric bracketed AI', '(0A)123'],
    ['a five-digit bracketed AI', '(12345)123'],
    ['an empty bracketed AI', '()123'],
    ['an unescaped "(" in a bracketed value', '(10)A(B)'],
  ])('%s → GS1_BAD_ELEMENT_STRING', (_, s) => {
    expectCode(() => parseElementString(s), 'GS1_BAD_ELEMENT_STRING');
  });
  it.each([
    ['AI 11 (raw)', '0109521234543213' + '11261231'],
    ['AI 99 (raw)', '99ABC'],
    ['AI 41 without the 4 (raw)', '41952012345678'],
    ['AI 11 (brackets)', '(11)261231'],
    ['AI 8004 (brackets)', '(8004)ABC'],
  ])('unknown %s → GS1_UNKNOWN_AI', (_, s) => {
    expectCode(() => parseElementString(s), 'GS1_UNKNOWN_AI');
  });
  it.each([
    ['GTIN twice', '0109521234543213' + '0109521234543213'],
    ['serial twice (raw)', `21A${GS}21B`],
    ['serial twice (brackets)', '(21)A(21)B'],
    ['the same AI with a bad value', '(21)A(21)'],
  ])('%s → GS1_DUPLICATE_AI', (_, s) => {
    expectCode(() => parseElementString(s), 'GS1_DUPLICATE_AI');
  });
  it.each([
    ['GTIN check digit', '0109521234543214', 'GS1_BAD_CHECK_DIGIT', 'ais.gtin'],
    ['truncated GTIN', '01095212345', 'GS1_BAD_GTIN', 'ais.gtin'],
    ['GTIN with a letter', '010952123454321A21X', 'GS1_BAD_GTIN', 'ais.gtin'],
    ['GTIN-13 in brackets', '(01)9520123456788', 'GS1_BAD_GTIN', 'ais.gtin'],
    ['SSCC too short', '0010614141123456789', 'GS1_BAD_SSCC', 'ais.sscc'],
    ['SSCC check digit', '00106141411234567898', 'GS1_BAD_CHECK_DIGIT', 'ais.sscc'],
    ['GLN check digit', '4149520123456787', 'GS1_BAD_CHECK_DIGIT', 'ais.gln'],
    ['GLN too short (brackets)', '(414)952012345678', 'GS1_BAD_GLN', 'ais.gln'],
    ['month 13', '17261301', 'GS1_BAD_DATE', 'ais.expiry'],
    ['truncated date', '172612', 'GS1_BAD_DATE', 'ais.expiry'],
    ['empty lot', `10${GS}21ABC`, 'GS1_BAD_LOT', 'ais.lot'],
    ['lot with a space', '10LOT 1', 'GS1_BAD_LOT', 'ais.lot'],
    ['serial with a non-ASCII letter', '21SÉRIE', 'GS1_BAD_SERIAL', 'ais.serial'],
    // a lost GS makes the serial swallow what follows: more than 20 characters is detectable
    ['serial running into the lot (lost GS)', '0109521234543213' + '21ABCDEFGHIJ12' + '10LOT12345', 'GS1_BAD_SERIAL', 'ais.serial'],
    ['serial of 21 characters', '21ABCDEFGHIJKLMNOPQRSTU', 'GS1_BAD_SERIAL', 'ais.serial'],
    ['empty serial (brackets)', '(01)09521234543213(21)', 'GS1_BAD_SERIAL', 'ais.serial'],
  ] as const)('%s → %s on %s', (_, s, code, path) => {
    const e = expectCode(() => parseElementString(s), code);
    expect(e.fields?.map((f) => f.path)).toContain(path);
  });
  it('reports every bad value at once, coded as the first', () => {
    const e = expectCode(() => parseElementString(`0109521234543214` + `17261301` + `10A B`), 'GS1_BAD_CHECK_DIGIT');
    expect(e.fields?.map((f) => [f.path, f.code])).toEqual([
      ['ais.gtin', 'GS1_BAD_CHECK_DIGIT'],
      ['ais.expiry', 'GS1_BAD_DATE'],
      ['ais.lot', 'GS1_BAD_LOT'],
    ]);
  });
  it('a non-string → GS1_BAD_ELEMENT_STRING; an oversized one → TOO_LARGE', () => {
    expectCode(() => parseElementString(undefined as unknown as string), 'GS1_BAD_ELEMENT_STRING');
    expectCode(() => parseElementString('21' + 'A'.repeat(5000)), 'TOO_LARGE');
  });
});

describe('formatElementString', () => {
  const ais = { gtin: '09521234543213', serial: 'ABC(1)', lot: 'L1', expiry: '261231' };
  it('puts fixed-length AIs first and a GS only between variable-length ones', () => {
    expect(formatElementString(ais, { style: 'gs' })).toBe(`0109521234543213` + `17261231` + `10L1${GS}21ABC(1)`);
    expect(formatElementString(ais, { style: 'gs', symbology: ']d2' })).toBe(`]d20109521234543213` + `17261231` + `10L1${GS}21ABC(1)`);
  });
  it('writes the bracket form with "(" escaped', () => {
    expect(formatElementString(ais, { style: 'brackets' })).toBe('(01)09521234543213(17)261231(10)L1(21)ABC\\(1)');
  });
  it('writes GTIN-14 from a GTIN-13, and SSCC/GLN', () => {
    expect(formatElementString({ gtin: '9520123456788' })).toBe('0109520123456788');
    expect(formatElementString({ sscc: '106141411234567897', gln: '9520123456788' }, { style: 'brackets' })).toBe(
      '(00)106141411234567897(414)9520123456788',
    );
  });
  it('refuses bad values, an empty set and a bad symbology identifier', () => {
    expectCode(() => formatElementString({ gtin: '09521234543214' }), 'GS1_BAD_CHECK_DIGIT');
    expectCode(() => formatElementString({ serial: 'A'.repeat(21) }), 'GS1_BAD_SERIAL');
    expectCode(() => formatElementString({ lot: `A${GS}B` }), 'GS1_BAD_LOT');
    expectCode(() => formatElementString({ expiry: '260230' }), 'GS1_BAD_DATE');
    expectCode(() => formatElementString({}), 'GS1_MISSING_AI');
    expectCode(() => formatElementString({ gtin: '09521234543213' }, { style: 'gs', symbology: 'd2' }), 'BAD_INPUT');
  });
});

const CANONICAL: Array<[Ai, keyof ElementAis]> = [
  ['00', 'sscc'],
  ['01', 'gtin'],
  ['17', 'expiry'],
  ['414', 'gln'],
  ['10', 'lot'],
  ['21', 'serial'],
];

const aisArb: fc.Arbitrary<ElementAis> = fc
  .record(
    { sscc, gtin: gtin14, expiry: yymmdd, gln, lot: x20, serial: x20 },
    { requiredKeys: [] },
  )
  .filter((r) => Object.keys(r).length > 0);

describe('properties', () => {
  it('parse ∘ format is the identity (both styles, with and without symbology identifier)', () => {
    fc.assert(
      fc.property(
        aisArb,
        fc.constantFrom('gs' as const, 'brackets' as const),
        fc.option(fc.stringMatching(/^\][A-Za-z][0-9]$/), { nil: undefined }),
        (ais, style, symbology) => {
          const s = formatElementString(ais, symbology === undefined ? { style } : { style, symbology });
          const r = parseElementString(s);
          expect(r.ais).toEqual(ais);
          expect(r.symbology).toBe(symbology);
          expect(r.order).toEqual(CANONICAL.filter(([, k]) => ais[k] !== undefined).map(([ai]) => ai));
        },
      ),
      { numRuns: 1000 },
    );
  });
  it('hostile strings only ever produce MedtrailError', () => {
    fc.assert(fc.property(hostileString, (s) => throwsOnlyCoded(() => parseElementString(s))), { numRuns: 3000 });
  });
  it('near-valid strings (AIs, GS, brackets, AI 82 characters spliced together) only produce MedtrailError', () => {
    const piece = fc.oneof(
      fc.constantFrom('00', '01', '10', '17', '21', '414', '11', '(', ')', '\\(', GS, ']d2', '0952123454321'),
      fc.string({ unit: fc.constantFrom(...AI82_CHARS), maxLength: 8 }),
      fc.stringMatching(/^[0-9]{1,18}$/),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (parts) => throwsOnlyCoded(() => parseElementString(parts.join('')))),
      { numRuns: 3000 },
    );
  });
});
