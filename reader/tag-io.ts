// Page-level I/O with an NTAG through a PC/SC contactless reader (ACR122U pseudo-APDUs via nfc-pcsc), and the
// one place where PC/SC and reader failures become coded errors: a card taken away is NFC_TAG_REMOVED, an
// error status from the tag or reader is NFC_READ_FAILED / NFC_WRITE_FAILED. Nothing here throws anything else.
import { MedtrailError, codeOf } from '../core/errors.js';

/** What medtrail needs of an nfc-pcsc Reader (kept narrow so tests and other transports can supply one). */
export interface TagReader {
  readonly name: string;
  readonly card: object | null;
  transmit(data: Buffer, responseMaxLength: number): Promise<Buffer>;
  read(blockNumber: number, length: number, blockSize?: number, packetSize?: number): Promise<Buffer>;
}

/** ACR122U READ BINARY returns at most 16 bytes (4 pages, the NTAG READ command) per APDU. */
export const MAX_READ = 16;

// PC/SC return codes seen when the card leaves the field: SCARD_W_REMOVED_CARD, SCARD_W_RESET_CARD,
// SCARD_E_NO_SMARTCARD, SCARD_W_UNPOWERED_CARD, SCARD_W_UNRESPONSIVE_CARD, SCARD_E_NOT_TRANSACTED; and
// nfc-pcsc's own "no card" when the removal event came first; and an answer without a status word, which is
// what vpcd (and a reader whose card stopped answering) hands back when the card went away mid-APDU.
const GONE =
  /0x80100069|0x80100068|0x8010000c|0x80100067|0x80100066|0x80100016|removed|card_not_connected|no smart ?card|not transacted|unresponsive|unpowered|invalid response length [01]\b/i;

function describe(e: unknown): string {
  const parts: string[] = [];
  for (let x: unknown = e, i = 0; x !== undefined && x !== null && i < 5; i++) {
    const code = codeOf(x);
    const o: unknown = x;
    const member = (k: string): unknown => (typeof o === 'object' && o !== null && k in o ? Reflect.get(o, k) : undefined);
    parts.push(`${typeof code === 'string' ? code + ': ' : ''}${String(member('message') ?? o)}`);
    x = member('previous') ?? member('cause');
  }
  return parts.join(' <- ');
}

/** Maps any failure of a reader operation to a coded error. */
export function tagError(e: unknown, r: TagReader, what: 'read' | 'write'): MedtrailError {
  if (e instanceof MedtrailError) return e;
  const text = describe(e);
  if (r.card === null || GONE.test(text)) {
    return new MedtrailError('NFC_TAG_REMOVED', `tag removed from ${r.name} during the ${what} (${text})`, { cause: e });
  }
  return new MedtrailError(what === 'read' ? 'NFC_READ_FAILED' : 'NFC_WRITE_FAILED', `${what} failed on ${r.name}: ${text}`, { cause: e });
}

/** Sends one APDU; answers the data without SW1 SW2, or throws a coded error when SW is not 90 00. */
export async function command(r: TagReader, apdu: Uint8Array, maxLen: number, what: 'read' | 'write' = 'read'): Promise<Uint8Array> {
  let res: Buffer;
  try {
    res = await r.transmit(Buffer.from(apdu), maxLen + 2);
  } catch (e) {
    throw tagError(e, r, what);
  }
  if (res.length < 2) throw new MedtrailError('NFC_TAG_REMOVED', `no answer from the card on ${r.name}: it left the field`);
  if (res[res.length - 2] !== 0x90 || res[res.length - 1] !== 0x00) {
    const sw = res.subarray(-2).toString('hex');
    throw new MedtrailError(what === 'read' ? 'NFC_READ_FAILED' : 'NFC_WRITE_FAILED', `${r.name} answered status ${sw}`);
  }
  return new Uint8Array(res.subarray(0, -2));
}

/** The card UID from the reader (FF CA 00 00 00), as lowercase hex. */
export async function getUid(r: TagReader): Promise<string> {
  const uid = await command(r, Uint8Array.of(0xff, 0xca, 0x00, 0x00, 0x00), 10);
  if (uid.length === 0) throw new MedtrailError('NFC_READ_FAILED', 'reader answered an empty UID');
  return Buffer.from(uid).toString('hex');
}

/** Reads `length` bytes (a multiple of 4) from `page` on, with 16-byte READ BINARY APDUs. */
export async function readBytes(r: TagReader, page: number, length: number): Promise<Uint8Array> {
  let data: Buffer;
  try {
    data = await r.read(page, length, 4, MAX_READ);
  } catch (e) {
    throw tagError(e, r, 'read');
  }
  if (data.length !== length) throw new MedtrailError('NFC_READ_FAILED', `asked ${length} bytes from page ${page}, got ${data.length}`);
  return new Uint8Array(data);
}

/** Writes one 4-byte page (FF D6 00 <page> 04 <data>). */
export async function writePage(r: TagReader, page: number, data: Uint8Array): Promise<void> {
  if (data.length !== 4 || page < 0 || page > 0xff) throw new MedtrailError('BAD_INPUT', 'a page write is 4 bytes to a page below 256');
  await command(r, Uint8Array.of(0xff, 0xd6, 0x00, page, 0x04, ...data), 0, 'write');
}

/**
 * Sends a raw NTAG command through the reader's PN53x (ACR122U direct transmit: FF 00 00 00 <n> D4 42 <cmd>,
 * answer D5 43 <status> <data>). Used for READ_SIG (3C 00) and GET_VERSION (60).
 */
export async function directTransmit(r: TagReader, cmd: Uint8Array, maxLen: number): Promise<Uint8Array> {
  const res = await command(r, Uint8Array.of(0xff, 0x00, 0x00, 0x00, cmd.length + 2, 0xd4, 0x42, ...cmd), maxLen + 3);
  if (res.length < 3 || res[0] !== 0xd5 || res[1] !== 0x43 || res[2] !== 0x00) {
    throw new MedtrailError('NFC_READ_FAILED', `direct transmit of ${Buffer.from(cmd).toString('hex')} failed`);
  }
  return res.subarray(3);
}

/** Pages per FAST_READ: 60 pages = 240 bytes keeps the PN53x frame (at most 262 bytes) whole. */
export const FAST_READ_PAGES = 60;

/**
 * NTAG21x FAST_READ (3A <start> <end>) through direct transmit: pages start..end in one exchange instead of
 * one APDU per 4 pages. Readers without direct transmit refuse it with NFC_READ_FAILED.
 */
export async function fastRead(r: TagReader, start: number, end: number): Promise<Uint8Array> {
  if (end < start || end - start + 1 > FAST_READ_PAGES || end > 0xff) throw new MedtrailError('BAD_INPUT', 'FAST_READ range out of bounds');
  const want = (end - start + 1) * 4;
  const data = await directTransmit(r, Uint8Array.of(0x3a, start, end), want);
  if (data.length !== want) throw new MedtrailError('NFC_READ_FAILED', `FAST_READ answered ${data.length} bytes, expected ${want}`);
  return data;
}
