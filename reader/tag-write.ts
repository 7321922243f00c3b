// Writes a pack's URI to an NTAG213/215/216 as one NDEF URI record, optionally locking the tag for good.
//
// Order of effects (a tag can leave the field at any moment):
//   1. read pages 0-3 (lock bytes, CC); refuse a read-only or locked tag, and a URI that does not fit,
//      before anything is written;
//   2. write the CC if the tag is unformatted (type from GET_VERSION when the CC cannot tell);
//   3. write page 4 with an empty NDEF TLV (03 00 ...), then pages 5.., then page 4 for real: a write cut
//      short leaves an empty NDEF message, never a truncated URI (NFC Forum Type 2 Tag write procedure);
//   4. read the TLV back and compare;
//   5. with lock: CC write access 0x0F (read-only to NDEF readers), then the dynamic lock bytes (page 0x28 on
//      NTAG213, 0x82 on NTAG215, 0xE2 on NTAG216: bytes 0-1 lock user pages 16 up to the lock page), then
//      the static lock bytes (page 2 bytes 2-3 = FF FF: pages 3-15 and their block-lock bits) last, because
//      they freeze the CC. Block-lock bits of the dynamic lock bytes (byte 2) are left clear; the
//      configuration pages (AUTH0, ACCESS, PWD) are not touched. Locking is irreversible.
import { equalBytes } from '../core/bytes.js';
import { MedtrailError } from '../core/errors.js';
import { CC_PAGE, DATA_PAGE, NTAG_LAYOUT, ccFor, ntagImage, parseCapabilityContainer, type NtagType } from '../core/tag/ntag.js';
import { directTransmit, readBytes, writePage, type TagReader } from './tag-io.js';

/** GET_VERSION storage-size byte (NTAG21x datasheet) per type. */
const VERSION_SIZE: Readonly<Record<number, NtagType>> = { 0x0f: 'NTAG213', 0x11: 'NTAG215', 0x13: 'NTAG216' };

/** Dynamic lock bytes 0-1 that lock every user page from 16 on (2 pages per bit on 213, 16 on 215/216). */
const DYNAMIC_LOCK: Readonly<Record<NtagType, readonly [number, number]>> = {
  NTAG213: [0xff, 0x0f], // pages 16-39: 12 bits
  NTAG215: [0xff, 0x00], // pages 16-129: 8 bits
  NTAG216: [0xff, 0x3f], // pages 16-225: 14 bits
};

export interface WriteOptions {
  /** Lock the tag permanently after writing (irreversible). */
  readonly lock?: boolean;
  /** Tag type to assume for an unformatted tag when GET_VERSION is not available through the reader. */
  readonly tagType?: NtagType;
}

export interface WriteResult {
  readonly tagType: NtagType;
  /** Bytes written from page 4 (the NDEF TLV, terminator and padding). */
  readonly bytes: number;
  readonly locked: boolean;
}

async function detectType(r: TagReader, cc: Uint8Array, fallback: NtagType | undefined): Promise<NtagType> {
  if (cc[0] === 0xe1) {
    const parsed = parseCapabilityContainer(cc);
    if (parsed.tagType) return parsed.tagType;
  }
  try {
    const version = await directTransmit(r, Uint8Array.of(0x60), 8);
    const t = VERSION_SIZE[version[6] ?? -1];
    if (t) return t;
  } catch (e) {
    if (e instanceof MedtrailError && e.code === 'NFC_TAG_REMOVED') throw e;
  }
  if (fallback) return fallback;
  throw new MedtrailError('NFC_NO_CC', 'cannot tell the tag type: no NTAG capability container and no GET_VERSION answer');
}

function staticLocked(header: Uint8Array, page: number): boolean {
  return page <= 7 ? ((header[10]! >> page) & 1) === 1 : ((header[11]! >> (page - 8)) & 1) === 1;
}

/** Writes `uri` to the NTAG on `r` as one NDEF URI record. Throws only MedtrailError. */
export async function writeUriTag(r: TagReader, uri: string, options: WriteOptions = {}): Promise<WriteResult> {
  const header = await readBytes(r, 0, 16);
  let cc = header.subarray(12, 16);
  const tagType = await detectType(r, cc, options.tagType);
  const image = ntagImage(uri, tagType); // NFC_TAG_TOO_SMALL before anything is written
  const unformatted = cc.every((b) => b === 0);
  if (!unformatted) {
    if (cc[0] !== 0xe1) throw new MedtrailError('NFC_BAD_CC', 'page 3 holds something other than an NDEF capability container');
    if ((cc[3]! & 0x0f) !== 0) throw new MedtrailError('NFC_TAG_LOCKED', 'the capability container marks the tag read-only');
  }
  const pages = image.length / 4;
  for (let p = unformatted ? CC_PAGE : DATA_PAGE; p < Math.min(16, DATA_PAGE + pages); p++) {
    if (staticLocked(header, p)) throw new MedtrailError('NFC_TAG_LOCKED', `page ${p} is locked`);
  }

  if (unformatted) {
    await writePage(r, CC_PAGE, ccFor(tagType));
    cc = ccFor(tagType);
  }
  const page = (i: number) => image.subarray(i * 4, i * 4 + 4);
  await writePage(r, DATA_PAGE, Uint8Array.of(0x03, 0x00, 0xfe, 0x00));
  for (let i = 1; i < pages; i++) await writePage(r, DATA_PAGE + i, page(i));
  await writePage(r, DATA_PAGE, page(0));

  const back = await readBytes(r, DATA_PAGE, image.length);
  if (!equalBytes(back, image)) throw new MedtrailError('NFC_WRITE_FAILED', 'the tag does not read back what was written');

  if (options.lock) await lockTag(r, tagType, cc);
  return { tagType, bytes: image.length, locked: options.lock === true };
}

/** Makes the tag permanently read-only (see the order at the top of this file). */
export async function lockTag(r: TagReader, tagType: NtagType, cc: Uint8Array): Promise<void> {
  await writePage(r, CC_PAGE, Uint8Array.of(cc[0]!, cc[1]!, cc[2]!, 0x0f));
  const [b0, b1] = DYNAMIC_LOCK[tagType];
  await writePage(r, NTAG_LAYOUT[tagType].dynLockPage, Uint8Array.of(b0, b1, 0x00, 0x00));
  // Bytes 0-1 of page 2 (BCC1, internal) ignore writes; only the lock bytes 2-3 take effect.
  await writePage(r, 2, Uint8Array.of(0x00, 0x00, 0xff, 0xff));
}
