import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { equalBytes, fromUtf8 } from '../../core/bytes.js';
import { parseElementString } from '../../core/gs1/element-string.js';
import { PACK_DOMAIN, packIdentityBytes, type PackIdentity } from '../../core/tag/pack.js';
import { expectCode } from '../support/expect-code.js';
import { gtin14, x20, yymmdd } from '../support/gs1-arbitraries.js';

const pack: PackIdentity = { gtin: '09521234543213', lot: 'L1', serial: 'ABC', expiry: '261231' };

describe('packIdentityBytes', () => {
  it('is the domain prefix and the GS1 element string 01 17 10 GS 21', () => {
    expect(fromUtf8(packIdentityBytes(pack))).toBe('medtrail/v1/pack\n' + '0109521234543213' + '17261231' + '10L1\x1d21ABC');
  });
  it('gives the same bytes for a GTIN-13 and its GTIN-14', () => {
    expect(equalBytes(packIdentityBytes({ ...pack, gtin: '9521234543213' }), packIdentityBytes(pack))).toBe(true);
  });
  it('separates lot from serial: moving a character across the boundary changes the bytes', () => {
    const a = packIdentityBytes({ ...pack, lot: 'AB', serial: 'C' });
    const b = packIdentityBytes({ ...pack, lot: 'A', serial: 'BC' });
    expect(equalBytes(a, b)).toBe(false);
  });
  it('reports every bad field at once', () => {
    const e = expectCode(
      () => packIdentityBytes({ gtin: '09521234543214', lot: '', serial: 'X'.repeat(21), expiry: '261301' }),
      'GS1_BAD_CHECK_DIGIT',
    );
    expect(e.fields?.map((f) => [f.path, f.code])).toEqual([
      ['gtin', 'GS1_BAD_CHECK_DIGIT'],
      ['expiry', 'GS1_BAD_DATE'],
      ['lot', 'GS1_BAD_LOT'],
      ['serial', 'GS1_BAD_SERIAL'],
    ]);
  });
  it('refuses a non-object', () => {
    expectCode(() => packIdentityBytes(null as unknown as PackIdentity), 'BAD_INPUT');
    expectCode(() => packIdentityBytes({} as PackIdentity), 'GS1_BAD_GTIN');
  });
  const packArb = fc.record({ gtin: gtin14, lot: x20, serial: x20, expiry: yymmdd });
  it('property: the bytes after the prefix parse back to the identity', () => {
    fc.assert(
      fc.property(packArb, (p) => {
        const s = fromUtf8(packIdentityBytes(p));
        expect(s.startsWith(PACK_DOMAIN)).toBe(true);
        expect(parseElementString(s.slice(PACK_DOMAIN.length)).ais).toEqual(p);
      }),
      { numRuns: 500 },
    );
  });
  it('property: two identities give the same bytes only if they are the same', () => {
    fc.assert(
      fc.property(packArb, packArb, fc.boolean(), (a, b, shareLot) => {
        const bb = shareLot ? { ...b, gtin: a.gtin, expiry: a.expiry, lot: a.lot } : b;
        const same = a.gtin === bb.gtin && a.lot === bb.lot && a.serial === bb.serial && a.expiry === bb.expiry;
        expect(equalBytes(packIdentityBytes(a), packIdentityBytes(bb))).toBe(same);
      }),
      { numRuns: 500 },
    );
  });
});
