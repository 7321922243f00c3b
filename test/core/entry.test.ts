import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { toBase64, utf8 } from '../../core/bytes.js';
import { naclEd25519, publicKeyFromSeed, useEd25519 } from '../../core/crypto/ed25519.js';
import { nodeEd25519 } from '../../core/crypto/ed25519-node.js';
import {
  ENTRY_KINDS,
  MAX_ENTRY_BYTES,
  MAX_PREV,
  decodeEntry,
  encodeEntry,
  entryLeafHash,
  newNonce,
  parseEntry,
  signEntry,
  signingBytes,
  verifyEntry,
  type Entry,
  type EntryKind,
  type UnsignedEntry,
} from '../../core/entry/entry.js';
import { MedtrailError, type ErrorCode, type FieldError } from '../../core/errors.js';
import { checkDigit } from '../../core/gs1/identifiers.js';
import { canonicalJson } from '../../core/entry/jcs.js';

const gln = (twelve: string): string => twelve + String(checkDigit(twelve));
const SIGNER = gln('409876543210');
const seed = new Uint8Array(32).map((_, i) => i + 1);
const pub = publicKeyFromSeed(seed);
const H1 = 'a'.repeat(64);
const H2 = '0123456789abcdef'.repeat(4);
const LOG = 'example.org/medtrail-test';

function unsigned(over: Partial<UnsignedEntry> = {}): UnsignedEntry {
  return {
    v: 1,
    kind: 'ship',
    signer: SIGNER,
    at: '2026-11-21T17:45:09.123Z',
    nonce: 'AAECAwQFBgcICQoLDA0ODw',
    prev: [H1, H2],
    body: { to: gln('400000000001'), items: [{ gtin: '09501101530003', serial: 'X1' }] },
    ...over,
  };
}

function thrown(fn: () => unknown): MedtrailError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MedtrailError) return e;
    throw e;
  }
  throw new Error('expected a MedtrailError, nothing was thrown');
}

const fieldsOf = (e: MedtrailError): [string, ErrorCode][] => (e.fields ?? []).map((f: FieldError) => [f.path, f.code]);

afterEach(() => useEd25519(naclEd25519));

