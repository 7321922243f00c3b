// GS1 Digital Link URIs (GS1 Digital Link Standard: URI Syntax) for the GTIN key, both ways:
//
//   https://<host>[/prefix]/01/<GTIN>[/22/<cpv>][/10/<lot>][/21/<serial>][?17=<YYMMDD>&s=<sig>&picc=..&cmac=..]
//
// Path: the key qualifiers follow the GTIN in the order 22, 10, 21; any may be left out, none reordered or
// repeated (DL_BAD_PATH). The path is read in (AI, value) pairs from the right until the (01) key, as GS1's
// own parser does, so that a resolver prefix may contain anything, even "01", and a value equal to "01" is
// never mistaken for the key. Values are percent-decoded per segment (so `%2F` is a `/` inside a value).
// Query: `17` expiry, `s` the manufacturer's signature (base64url), `picc` + `cmac` the NTAG 424 DNA SUN
// parameters (hex), anything else kept in `query`. Query values use form decoding (`+` is a space).
// Only http and https; no user-info (`https://trusted@evil/…` is refused), no fragment is kept.
import { fromBase64Url } from '../bytes.js';
import { MedtrailError } from '../errors.js';
import { fieldError } from '../field-error.js';
import { normalizeGtin, validateCpv, validateLot, validateSerial } from './identifiers.js';
import { parseGs1Date } from './date.js';

export interface DigitalLink {
  /** scheme://host[:port][/prefix path], everything before `/01/`; no trailing slash. */
  resolver: string;
  /** GTIN-14. */
  gtin: string;
  /** AI 22, consumer product variant. */
  cpv?: string;
  /** AI 10. */
  lot?: string;
  /** AI 21. */
  serial?: string;
  /** YYMMDD from `?17=`. */
  expiry?: string;
  /** base64url from `?s=`. */
  sig?: string;
  /** NTAG 424 DNA SUN parameters, `?picc=&cmac=` (hex: 16-byte encrypted PICC data, 8-byte CMAC). */
  sun?: { picc: string; cmac: string };
  /** Every other query parameter. */
  query: Record<string, string>;
}

const MAX_URI = 4096;
const QUALIFIERS = ['22', '10', '21'] as const;

