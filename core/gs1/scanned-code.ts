// What a scanner or a tag gave, read into one shape: a GS1 Digital Link URI (NFC tag, QR code, phone) or a
// GS1 element string from a 2D scanner (raw with GS separators and any `]xN` symbology prefix, or the
// bracketed human-readable form). Only a URI can carry the manufacturer's signature (`s=`); a plain element
// string is checked against the ledger alone, and the verdict says so (TAG_SIGNATURE_ABSENT).
import { parseDigitalLink } from './digital-link.js';
import { parseElementString } from './element-string.js';
import { MedtrailError } from '../errors.js';

export interface ScannedCode {
  source: 'digital-link' | 'element-string';
  gtin: string;
  serial: string;
  lot?: string;
  expiry?: string;
  /** base64url signature from `s=` (Digital Link only). */
  sig?: string;
  /** NTAG 424 DNA SUN parameters, when the tag sent them. */
  sun?: { picc: string; cmac: string };
  symbology?: string;
}

const MAX_CODE = 4096;

/**
 * How far back a participant may date a scan it delivers late (POST /verify `scannedAt`: a counter's offline
 * queue). Older scans are still verified, as of their delivery.
 */
export const MAX_SCAN_BACKDATE_MS = 30 * 24 * 3600 * 1000;
/** How far ahead of the server's clock a `scannedAt` may be. */
export const MAX_SCAN_AHEAD_MS = 5 * 60 * 1000;

/** Parses a scanned code; coded 400 errors for anything that is not a GTIN + serial of a pack. */
export function parseScannedCode(code: unknown): ScannedCode {
  if (typeof code !== 'string') throw new MedtrailError('BAD_INPUT', 'code must be a string', { fields: [{ path: 'code', code: 'BAD_INPUT', message: 'required string' }] });
  if (code.length > MAX_CODE) throw new MedtrailError('TOO_LARGE', `code longer than ${MAX_CODE}`);
  // Scanners acting as keyboards end lines with CR/LF; anything else around the data is not ours to guess.
  const text = code.replace(/[\r\n]+$/, '');
  if (/^https?:\/\//i.test(text)) {
    const dl = parseDigitalLink(text);
    if (dl.serial === undefined) throw new MedtrailError('GS1_MISSING_AI', 'the URI names no serial (21): a pack cannot be verified without it');
    const out: ScannedCode = { source: 'digital-link', gtin: dl.gtin, serial: dl.serial };
    if (dl.lot !== undefined) out.lot = dl.lot;
    if (dl.expiry !== undefined) out.expiry = dl.expiry;
    if (dl.sig !== undefined) out.sig = dl.sig;
    if (dl.sun !== undefined) out.sun = dl.sun;
    return out;
  }
  let es;
  try {
    es = parseElementString(text);
  } catch (e) {
    // "offset 0" means nothing to the person who typed `hello world`: say what a pack code looks like.
    if (!(e instanceof MedtrailError) || !/^[(\]0-9]/.test(text)) {
      const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
      throw new MedtrailError(e instanceof MedtrailError ? e.code : 'GS1_BAD_ELEMENT_STRING', `"${shown}" is not a pack code: give its Digital Link URI (https://<resolver>/01/<GTIN>/21/<serial>...) or its GS1 element string ((01)<GTIN>(21)<serial>...)`, { cause: e });
    }
    throw e;
  }
  const { gtin, serial, lot, expiry } = es.ais;
  if (gtin === undefined || serial === undefined) {
    throw new MedtrailError('GS1_MISSING_AI', 'a pack code needs a GTIN (01) and a serial (21)');
  }
  const out: ScannedCode = { source: 'element-string', gtin, serial };
  if (lot !== undefined) out.lot = lot;
  if (expiry !== undefined) out.expiry = expiry;
  if (es.symbology !== undefined) out.symbology = es.symbology;
  return out;
}
