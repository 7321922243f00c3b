// NTAG213/215/216 memory as an NFC Forum Type 2 Tag: 4-byte pages; page 3 is the capability container
// (CC: 0xE1, mapping version, data area size / 8, access); the data area starts at page 4 and holds TLVs
// (0x00 NULL, 0x01 Lock Control, 0x02 Memory Control, 0x03 NDEF, 0xFD proprietary, 0xFE terminator), each
// with a one-byte length or 0xFF + a two-byte big-endian length.
import { MedtrailError } from '../errors.js';
import { encodeUriNdef, uriFromNdefMessage } from './ndef.js';

export type NtagType = 'NTAG213' | 'NTAG215' | 'NTAG216';
export const NTAG_TYPES: readonly NtagType[] = ['NTAG213', 'NTAG215', 'NTAG216'];

export interface NtagLayout {
  /** User memory from page 4 (NTAG21x datasheet). */
  readonly userBytes: number;
  /** CC byte 2 as NXP programs it (size / 8). */
  readonly ccSize: number;
  /** Total pages, including dynamic lock, configuration, PWD and PACK pages. */
  readonly pages: number;
  /** Page whose bytes 0-2 are the dynamic lock bytes (user pages from 16 on). */
  readonly dynLockPage: number;
}

export const NTAG_LAYOUT: Readonly<Record<NtagType, NtagLayout>> = {
  NTAG213: { userBytes: 144, ccSize: 0x12, pages: 45, dynLockPage: 0x28 },
  NTAG215: { userBytes: 504, ccSize: 0x3e, pages: 135, dynLockPage: 0x82 },
  NTAG216: { userBytes: 888, ccSize: 0x6d, pages: 231, dynLockPage: 0xe2 },
};

export const CC_PAGE = 3;
export const DATA_PAGE = 4;
export const PAGE_SIZE = 4;

export interface CapabilityContainer {
  readonly version: number;
  /** Bytes of the data area that may hold TLVs. */
  readonly dataAreaBytes: number;
  /** 0x00 = writable, 0x0F = read-only. */
  readonly writeAccess: number;
  readonly tagType: NtagType | undefined;
}

/** The CC that NXP programs on a new NTAG of this type. */
export function ccFor(tagType: NtagType): Uint8Array {
  return Uint8Array.of(0xe1, 0x10, NTAG_LAYOUT[tagType].ccSize, 0x00);
}

export function parseCapabilityContainer(cc: Uint8Array): CapabilityContainer {
  if (cc.length !== 4) throw new MedtrailError('NFC_NO_CC', `capability container must be 4 bytes, got ${cc.length}`);
  if (cc[0] !== 0xe1) throw new MedtrailError('NFC_NO_CC', 'page 3 does not start with the NDEF magic 0xE1');
  const version = cc[1]!;
  if (version >> 4 !== 1) throw new MedtrailError('NFC_BAD_CC', `NDEF mapping version ${version >> 4}.${version & 15} not supported`);
  if (cc[3]! >> 4 !== 0) throw new MedtrailError('NFC_BAD_CC', 'NDEF read access is not granted');
  if (cc[2] === 0) throw new MedtrailError('NFC_BAD_CC', 'capability container declares an empty data area');
  const tagType = NTAG_TYPES.find((t) => NTAG_LAYOUT[t].ccSize === cc[2]);
  // NXP's CC understates NTAG215/216 (0x3E * 8 = 496 of 504 bytes): for a known NTAG size byte the datasheet's
  // user memory is the bound, so that what ntagImage accepts for a type is always readable back.
  const dataAreaBytes = tagType === undefined ? cc[2]! * 8 : NTAG_LAYOUT[tagType].userBytes;
  return { version, dataAreaBytes, writeAccess: cc[3]! & 0x0f, tagType };
}

export type TlvScan =
  | { readonly kind: 'ndef'; readonly valueOffset: number; readonly length: number }
  | { readonly kind: 'need'; readonly bytes: number };

/**
 * Walks the TLVs of the data area read so far (`area` starts at page 4) up to the NDEF TLV. Answers where
 * its value lies, or how many data-area bytes must be read before it can tell (so a reader can read in few
 * steps). Lock Control, Memory Control, proprietary and reserved TLVs are skipped.
 */