/** A query map with no prototype: a parameter named __proto__ or constructor is just a key. */
function emptyQuery(): Record<string, string> {
  const q: Record<string, string> = Object.create(null);
  return q;
}
type Qualifier = (typeof QUALIFIERS)[number];
/** Query keys with a meaning of their own, or that would smuggle a path qualifier into the query. */
const RESERVED_QUERY = new Set(['17', 's', 'picc', 'cmac', '01', '22', '10', '21']);
// host: a DNS name or IPv4 (letters, digits, dots, hyphens) or a bracketed IPv6 literal; optional port.
// Prefix segments: RFC 3986 pchar (unreserved, sub-delims, ':', '@', percent-escapes).
const RESOLVER_RE = /^(https?):\/\/((?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?)((?:\/[A-Za-z0-9\-._~!$&'()*+,;=:@%]+)*)$/;

function badUri(message: string): never {
  throw new MedtrailError('DL_BAD_URI', message);
}

function decodeSegment(raw: string, code: 'DL_BAD_PATH' | 'DL_BAD_QUERY', form: boolean): string {
  try {
    return decodeURIComponent(form ? raw.replace(/\+/g, ' ') : raw);
  } catch (e) {
    throw new MedtrailError(code, 'malformed percent-encoding', { cause: e });
  }
}

/** Parses a GS1 Digital Link URI with a GTIN key; every value is validated. */
export function parseDigitalLink(uri: string): DigitalLink {
  if (typeof uri !== 'string') badUri('URI must be a string');
  if (uri.length > MAX_URI) throw new MedtrailError('TOO_LARGE', `URI longer than ${MAX_URI}`);
  const m = /^(https?):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$/is.exec(uri);
  if (m === null) badUri('not an http(s) URI');
  const scheme = m[1]!.toLowerCase();
  const authority = m[2]!.toLowerCase();
  const path = m[3]!;
  const rawQuery = m[4];
  if (authority.includes('@')) badUri('user-info in a Digital Link is refused');

  // Read (AI, value) pairs from the right until the (01) key.
  const segs = path.split('/');
  if (segs[0] !== '' || segs.length < 3) badUri('no GS1 key in the path');
  const found: Array<[Qualifier, string]> = [];
  let i = segs.length - 2;
  for (; i >= 1; i -= 2) {
    const ai = segs[i]!;
    if (ai === '01') break;
    const q = QUALIFIERS.find((x) => x === ai);
    if (q === undefined) {
      if (found.length === 0) badUri('the path does not end in a (01) GTIN key and its qualifiers');
      throw new MedtrailError('DL_BAD_PATH', `"${ai}" is not a key qualifier of a GTIN`);
    }
    found.unshift([q, segs[i + 1]!]);
  }
  if (i < 1) badUri('no (01) GTIN key in the path');
  const resolver = `${scheme}://${authority}${segs.slice(0, i).join('/')}`;
  if (!RESOLVER_RE.test(resolver)) badUri('malformed host or resolver path');

  // Qualifiers strictly in the order 22, 10, 21: this refuses both reordering and repetition.
  for (let k = 1; k < found.length; k++) {
    if (QUALIFIERS.indexOf(found[k - 1]![0]) >= QUALIFIERS.indexOf(found[k]![0])) {
      throw new MedtrailError('DL_BAD_PATH', 'key qualifiers repeated or out of the order 22, 10, 21');
    }
  }
  const dl: DigitalLink = { resolver, gtin: normalizeGtin(decodeSegment(segs[i + 1]!, 'DL_BAD_PATH', false), 'gtin'), query: emptyQuery() };
  for (const [ai, raw] of found) {
    const v = decodeSegment(raw, 'DL_BAD_PATH', false);
    if (ai === '22') dl.cpv = validateCpv(v, 'cpv');
    else if (ai === '10') dl.lot = validateLot(v, 'lot');
    else dl.serial = validateSerial(v, 'serial');
  }

  // A Map, and a null-prototype `query`, so that a key such as `__proto__` is data like any other.
  const params = new Map<string, string>();
  for (const piece of rawQuery === undefined ? [] : rawQuery.split('&')) {
    if (piece === '') continue; // `?`, `&&`: empty pieces carry nothing
    const eq = piece.indexOf('=');
    const key = decodeSegment(eq === -1 ? piece : piece.slice(0, eq), 'DL_BAD_QUERY', true);
    const value = eq === -1 ? '' : decodeSegment(piece.slice(eq + 1), 'DL_BAD_QUERY', true);
    if (key === '') throw new MedtrailError('DL_BAD_QUERY', 'empty query parameter name');
    if (params.has(key)) throw new MedtrailError('DL_BAD_QUERY', `query parameter "${key}" repeated`);
    params.set(key, value);
  }
  for (const [key, value] of params) {
    if (key === '17') {
      parseGs1Date(value, undefined, 'expiry');
      dl.expiry = value;
    } else if (key === 's') {
      if (!/^[A-Za-z0-9_-]+$/.test(value)) fieldError('DL_BAD_QUERY', 'sig', 's must be base64url');
      try {
        fromBase64Url(value);
      } catch (e) {
        throw new MedtrailError('DL_BAD_QUERY', 'sig: s is not canonical base64url', { cause: e, fields: [{ path: 'sig', code: 'DL_BAD_QUERY', message: 'not base64url' }] });
      }
      dl.sig = value;
    } else if (key === 'picc' || key === 'cmac') {
      continue; // below, as a pair
    } else if (RESERVED_QUERY.has(key)) {
      fieldError('DL_BAD_QUERY', `query.${key}`, 'a key qualifier belongs in the path, not the query');
    } else {
      dl.query[key] = value;
    }
  }
  if (params.has('picc') || params.has('cmac')) {
    const picc = params.get('picc');
    const cmac = params.get('cmac');
    if (picc === undefined || cmac === undefined) fieldError('DL_BAD_QUERY', 'sun', 'picc and cmac come together');
    if (!/^[0-9A-Fa-f]{32}$/.test(picc)) fieldError('DL_BAD_QUERY', 'sun.picc', 'picc must be 16 bytes of hex');
    if (!/^[0-9A-Fa-f]{16}$/.test(cmac)) fieldError('DL_BAD_QUERY', 'sun.cmac', 'cmac must be 8 bytes of hex');
    dl.sun = { picc, cmac };
  }
  return dl;
}

/** Percent-encodes everything but RFC 3986 unreserved characters (so `/`, `?`, `%`, `+`, `&`, `=` are safe). */
function enc(s: string, path: string): string {
  let e: string;
  try {
    e = encodeURIComponent(s);
  } catch {
    fieldError('DL_BAD_QUERY', path, 'not well-formed Unicode (lone surrogate)');
  }
  return e.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Builds `<resolver>/01/<GTIN-14>[/22/..][/10/..][/21/..]?17=..&s=..&picc=..&cmac=..&<others sorted>`.
 * Values are validated first, so what this writes, parseDigitalLink reads back to the same object.
 */
export function formatDigitalLink(dl: DigitalLink): string {
  if (dl === null || typeof dl !== 'object') throw new MedtrailError('BAD_INPUT', 'not a DigitalLink');
  if (typeof dl.resolver !== 'string' || !RESOLVER_RE.test(dl.resolver)) {
    fieldError('DL_BAD_URI', 'resolver', 'resolver must be http(s)://host[:port][/path] without a trailing slash');
  }
  let out = `${dl.resolver}/01/${normalizeGtin(dl.gtin, 'gtin')}`;
  if (dl.cpv !== undefined) out += `/22/${enc(validateCpv(dl.cpv, 'cpv'), 'cpv')}`;
  if (dl.lot !== undefined) out += `/10/${enc(validateLot(dl.lot, 'lot'), 'lot')}`;
  if (dl.serial !== undefined) out += `/21/${enc(validateSerial(dl.serial, 'serial'), 'serial')}`;

  const q: string[] = [];
  if (dl.expiry !== undefined) {
    parseGs1Date(dl.expiry, undefined, 'expiry');
    q.push(`17=${dl.expiry}`);
  }
  if (dl.sig !== undefined) {
    if (typeof dl.sig !== 'string' || !/^[A-Za-z0-9_-]+$/.test(dl.sig)) fieldError('DL_BAD_QUERY', 'sig', 's must be base64url');
    q.push(`s=${dl.sig}`);
  }
  if (dl.sun !== undefined) {
    if (typeof dl.sun.picc !== 'string' || !/^[0-9A-Fa-f]{32}$/.test(dl.sun.picc)) fieldError('DL_BAD_QUERY', 'sun.picc', 'picc must be 16 bytes of hex');
    if (typeof dl.sun.cmac !== 'string' || !/^[0-9A-Fa-f]{16}$/.test(dl.sun.cmac)) fieldError('DL_BAD_QUERY', 'sun.cmac', 'cmac must be 8 bytes of hex');
    q.push(`picc=${dl.sun.picc}`, `cmac=${dl.sun.cmac}`);
  }
  const others = Object.keys(dl.query ?? {}).sort();
  for (const key of others) {
    if (key === '' || RESERVED_QUERY.has(key)) fieldError('DL_BAD_QUERY', `query.${key}`, 'reserved or empty query parameter name');
    const value = dl.query[key];
    if (typeof value !== 'string') fieldError('DL_BAD_QUERY', `query.${key}`, 'query values are strings');
    q.push(`${enc(key, `query.${key}`)}=${enc(value, `query.${key}`)}`);
  }
  return q.length === 0 ? out : `${out}?${q.join('&')}`;
}
