// What an NTAG 424 DNA with SUN mirroring puts in its URL on each read: encrypted PICC data (tag 0xC7, UID,
// read counter LSB first, random padding) under K_SDMMetaRead, and the SDMMAC under the session key derived
// from K_SDMFileRead (core/tag/sun.ts, NXP AN12196), with an empty MAC input. Tests append these to a pack's URI.
import { randomBytes } from 'node:crypto';
import { toHex } from '../../core/bytes.js';
import { sdmMac, type PiccData } from '../../core/tag/sun.js';
import { nodeAes128 } from '../../reader/sun-node.js';

export function sunParams(key: Uint8Array, uid: Uint8Array, counter: number): { picc: string; cmac: string } {
  const counterBytes = Uint8Array.of(counter & 0xff, (counter >> 8) & 0xff, (counter >> 16) & 0xff);
  const block = new Uint8Array(16);
  block.set([0xc7, ...uid, ...counterBytes]);
  block.set(randomBytes(5), 11);
  const picc: PiccData = { uid: toHex(uid), uidBytes: uid, readCounter: counter, counterBytes };
  return { picc: toHex(nodeAes128.encryptBlock(key, block)).toUpperCase(), cmac: toHex(sdmMac(nodeAes128, key, picc, new Uint8Array(0))).toUpperCase() };
}

/** The pack URI with this reading's SUN parameters appended. */
export function withSun(uri: string, key: Uint8Array, uid: Uint8Array, counter: number): string {
  const s = sunParams(key, uid, counter);
  return `${uri}${uri.includes('?') ? '&' : '?'}picc=${s.picc}&cmac=${s.cmac}`;
}