export function scanForNdefTlv(area: Uint8Array, dataAreaBytes: number): TlvScan {
  const need = (n: number): TlvScan => ({ kind: 'need', bytes: Math.min(n, dataAreaBytes) });
  let o = 0;
  for (;;) {
    if (o >= dataAreaBytes) throw new MedtrailError('NFC_NO_NDEF', 'no NDEF TLV in the data area');
    if (o >= area.length) return need(o + 16);
    const t = area[o]!;
    if (t === 0x00) {
      o += 1;
      continue;
    }
    if (t === 0xfe) throw new MedtrailError('NFC_NO_NDEF', 'terminator TLV before any NDEF TLV');
    if (o + 2 > dataAreaBytes) throw new MedtrailError('NFC_TLV_TRUNCATED', `TLV 0x${t.toString(16)} cut at the end of the data area`);
    if (o + 2 > area.length) return need(o + 16);
    let len = area[o + 1]!;
    let hdr = 2;
    if (len === 0xff) {
      if (o + 4 > dataAreaBytes) throw new MedtrailError('NFC_TLV_TRUNCATED', 'three-byte TLV length cut at the end of the data area');
      if (o + 4 > area.length) return need(o + 16);
      len = (area[o + 2]! << 8) | area[o + 3]!;
      hdr = 4;
    }
    const end = o + hdr + len;
    if (t === 0x03) {
      if (end > dataAreaBytes) {
        throw new MedtrailError('NFC_TLV_TOO_LARGE', `NDEF TLV of ${len} bytes does not fit a ${dataAreaBytes}-byte data area`);
      }
      return { kind: 'ndef', valueOffset: o + hdr, length: len };
    }
    if (end > dataAreaBytes) throw new MedtrailError('NFC_TLV_TRUNCATED', `TLV 0x${t.toString(16)} runs past the data area`);
    o = end;
  }
}

/** The NDEF message bytes in a data area read from page 4 on. */
export function extractNdefMessage(area: Uint8Array, dataAreaBytes: number): Uint8Array {
  const scan = scanForNdefTlv(area, dataAreaBytes);
  if (scan.kind === 'need') throw new MedtrailError('NFC_TLV_TRUNCATED', `data area ends after ${area.length} bytes, inside a TLV`);
  const end = scan.valueOffset + scan.length;
  if (end > area.length) throw new MedtrailError('NFC_TLV_TRUNCATED', `NDEF TLV needs ${end} bytes, ${area.length} read`);
  if (scan.length === 0) throw new MedtrailError('NFC_BLANK_TAG', 'the NDEF TLV is empty');
  return area.slice(scan.valueOffset, end);
}

export interface TagContent {
  readonly uri: string;
  readonly cc: CapabilityContainer;
}

/** Decodes the URI of a tag from its memory dump, which begins at page `startPage` (0 or 3). */
export function decodeNtagUri(memory: Uint8Array, startPage: 0 | 3 = 0): TagContent {
  const ccAt = (CC_PAGE - startPage) * PAGE_SIZE;
  if (memory.length < ccAt + PAGE_SIZE) throw new MedtrailError('NFC_NO_CC', 'memory dump ends before the capability container');
  const cc = parseCapabilityContainer(memory.subarray(ccAt, ccAt + PAGE_SIZE));
  const area = memory.subarray(ccAt + PAGE_SIZE, ccAt + PAGE_SIZE + cc.dataAreaBytes);
  return { uri: uriFromNdefMessage(extractNdefMessage(area, cc.dataAreaBytes)), cc };
}

/** TLV bytes (NDEF TLV + terminator when room is left) to write from page 4, padded to whole pages. */
export function ntagImage(uri: string, tagType: NtagType): Uint8Array {
  const layout = NTAG_LAYOUT[tagType];
  if (layout === undefined) throw new MedtrailError('BAD_INPUT', `unknown tag type ${String(tagType)}`);
  const msg = encodeUriNdef(uri);
  const head = msg.length < 0xff ? [0x03, msg.length] : [0x03, 0xff, msg.length >> 8, msg.length & 0xff];
  const tlvLen = head.length + msg.length;
  if (msg.length > 0xfffe || tlvLen > layout.userBytes) {
    throw new MedtrailError('NFC_TAG_TOO_SMALL', `NDEF TLV of ${tlvLen} bytes does not fit the ${layout.userBytes} bytes of an ${tagType}`);
  }
  const withTerminator = tlvLen < layout.userBytes ? tlvLen + 1 : tlvLen;
  const out = new Uint8Array(Math.ceil(withTerminator / PAGE_SIZE) * PAGE_SIZE);
  out.set(head, 0);
  out.set(msg, head.length);
  if (withTerminator > tlvLen) out[tlvLen] = 0xfe;
  return out;
}
