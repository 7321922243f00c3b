import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fromHex } from '../../core/bytes.js';
import { isMedtrailError } from '../../core/errors.js';
import { aesCmac, decryptPiccData, verifySun } from '../../core/tag/sun.js';
import { nodeAes128 as aes } from '../../reader/sun-node.js';

const V = JSON.parse(readFileSync(new URL('../vectors/an12196/vectors.json', import.meta.url), 'utf8'));
const sun = V.sun[0];
const keys = { metaRead: fromHex(sun.kSdmMetaRead), fileRead: fromHex(sun.kSdmFileRead) };

describe('AN12196 SUN (AES)', () => {
  it('AES-CMAC matches RFC 4493', () => {
    for (const t of V.rfc4493) expect(Buffer.from(aesCmac(aes, fromHex(t.key), fromHex(t.msg))).toString('hex')).toBe(t.cmac);
  });

  it('decrypts the PICC data to the UID and read counter', () => {
    const p = decryptPiccData(aes, keys.metaRead, fromHex(sun.encPiccData));
    expect(p.uid).toBe(sun.uid.toLowerCase());
    expect(p.readCounter).toBe(sun.readCounter);
  });

  it('verifies the published SDMMAC', () => {
    expect(verifySun(aes, keys, fromHex(sun.encPiccData), fromHex(sun.sdmMac)).readCounter).toBe(61);
  });

  it('refuses any flipped bit of the MAC, a wrong key, and the MAC over other input', () => {
    const mac = fromHex(sun.sdmMac);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 63 }), (bit) => {
        const bad = mac.slice();
        bad[bit >> 3]! ^= 1 << (bit & 7);
        expect(() => verifySun(aes, keys, fromHex(sun.encPiccData), bad)).toThrow(expect.objectContaining({ code: 'SUN_BAD_MAC' }));
      }),
    );
    const otherKey = { ...keys, fileRead: fromHex('00000000000000000000000000000001') };
    expect(() => verifySun(aes, otherKey, fromHex(sun.encPiccData), mac)).toThrow(expect.objectContaining({ code: 'SUN_BAD_MAC' }));
    expect(() => verifySun(aes, keys, fromHex(sun.encPiccData), mac, new Uint8Array([0x26]))).toThrow(expect.objectContaining({ code: 'SUN_BAD_MAC' }));
    expect(() => verifySun(aes, { ...keys, metaRead: fromHex('ff'.repeat(16)) }, fromHex(sun.encPiccData), mac)).toThrow(expect.objectContaining({ code: 'SUN_BAD_PICC' }));
  });

  it('random PICC data and MACs only ever give coded errors', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 20 }), fc.uint8Array({ minLength: 0, maxLength: 10 }), (e, m) => {
        try {
          verifySun(aes, keys, e, m);
        } catch (err) {
          if (!isMedtrailError(err)) throw err;
        }
      }),
    );
  });
});