describe('signing and encoding', () => {
  it('signs over the domain prefix and the canonical envelope without sig (known answer)', () => {
    const bytes = signingBytes(unsigned(), LOG);
    const expected =
      'medtrail/v1/ship\n' +
      `${LOG}\n` +
      `{"at":"2026-11-21T17:45:09.123Z","body":{"items":[{"gtin":"09501101530003","serial":"X1"}],"to":"${gln('400000000001')}"},` +
      `"kind":"ship","nonce":"AAECAwQFBgcICQoLDA0ODw","prev":["${H1}","${H2}"],"signer":"${SIGNER}","v":1}`;
    expect(new TextDecoder().decode(bytes)).toBe(expected);
  });

  it('binds the signature to one log: the same entry does not verify for another origin (issue 12 #8)', () => {
    const e = signEntry(unsigned(), seed, LOG);
    expect(verifyEntry(e, pub, LOG)).toBe(true);
    expect(verifyEntry(e, pub, 'example.org/another-ledger')).toBe(false);
    expect(verifyEntry(decodeEntry(encodeEntry(e)), pub, 'example.org/another-ledger')).toBe(false);
    for (const bad of ['', 'two\nlines', 'x'.repeat(257)]) {
      expect(thrown(() => signEntry(unsigned(), seed, bad)).code).toBe('LOG_BAD_ORIGIN');
      expect(thrown(() => verifyEntry(e, pub, bad)).code).toBe('LOG_BAD_ORIGIN');
    }
  });

  it('round trip: sign, verify, encode, decode, leaf hash', () => {
    const e = signEntry(unsigned(), seed, LOG);
    expect(e.sig).toMatch(/^[A-Za-z0-9+/]{86}==$/);
    expect(verifyEntry(e, pub, LOG)).toBe(true);
    const bytes = encodeEntry(e);
    expect(decodeEntry(bytes)).toEqual(e);
    const text = new TextDecoder().decode(bytes);
    expect(text).toContain(`"prev":["${H1}","${H2}"],"sig":"${e.sig}","signer"`);
    const leaf = createHash('sha256').update(Buffer.concat([Buffer.from([0]), Buffer.from(bytes)])).digest();
    expect(Buffer.from(entryLeafHash(e))).toEqual(leaf);
  });

  it('tweetnacl and node:crypto sign entries identically and verify each other', () => {
    useEd25519(naclEd25519);
    const a = signEntry(unsigned(), seed, LOG);
    useEd25519(nodeEd25519);
    const b = signEntry(unsigned(), seed, LOG);
    expect(b.sig).toBe(a.sig);
    expect(verifyEntry(a, pub, LOG)).toBe(true);
    useEd25519(naclEd25519);
    expect(verifyEntry(b, pub, LOG)).toBe(true);
  });

  it('a signature made for one kind never verifies as another (domain separation)', () => {
    for (const k1 of ENTRY_KINDS) {
      const e = signEntry(unsigned({ kind: k1 }), seed, LOG);
      for (const k2 of ENTRY_KINDS) expect(verifyEntry({ ...e, kind: k2 }, pub, LOG)).toBe(k1 === k2);
    }
  });

  it('the prefix is part of the signed bytes: a bare-JCS signature does not verify', () => {
    const e = signEntry(unsigned(), seed, LOG);
    const bare = signingBytes(e, LOG).subarray('medtrail/v1/ship\n'.length);
    useEd25519(nodeEd25519);
    const sigOverBare = toBase64(nodeEd25519.sign(bare, seed));
    expect(verifyEntry({ ...e, sig: sigOverBare }, pub, LOG)).toBe(false);
  });

  it('any change to a signed member makes verification false', () => {
    const e = signEntry(unsigned(), seed, LOG);
    const changes: Partial<Entry>[] = [
      { signer: gln('409876543211') },
      { at: '2026-11-21T17:45:09.124Z' },
      { nonce: 'AAECAwQFBgcICQoLDA0OEA' },
      { prev: [H2, H1] },
      { prev: [H1] },
      { body: { ...e.body, extra: true } },
    ];
    for (const c of changes) expect(verifyEntry({ ...e, ...c }, pub, LOG)).toBe(false);
    expect(verifyEntry(e, publicKeyFromSeed(new Uint8Array(32)), LOG)).toBe(false);
  });

  it('verifyEntry: coded errors for a malformed key or signature, never a bare exception', () => {
    const e = signEntry(unsigned(), seed, LOG);
    expect(thrown(() => verifyEntry(e, new Uint8Array(31), LOG)).code).toBe('KEY_BAD_LENGTH');
    expect(thrown(() => verifyEntry(e, new Uint8Array(33), LOG)).code).toBe('KEY_BAD_LENGTH');
    expect(thrown(() => verifyEntry({ ...e, sig: toBase64(new Uint8Array(63)) }, pub, LOG)).code).toBe('SIG_BAD_LENGTH');
    expect(thrown(() => verifyEntry({ ...e, sig: toBase64(new Uint8Array(65)) }, pub, LOG)).code).toBe('SIG_BAD_LENGTH');
    expect(thrown(() => verifyEntry({ ...e, sig: 'not base64!' }, pub, LOG)).code).toBe('BAD_BASE64');
    expect(thrown(() => verifyEntry({ ...e, sig: undefined } as unknown as Entry, pub, LOG)).code).toBe('SIG_BAD_LENGTH');
    expect(thrown(() => verifyEntry({ ...e, kind: 'mint' as EntryKind }, pub, LOG)).code).toBe('ENTRY_BAD_KIND');
  });

  it('signEntry refuses a malformed envelope and replaces an existing sig', () => {
    expect(thrown(() => signEntry(unsigned({ signer: '123' }), seed, LOG)).code).toBe('ENTRY_MALFORMED');
    const e = signEntry(unsigned(), seed, LOG);
    const again = signEntry({ ...e, body: { x: 1 } }, seed, LOG);
    expect(again.sig).not.toBe(e.sig);
    expect(verifyEntry(again, pub, LOG)).toBe(true);
  });

  it('newNonce gives 16 fresh random bytes in base64url', () => {
    const a = newNonce();
    expect(a).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(new Set(Array.from({ length: 100 }, newNonce)).size).toBe(100);
    expect(() => signEntry(unsigned({ nonce: a }), seed, LOG)).not.toThrow();
  });
});

