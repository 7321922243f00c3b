// Ed25519 behind one small interface. The default is tweetnacl (pure JavaScript: runs in the browser and
// anywhere); Node processes install node:crypto's OpenSSL implementation with useEd25519() at start-up
// (core/crypto/ed25519-node.ts), which is ~100x faster for signing and ~75x for verification (README,
// Dependencies; `npm run bench:crypto`). Both produce byte-identical signatures (RFC 8032 is deterministic); a test holds them to it.
//
// Keys: a private key is the 32-byte RFC 8032 seed; a public key is 32 bytes; a signature 64 bytes.
// Sizes are checked here, at the boundary (wrong length: coded error); `verify` returns false for a bad
// signature and never throws for it.
import nacl from 'tweetnacl';
import { assertBytes } from '../bytes.js';
import { MedtrailError } from '../errors.js';

export const SEED_BYTES = 32;
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;

export interface Ed25519Impl {
  readonly name: string;
  publicKeyFromSeed(seed: Uint8Array): Uint8Array;
  sign(message: Uint8Array, seed: Uint8Array): Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean;
}

export const naclEd25519: Ed25519Impl = {
  name: 'tweetnacl',
  publicKeyFromSeed(seed) {
    return nacl.sign.keyPair.fromSeed(seed).publicKey;
  },
  sign(message, seed) {
    const kp = nacl.sign.keyPair.fromSeed(seed);
    return nacl.sign.detached(message, kp.secretKey);
  },
  verify(message, signature, publicKey) {
    return nacl.sign.detached.verify(message, signature, publicKey);
  },
};

let impl: Ed25519Impl = naclEd25519;

export function useEd25519(next: Ed25519Impl): void {
  impl = next;
}

export function ed25519Name(): string {
  return impl.name;
}

export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  assertBytes(seed, SEED_BYTES, 'Ed25519 seed', 'KEY_BAD_LENGTH');
  return impl.publicKeyFromSeed(seed);
}

export function sign(message: Uint8Array, seed: Uint8Array): Uint8Array {
  if (!(message instanceof Uint8Array)) throw new MedtrailError('BAD_TYPE', 'message must be a Uint8Array');
  assertBytes(seed, SEED_BYTES, 'Ed25519 seed', 'KEY_BAD_LENGTH');
  return impl.sign(message, seed);
}

/** True when `signature` is a valid signature of `message` by `publicKey`. Wrong-size key or signature: coded error. */
export function verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  assertBytes(publicKey, PUBLIC_KEY_BYTES, 'Ed25519 public key', 'KEY_BAD_LENGTH');
  assertBytes(signature, SIGNATURE_BYTES, 'Ed25519 signature', 'SIG_BAD_LENGTH');
  if (!(message instanceof Uint8Array)) return false;
  return hasCanonicalS(signature) && impl.verify(message, signature, publicKey);
}

// Ed25519 group order L, little-endian. RFC 8032 section 5.1.7 requires S < L; OpenSSL checks it, tweetnacl
// does not, so (R, S + L) would verify in the browser and not on the server. Checking here keeps both
// implementations to the same answer everywhere (entries, checkpoints, tag signatures, requests).
const L = [0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];

function hasCanonicalS(sig: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const a = sig[32 + i]!;
    const b = L[i]!;
    if (a !== b) return a < b;
  }
  return false; // S == L
}

/** Fresh random seed from the platform CSPRNG (WebCrypto in browsers, node:crypto's webcrypto in Node). */
export function randomSeed(): Uint8Array {
  const seed = new Uint8Array(SEED_BYTES);
  globalThis.crypto.getRandomValues(seed);
  return seed;
}
