// The patient page writes dates from its own month tables (web/client/i18n.ts) instead of asking Intl, whose
// first formatter costs a fresh page 20-50 ms on the way to the verdict. They must read exactly as Intl's
// dateStyle 'medium' does, in both languages, for every month.
import { describe, expect, it } from 'vitest';
import { WORDS, type Lang } from '../../web/client/i18n.js';

describe('patient page dates', () => {
  for (const lang of ['en', 'ru'] as Lang[]) {
    it(`${lang}: every month, one- and two-digit days, as Intl writes them`, () => {
      const intl = new Intl.DateTimeFormat(lang, { dateStyle: 'medium' });
      for (let month = 0; month < 12; month++) {
        for (const [day, year] of [[1, 2029], [7, 2031], [28, 1999]] as const) {
          expect(WORDS[lang].date(day, month, year)).toBe(intl.format(new Date(year, month, day)));
        }
      }
    });
  }
});
