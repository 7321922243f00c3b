// Ed25519 behind one small interface. The default is tweetnacl (pure JavaScript: runs in the browser and
// anywhere); Node processes install node:crypto's OpenSSL implementation with useEd25519() at start-up
// (core/ed25519-node.ts), which is ~100x faster for signing and ~75x for verification (DESIGN.md:
// Dependencies). Both produce byte-identical signatures (RFC 8032 is deterministic); a test holds them to it.
//
// Keys: a private key is the 32-byte RFC 8032 seed; a public key is 32 bytes; a signature 64 bytes.
// Sizes are checked here, at the boundary (wrong length: coded error); `verify` returns false for a bad
// signature and never throws for it.
import nacl from 'tweetnacl';
import { assertBytes } from './bytes.js';
import { MedtrailError } from './errors.js';

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
  return impl.verify(message, signature, publicKey);
}

/** Fresh random seed from the platform CSPRNG (WebCrypto in browsers, node:crypto's webcrypto in Node). */
export function randomSeed(): Uint8Array {
  const seed = new Uint8Array(SEED_BYTES);
  globalThis.crypto.getRandomValues(seed);
  return seed;
}
