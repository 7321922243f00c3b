// Ed25519 signatures/s and verifications/s, tweetnacl (core's portable default, what the browser runs) next to
// node:crypto (OpenSSL, what server and CLI install), measured in the same run, plus whole-entry verification
// (decodeEntry + verifyEntry: canonical JSON checks and Ed25519) under each. Run after the build:
//   node dist/test/bench/crypto.js            (BENCH_SECONDS=1 per measurement, BENCH_ROUNDS=3 by default)
// Rounds alternate between the implementations so that machine drift hits both; the median round is shown.
import { performance } from 'node:perf_hooks';
import { naclEd25519, publicKeyFromSeed, useEd25519, type Ed25519Impl } from '../../core/crypto/ed25519.js';
import { nodeEd25519 } from '../../core/crypto/ed25519-node.js';
import { decodeEntry, encodeEntry, signEntry, signingBytes, verifyEntry, type UnsignedEntry } from '../../core/entry/entry.js';
import { checkDigit } from '../../core/gs1/identifiers.js';
import { TEST_ORIGIN } from '../support/ledger.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const gln = (twelve: string): string => twelve + String(checkDigit(twelve));
const seed = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 255);
const pub = publicKeyFromSeed(seed);
// A typical hand-off: a ship entry with one prev link and a handful of packs (about 600 signed bytes).
const ship: UnsignedEntry = {
  v: 1,
  kind: 'ship',
  signer: gln('409876543210'),
  at: '2026-11-21T17:45:09.123Z',
  nonce: 'AAECAwQFBgcICQoLDA0ODw',
  prev: ['ab'.repeat(32)],
  body: {
    to: gln('400000000001'),
    items: Array.from({ length: 5 }, (_, i) => ({ gtin: '09501101530003', lot: 'L2026A', serial: `SN${String(i).padStart(18, '0')}` })),
  },
};
const message = signingBytes(ship, TEST_ORIGIN);
const leaf = encodeEntry(signEntry(ship, seed, TEST_ORIGIN));

/** Operations per second of `op`, run for SECONDS (checked every 16 calls). */
function rate(op: () => void): number {
  const end = performance.now() + SECONDS * 1000;
  let n = 0;
  let now = performance.now();
  const start = now;
  while (now < end) {
    for (let i = 0; i < 16; i++) op();
    n += 16;
    now = performance.now();
  }
  return (n * 1000) / (now - start);
}

interface Row {
  sign: number;
  verify: number;
  entry: number;
}

function measure(impl: Ed25519Impl): Row {
  useEd25519(impl);
  const sig = impl.sign(message, seed);
  let sink = 0;
  const row = {
    sign: rate(() => {
      sink ^= impl.sign(message, seed)[0]!;
    }),
    verify: rate(() => {
      if (!impl.verify(message, sig, pub)) throw new Error('verification failed');
    }),
    entry: rate(() => {
      if (!verifyEntry(decodeEntry(leaf), pub, TEST_ORIGIN)) throw new Error('entry verification failed');
    }),
  };
  if (sink === -1) console.log(sink); // keeps the signing loop observable
  return row;
}

const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const impls = [naclEd25519, nodeEd25519];
const rounds = new Map<string, Row[]>(impls.map((i) => [i.name, []]));
console.log(`Ed25519 over a ${message.length}-byte message (signing bytes of a ship entry); leaf ${leaf.length} bytes`);
console.log(`${ROUNDS} rounds of ${SECONDS} s per measurement, alternating implementations; median round shown\n`);
for (let r = 0; r < ROUNDS; r++) for (const impl of impls) rounds.get(impl.name)!.push(measure(impl));

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US').padStart(12);
console.log(`${'implementation'.padEnd(14)}${'sign/s'.padStart(12)}${'verify/s'.padStart(12)}${'entry verify/s'.padStart(16)}`);
const med = (name: string): Row => {
  const rs = rounds.get(name)!;
  return { sign: median(rs.map((x) => x.sign)), verify: median(rs.map((x) => x.verify)), entry: median(rs.map((x) => x.entry)) };
};
for (const impl of impls) {
  const m = med(impl.name);
  console.log(`${impl.name.padEnd(14)}${fmt(m.sign)}${fmt(m.verify)}${fmt(m.entry).padStart(16)}`);
}
const a = med(naclEd25519.name);
const b = med(nodeEd25519.name);
console.log(`${'node/tweetnacl'.padEnd(14)}${(b.sign / a.sign).toFixed(1).padStart(11)}x${(b.verify / a.verify).toFixed(1).padStart(11)}x${(b.entry / a.entry).toFixed(1).padStart(15)}x`);