describe('size limits', () => {
  it('a 100,000-pack batch listing its serials signs, encodes, decodes and verifies', () => {
    useEd25519(nodeEd25519);
    const serials = Array.from({ length: 100_000 }, (_, i) => `SN${String(i).padStart(18, '0')}`);
    const e = signEntry(unsigned({ kind: 'batch', prev: [], body: { gtin: '09501101530003', lot: 'L1', expiry: '281231', serials } }), seed, LOG);
    const bytes = encodeEntry(e);
    expect(bytes.length).toBeGreaterThan(2_000_000);
    expect(bytes.length).toBeLessThan(MAX_ENTRY_BYTES);
    expect(verifyEntry(decodeEntry(bytes), pub, LOG)).toBe(true);
  });

  it('refuses to sign an entry whose leaf would exceed MAX_ENTRY_BYTES, and to decode one', () => {
    expect(thrown(() => signEntry(unsigned({ body: { blob: 'x'.repeat(MAX_ENTRY_BYTES) } }), seed, LOG)).code).toBe('TOO_LARGE');
    expect(thrown(() => decodeEntry(new Uint8Array(MAX_ENTRY_BYTES + 1))).code).toBe('TOO_LARGE');
  });

  it(`prev: ${MAX_PREV} hashes are fine, one more is TOO_LARGE`, () => {
    const hashes = Array.from({ length: MAX_PREV + 1 }, (_, i) => i.toString(16).padStart(64, '0'));
    expect(() => signEntry(unsigned({ prev: hashes.slice(0, MAX_PREV) }), seed, LOG)).not.toThrow();
    const e = thrown(() => signEntry(unsigned({ prev: hashes }), seed, LOG));
    expect(fieldsOf(e)).toEqual([['prev', 'TOO_LARGE']]);
  });
});

