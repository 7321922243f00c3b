// Byte helpers that work the same in Node and in the browser (no Buffer): hex, base64, base64url,
// concatenation, constant-time comparison. Decoders are strict and throw coded errors.
import { MedtrailError } from './errors.js';

const HEX = '0123456789abcdef';

export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) {
    const x = b[i]!;
    s += HEX[x >> 4]! + HEX[x & 15]!;
  }
  return s;
}

/** Decodes hex (either case). With `len`, the decoded length must be exactly `len` bytes. */
export function fromHex(s: string, len?: number): Uint8Array {
  if (typeof s !== 'string' || s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) {
    throw new MedtrailError('BAD_HEX', 'not a hex string of even length');
  }
  if (len !== undefined && s.length !== len * 2) {
    throw new MedtrailError('BAD_HEX', `expected ${len} bytes of hex, got ${s.length / 2}`);
  }
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_LOOKUP = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64_LOOKUP[B64.charCodeAt(i)] = i;
B64_LOOKUP['-'.charCodeAt(0)] = 62;
B64_LOOKUP['_'.charCodeAt(0)] = 63;

export function toBase64(b: Uint8Array): string {
  let s = '';
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    s += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i]! << 16;
    s += B64[n >> 18]! + B64[(n >> 12) & 63]! + '==';
  } else if (rest === 2) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8);
    s += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + '=';
  }
  return s;
}

export function toBase64Url(b: Uint8Array): string {
  return toBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function decode64(s: string, url: boolean): Uint8Array {
  if (typeof s !== 'string') throw new MedtrailError('BAD_BASE64', 'not a string');
  let body = s;
  if (!url) {
    if (s.length % 4 !== 0) throw new MedtrailError('BAD_BASE64', 'base64 length is not a multiple of 4');
    const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
    body = s.slice(0, s.length - pad);
  }
  if (body.length % 4 === 1) throw new MedtrailError('BAD_BASE64', 'impossible base64 length');
  const out = new Uint8Array(Math.floor((body.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    const v = c < 128 ? B64_LOOKUP[c]! : -1;
    const isUrlChar = c === 45 || c === 95;
    const isStdChar = c === 43 || c === 47;
    if (v < 0 || (url && isStdChar) || (!url && isUrlChar)) {
      throw new MedtrailError('BAD_BASE64', `invalid ${url ? 'base64url' : 'base64'} character at ${i}`);
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  // Non-canonical encodings (leftover bits set) are refused so that each byte string has one encoding.
  if ((acc & ((1 << bits) - 1)) !== 0) throw new MedtrailError('BAD_BASE64', 'non-canonical trailing bits');
  return out.subarray(0, o);
}

export function fromBase64(s: string, len?: number): Uint8Array {
  const b = decode64(s, false);
  if (len !== undefined && b.length !== len) throw new MedtrailError('BAD_LENGTH', `expected ${len} bytes, got ${b.length}`);
  return b;
}

export function fromBase64Url(s: string, len?: number): Uint8Array {
  const b = decode64(s, true);
  if (len !== undefined && b.length !== len) throw new MedtrailError('BAD_LENGTH', `expected ${len} bytes, got ${b.length}`);
  return b;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Constant-time equality for equal-length inputs: hashes are compared in constant time. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Strict UTF-8 decoding: invalid sequences are a coded error, never U+FFFD. */
export function fromUtf8(b: Uint8Array): string {
  try {
    return decoder.decode(b);
  } catch (e) {
    throw new MedtrailError('BAD_INPUT', 'invalid UTF-8', { cause: e });
  }
}

/** Asserts a Uint8Array of exactly `len` bytes: sizes are checked at the boundary of crypto. */
export function assertBytes(x: unknown, len: number, what: string, code: 'KEY_BAD_LENGTH' | 'SIG_BAD_LENGTH' | 'BAD_LENGTH' = 'BAD_LENGTH'): asserts x is Uint8Array {
  if (!(x instanceof Uint8Array)) throw new MedtrailError('BAD_TYPE', `${what} must be a Uint8Array`);
  if (x.length !== len) throw new MedtrailError(code, `${what} must be ${len} bytes, got ${x.length}`);
}
