// NDEF messages (NFC Forum NDEF 1.0): a sequence of records, each a header byte (MB ME CF SR IL TNF), type
// length, payload length (1 byte when SR, else 4), optional ID length, then type, ID and payload. Every
// length is checked against the bytes actually present: a tag's content is hostile input.
import { MedtrailError } from '../errors.js';
import { decodeUriPayload, encodeUriPayload } from './ndef-uri.js';

export const TNF_EMPTY = 0x00;
export const TNF_WELL_KNOWN = 0x01;
export const TNF_MEDIA = 0x02;
export const TNF_ABSOLUTE_URI = 0x03;
export const TNF_EXTERNAL = 0x04;
export const TNF_UNKNOWN = 0x05;
export const TNF_UNCHANGED = 0x06;

const MB = 0x80;
const ME = 0x40;
const CF = 0x20;
const SR = 0x10;
const IL = 0x08;

export interface NdefRecord {
  readonly tnf: number;
  readonly type: Uint8Array;
  readonly id: Uint8Array;
  readonly payload: Uint8Array;
}

function bad(message: string): MedtrailError {
  return new MedtrailError('NFC_BAD_RECORD', message);
}

/** Parses a whole NDEF message; the message must end exactly with the record flagged ME. */
export function parseNdefMessage(msg: Uint8Array): NdefRecord[] {
  if (msg.length === 0) throw new MedtrailError('NFC_BLANK_TAG', 'the NDEF message is empty');
  const records: NdefRecord[] = [];
  let o = 0;
  for (;;) {
    if (o + 3 > msg.length) throw bad(`record header cut at byte ${o}`);
    const h = msg[o]!;
    const tnf = h & 0x07;
    if ((h & MB) !== 0 !== (records.length === 0)) throw bad('MB flag set on a later record or missing on the first');
    if (h & CF) throw new MedtrailError('NFC_CHUNKED_RECORD', 'chunked NDEF records are not supported');
    if (tnf === 0x07) throw bad('TNF 7 is reserved');
    if (tnf === TNF_UNCHANGED) throw new MedtrailError('NFC_CHUNKED_RECORD', 'TNF "unchanged" only appears in chunks');
    const typeLen = msg[o + 1]!;
    let p = o + 2;
    let payloadLen: number;
    if (h & SR) {
      payloadLen = msg[p]!;
      p += 1;
    } else {
      if (p + 4 > msg.length) throw bad('long payload length cut');
      payloadLen = ((msg[p]! << 24) >>> 0) + (msg[p + 1]! << 16) + (msg[p + 2]! << 8) + msg[p + 3]!;
      p += 4;
    }
    let idLen = 0;
    if (h & IL) {
      if (p + 1 > msg.length) throw bad('ID length cut');
      idLen = msg[p]!;
      p += 1;
    }
    const end = p + typeLen + idLen + payloadLen;
    if (end > msg.length) throw bad(`record ${records.length} declares ${end - o} bytes, only ${msg.length - o} left`);
    if (tnf === TNF_EMPTY && typeLen + idLen + payloadLen !== 0) throw bad('empty record (TNF 0) with content');
    if ((tnf === TNF_UNKNOWN) && typeLen !== 0) throw bad('unknown-type record (TNF 5) with a type');
    if (tnf !== TNF_EMPTY && tnf !== TNF_UNKNOWN && typeLen === 0) throw bad(`TNF ${tnf} record without a type`);
    records.push({
      tnf,
      type: msg.slice(p, p + typeLen),
      id: msg.slice(p + typeLen, p + typeLen + idLen),
      payload: msg.slice(p + typeLen + idLen, end),
    });
    o = end;
    if (h & ME) {
      if (o !== msg.length) throw bad(`${msg.length - o} bytes after the record flagged ME`);
      return records;
    }
    if (o >= msg.length) throw bad('message ends without a record flagged ME');
  }
}

/** True for the NFC Forum well-known type "U". */
export function isUriRecord(r: NdefRecord): boolean {
  return r.tnf === TNF_WELL_KNOWN && r.type.length === 1 && r.type[0] === 0x55;
}

/** The URI of the first URI record in the message (a tag may add e.g. an Android application record). */
export function uriFromNdefMessage(msg: Uint8Array): string {
  const uriRecord = parseNdefMessage(msg).find(isUriRecord);
  if (uriRecord === undefined) throw new MedtrailError('NFC_NOT_URI', 'the NDEF message holds no URI record');
  return decodeUriPayload(uriRecord.payload);
}

/** One-record NDEF message (MB|ME, well-known "U"), short form when the payload fits in 255 bytes. */
export function encodeUriNdef(uri: string): Uint8Array {
  const payload = encodeUriPayload(uri);
  const short = payload.length <= 0xff;
  const head = short
    ? [MB | ME | SR | TNF_WELL_KNOWN, 1, payload.length, 0x55]
    : [MB | ME | TNF_WELL_KNOWN, 1, payload.length >>> 24, (payload.length >>> 16) & 0xff, (payload.length >>> 8) & 0xff, payload.length & 0xff, 0x55];
  const out = new Uint8Array(head.length + payload.length);
  out.set(head, 0);
  out.set(payload, head.length);
  return out;
}