describe('parseEntry: every envelope field malformed, one at a time', () => {
  const good = (): Record<string, unknown> => ({ ...signEntry(unsigned(), seed, LOG) });
  const cases: [string, string, unknown, string, ErrorCode][] = [
    // [name, member, bad value (undefined = removed), field path, field code]
    ['v missing', 'v', undefined, 'v', 'ENTRY_MALFORMED'],
    ['v a string', 'v', '1', 'v', 'BAD_TYPE'],
    ['v fractional', 'v', 1.5, 'v', 'BAD_TYPE'],
    ['kind missing', 'kind', undefined, 'kind', 'ENTRY_MALFORMED'],
    ['kind a number', 'kind', 3, 'kind', 'BAD_TYPE'],
    ['kind wrong case', 'kind', 'Ship', 'kind', 'ENTRY_BAD_KIND'],
    ['signer missing', 'signer', undefined, 'signer', 'ENTRY_MALFORMED'],
    ['signer 12 digits', 'signer', '409876543210', 'signer', 'GS1_BAD_GLN'],
    ['signer a number', 'signer', 4098765432101, 'signer', 'GS1_BAD_GLN'],
    ['signer bad check digit', 'signer', '409876543210' + String((checkDigit('409876543210') + 1) % 10), 'signer', 'GS1_BAD_CHECK_DIGIT'],
    ['at missing', 'at', undefined, 'at', 'ENTRY_MALFORMED'],
    ['at without milliseconds', 'at', '2026-11-21T17:45:09Z', 'at', 'BAD_INPUT'],
    ['at with an offset', 'at', '2026-11-21T18:45:09.123+01:00', 'at', 'BAD_INPUT'],
    ['at lowercase z', 'at', '2026-11-21T17:45:09.123z', 'at', 'BAD_INPUT'],
    ['at 30 February', 'at', '2026-02-30T17:45:09.123Z', 'at', 'BAD_INPUT'],
    ['at hour 24', 'at', '2026-11-21T24:00:00.000Z', 'at', 'BAD_INPUT'],
    ['at a number', 'at', 1763747109123, 'at', 'BAD_INPUT'],
    ['nonce missing', 'nonce', undefined, 'nonce', 'ENTRY_MALFORMED'],
    ['nonce 15 bytes', 'nonce', 'AAECAwQFBgcICQoLDA0O', 'nonce', 'BAD_LENGTH'],
    ['nonce standard base64', 'nonce', 'AAECAwQFBgcICQoLDA0ODw==', 'nonce', 'BAD_BASE64'],
    ['nonce with + and /', 'nonce', '+/ECAwQFBgcICQoLDA0ODw', 'nonce', 'BAD_BASE64'],
    ['nonce non-canonical trailing bits', 'nonce', 'AAECAwQFBgcICQoLDA0ODx', 'nonce', 'BAD_BASE64'],
    ['nonce an array', 'nonce', [], 'nonce', 'BAD_TYPE'],
    ['prev missing', 'prev', undefined, 'prev', 'ENTRY_MALFORMED'],
    ['prev a string', 'prev', H1, 'prev', 'BAD_TYPE'],
    ['prev uppercase hex', 'prev', [H1, H2.toUpperCase()], 'prev[1]', 'BAD_HEX'],
    ['prev short hash', 'prev', [H1.slice(2)], 'prev[0]', 'BAD_HEX'],
    ['prev a number item', 'prev', [H1, 7], 'prev[1]', 'BAD_HEX'],
    ['prev duplicate', 'prev', [H1, H2, H1], 'prev[2]', 'ENTRY_MALFORMED'],
    ['body missing', 'body', undefined, 'body', 'ENTRY_MALFORMED'],
    ['body an array', 'body', [], 'body', 'BAD_TYPE'],
    ['body null', 'body', null, 'body', 'BAD_TYPE'],
    ['body a string', 'body', '{}', 'body', 'BAD_TYPE'],
    ['body with a lone surrogate', 'body', { items: [{ serial: 'A\uD800' }] }, 'body.items[0].serial', 'BAD_INPUT'],
    ['body with Infinity', 'body', { n: Infinity }, 'body.n', 'BAD_INPUT'],
    ['body too deep', 'body', JSON.parse('{"a":'.repeat(64) + '1' + '}'.repeat(64)), 'body' + '.a'.repeat(63), 'TOO_LARGE'],
    ['sig missing', 'sig', undefined, 'sig', 'ENTRY_MALFORMED'],
    ['sig 63 bytes', 'sig', toBase64(new Uint8Array(63)), 'sig', 'SIG_BAD_LENGTH'],
    ['sig base64url', 'sig', '_'.repeat(86) + '==', 'sig', 'BAD_BASE64'],
    ['sig unpadded', 'sig', 'A'.repeat(86), 'sig', 'BAD_BASE64'],
    ['sig a number', 'sig', 0, 'sig', 'BAD_TYPE'],
    ['unknown member', 'extra', 1, 'extra', 'ENTRY_MALFORMED'],
    ['unknown member __proto__', '__proto__', {}, '__proto__', 'ENTRY_MALFORMED'],
  ];
  for (const [name, member, bad, path, code] of cases) {
    it(name, () => {
      const o = good();
      if (bad === undefined) delete o[member];
      else Object.defineProperty(o, member, { value: bad, enumerable: true, writable: true, configurable: true });
      const e = thrown(() => parseEntry(o));
      expect(e.code).toBe(code === 'ENTRY_BAD_KIND' ? 'ENTRY_BAD_KIND' : 'ENTRY_MALFORMED');
      expect(fieldsOf(e)).toEqual([[path, code]]);
    });
  }

  it('an unsupported version is ENTRY_BAD_VERSION, before anything else is judged', () => {
    const e = thrown(() => parseEntry({ ...good(), v: 2, kind: 'mint' }));
    expect(e.code).toBe('ENTRY_BAD_VERSION');
    expect(fieldsOf(e)).toEqual([['v', 'ENTRY_BAD_VERSION']]);
    expect(thrown(() => parseEntry({ ...good(), v: 0 })).code).toBe('ENTRY_BAD_VERSION');
  });

  it('several bad fields are reported together', () => {
    const e = thrown(() =>
      parseEntry({ ...good(), kind: 'mint', signer: 'nobody', at: 'yesterday', prev: [H1, H1, 'x'], body: { ok: true, bad: NaN }, sig: 'AA==', more: 1 }),
    );
    expect(e.code).toBe('ENTRY_MALFORMED');
    expect(fieldsOf(e)).toEqual([
      ['more', 'ENTRY_MALFORMED'],
      ['kind', 'ENTRY_BAD_KIND'],
      ['signer', 'GS1_BAD_GLN'],
      ['at', 'BAD_INPUT'],
      ['prev[1]', 'ENTRY_MALFORMED'],
      ['prev[2]', 'BAD_HEX'],
      ['body.bad', 'BAD_INPUT'],
      ['sig', 'SIG_BAD_LENGTH'],
    ]);
  });

  it('an empty object reports every member missing', () => {
    const e = thrown(() => parseEntry({}));
    expect(fieldsOf(e).map(([p]) => p).sort()).toEqual(['at', 'body', 'kind', 'nonce', 'prev', 'sig', 'signer', 'v']);
  });

  it('a garbage-filled prev reports its first 20 items, not 10,000', () => {
    const e = thrown(() => parseEntry({ ...good(), prev: Array.from({ length: 10_000 }, () => 'zz') }));
    expect(e.fields?.length).toBe(20);
  });

  for (const v of [null, 1, 'entry', [], [1], true, new Date(0)]) {
    it(`not an object: ${JSON.stringify(v)}`, () => {
      const e = thrown(() => parseEntry(v));
      expect(e.code).toBe('ENTRY_MALFORMED');
      expect(fieldsOf(e)).toEqual([['', 'BAD_TYPE']]);
    });
  }
});

