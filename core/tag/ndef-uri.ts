// The NFC Forum URI record type (RTD-URI 1.0): payload = one identifier code byte + the rest of the URI in
// UTF-8. The code abbreviates a common prefix; codes 0x00-0x23 are defined, 0x24-0xFF are reserved.
import { MedtrailError } from '../errors.js';

/** Index = identifier code (NFC Forum URI RTD, table 3). */
export const URI_PREFIXES: readonly string[] = [
  '', // 0x00: no abbreviation
  'http://www.',
  'https://www.',
  'http://',
  'https://',
  'tel:',
  'mailto:',
  'ftp://anonymous:anonymous@',
  'ftp://ftp.',
  'ftps://',
  'sftp://',
  'smb://',
  'nfs://',
  'ftp://',
  'dav://',
  'news:',
  'telnet://',
  'imap:',
  'rtsp://',
  'urn:',
  'pop:',
  'sip:',
  'sips:',
  'tftp:',
  'btspp://',
  'btl2cap://',
  'btgoep://',
  'tcpobex://',
  'irdaobex://',
  'file://',
  'urn:epc:id:',
  'urn:epc:tag:',
  'urn:epc:pat:',
  'urn:epc:raw:',
  'urn:epc:',
  'urn:nfc:', // 0x23
];

const encoder = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const decoder = new TextDecoder('utf-8', { fatal: true });

/** Identifier code of the longest prefix of `uri` (0 when none applies). */
export function bestUriPrefix(uri: string): number {
  let best = 0;
  for (let code = 1; code < URI_PREFIXES.length; code++) {
    const p = URI_PREFIXES[code]!;
    if (uri.startsWith(p) && p.length > URI_PREFIXES[best]!.length) best = code;
  }
  return best;
}

/** URI record payload for `uri`, abbreviated with the best prefix code. */
export function encodeUriPayload(uri: string): Uint8Array {
  if (typeof uri !== 'string' || uri.length === 0) throw new MedtrailError('NFC_BAD_URI', 'URI must be a non-empty string');
  // A lone surrogate would be written as U+FFFD and read back as something else: refuse it.
  if (LONE_SURROGATE.test(uri)) throw new MedtrailError('NFC_BAD_URI', 'URI contains a lone UTF-16 surrogate');
  const code = bestUriPrefix(uri);
  const rest = encoder.encode(uri.slice(URI_PREFIXES[code]!.length));
  const out = new Uint8Array(1 + rest.length);
  out[0] = code;
  out.set(rest, 1);
  return out;
}

/** Decodes a URI record payload; reserved codes, invalid UTF-8 and empty URIs are NFC_BAD_URI. */
export function decodeUriPayload(payload: Uint8Array): string {
  if (payload.length === 0) throw new MedtrailError('NFC_BAD_URI', 'URI record payload is empty');
  const code = payload[0]!;
  const prefix = URI_PREFIXES[code];
  if (prefix === undefined) throw new MedtrailError('NFC_BAD_URI', `URI identifier code 0x${code.toString(16)} is reserved`);
  let rest: string;
  try {
    rest = decoder.decode(payload.subarray(1));
  } catch (e) {
    throw new MedtrailError('NFC_BAD_URI', 'URI record is not valid UTF-8', { cause: e });
  }
  const uri = prefix + rest;
  if (uri.length === 0) throw new MedtrailError('NFC_BAD_URI', 'URI record holds an empty URI');
  return uri;
}
