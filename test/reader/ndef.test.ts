import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isMedtrailError, type ErrorCode } from '../../core/errors.js';
import { fromHex } from '../../core/bytes.js';
import { URI_PREFIXES, bestUriPrefix, decodeUriPayload } from '../../core/tag/ndef-uri.js';
import { encodeUriNdef, parseNdefMessage, uriFromNdefMessage } from '../../core/tag/ndef.js';
import { ccFor, decodeNtagUri, ntagImage, parseCapabilityContainer, scanForNdefTlv, type NtagType } from '../../core/tag/ntag.js';

function code(f: () => unknown): ErrorCode | 'none' {
  try {
    f();
    return 'none';
  } catch (e) {
    if (isMedtrailError(e)) return e.code;
    throw e;
  }
}

/** Pages 0-2 of a tag (UID, BCC, internal, static lock bytes), then CC and data area. */
const HEADER = fromHex('04a1b2c3' + 'd4e5f601' + '42480000');
function memory(cc: string, data: string, size = 144): Uint8Array {
  const m = new Uint8Array(16 + size);
  m.set(HEADER, 0);
  m.set(fromHex(cc), 12);
  m.set(fromHex(data), 16);
  return m;
}

describe('NFC Forum examples', () => {
  it('decodes the URI RTD example "http://www.nfc.com" (code 0x01)', () => {
    // NFC Forum URI RTD 1.0, section 3.2.2: payload 0x01 "nfc.com"; one short well-known record.
    const msg = fromHex('d1010855016e66632e636f6d');
    expect(uriFromNdefMessage(msg)).toBe('http://www.nfc.com');
    expect(encodeUriNdef('http://www.nfc.com')).toEqual(msg);
  });

  it('reads an NTAG213 as NXP formats it, with a Lock Control TLV before the NDEF TLV', () => {
    // Type 2 Tag: Lock Control TLV 01 03 A0 0C 34, then NDEF TLV, then terminator.
    const mem = memory('e1101200', '0103a00c34' + '030cd1010855016e66632e636f6d' + 'fe');
    const { uri, cc } = decodeNtagUri(mem);
    expect(uri).toBe('http://www.nfc.com');
    expect(cc.tagType).toBe('NTAG213');
    expect(cc.dataAreaBytes).toBe(144);
  });

  it('skips NULL and Memory Control TLVs and reads a three-byte TLV length', () => {
    const msg = encodeUriNdef('https://example.org/' + 'a'.repeat(300));
    const len = msg.length.toString(16).padStart(4, '0');
    const data = '0000' + '0203000000' + '03ff' + len + Buffer.from(msg).toString('hex') + 'fe';
    expect(decodeNtagUri(memory('e1106d00', data, 888)).uri).toBe('https://example.org/' + 'a'.repeat(300));
  });

  it('accepts a dump that starts at page 3', () => {
    const mem = memory('e1101200', '030cd1010855016e66632e636f6d' + 'fe');
    expect(decodeNtagUri(mem.subarray(12), 3).uri).toBe('http://www.nfc.com');
  });

  it('has all 36 prefix codes and picks the longest', () => {
    expect(URI_PREFIXES).toHaveLength(0x24);
    expect(URI_PREFIXES[0x23]).toBe('urn:nfc:');
    expect(bestUriPrefix('https://www.example.com')).toBe(0x02);
    expect(bestUriPrefix('urn:epc:id:sgtin:1')).toBe(0x1e);
    expect(bestUriPrefix('urn:epc:x')).toBe(0x22);
    expect(bestUriPrefix('HTTPS://example')).toBe(0x00);
    for (let c = 1; c < 0x24; c++) expect(decodeUriPayload(Uint8Array.of(c, 0x78))).toBe(URI_PREFIXES[c] + 'x');
  });

  it('writes long records for payloads over 255 bytes', () => {
    const uri = 'https://id.example/' + 'b'.repeat(400);
    const msg = encodeUriNdef(uri);
    expect(msg[0]).toBe(0xc1); // MB ME, SR clear, TNF 1
    expect(uriFromNdefMessage(msg)).toBe(uri);
  });

  it('finds the URI record after an Android application record', () => {
    const aar = [0x94, 0x0f, 0x03, ...Buffer.from('android.com:pkgabc')];
    const uriRec = encodeUriNdef('https://x.example/1');
    const msg = Uint8Array.from([...aar, 0x51, ...uriRec.subarray(1)]);
    expect(parseNdefMessage(msg)).toHaveLength(2);
    expect(uriFromNdefMessage(msg)).toBe('https://x.example/1');
  });
});

