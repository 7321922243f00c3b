import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../core/bytes.js';
import { publicKeyFromSeed, sign, verify } from '../../core/crypto/ed25519.js';
import { MedtrailError, type ErrorCode } from '../../core/errors.js';
import { checkDigit } from '../../core/gs1/identifiers.js';
import { generateKeyFile, keyFilePublic, keyFileSeed, keyId, parseKeyFile, parsePublicKeyFile, publicKeyFile, type KeyFile } from '../../core/crypto/keys.js';

const GLN = '409876543210' + String(checkDigit('409876543210'));

function thrown(fn: () => unknown): MedtrailError {
  try {
    fn();
  } catch (e) {
    if (e instanceof MedtrailError) return e;
    throw e;
  }
  throw new Error('expected a MedtrailError, nothing was thrown');
}
const fieldsOf = (e: MedtrailError): [string, ErrorCode][] => (e.fields ?? []).map((f) => [f.path, f.code]);

describe('generateKeyFile', () => {
  it('makes a usable key whose public half matches its seed', () => {
    const k = generateKeyFile('Acme Pharma', GLN);
    expect(k).toMatchObject({ v: 1, type: 'ed25519', name: 'Acme Pharma', gln: GLN });
    expect(Date.parse(k.created)).toBeGreaterThan(Date.parse('2026-01-01T00:00:00Z'));
    const seed = keyFileSeed(k);
    expect(seed.length).toBe(32);
    expect(keyFilePublic(k)).toEqual(publicKeyFromSeed(seed));
    const msg = new TextEncoder().encode('hello');
    expect(verify(msg, sign(msg, seed), keyFilePublic(k))).toBe(true);
    expect(parseKeyFile(JSON.parse(JSON.stringify(k)))).toEqual(k);
  });

  it('each key is fresh', () => {
    const seeds = new Set(Array.from({ length: 20 }, () => generateKeyFile('x').seed));
    expect(seeds.size).toBe(20);
  });

  it('without a GLN the member is absent, not undefined (so it serialises cleanly)', () => {
    const k = generateKeyFile('log');
    expect(Object.keys(k)).not.toContain('gln');
  });

  it('refuses a bad name or GLN', () => {
    expect(fieldsOf(thrown(() => generateKeyFile('', GLN)))).toEqual([['name', 'BAD_INPUT']]);
    expect(fieldsOf(thrown(() => generateKeyFile('a\nb')))).toEqual([['name', 'BAD_INPUT']]);
    expect(fieldsOf(thrown(() => generateKeyFile('x'.repeat(201))))).toEqual([['name', 'BAD_INPUT']]);
    const e = thrown(() => generateKeyFile('Acme', '409876543210' + String((checkDigit('409876543210') + 1) % 10)));
    expect(e.code).toBe('KEYFILE_BAD');
    expect(fieldsOf(e)).toEqual([['gln', 'GS1_BAD_GLN']]);
  });
});

