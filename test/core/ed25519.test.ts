// Ed25519: RFC 8032 vectors through both implementations (tweetnacl, the portable default, and node:crypto,
// the server's), byte-identical signatures, cross-verification, bit flips, and size checks at the boundary.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { naclEd25519, publicKeyFromSeed, sign, useEd25519, verify, ed25519Name, type Ed25519Impl } from '../../core/crypto/ed25519.js';
import { nodeEd25519 } from '../../core/crypto/ed25519-node.js';
import { MedtrailError, type ErrorCode } from '../../core/errors.js';

interface Vector {
  name: string;
  secretKey: string;
  publicKey: string;
  message: string;
  signature: string;
}
// Source: RFC 8032 section 7.1 (see test/vectors/rfc8032/README.md).
const file = fileURLToPath(new URL('../vectors/rfc8032/ed25519.json', import.meta.url));
const { vectors } = JSON.parse(readFileSync(file, 'utf8')) as { vectors: Vector[] };
const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const IMPLS: Ed25519Impl[] = [naclEd25519, nodeEd25519];

function codeOf(fn: () => unknown): ErrorCode {
  try {
    fn();
  } catch (e) {
    if (e instanceof MedtrailError) return e.code;
    throw e;
  }
  throw new Error('expected a MedtrailError, nothing was thrown');
}

function flipBit(b: Uint8Array, bit: number): Uint8Array {
  const c = b.slice();
  c[bit >> 3] = c[bit >> 3]! ^ (1 << (bit & 7));
  return c;
}

afterEach(() => useEd25519(naclEd25519));

describe('RFC 8032 section 7.1 vectors', () => {
  it('all five are there', () => {
    expect(vectors.map((v) => v.name)).toEqual(['TEST 1', 'TEST 2', 'TEST 3', 'TEST 1024', 'TEST SHA(abc)']);
  });

  for (const v of vectors) {
    for (const impl of IMPLS) {
      it(`${v.name} with ${impl.name}`, () => {
        useEd25519(impl);
        expect(ed25519Name()).toBe(impl.name);
        const seed = hex(v.secretKey);
        const msg = hex(v.message);
        expect(Buffer.from(publicKeyFromSeed(seed)).toString('hex')).toBe(v.publicKey);
        expect(Buffer.from(sign(msg, seed)).toString('hex')).toBe(v.signature);
        expect(verify(msg, hex(v.signature), hex(v.publicKey))).toBe(true);
        if (msg.length > 0) expect(verify(flipBit(msg, 0), hex(v.signature), hex(v.publicKey))).toBe(false);
      });
    }

    it(`${v.name}: both implementations give byte-identical signatures`, () => {
      const seed = hex(v.secretKey);
      const msg = hex(v.message);
      expect(nodeEd25519.sign(msg, seed)).toEqual(naclEd25519.sign(msg, seed));
      expect(nodeEd25519.publicKeyFromSeed(seed)).toEqual(naclEd25519.publicKeyFromSeed(seed));
    });
  }
});

describe('tweetnacl and node:crypto agree', () => {
  const seedArb = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const msgArb = fc.uint8Array({ maxLength: 512 });

  it('same public key and signature for random seeds and messages; each verifies the other', () => {
    fc.assert(
      fc.property(seedArb, msgArb, (seed, msg) => {
        const pub = naclEd25519.publicKeyFromSeed(seed);
        expect(nodeEd25519.publicKeyFromSeed(seed)).toEqual(pub);
        const a = naclEd25519.sign(msg, seed);
        const b = nodeEd25519.sign(msg, seed);
        expect(b).toEqual(a);
        expect(nodeEd25519.verify(msg, a, pub)).toBe(true);
        expect(naclEd25519.verify(msg, b, pub)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  for (const impl of IMPLS) {
    describe(`with ${impl.name}, flipping any bit fails verification (false, never a throw)`, () => {
      const flips = fc.tuple(seedArb, fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.nat());

      it('of the message', () => {
        useEd25519(impl);
        fc.assert(
          fc.property(flips, ([seed, msg, n]) => {
            const sig = sign(msg, seed);
            expect(verify(flipBit(msg, n % (msg.length * 8)), sig, publicKeyFromSeed(seed))).toBe(false);
          }),
          { numRuns: 40 },
        );
      });

      it('of the signature', () => {
        useEd25519(impl);
        fc.assert(
          fc.property(flips, ([seed, msg, n]) => {
            const sig = sign(msg, seed);
            expect(verify(msg, flipBit(sig, n % 512), publicKeyFromSeed(seed))).toBe(false);
          }),
          { numRuns: 40 },
        );
      });

      it('of the public key', () => {
        useEd25519(impl);
        fc.assert(
          fc.property(flips, ([seed, msg, n]) => {
            const sig = sign(msg, seed);
            expect(verify(msg, sig, flipBit(publicKeyFromSeed(seed), n % 256))).toBe(false);
          }),
          { numRuns: 40 },
        );
      });

      // Every bit with node:crypto; tweetnacl (~5 ms a verification) gets the edge bytes of R, S and A.
      const edge = (bit: number): boolean => impl === nodeEd25519 || [0, 31, 32, 63].includes(bit >> 3);
      it('each bit of the signature and the key of TEST 3', () => {
        useEd25519(impl);
        const v = vectors[2]!;
        const [msg, sig, pub] = [hex(v.message), hex(v.signature), hex(v.publicKey)];
        for (let bit = 0; bit < 512; bit++) if (edge(bit)) expect(verify(msg, flipBit(sig, bit), pub)).toBe(false);
        for (let bit = 0; bit < 256; bit++) if (edge(bit)) expect(verify(msg, sig, flipBit(pub, bit))).toBe(false);
      });
    });
  }
});

describe('sizes are checked at the boundary', () => {
  for (const impl of IMPLS) {
    it(`with ${impl.name}`, () => {
      useEd25519(impl);
      const v = vectors[1]!;
      const [seed, msg, sig, pub] = [hex(v.secretKey), hex(v.message), hex(v.signature), hex(v.publicKey)];
      for (const n of [0, 31, 33, 64]) {
        expect(codeOf(() => sign(msg, new Uint8Array(n)))).toBe('KEY_BAD_LENGTH');
        expect(codeOf(() => publicKeyFromSeed(new Uint8Array(n)))).toBe('KEY_BAD_LENGTH');
        expect(codeOf(() => verify(msg, sig, new Uint8Array(n)))).toBe('KEY_BAD_LENGTH');
      }
      for (const n of [0, 32, 63, 65]) expect(codeOf(() => verify(msg, new Uint8Array(n), pub))).toBe('SIG_BAD_LENGTH');
      expect(codeOf(() => verify(msg, Array.from(sig) as unknown as Uint8Array, pub))).toBe('BAD_TYPE');
      expect(codeOf(() => sign('hello' as unknown as Uint8Array, seed))).toBe('BAD_TYPE');
      expect(verify('hello' as unknown as Uint8Array, sig, pub)).toBe(false);
    });
  }
});
