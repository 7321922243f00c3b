// npm run bench:ledger — figures for issue 2, printed side by side from one run (absolute times drift on
// shared machines; the ratios are what the targets are about).
//
// 1. Appends/s in batches of 1,000 with every entry's signature checked (server/log/ingest.ts: Ed25519
//    verification against the KeyBook, canonical encoding, Merkle nodes, CAS head, one transaction per batch),
//    next to the bare work: Ed25519 verification plus a SQLite insert of the same rows into a plain table,
//    same pragmas, one transaction per batch. Runs alternate (bare, ledger, bare, ledger, ...) so drift hits both.
//    Target: ledger >= 70% of bare.
// 2. In-process inclusion proof time at 1,000,000 leaves, median and p99 over 20,000 random indexes.
//    Target: p99 < 1 ms.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { encodeEntry, verifyEntry, type Entry } from '../../core/entry/entry.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { keyFilePublic } from '../../core/crypto/keys.js';
import { openLedger } from '../../server/context.js';
import { appendSigned, loadKeyBook, toAppendInput } from '../../server/log/ingest.js';
import { openDatabase } from '../../server/store/ledger-store.js';
import { admit, entry, makeLedger, participantKey, TEST_ORIGIN } from '../support/ledger.js';

installNodeCrypto();
const BATCH = 1000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const PROOF_LEAVES = Number(process.env.BENCH_PROOF_LEAVES ?? 1_000_000);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

const t = makeLedger();
try {
  const l = openLedger({ db: t.db });
  const people = Array.from({ length: 10 }, (_, i) => participantKey(i + 2));
  l.log.append(people.map((p) => toAppendInput(admit(t.authority, p, 'manufacturer'))));
  const keys = loadKeyBook(l.store);

  console.log(`signing ${ROUNDS * 2} batches of ${BATCH} entries (not timed)...`);
  const batches: Entry[][] = Array.from({ length: ROUNDS * 2 }, (_, b) =>
    Array.from({ length: BATCH }, (_, i) => {
      const who = people[i % people.length]!;
      return entry('ship', who, { to: people[(i + 1) % people.length]!.gln, items: [{ gtin: '09506000134352', serial: `S${b}-${i}`, lot: 'L1' }] });
    }),
  );

  const bareDb: Database.Database = openDatabase(join(t.dir, 'bare.db'), { create: true });
  bareDb.exec('CREATE TABLE rows (idx INTEGER PRIMARY KEY, hash BLOB NOT NULL, entry BLOB NOT NULL, kind TEXT NOT NULL, signer TEXT NOT NULL, nonce TEXT NOT NULL, at TEXT NOT NULL) STRICT');
  const ins = bareDb.prepare('INSERT INTO rows (idx, hash, entry, kind, signer, nonce, at) VALUES (?, ?, ?, ?, ?, ?, ?)');
  let bareIdx = 0;
  const bare = (entries: Entry[]): void => {
    bareDb.transaction(() => {
      for (const e of entries) {
        if (!verifyEntry(e, keyFilePublic(people.find((p) => p.gln === e.signer)!), TEST_ORIGIN)) throw new Error('bad sig');
        const bytes = encodeEntry(e);
        ins.run(bareIdx++, randomBytes(32), bytes, e.kind, e.signer, e.nonce, e.at);
      }
    }).immediate();
  };
  // Key lookups are a Map in both paths; give the bare path the same cost shape.
  const bareTimes: number[] = [];
  const ledgerTimes: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const a = batches[2 * r]!;
    const b = batches[2 * r + 1]!;
    let t0 = performance.now();
    bare(a);
    bareTimes.push(performance.now() - t0);
    t0 = performance.now();
    appendSigned(l.log, keys, b);
    ledgerTimes.push(performance.now() - t0);
  }
  // First round warms JIT and caches for both; drop it.
  const sum = (xs: number[]): number => xs.slice(1).reduce((s, x) => s + x, 0);
  const bareRate = ((ROUNDS - 1) * BATCH) / (sum(bareTimes) / 1000);
  const ledgerRate = ((ROUNDS - 1) * BATCH) / (sum(ledgerTimes) / 1000);
  console.log(`appends (signature checked, batches of ${BATCH}): ${ledgerRate.toFixed(0)} entries/s`);
  console.log(`bare work (Ed25519 verify + SQLite insert):      ${bareRate.toFixed(0)} entries/s`);
  console.log(`ratio: ${((100 * ledgerRate) / bareRate).toFixed(1)}% of bare (target >= 70%)`);
  bareDb.close();

  console.log(`\nfilling the log to ${PROOF_LEAVES} leaves for the proof timing...`);
  const fill0 = performance.now();
  const chunk = 20_000;
  while (l.store.head().size < PROOF_LEAVES) {
    const n = Math.min(chunk, PROOF_LEAVES - l.store.head().size);
    const base = l.store.head().size;
    l.log.append(Array.from({ length: n }, (_, i) => ({ bytes: randomBytes(120), kind: 'bench', signer: 'bench', nonce: `n${base + i}`, at: '2026-01-01T00:00:00.000Z' })));
  }
  console.log(`filled in ${((performance.now() - fill0) / 1000).toFixed(1)} s`);
  const size = l.store.head().size;
  const times: number[] = [];
  for (let i = 0; i < 22_000; i++) {
    const index = Math.floor(Math.random() * size);
    const t0 = performance.now();
    l.log.inclusion(index, size);
    const dt = performance.now() - t0;
    if (i >= 2000) times.push(dt);
  }
  times.sort((a, b) => a - b);
  console.log(`inclusion proof at ${size} leaves: median ${(pct(times, 50) * 1000).toFixed(1)} us, p99 ${(pct(times, 99) * 1000).toFixed(1)} us (target p99 < 1000 us)`);
  l.close();
} finally {
  t.cleanup();
}
