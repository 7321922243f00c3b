// core/originality: NTAG21x originality signatures (ECDSA secp128r1, NXP AN11350) against published vectors.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex } from '../../core/bytes.js';
import { NXP_NTAG21X_PUBLIC_KEY, verifyOriginality } from '../../core/tag/originality.js';

interface V {
  uid: string;
  signature: string;
  publicKey?: string;
}
const vectors = JSON.parse(readFileSync(new URL('../vectors/ntag-originality/vectors.json', import.meta.url), 'utf8')) as {
  publicKey: string;
  valid: V[];
  otherKeys: V[];
};
const h = (s: string) => fromHex(s.toLowerCase());

describe('published NTAG21x signatures', () => {
  it('uses the key of AN11350', () => {
    expect(vectors.publicKey).toBe(NXP_NTAG21X_PUBLIC_KEY);
  });
  for (const v of vectors.valid) {
    it(`verifies UID ${v.uid}`, () => {
      expect(verifyOriginality(h(v.uid), h(v.signature))).toBe(true);
    });
  }
  it('a signature made under another NXP key does not verify under the NTAG21x key, but does under its own', () => {
    for (const v of vectors.otherKeys) {
      expect(verifyOriginality(h(v.uid), h(v.signature))).toBe(false);
      expect(verifyOriginality(h(v.uid), h(v.signature), v.publicKey)).toBe(true);
    }
  });
});

describe('when it must fail', () => {
  const v = vectors.valid[0]!;
  it('any flipped bit of the UID or the signature', () => {
    for (let i = 0; i < 7 * 8; i += 5) {
      const uid = h(v.uid);
      uid[i >> 3]! ^= 1 << (i & 7);
      expect(verifyOriginality(uid, h(v.signature))).toBe(false);
    }
    for (let i = 0; i < 32 * 8; i += 7) {
      const sig = h(v.signature);
      sig[i >> 3]! ^= 1 << (i & 7);
      expect(verifyOriginality(h(v.uid), sig)).toBe(false);
    }
  });
  it('the all-zero answer of a clone, and r or s out of range', () => {
    expect(verifyOriginality(h(v.uid), new Uint8Array(32))).toBe(false);
    expect(verifyOriginality(h(v.uid), new Uint8Array(32).fill(0xff))).toBe(false);
  });
  it('wrong shapes are coded errors', () => {
    expect(() => verifyOriginality(h(v.uid), new Uint8Array(31))).toThrow(expect.objectContaining({ code: 'BAD_LENGTH' }));
    expect(() => verifyOriginality(new Uint8Array(2), h(v.signature))).toThrow(expect.objectContaining({ code: 'BAD_LENGTH' }));
    expect(() => verifyOriginality(h(v.uid), h(v.signature), '04' + '00'.repeat(32))).toThrow(expect.objectContaining({ code: 'BAD_INPUT' }));
  });
});