describe('parseKeyFile', () => {
  const good = (): Record<string, unknown> => ({ ...generateKeyFile('Acme Pharma', GLN) });

  it('accepts the JSON text of a key file too', () => {
    const k = generateKeyFile('a');
    expect(parseKeyFile(JSON.stringify(k))).toEqual(k);
    expect(thrown(() => parseKeyFile('{not json')).code).toBe('KEYFILE_BAD');
  });

  it('accepts RFC 3339 times with offsets and fractions', () => {
    for (const created of ['2026-11-21T17:45:09Z', '2026-11-21T18:45:09.5+01:00', '2026-11-21t17:45:09z']) {
      expect(parseKeyFile({ ...good(), created }).created).toBe(created);
    }
  });

  const cases: [string, string, unknown, string, ErrorCode][] = [
    ['v 2', 'v', 2, 'v', 'KEYFILE_BAD'],
    ['type x25519', 'type', 'x25519', 'type', 'KEYFILE_BAD'],
    ['name missing', 'name', undefined, 'name', 'BAD_INPUT'],
    ['name blank', 'name', '   ', 'name', 'BAD_INPUT'],
    ['gln not a GLN', 'gln', '123', 'gln', 'GS1_BAD_GLN'],
    ['gln null', 'gln', null, 'gln', 'GS1_BAD_GLN'],
    ['publicKey 31 bytes', 'publicKey', toBase64(new Uint8Array(31)), 'publicKey', 'KEY_BAD_LENGTH'],
    ['publicKey not base64', 'publicKey', '!!!!', 'publicKey', 'BAD_BASE64'],
    ['publicKey missing', 'publicKey', undefined, 'publicKey', 'KEYFILE_BAD'],
    ['seed 33 bytes', 'seed', toBase64(new Uint8Array(33)), 'seed', 'KEY_BAD_LENGTH'],
    ['seed a number', 'seed', 5, 'seed', 'KEYFILE_BAD'],
    ['created missing', 'created', undefined, 'created', 'BAD_INPUT'],
    ['created not a date', 'created', 'yesterday', 'created', 'BAD_INPUT'],
    ['created month 13', 'created', '2026-13-01T00:00:00Z', 'created', 'BAD_INPUT'],
    ['unknown member', 'secret', 'x', 'secret', 'KEYFILE_BAD'],
  ];
  for (const [name, member, bad, path, code] of cases) {
    it(name, () => {
      const o = good();
      if (bad === undefined) delete o[member];
      else o[member] = bad;
      const e = thrown(() => parseKeyFile(o));
      expect(e.code).toBe('KEYFILE_BAD');
      expect(fieldsOf(e)).toEqual([[path, code]]);
    });
  }

  it('refuses a public key that is not the seed\'s', () => {
    const a = generateKeyFile('a');
    const b = generateKeyFile('b');
    const e = thrown(() => parseKeyFile({ ...a, publicKey: b.publicKey }));
    expect(fieldsOf(e)).toEqual([['publicKey', 'KEYFILE_BAD']]);
  });

  it('reports several bad fields at once', () => {
    const e = thrown(() => parseKeyFile({ v: 1, type: 'rsa', name: '', seed: 'AA==', created: 'now' }));
    expect(fieldsOf(e).map(([p]) => p)).toEqual(['type', 'name', 'created', 'publicKey', 'seed']);
  });

  it('non-objects', () => {
    for (const v of [null, 3, [], true, undefined]) expect(thrown(() => parseKeyFile(v)).code).toBe('KEYFILE_BAD');
  });

  it('random input only ever gives KEYFILE_BAD', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.string(), fc.record({ v: fc.jsonValue(), type: fc.jsonValue(), name: fc.string(), publicKey: fc.base64String(), seed: fc.base64String(), created: fc.string() }, { requiredKeys: [] })), (v) => {
        try {
          parseKeyFile(v);
        } catch (e) {
          expect(e).toBeInstanceOf(MedtrailError);
          expect((e as MedtrailError).code).toBe('KEYFILE_BAD');
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('sharing and ids', () => {
  it('publicKeyFile drops the seed and parses as a shared key file', () => {
    const k = generateKeyFile('Acme Pharma', GLN);
    const p = publicKeyFile(k);
    expect(p).not.toHaveProperty('seed');
    expect(JSON.stringify(p)).not.toContain(k.seed);
    expect(parsePublicKeyFile(JSON.stringify(p))).toEqual(p);
    expect(keyFilePublic(p as KeyFile)).toEqual(fromBase64(k.publicKey));
  });

  it('a shared key file holding a seed is refused', () => {
    const e = thrown(() => parsePublicKeyFile(generateKeyFile('a')));
    expect(fieldsOf(e)).toEqual([['seed', 'KEYFILE_BAD']]);
  });

  it('keyId is the first 8 bytes of SHA-256(publicKey) in lowercase hex', () => {
    const pk = fromBase64(generateKeyFile('a').publicKey);
    const expected = createHash('sha256').update(pk).digest('hex').slice(0, 16);
    expect(keyId(pk)).toBe(expected);
    expect(keyId(pk)).toMatch(/^[0-9a-f]{16}$/);
    expect(thrown(() => keyId(new Uint8Array(31))).code).toBe('KEY_BAD_LENGTH');
  });
});
