// SHA-256 for core. The default is @noble/hashes (synchronous, runs in the browser too); Node processes
// install node:crypto's one-shot hash with useSha256() at start-up (core/crypto/ed25519-node.ts), which is
// several times faster on the server's hot paths. Both give identical digests (a test holds them to it).
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';

export type Sha256 = (data: Uint8Array) => Uint8Array;

let impl: Sha256 = (d) => nobleSha256(d);

export function sha256(data: Uint8Array): Uint8Array {
  return impl(data);
}

export function useSha256(fn: Sha256): void {
  impl = fn;
}
