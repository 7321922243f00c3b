// NTAG21x originality signature (NXP AN11350 "NTAG21x Originality Signature Validation"): READ_SIG answers
// 32 bytes, r || s of an ECDSA signature on the curve secp128r1 over the tag's 7-byte UID, with no hash (the
// UID itself, read big-endian, is the message integer e), made with NXP's private key. A valid signature says
// the chip is a genuine NXP part; it says nothing about the data on it (a genuine chip can carry a forged
// URI), so the reader reports it as one more signal beside the verdict, never as the verdict.
//
// Curve constants: SEC 2 "Recommended Elliptic Curve Domain Parameters" v1.0 (Certicom, 2000), section 2.3.1
// secp128r1 (p = 2^128 - 2^97 - 1, a = p - 3, b, G, n, h = 1); cross-checked against the copies in several
// crypto libraries. NXP's NTAG21x public key from AN11350 (also listed in proxmark3's client tables as
// "NXP NTAG21x (2013)"). The vectors in test/vectors/ntag-originality pin both.
//
// Plain BigInt affine arithmetic: a verification is two 128-bit scalar multiplications, about a millisecond,
// once per tap. Verification only, and on public data: no constant-time concern.
import { MedtrailError } from '../errors.js';

const P = 0xfffffffdffffffffffffffffffffffffn;
const A = 0xfffffffdfffffffffffffffffffffffcn;
const B = 0xe87579c11079f43dd824993c2cee5ed3n;
const GX = 0x161ff7528b899b2d0c28607ca52c5b86n;
const GY = 0xcf5ac8395bafeb13c02da292dded7a83n;
const N = 0xfffffffe0000000075a30d1b9038a115n;

/** NXP's NTAG21x originality public key (uncompressed SEC 1 point), AN11350. */
export const NXP_NTAG21X_PUBLIC_KEY = '04494e1a386d3d3cfe3dc10e5de68a499b1c202db5b132393e89ed19fe5be8bc61';

type Point = { x: bigint; y: bigint } | null; // null: the point at infinity

const mod = (a: bigint, m: bigint): bigint => {
  const r = a % m;
  return r < 0n ? r + m : r;
};

function inv(a: bigint, m: bigint): bigint {
  let [r0, r1] = [mod(a, m), m];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) throw new MedtrailError('BAD_INPUT', 'not invertible');
  return mod(s0, m);
}

function add(p: Point, q: Point): Point {
  if (p === null) return q;
  if (q === null) return p;
  if (p.x === q.x) {
    if (mod(p.y + q.y, P) === 0n) return null;
    const l = mod((3n * p.x * p.x + A) * inv(2n * p.y, P), P);
    const x = mod(l * l - 2n * p.x, P);
    return { x, y: mod(l * (p.x - x) - p.y, P) };
  }
  const l = mod((q.y - p.y) * inv(q.x - p.x, P), P);
  const x = mod(l * l - p.x - q.x, P);
  return { x, y: mod(l * (p.x - x) - p.y, P) };
}

function mul(k: bigint, p: Point): Point {
  let r: Point = null;
  let a = p;
  for (let e = k; e > 0n; e >>= 1n) {
    if (e & 1n) r = add(r, a);
    a = add(a, a);
  }
  return r;
}

function onCurve(x: bigint, y: bigint): boolean {
  return x < P && y < P && mod(y * y - (x * x * x + A * x + B), P) === 0n;
}

function int(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

function hexBytes(hex: string, what: string): Uint8Array {
  if (typeof hex !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(hex)) throw new MedtrailError('BAD_INPUT', `${what} must be hex`);
  return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
}

/**
 * Whether `signature` (32 bytes, r || s) is NXP's ECDSA signature over `uid` (the 7-byte UID) for the
 * public key `publicKeyHex` (uncompressed, default NXP's NTAG21x key). Answers false for any signature that
 * does not verify (including all zeros, what clones usually answer); throws BAD_INPUT / BAD_LENGTH only for
 * arguments of the wrong shape.
 */
export function verifyOriginality(uid: Uint8Array, signature: Uint8Array, publicKeyHex: string = NXP_NTAG21X_PUBLIC_KEY): boolean {
  if (!(uid instanceof Uint8Array) || uid.length < 4 || uid.length > 10) throw new MedtrailError('BAD_LENGTH', 'UID must be 4 to 10 bytes');
  if (!(signature instanceof Uint8Array) || signature.length !== 32) throw new MedtrailError('BAD_LENGTH', 'originality signature must be 32 bytes');
  const pk = hexBytes(publicKeyHex, 'public key');
  if (pk.length !== 33 || pk[0] !== 0x04) throw new MedtrailError('BAD_LENGTH', 'public key must be an uncompressed secp128r1 point (33 bytes)');
  const qx = int(pk.subarray(1, 17));
  const qy = int(pk.subarray(17, 33));
  if (!onCurve(qx, qy)) throw new MedtrailError('BAD_INPUT', 'public key is not on secp128r1');
  const r = int(signature.subarray(0, 16));
  const s = int(signature.subarray(16, 32));
  if (r <= 0n || r >= N || s <= 0n || s >= N) return false;
  // e: the message itself (no hash), already shorter than n.
  const e = mod(int(uid), N);
  const w = inv(s, N);
  const point = add(mul(mod(e * w, N), { x: GX, y: GY }), mul(mod(r * w, N), { x: qx, y: qy }));
  return point !== null && mod(point.x, N) === r;
}
