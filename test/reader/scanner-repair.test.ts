// core/scanner-repair: what keyboard-wedge 2D scanners break, repaired and reported; valid codes untouched.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toBase64Url } from '../../core/bytes.js';
import { formatDigitalLink } from '../../core/gs1/digital-link.js';
import { formatElementString } from '../../core/gs1/element-string.js';
import { MedtrailError } from '../../core/errors.js';
import { repairScan, typeOnGermanLayout } from '../../core/gs1/scanner-repair.js';
import { gtin14, hostileString, x20, yymmdd } from '../support/gs1-arbitraries.js';

const GS = '\x1d';
const serialish = fc.string({ unit: fc.constantFrom(...'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789-_.'), minLength: 1, maxLength: 20 });
const sig = fc.uint8Array({ minLength: 64, maxLength: 64 }).map(toBase64Url);
const pack = fc.record({ gtin: gtin14, lot: serialish, serial: serialish, expiry: yymmdd });
const uriOf = (p: { gtin: string; lot: string; serial: string; expiry: string }, s: string) =>
  formatDigitalLink({ resolver: 'https://id.example-pharma.de', gtin: p.gtin, lot: p.lot, serial: p.serial, expiry: p.expiry, sig: s, query: {} });
const esOf = (p: { gtin: string; lot: string; serial: string; expiry: string }, symbology?: string) =>
  formatElementString({ gtin: p.gtin, lot: p.lot, serial: p.serial, expiry: p.expiry }, symbology === undefined ? { style: 'gs' } : { style: 'gs', symbology });

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!(e instanceof MedtrailError)) throw e;
    return e.code;
  }
}

describe('valid codes are never repaired', () => {
  it('Digital Link URIs, with or without a QR symbology prefix', () => {
    fc.assert(
      fc.property(pack, sig, (p, s) => {
        const uri = uriOf(p, s);
        expect(repairScan(uri)).toEqual({ text: uri, kind: 'uri', repairs: [], alternatives: [] });
        expect(repairScan(`]Q1${uri}\r\n`)).toMatchObject({ text: uri, repairs: [] });
      }),
    );
  });

  it('complete element strings with GS separators, any AIM prefix, and the bracket form', () => {
    fc.assert(
      fc.property(pack, fc.constantFrom(undefined, ']d2', ']Q3', ']C1'), (p, aim) => {
        const es = esOf(p, aim);
        const r = repairScan(es);
        expect(r.text).toBe(es);
        expect(r.repairs).toEqual([]);
      }),
    );
    expect(repairScan('(01)09506000134352(17)271231(10)L1(21)S1').repairs).toEqual([]);
  });

  it('element strings with any AI 82 lot and serial', () => {
    fc.assert(
      fc.property(fc.record({ gtin: gtin14, lot: x20, serial: x20, expiry: yymmdd }), (p) => {
        const es = esOf(p, ']d2');
        expect(repairScan(es)).toMatchObject({ text: es, repairs: [] });
      }),
    );
  });
});

describe('lost GS separators', () => {
  it('removing every GS gives back the original, or SCANNER_AMBIGUOUS listing it: never a wrong guess', () => {
    fc.assert(
      fc.property(pack, (p) => {
        const es = esOf(p, ']d2');
        const damaged = es.replaceAll(GS, '');
        try {
          const r = repairScan(damaged);
          expect(r.text).toBe(es);
          expect(r.repairs.map((x) => x.kind)).toEqual(['GS_RESTORED']);
        } catch (e) {
          expect(e).toMatchObject({ code: 'SCANNER_AMBIGUOUS' });
          expect((e as MedtrailError).fields!.map((f) => f.message)).toContain(JSON.stringify(es.replace(/\x1d/g, '<GS>')));
        }
      }),
    );
  });

  it('a serial followed by (10) lot without GS is split back', () => {
    const r = repairScan(']d2010950600013435217271231' + '21ABC123' + '10LOT7');
    expect(r.text).toBe(']d2010950600013435217271231' + '21ABC123' + GS + '10LOT7');
    expect(r.repairs[0]).toMatchObject({ kind: 'GS_RESTORED' });
    expect(r.repairs[0]!.detail).toContain('(10)');
  });

  it('says so when the split is ambiguous', () => {
    // lot "L21X" then serial "9": both "L" + (21)"X219"... and "L21X" + (21)"9" read as complete codes.
    expect(codeOf(() => repairScan('0109506000134352172712311' + '0L21X219'))).toBe('SCANNER_AMBIGUOUS');
  });
});

describe('GS substitutes', () => {
  for (const sub of ['^', '~', '|', '<GS>', '{GS}', '[GS]', '\\x1d', '\\u001d']) {
    it(`reads ${sub} as the GS separator`, () => {
      fc.assert(
        fc.property(pack, (p) => {
          const es = esOf(p, ']d2');
          const r = repairScan(es.replaceAll(GS, sub));
          expect(r.text).toBe(es);
          expect(r.repairs.map((x) => x.kind)).toEqual(['GS_SUBSTITUTE']);
        }),
        { numRuns: 30 },
      );
    });
  }
});

describe('German keyboard layout', () => {
  it('a URI typed under QWERTZ is mapped back to the original', () => {
    fc.assert(
      fc.property(pack, sig, (p, s) => {
        const uri = uriOf(p, s);
        const typed = typeOnGermanLayout(uri);
        expect(typed.startsWith('httpsÖ--')).toBe(true);
        const r = repairScan(typed);
        expect(r.text).toBe(uri);
        expect(r.repairs.map((x) => x.kind)).toEqual(['KEYBOARD_DE']);
      }),
    );
  });

  it('an element string with German punctuation and its ]d2 prefix typed as +d2', () => {
    const p = { gtin: '09506000134352', lot: 'L-1', serial: 'S_9', expiry: '271231' };
    const es = esOf(p, ']d2');
    const r = repairScan(typeOnGermanLayout(es));
    expect(r.text).toBe(es);
    expect(r.repairs[0]).toMatchObject({ kind: 'KEYBOARD_DE' });
  });

  it('offers the Y/Z swap as an alternative when it cannot be told locally', () => {
    const r = repairScan(esOf({ gtin: '09506000134352', lot: 'L1', serial: 'ZY12', expiry: '271231' }));
    expect(r.repairs).toEqual([]);
    expect(r.alternatives.map((a) => a.text)).toContain(esOf({ gtin: '09506000134352', lot: 'L1', serial: 'YZ12', expiry: '271231' }));
  });
});

describe('CapsLock', () => {
  it('a URI with every letter case inverted is inverted back', () => {
    fc.assert(
      fc.property(pack, sig, (p, s) => {
        const uri = uriOf(p, s);
        const inverted = Array.from(uri, (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');
        const r = repairScan(inverted);
        expect(r.text).toBe(uri);
        expect(r.repairs.map((x) => x.kind)).toEqual(['CAPS_LOCK']);
      }),
    );
  });
});

describe('hostile lines', () => {
  it('only ever throws coded errors', () => {
    fc.assert(
      fc.property(hostileString, (s) => {
        try {
          repairScan(s);
        } catch (e) {
          expect(e).toBeInstanceOf(MedtrailError);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('refuses empty lines, URIs without a serial and garbage with a code', () => {
    expect(codeOf(() => repairScan('\r\n'))).toBe('SCANNER_UNREADABLE');
    expect(codeOf(() => repairScan('https://id.example.org/01/09506000134352'))).toBe('SCANNER_UNREADABLE');
    expect(codeOf(() => repairScan('hello world'))).toBe('SCANNER_UNREADABLE');
  });
});
