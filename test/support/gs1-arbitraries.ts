// fast-check generators of valid GS1 values, shared by the GS1, element string and Digital Link tests.
import fc from 'fast-check';
import { checkDigit } from '../../core/gs1/identifiers.js';

export const AI82_CHARS = '!"%&\'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';

/** `n` digits followed by their GS1 check digit. */
export const withCheckDigit = (n: number): fc.Arbitrary<string> =>
  fc.stringMatching(new RegExp(`^[0-9]{${n}}$`)).map((d) => d + String(checkDigit(d)));

export const gtin14 = withCheckDigit(13);
export const gln = withCheckDigit(12);
export const sscc = withCheckDigit(17);

/** 1..20 characters of AI 82: a valid lot, serial or consumer product variant. */
export const x20 = fc.string({ unit: fc.constantFrom(...AI82_CHARS), minLength: 1, maxLength: 20 });

/** A valid YYMMDD (day 00 included) for any reference year. */
export const yymmdd = fc
  .tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 28 }))
  .map(([y, m, d]) => [y, m, d].map((n) => String(n).padStart(2, '0')).join(''));

/** Hostile strings: arbitrary UTF-16, bytes read as latin1, bytes read as (lossy) UTF-8. */
export const hostileString = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => String.fromCharCode(...b)),
  fc.uint8Array({ maxLength: 200 }).map((b) => new TextDecoder('utf-8').decode(b)),
);