describe('decodeEntry: only the canonical bytes are accepted', () => {
  const e = signEntry(unsigned({ body: { name: 'Amoxicillin 500 mg', form: 'oral/suspension', ctl: '\u000f', qty: 20, ok: true, none: null } }), seed, LOG);
  const canonical = new TextDecoder().decode(encodeEntry(e));
  const obj = JSON.parse(canonical) as Record<string, unknown>;
  const variants: [string, string][] = [
    ['pretty-printed', JSON.stringify(obj, null, 2)],
    ['a trailing newline', canonical + '\n'],
    ['a leading space', ' ' + canonical],
    ['members in insertion order', JSON.stringify({ v: 1, ...obj })],
    ['body members reordered', canonical.replace('"name":"Amoxicillin 500 mg","none":null', '"none":null,"name":"Amoxicillin 500 mg"')],
    ['an escaped letter', canonical.replace('Amoxicillin', '\\u0041moxicillin')],
    ['an escaped slash', canonical.replace('oral/suspension', 'oral\\/suspension')],
    ['an escaped space', canonical.replace('500 mg', '500\\u0020mg')],
    ['an uppercase hex escape', canonical.replace('\\u000f', '\\u000F')],
    ['a duplicate member', canonical.replace('{"at"', `{"at":"2000-01-01T00:00:00.000Z","at"`)],
    ['a number written 20.0', canonical.replace('"qty":20', '"qty":20.0')],
    ['a number written 2e1', canonical.replace('"qty":20', '"qty":2e1')],
  ];
  for (const [name, text] of variants) {
    it(name, () => {
      expect(text).not.toBe(canonical);
      expect(thrown(() => decodeEntry(utf8(text))).code).toBe('ENTRY_NOT_CANONICAL');
    });
  }

  it('a UTF-8 byte order mark', () => {
    const b = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8(canonical)]);
    expect(thrown(() => decodeEntry(b)).code).toBe('ENTRY_NOT_CANONICAL');
  });

  it('a huge integer that JSON.parse would round', () => {
    const text = canonical.replace('"qty":20', '"qty":12345678901234567890');
    expect(thrown(() => decodeEntry(utf8(text))).code).toBe('ENTRY_NOT_CANONICAL');
  });

  it('invalid UTF-8, broken JSON, non-bytes', () => {
    const bytes = utf8(canonical);
    const bad = bytes.slice();
    bad[bad.indexOf(0x41)] = 0xc3; // a lead byte followed by ASCII
    expect(thrown(() => decodeEntry(bad)).code).toBe('ENTRY_MALFORMED');
    expect(thrown(() => decodeEntry(bytes.subarray(0, bytes.length - 1))).code).toBe('ENTRY_MALFORMED');
    expect(thrown(() => decodeEntry(new Uint8Array())).code).toBe('ENTRY_MALFORMED');
    // A raw control character inside a string is not JSON at all.
    expect(thrown(() => decodeEntry(utf8(canonical.replace('\\u000f', '\u000f')))).code).toBe('ENTRY_MALFORMED');
    expect(thrown(() => decodeEntry(canonical as unknown as Uint8Array)).code).toBe('BAD_TYPE');
    expect(thrown(() => decodeEntry(utf8('['.repeat(100_000)))).code).toBe('ENTRY_MALFORMED');
  });

  it('the canonical bytes decode to the same entry', () => {
    expect(decodeEntry(utf8(canonical))).toEqual(e);
  });
});

