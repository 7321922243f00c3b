// Signed HTTP requests: how a participant proves who is asking (a pharmacy scanning "as itself", a distributor
// reading a pack's custody chain). The participant signs, with the same Ed25519 key it signs entries with:
//
//   "medtrail/v1/request\n" <log origin> "\n" <METHOD> "\n" <path with query> "\n" <at> "\n" <lowercase hex SHA-256 of the body>
//
// and sends three headers: X-Medtrail-Signer (its GLN), X-Medtrail-At (RFC 3339, the `at` signed) and
// X-Medtrail-Signature (base64 of the 64-byte signature). The domain prefix keeps a request signature from
// ever verifying as an entry (`medtrail/v1/<kind>\n`) or a pack tag (`medtrail/v1/pack\n`); the
// log origin (the server's checkpoint origin) binds it to one ledger, so a request signed for one deployment
// is refused by every other (issue 12 #8); method, path and body hash bind it to this one request, and `at` bounds how long it can be
// replayed (the server refuses a time more than 5 minutes away and a signature it has already seen).
// Pure: the browser console and the reader sign with it too.
import { fromBase64, toBase64, toHex, utf8 } from '../bytes.js';
import { sign, verify, SIGNATURE_BYTES } from '../crypto/ed25519.js';
import { MedtrailError } from '../errors.js';
import { isValidGln } from '../gs1/identifiers.js';
import { sha256 } from '../crypto/hash.js';
import { checkLogOrigin } from '../entry/entry.js';

export const REQUEST_DOMAIN = 'medtrail/v1/request\n';
export const MAX_REQUEST_SKEW_MS = 5 * 60 * 1000;
export const SIGNER_HEADER = 'X-Medtrail-Signer';
export const AT_HEADER = 'X-Medtrail-At';
export const SIGNATURE_HEADER = 'X-Medtrail-Signature';

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const METHOD_RE = /^[A-Z]{1,16}$/;
const MAX_PATH = 8192;

export interface RequestToSign {
  /** Origin of the log the server keeps (its checkpoint's first line). */
  log: string;
  method: string;
  /** The request target as sent: path and query, e.g. `/api/v1/packs/09521234543213/ABC?x=1`. */
  path: string;
  /** RFC 3339 time of signing. */
  at: string;
  /** The exact body bytes (empty for GET). */
  body?: Uint8Array;
}

export interface SignedRequestHeaders {
  [SIGNER_HEADER]: string;
  [AT_HEADER]: string;
  [SIGNATURE_HEADER]: string;
}

/** Parses an RFC 3339 time to milliseconds; AUTH_BAD_HEADER when malformed. */
export function parseRequestTime(at: string): number {
  const m = typeof at === 'string' ? RFC3339.exec(at) : null;
  const t = m === null ? NaN : Date.parse(at.toUpperCase());
  if (m === null || Number.isNaN(t)) throw new MedtrailError('AUTH_BAD_HEADER', `${AT_HEADER} must be an RFC 3339 time`);
  return t;
}

/** The exact bytes a participant signs for one request. */
export function requestSigningBytes(r: RequestToSign): Uint8Array {
  if (typeof r.method !== 'string' || !METHOD_RE.test(r.method)) throw new MedtrailError('AUTH_BAD_HEADER', 'method must be an upper-case HTTP method');
  if (typeof r.path !== 'string' || !r.path.startsWith('/') || r.path.length > MAX_PATH || /[\r\n]/.test(r.path)) {
    throw new MedtrailError('AUTH_BAD_HEADER', 'path must start with "/" and hold no line breaks');
  }
  parseRequestTime(r.at);
  const body = r.body ?? new Uint8Array(0);
  if (!(body instanceof Uint8Array)) throw new MedtrailError('BAD_TYPE', 'body must be bytes');
  return utf8(`${REQUEST_DOMAIN}${checkLogOrigin(r.log)}\n${r.method}\n${r.path}\n${r.at}\n${toHex(sha256(body))}`);
}

/**
 * A server given as `--server`: its origin plus any path it is mounted under (no trailing slash), and that path
 * alone, which a signed request signs in front of the API path. CLI_USAGE unless it is an http(s) URL.
 */
export function serverBase(url: string): { base: string; path: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw new MedtrailError('CLI_USAGE', `--server must be an http(s) URL, got ${url}`, { cause: e });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new MedtrailError('CLI_USAGE', `--server must be http(s), got ${url}`);
  const path = u.pathname.replace(/\/+$/, '');
  return { base: u.origin + path, path };
}

/** Signs a request as `signer` (a GLN) with its Ed25519 seed; returns the three headers to send. */
export function signRequest(r: Omit<RequestToSign, 'at'> & { at?: string }, signer: string, seed: Uint8Array): SignedRequestHeaders {
  if (!isValidGln(signer)) throw new MedtrailError('AUTH_BAD_HEADER', 'signer must be a GLN');
  const at = r.at ?? new Date().toISOString();
  const sig = sign(requestSigningBytes({ ...r, at }), seed);
  return { [SIGNER_HEADER]: signer, [AT_HEADER]: at, [SIGNATURE_HEADER]: toBase64(sig) };
}

export interface ParsedAuth {
  signer: string;
  at: string;
  signature: Uint8Array;
}

/**
 * Reads the three headers (a lookup by lower-case name). None present: undefined (an anonymous request).
 * Some but not all, or malformed: AUTH_BAD_HEADER.
 */
export function parseAuthHeaders(get: (lowerName: string) => string | undefined): ParsedAuth | undefined {
  const signer = get(SIGNER_HEADER.toLowerCase());
  const at = get(AT_HEADER.toLowerCase());
  const sig = get(SIGNATURE_HEADER.toLowerCase());
  if (signer === undefined && at === undefined && sig === undefined) return undefined;
  if (signer === undefined || at === undefined || sig === undefined) {
    throw new MedtrailError('AUTH_BAD_HEADER', `a signed request carries all of ${SIGNER_HEADER}, ${AT_HEADER} and ${SIGNATURE_HEADER}`);
  }
  if (!isValidGln(signer)) throw new MedtrailError('AUTH_BAD_HEADER', `${SIGNER_HEADER} must be a GLN`);
  parseRequestTime(at);
  let signature: Uint8Array;
  try {
    signature = fromBase64(sig);
  } catch (e) {
    throw new MedtrailError('AUTH_BAD_HEADER', `${SIGNATURE_HEADER} must be base64`, { cause: e });
  }
  if (signature.length !== SIGNATURE_BYTES) throw new MedtrailError('AUTH_BAD_HEADER', `${SIGNATURE_HEADER} must be 64 bytes`);
  return { signer, at, signature };
}

/** Refuses a time more than `skewMs` away from `nowMs` (AUTH_CLOCK_SKEW). */
export function checkRequestTime(at: string, nowMs: number, skewMs = MAX_REQUEST_SKEW_MS): void {
  const t = parseRequestTime(at);
  if (Math.abs(nowMs - t) > skewMs) throw new MedtrailError('AUTH_CLOCK_SKEW', `${AT_HEADER} is more than ${skewMs / 1000} s from the server's clock`);
}

/** True when `auth` is a valid signature of the request by `publicKey`. */
export function verifyRequest(r: Omit<RequestToSign, 'at'>, auth: ParsedAuth, publicKey: Uint8Array): boolean {
  return verify(requestSigningBytes({ ...r, at: auth.at }), auth.signature, publicKey);
}