describe('when the tag content is wrong', () => {
  const cases: [string, () => unknown, ErrorCode][] = [
    ['unformatted (all zero)', () => decodeNtagUri(new Uint8Array(160)), 'NFC_NO_CC'],
    ['dump shorter than the CC', () => decodeNtagUri(new Uint8Array(10)), 'NFC_NO_CC'],
    ['CC mapping version 2', () => parseCapabilityContainer(fromHex('e1201200')), 'NFC_BAD_CC'],
    ['CC read access denied', () => parseCapabilityContainer(fromHex('e1101280')), 'NFC_BAD_CC'],
    ['blank NXP tag (empty NDEF TLV)', () => decodeNtagUri(memory('e1101200', '0300fe')), 'NFC_BLANK_TAG'],
    ['no NDEF TLV, only a terminator', () => decodeNtagUri(memory('e1101200', '0103a00c34fe')), 'NFC_NO_NDEF'],
    ['only NULL TLVs', () => decodeNtagUri(memory('e1101200', '')), 'NFC_NO_NDEF'],
    ['NDEF TLV longer than the tag', () => decodeNtagUri(memory('e1101200', '03ff0100d101')), 'NFC_TLV_TOO_LARGE'],
    ['NDEF TLV longer than its message', () => decodeNtagUri(memory('e1101200', '0314d1010855016e66632e636f6d')), 'NFC_BAD_RECORD'],
    ['lock TLV running off the tag', () => decodeNtagUri(memory('e1101200', '01ff0200')), 'NFC_TLV_TRUNCATED'],
    ['dump cut inside the NDEF TLV', () => decodeNtagUri(memory('e1101200', '030cd1010855016e66632e636f6d').subarray(0, 24)), 'NFC_TLV_TRUNCATED'],
    ['text record, not URI', () => uriFromNdefMessage(fromHex('d101085402656e6869212121')), 'NFC_NOT_URI'],
    ['chunked record', () => uriFromNdefMessage(fromHex('b1010255016e')), 'NFC_CHUNKED_RECORD'],
    ['record length past the message', () => uriFromNdefMessage(fromHex('d1012055016e')), 'NFC_BAD_RECORD'],
    ['no ME flag', () => uriFromNdefMessage(fromHex('91010255016e')), 'NFC_BAD_RECORD'],
    ['TNF 7', () => uriFromNdefMessage(fromHex('d7010255016e')), 'NFC_BAD_RECORD'],
    ['reserved URI code 0x24', () => uriFromNdefMessage(fromHex('d1010255246e')), 'NFC_BAD_URI'],
    ['URI not UTF-8', () => uriFromNdefMessage(fromHex('d101025504ff')), 'NFC_BAD_URI'],
    ['empty URI', () => uriFromNdefMessage(fromHex('d101015500')), 'NFC_BAD_URI'],
  ];
  for (const [name, f, expected] of cases) it(name, () => expect(code(f)).toBe(expected));
});

describe('ntagImage', () => {
  it('refuses a URI that does not fit, per tag type', () => {
    const fits: Record<NtagType, number> = { NTAG213: 144, NTAG215: 504, NTAG216: 888 };
    for (const [t, bytes] of Object.entries(fits) as [NtagType, number][]) {
      // TLV = 03 len(1 or 3) + record header (4 or 7) + code byte + rest: largest rest that fits exactly.
      const rest = bytes - (bytes > 256 ? 4 + 7 + 1 : 2 + 4 + 1);
      const uri = 'x'.repeat(rest);
      expect(ntagImage(uri, t).length).toBeLessThanOrEqual(bytes);
      expect(code(() => ntagImage(uri + 'x', t))).toBe('NFC_TAG_TOO_SMALL');
      const mem = new Uint8Array(16 + bytes);
      mem.set(ccFor(t), 12);
      mem.set(ntagImage(uri, t), 16);
      expect(decodeNtagUri(mem).uri).toBe(uri);
    }
  });

  it('refuses an empty URI and a lone surrogate', () => {
    expect(code(() => ntagImage('', 'NTAG213'))).toBe('NFC_BAD_URI');
    expect(code(() => ntagImage('https://x/\ud800', 'NTAG213'))).toBe('NFC_BAD_URI');
  });
});

describe('properties', () => {
  it('random tag memory only ever yields a URI or a coded error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1000 }), fc.option(fc.constantFrom<NtagType>('NTAG213', 'NTAG215', 'NTAG216')), (bytes, t) => {
        // Most runs get a valid CC so that the TLV and record parsers see the random bytes too.
        if (t !== null && bytes.length >= 16) bytes.set(ccFor(t), 12);
        try {
          expect(typeof decodeNtagUri(bytes).uri).toBe('string');
        } catch (e) {
          if (!isMedtrailError(e)) throw e;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('random NDEF-like messages only ever yield a URI or a coded error', () => {
    const header = fc.constantFrom(0xd1, 0xc1, 0x91, 0x51, 0xd9, 0x11, 0xb1, 0xd0, 0xd5);
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 300 }), (h, rest) => {
        const memTail = Uint8Array.from([h, 1, ...rest]);
        try {
          uriFromNdefMessage(memTail);
        } catch (e) {
          if (!isMedtrailError(e)) throw e;
        }
        const scan = () => scanForNdefTlv(rest, 144);
        try {
          scan();
        } catch (e) {
          if (!isMedtrailError(e)) throw e;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('encode then decode gives the URI back, on every tag type it fits', () => {
    const uriArb = fc.oneof(
      fc.webUrl({ withQueryParameters: true, withFragments: true }),
      fc.tuple(fc.constantFrom(...URI_PREFIXES), fc.string({ unit: 'grapheme', maxLength: 200 })).map(([p, s]) => p + s),
    ).filter((u) => u.length > 0);
    fc.assert(
      fc.property(uriArb, fc.constantFrom<NtagType>('NTAG213', 'NTAG215', 'NTAG216'), (uri, t) => {
        expect(uriFromNdefMessage(encodeUriNdef(uri))).toBe(uri);
        let image: Uint8Array;
        try {
          image = ntagImage(uri, t);
        } catch (e) {
          if (isMedtrailError(e, 'NFC_TAG_TOO_SMALL')) return;
          throw e;
        }
        const mem = new Uint8Array(16 + image.length);
        mem.set(ccFor(t), 12);
        mem.set(image, 16);
        expect(decodeNtagUri(mem).uri).toBe(uri);
      }),
      { numRuns: 1000 },
    );
  });
});