describe('hostile input only ever gives MedtrailError', () => {
  const envelopeish = fc.record(
    {
      v: fc.oneof(fc.constant(1), fc.jsonValue()),
      kind: fc.oneof(fc.constantFrom(...ENTRY_KINDS), fc.string()),
      signer: fc.oneof(fc.constant(SIGNER), fc.stringMatching(/^[0-9]{11,14}$/), fc.jsonValue()),
      at: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), fc.string()),
      nonce: fc.oneof(fc.constant(newNonce()), fc.base64String(), fc.string()),
      prev: fc.oneof(fc.array(fc.constantFrom(H1, H2, 'zz')), fc.jsonValue()),
      body: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.jsonValue()),
      sig: fc.oneof(fc.base64String(), fc.string()),
    },
    { requiredKeys: [] },
  );

  it('parseEntry on random JSON values and envelope-like records', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), envelopeish), (v) => {
        try {
          parseEntry(v);
        } catch (e) {
          expect(e).toBeInstanceOf(MedtrailError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('decodeEntry on random bytes and random JSON text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.json().map(utf8), envelopeish.map((o) => utf8(JSON.stringify(o)))), (b) => {
        try {
          decodeEntry(b);
        } catch (e) {
          expect(e).toBeInstanceOf(MedtrailError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('a changed byte in a signed leaf is refused or fails verification', () => {
    const bytes = encodeEntry(signEntry(unsigned(), seed, LOG));
    fc.assert(
      fc.property(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const b = bytes.slice();
        b[i] = b[i]! ^ x;
        let ok: boolean;
        try {
          ok = verifyEntry(decodeEntry(b), pub, LOG);
        } catch (e) {
          expect(e).toBeInstanceOf(MedtrailError);
          ok = false;
        }
        expect(ok).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});

describe('timestamps that Date cannot represent', () => {
  for (const at of ['2026-13-01T00:00:00.000Z', '2026-11-32T00:00:00.000Z', '2026-11-21T17:61:00.000Z', '2026-11-21T17:45:60.000Z', '2026-00-10T00:00:00.000Z']) {
    it(at, () => {
      const e = thrown(() => parseEntry({ ...signEntry(unsigned(), seed, LOG), at }));
      expect(fieldsOf(e)).toEqual([['at', 'BAD_INPUT']]);
    });
  }
});

describe('signature malleability', () => {
  // (R, S + L) is the same signature to an implementation that skips RFC 8032's S < L check (tweetnacl does);
  // verifyEntry refuses it under both implementations, so browser and server agree.
  const L = (1n << 252n) + 27742317777372353535851937790883648493n;
  function withS(sigB64: string, add: bigint): string {
    const sig = Buffer.from(sigB64, 'base64');
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]!);
    let x = s + add;
    for (let i = 0; i < 32; i++) {
      sig[32 + i] = Number(x & 255n);
      x >>= 8n;
    }
    return sig.toString('base64');
  }
  for (const impl of [naclEd25519, nodeEd25519]) {
    it(`S + L is refused with ${impl.name}`, () => {
      useEd25519(impl);
      const e = signEntry(unsigned(), seed, LOG);
      expect(verifyEntry(e, pub, LOG)).toBe(true);
      expect(verifyEntry({ ...e, sig: withS(e.sig, L) }, pub, LOG)).toBe(false);
    });
  }
});

describe('the envelope text is exactly RFC 8785', () => {
  const hashArb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
  it('encodeEntry and signingBytes equal canonicalJson of the envelope for random bodies and prev lists', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ENTRY_KINDS),
        fc.uniqueArray(hashArb, { maxLength: 5 }),
        fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue({ maxDepth: 3 })),
        (kind, prev, body) => {
          const e = signEntry(unsigned({ kind, prev, body }), seed, LOG);
          expect(new TextDecoder().decode(encodeEntry(e))).toBe(canonicalJson(e));
          const { sig: _sig, ...u } = e;
          expect(new TextDecoder().decode(signingBytes(e, LOG))).toBe(`medtrail/v1/${kind}\n${LOG}\n` + canonicalJson(u));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('decoded entries', () => {
  it('are deeply frozen, and verify from the exact bytes they were decoded from', () => {
    const e = signEntry(unsigned(), seed, LOG);
    const d = decodeEntry(encodeEntry(e));
    expect(Object.isFrozen(d) && Object.isFrozen(d.prev) && Object.isFrozen(d.body)).toBe(true);
    expect(Object.isFrozen((d.body['items'] as object[])[0])).toBe(true);
    expect(() => {
      (d.body as Record<string, unknown>)['to'] = SIGNER;
    }).toThrow(TypeError);
    expect(verifyEntry(d, pub, LOG)).toBe(true);
    expect(verifyEntry({ ...d, at: '2027-01-01T00:00:00.000Z' }, pub, LOG)).toBe(false);
    expect(verifyEntry(d, publicKeyFromSeed(new Uint8Array(32).fill(9)), LOG)).toBe(false);
  });

  it('a leaf with a valid signature over different content decodes but does not verify', () => {
    const a = signEntry(unsigned(), seed, LOG);
    const b = signEntry(unsigned({ body: { other: 1 } }), seed, LOG);
    expect(verifyEntry(decodeEntry(encodeEntry({ ...a, sig: b.sig })), pub, LOG)).toBe(false);
  });
});

describe('decoded entries keep their own copy of the leaf', () => {
  it('changing the input buffer afterwards changes nothing', () => {
    const e = signEntry(unsigned(), seed, LOG);
    const bytes = encodeEntry(e);
    const d = decodeEntry(bytes);
    bytes.fill(0x20);
    expect(encodeEntry(d)).toEqual(encodeEntry(e));
    expect(verifyEntry(d, pub, LOG)).toBe(true);
    const out = encodeEntry(d);
    out.fill(0);
    expect(encodeEntry(d)).toEqual(encodeEntry(e));
    expect(entryLeafHash(d)).toEqual(entryLeafHash(e));
  });
});
