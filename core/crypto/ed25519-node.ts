// node:crypto (OpenSSL) Ed25519 and SHA-256 for server, CLI and reader hot paths. Never imported by web/.
// installNodeCrypto() swaps them in for core's portable defaults; results are byte-identical.
import { createHash, hash as nodeHash, createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { useEd25519, type Ed25519Impl } from './ed25519.js';
import { useSha256 } from './hash.js';

// DER prefixes of PKCS#8 and SPKI for Ed25519 (RFC 8410): the raw 32 bytes follow.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// Building a KeyObject costs more than a verification; participants are few, so cache by key bytes.
const MAX_CACHE = 4096;
const publicCache = new Map<string, KeyObject>();
const privateCache = new Map<string, KeyObject>();

function cached(cache: Map<string, KeyObject>, raw: Uint8Array, make: () => KeyObject): KeyObject {
  const k = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64');
  let v = cache.get(k);
  if (v === undefined) {
    if (cache.size >= MAX_CACHE) cache.clear();
    v = make();
    cache.set(k, v);
  }
  return v;
}

function privateKey(seed: Uint8Array): KeyObject {
  return cached(privateCache, seed, () =>
    createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }),
  );
}

function publicKey(raw: Uint8Array): KeyObject {
  return cached(publicCache, raw, () => createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' }));
}

export const nodeEd25519: Ed25519Impl = {
  name: 'node:crypto',
  publicKeyFromSeed(seed) {
    const der = createPublicKey(privateKey(seed)).export({ format: 'der', type: 'spki' });
    return new Uint8Array(der.subarray(SPKI_PREFIX.length));
  },
  sign(message, seed) {
    return new Uint8Array(nodeSign(null, message, privateKey(seed)));
  },
  verify(message, signature, pub) {
    try {
      return nodeVerify(null, message, publicKey(pub), signature);
    } catch {
      // OpenSSL refuses some malformed public keys outright (not on the curve): that is a failed verification.
      return false;
    }
  },
};

// crypto.hash (one shot, Node >= 20.12) skips the Hash object: about a third faster per small input, which is
// most of what the state maps (core/map/smt.ts) hash.
// (Node 20 before 20.12 has none: createHash then.)
const oneShot = typeof nodeHash === 'function' ? nodeHash : undefined;

export function nodeSha256(data: Uint8Array): Uint8Array {
  if (oneShot !== undefined) {
    const b = oneShot('sha256', data, 'buffer');
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }
  return new Uint8Array(createHash('sha256').update(data).digest());
}

let installed = false;

/** Installs node:crypto's Ed25519 and SHA-256 as core's implementations. Idempotent. */
export function installNodeCrypto(): void {
  if (installed) return;
  useEd25519(nodeEd25519);
  useSha256(nodeSha256);
  installed = true;
}
