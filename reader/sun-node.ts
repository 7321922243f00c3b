// node:crypto's AES-128 block cipher for core/tag/sun.ts (core stays free of Node-only imports).
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Aes128 } from '../core/tag/sun.js';

function ecb(encrypt: boolean, key: Uint8Array, block: Uint8Array): Uint8Array {
  const c = encrypt ? createCipheriv('aes-128-ecb', key, null) : createDecipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(block), c.final()]));
}

export const nodeAes128: Aes128 = {
  encryptBlock: (key, block) => ecb(true, key, block),
  decryptBlock: (key, block) => ecb(false, key, block),
};
