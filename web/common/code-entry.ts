// What a patient types or scans, turned into the page path that checks it: a Digital Link on this origin.
// A scanned or pasted URI keeps its own path and query (the `s=` signature travels with it); an element string
// ((01)..(17)..(10)..(21).. or raw with GS) or a GTIN plus a serial becomes `/01/<GTIN>[/10/<lot>]/21/<serial>
// [?17=<expiry>]`. Hostile input only ever gives a MedtrailError.
import { formatDigitalLink, parseDigitalLink } from '../../core/gs1/digital-link.js';
import { parseElementString } from '../../core/gs1/element-string.js';
import { MedtrailError } from '../../core/errors.js';
import { normalizeGtin, validateSerial } from '../../core/gs1/identifiers.js';

/** Returns the path (with query) to open on this origin for the code; `serial` is the optional second field. */
export function codeToPath(code: string, serial = ''): string {
  const c = code.trim();
  const s = serial.trim();
  if (c === '') throw new MedtrailError('BAD_INPUT', 'no code given');
  if (/^https?:\/\//i.test(c)) {
    const dl = parseDigitalLink(c);
    if (dl.serial === undefined) throw new MedtrailError('GS1_MISSING_AI', 'the link names no serial number');
    return pathOf({ ...dl, resolver: 'http://x' });
  }
  if (s !== '') {
    return pathOf({ resolver: 'http://x', gtin: normalizeGtin(c.replace(/[\s-]/g, '')), serial: validateSerial(s), query: {} });
  }
  // A typed element string often carries brackets or spaces between elements; spaces are never data.
  const es = parseElementString(c.replace(/\s+/g, ''));
  const { gtin, serial: sn, lot, expiry } = es.ais;
  if (gtin === undefined || sn === undefined) throw new MedtrailError('GS1_MISSING_AI', 'the code needs (01) GTIN and (21) serial');
  return pathOf({ resolver: 'http://x', gtin, serial: sn, ...(lot !== undefined ? { lot } : {}), ...(expiry !== undefined ? { expiry } : {}), query: {} });
}

function pathOf(dl: Parameters<typeof formatDigitalLink>[0]): string {
  return formatDigitalLink(dl).slice('http://x'.length);
}

export interface ScannedPack {
  gtin: string;
  serial: string;
  lot?: string;
  expiry?: string;
}

/**
 * One pack from a line a 2D scanner typed (it acts as a keyboard and ends with Enter) or a person typed: a
 * Digital Link, an element string (raw with GS, or bracketed), or "<GTIN> <serial>".
 */
export function parsePackCode(line: string): ScannedPack {
  const text = line.trim();
  if (text === '') throw new MedtrailError('BAD_INPUT', 'empty code');
  if (/^https?:\/\//i.test(text)) {
    const dl = parseDigitalLink(text);
    if (dl.serial === undefined) throw new MedtrailError('GS1_MISSING_AI', 'the link names no serial number');
    return { gtin: dl.gtin, serial: dl.serial, ...(dl.lot !== undefined ? { lot: dl.lot } : {}), ...(dl.expiry !== undefined ? { expiry: dl.expiry } : {}) };
  }
  const pair = /^(\d{8,14})\s+(\S+)$/.exec(text);
  if (pair !== null) return { gtin: normalizeGtin(pair[1]!), serial: validateSerial(pair[2]!) };
  const { gtin, serial, lot, expiry } = parseElementString(text).ais;
  if (gtin === undefined || serial === undefined) throw new MedtrailError('GS1_MISSING_AI', 'the code needs (01) GTIN and (21) serial');
  return { gtin, serial, ...(lot !== undefined ? { lot } : {}), ...(expiry !== undefined ? { expiry } : {}) };
}
