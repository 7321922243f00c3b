// Figures of the authenticated map (core/map/smt.ts), each next to a baseline measured in the same run:
//   - adding 100,000 new keys to a map of 1,000,000 (in-memory node store): time, SHA-256 count, and the time
//     against raw SHA-256 of that many 65-byte inputs (the hashing an update cannot avoid);
//   - proof size in bytes (present and absent keys) against 32 x log2(n) and against an uncompressed proof
//     (256 hashes);
//   - verification time per proof, with node:crypto (server, CLI) and with @noble/hashes (what the browser
//     runs), against raw SHA-256 of the hashes the verification computes.
// Run after the build:  node dist/test/bench/map.js     (MAP_BASE=1000000 MAP_ADD=100000 by default)
import { performance } from 'node:perf_hooks';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { installNodeCrypto, nodeSha256 } from '../../core/crypto/ed25519-node.js';
import { useSha256 } from '../../core/crypto/hash.js';
import { decodeMapProof, MemoryMapStore, proveMap, updateMap, verifyMapProof, type MapChange } from '../../core/map/smt.js';

const BASE = Number(process.env['MAP_BASE'] ?? 1_000_000);
const ADD = Number(process.env['MAP_ADD'] ?? 100_000);
const PROOFS = 2_000;

installNodeCrypto();

/** Deterministic pseudo-random bytes (xorshift32): the inputs cost nothing next to the hashing measured. */
function filler(seed: number): (out: Uint8Array) => Uint8Array {
  let x = seed | 1;
  return (out) => {
    for (let i = 0; i < out.length; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 255;
      out[i + 1] = (x >>> 8) & 255;
      out[i + 2] = (x >>> 16) & 255;
      out[i + 3] = (x >>> 24) & 255;
    }
    return out;
  };
}

function changes(family: number, count: number): MapChange[] {
  const fill = filler(0x9e3779b9 * family);
  return Array.from({ length: count }, () => ({ key: fill(new Uint8Array(32)), value: fill(new Uint8Array(32)) }));
}

/** Milliseconds of raw SHA-256 over `n` inputs of `len` bytes (the inputs differ, as they do in the map). */
function rawHashMs(n: number, len: number, hash: (d: Uint8Array) => Uint8Array): number {
  const buf = new Uint8Array(len);
  const t = performance.now();
  let sink = 0;
  for (let i = 0; i < n; i++) {
    buf[1] = i & 255;
    buf[2] = (i >>> 8) & 255;
    sink ^= hash(buf)[0]!;
  }
  const ms = performance.now() - t;
  if (sink === 256) process.stdout.write('');
  return ms;
}

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

// ---- build the base map (setup, shown but not the figure asked for) ----
const store = new MemoryMapStore();
let t = performance.now();
const base = changes(1, BASE);
const built = updateMap(store, base);
const buildMs = performance.now() - t;
const heapMb = process.memoryUsage().heapUsed / 1e6;
process.stdout.write(`map of ${fmt(BASE)} keys built in ${fmt(buildMs)} ms (${fmt(built.hashes)} hashes, ${fmt(store.size)} positions, heap ${fmt(heapMb)} MB)\n`);

// ---- the update: ADD new keys ----
const add = changes(2, ADD);
t = performance.now();
const upd = updateMap(store, add);
const updMs = performance.now() - t;
const rawUpd = rawHashMs(upd.hashes, 65, nodeSha256);
process.stdout.write(
  `update: ${fmt(ADD)} new keys into ${fmt(BASE)} in ${fmt(updMs)} ms = ${fmt((ADD * 1000) / updMs)} keys/s; ` +
    `${fmt(upd.hashes)} hashes (${fmt(upd.hashes / ADD, 1)} per key, log2(n) = ${fmt(Math.log2(BASE + ADD), 1)}), ${fmt(upd.writes)} writes\n`,
);
process.stdout.write(`  baseline: raw SHA-256 of ${fmt(upd.hashes)} x 65 bytes in ${fmt(rawUpd)} ms -> update costs ${fmt(updMs / rawUpd, 2)}x the bare hashing\n`);

// ---- proofs: sizes ----
const n = BASE + ADD;
const present = Array.from({ length: PROOFS }, (_, i) => (i % 2 === 0 ? base : add)[(i * 7919) % (i % 2 === 0 ? BASE : ADD)]!);
const absent = changes(3, PROOFS);
const root = upd.root;
const presentProofs = present.map((c) => proveMap(store, c.key));
const absentProofs = absent.map((c) => proveMap(store, c.key));
const sizes = (ps: Uint8Array[]): { mean: number; max: number; hashes: number } => ({
  mean: ps.reduce((a, p) => a + p.length, 0) / ps.length,
  max: Math.max(...ps.map((p) => p.length)),
  hashes: ps.reduce((a, p) => a + decodeMapProof(p).siblings.filter((s) => s !== undefined).length, 0) / ps.length,
});
const sp = sizes(presentProofs);
const sa = sizes(absentProofs);
const ideal = 32 * Math.log2(n);
process.stdout.write(
  `proof size at n = ${fmt(n)}: present ${fmt(sp.mean)} B mean (${fmt(sp.hashes, 1)} hashes), ${fmt(sp.max)} B max; ` +
    `absent ${fmt(sa.mean)} B mean, ${fmt(sa.max)} B max\n`,
);
process.stdout.write(`  baseline: 32 x log2(n) = ${fmt(ideal)} B -> ${fmt(sp.mean / ideal, 2)}x; uncompressed (256 hashes) = 8,192 B -> ${fmt(sp.mean / 8192, 3)}x\n`);

// ---- proofs: verification time ----
const all = [...presentProofs.map((p, i) => [present[i]!.key, p] as const), ...absentProofs.map((p, i) => [absent[i]!.key, p] as const)];
const verifyHashes = all.reduce((a, [, p]) => a + decodeMapProof(p).depth + 1, 0);
for (const [label, impl] of [
  ['node:crypto', nodeSha256],
  ['@noble/hashes (browser)', (d: Uint8Array) => nobleSha256(d)],
] as const) {
  useSha256(impl);
  for (const [k, p] of all.slice(0, 200)) verifyMapProof(root, k, p); // warm up
  const reps = 3;
  t = performance.now();
  for (let r = 0; r < reps; r++) for (const [k, p] of all) verifyMapProof(root, k, p);
  const perProofUs = ((performance.now() - t) * 1000) / (reps * all.length);
  const rawUs = (rawHashMs(verifyHashes * reps, 65, impl) * 1000) / (reps * all.length);
  process.stdout.write(
    `verify (${label}): ${fmt(perProofUs, 1)} us per proof (${fmt(verifyHashes / all.length, 1)} hashes); ` +
      `baseline raw SHA-256 of those hashes ${fmt(rawUs, 1)} us -> ${fmt(perProofUs / rawUs, 2)}x\n`,
  );
}
useSha256(nodeSha256);
