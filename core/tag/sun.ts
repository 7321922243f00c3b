// NTAG 424 DNA Secure Unique NFC (SUN) message verification, AES mode, as NXP AN12196 describes it:
//   PICCData   = AES-128-CBC-decrypt(K_SDMMetaRead, IV = 0, encPICCData)   (one block, so plain AES decrypt)
//              = PICCDataTag (0xC7: UID and counter mirrored, UID length 7) || UID (7) || SDMReadCtr (3, LSB first) || pad
//   SV2        = 3C C3 00 01 00 80 || UID || SDMReadCtr
//   K_SesMAC   = CMAC(K_SDMFileRead, SV2)
//   SDMMAC     = the odd-indexed bytes (1, 3, ..., 15) of CMAC(K_SesMAC, MAC input)
// The MAC input is the URL text between SDMMACInputOffset and the MAC (empty when only e= and c= are mirrored).
// core/ stays free of node:crypto, so the AES-128 block cipher is a parameter: reader/sun-node.ts passes
// node:crypto's, a browser could pass WebCrypto's or a pure-JS one.
import { equalBytes } from '../bytes.js';
import { MedtrailError } from '../errors.js';

/** AES-128 on one 16-byte block (ECB, no padding). */
export interface Aes128 {
  encryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array;
  decryptBlock(key: Uint8Array, block: Uint8Array): Uint8Array;
}

function check16(x: Uint8Array, what: string): void {
  if (!(x instanceof Uint8Array) || x.length !== 16) throw new MedtrailError('BAD_LENGTH', `${what} must be 16 bytes`);
}

/** Doubling in GF(2^128) for the CMAC subkeys (RFC 4493 2.3). */
function dbl(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = ((b[i]! << 1) | (i < 15 ? b[i + 1]! >> 7 : 0)) & 0xff;
  if (b[0]! & 0x80) out[15]! ^= 0x87;
  return out;
}

/** AES-CMAC (RFC 4493 / NIST SP 800-38B), 16 bytes. */
export function aesCmac(aes: Aes128, key: Uint8Array, msg: Uint8Array): Uint8Array {
  check16(key, 'CMAC key');
  const k1 = dbl(aes.encryptBlock(key, new Uint8Array(16)));
  const k2 = dbl(k1);
  const n = Math.max(1, Math.ceil(msg.length / 16));
  const complete = msg.length > 0 && msg.length % 16 === 0;
  let x: Uint8Array = new Uint8Array(16);
  for (let i = 0; i < n; i++) {
    const block = new Uint8Array(16);
    const part = msg.subarray(i * 16, i * 16 + 16);
    block.set(part);
    if (i === n - 1) {
      if (!complete) block[part.length] = 0x80;
      const k = complete ? k1 : k2;
      for (let j = 0; j < 16; j++) block[j]! ^= k[j]!;
    }
    for (let j = 0; j < 16; j++) block[j]! ^= x[j]!;
    x = aes.encryptBlock(key, block);
  }
  return x;
}

export interface PiccData {
  /** 7-byte UID as lowercase hex. */
  readonly uid: string;
  readonly uidBytes: Uint8Array;
  /** SDMReadCtr, 0 .. 2^24-1. */
  readonly readCounter: number;
  /** The counter as the tag mirrors it (3 bytes, LSB first), for SV2. */
  readonly counterBytes: Uint8Array;
}

/** Decrypts encPICCData (16 bytes) with K_SDMMetaRead. */
export function decryptPiccData(aes: Aes128, metaReadKey: Uint8Array, encPiccData: Uint8Array): PiccData {
  check16(metaReadKey, 'K_SDMMetaRead');
  check16(encPiccData, 'encPICCData');
  const p = aes.decryptBlock(metaReadKey, encPiccData);
  if (p[0] !== 0xc7) throw new MedtrailError('SUN_BAD_PICC', 'decrypted PICC data does not start with tag 0xC7 (wrong key or data)');
  const uidBytes = p.slice(1, 8);
  const counterBytes = p.slice(8, 11);
  const readCounter = counterBytes[0]! | (counterBytes[1]! << 8) | (counterBytes[2]! << 16);
  const uid = Array.from(uidBytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return { uid, uidBytes, readCounter, counterBytes };
}

/** The 8-byte SDMMAC a genuine tag computes for this UID, counter and MAC input. */
export function sdmMac(aes: Aes128, fileReadKey: Uint8Array, picc: PiccData, macInput: Uint8Array): Uint8Array {
  const sv2 = new Uint8Array(16);
  sv2.set([0x3c, 0xc3, 0x00, 0x01, 0x00, 0x80], 0);
  sv2.set(picc.uidBytes, 6);
  sv2.set(picc.counterBytes, 13);
  const full = aesCmac(aes, aesCmac(aes, fileReadKey, sv2), macInput);
  return Uint8Array.from([1, 3, 5, 7, 9, 11, 13, 15], (i) => full[i]!);
}

/**
 * Verifies a SUN message: decrypts the PICC data and checks the MAC in constant time. Answers the UID and
 * read counter; the caller must still refuse a counter not above the last one seen for that UID.
 */
export function verifySun(
  aes: Aes128,
  keys: { readonly metaRead: Uint8Array; readonly fileRead: Uint8Array },
  encPiccData: Uint8Array,
  mac: Uint8Array,
  macInput: Uint8Array = new Uint8Array(0),
): PiccData {
  if (!(mac instanceof Uint8Array) || mac.length !== 8) throw new MedtrailError('BAD_LENGTH', 'SDMMAC must be 8 bytes');
  const picc = decryptPiccData(aes, keys.metaRead, encPiccData);
  if (!equalBytes(sdmMac(aes, keys.fileRead, picc, macInput), mac)) throw new MedtrailError('SUN_BAD_MAC', 'SUN MAC does not verify');
  return picc;
}
