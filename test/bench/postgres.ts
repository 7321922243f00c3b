// npm run bench:postgres — the log layer on PostgreSQL (server/store/pg/pg-log.ts) next to the SQLite store in
// the same run, on this machine (issue 15; the custody, verify and map layers are not on PostgreSQL yet, so this
// is the floor a whole deployment builds on, not its figure):
//   1. appends: BENCH_PG_ENTRIES signed entries (default 20,000) in requests of BENCH_PG_PER (default 100), one
//      client, then on PostgreSQL 8 clients over 4 connections at once (the database serializes them);
//   2. reads: the head and one leaf, one at a time, p50/p99 (what a verify reads from the log).
// Needs MEDTRAIL_TEST_PG_URL (a PostgreSQL the caller runs; .ci/run starts one for the tests). Loopback only.
import { performance } from 'node:perf_hooks';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { openLedger } from '../../server/context.js';
import { toAppendInput } from '../../server/log/ingest.js';
import type { AppendInput } from '../../server/log/log-service.js';
import { PgLogStore } from '../../server/store/pg/pg-log.js';
import { admit, makeLedger, participantKey } from '../support/ledger.js';
import { freshSchema, PG_URL } from '../support/pg.js';

installNodeCrypto();
const ENTRIES = Number(process.env['BENCH_PG_ENTRIES'] ?? 20_000);
const PER = Number(process.env['BENCH_PG_PER'] ?? 100);
const READS = 2_000;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const pct = (a: number[], p: number): number => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor((a.length * p) / 100))]!;

async function main(): Promise<void> {
  if (PG_URL === undefined) throw new Error('set MEDTRAIL_TEST_PG_URL to a PostgreSQL this benchmark may create schemas in');
  const l = makeLedger();
  const sqlite = openLedger({ db: l.db });
  const inputs: AppendInput[] = Array.from({ length: ENTRIES }, (_, i) => toAppendInput(admit(l.authority, participantKey(i + 2))));
  const chunks = (list: AppendInput[]): AppendInput[][] => Array.from({ length: Math.ceil(list.length / PER) }, (_, i) => list.slice(i * PER, (i + 1) * PER));
  const half = Math.floor(ENTRIES / 2);
  const stores: PgLogStore[] = [];
  try {
    console.log(`1. appends: ${fmt(half)} entries in requests of ${PER}, one client, alternating SQLite and PostgreSQL request by request`);
    const pg1 = await PgLogStore.open(PG_URL, freshSchema('bench'));
    stores.push(pg1);
    let tSqlite = 0;
    let tPg = 0;
    for (const c of chunks(inputs.slice(0, half))) {
      let t0 = performance.now();
      sqlite.log.append(c);
      tSqlite += performance.now() - t0;
      t0 = performance.now();
      await pg1.append(c);
      tPg += performance.now() - t0;
    }
    const rS = half / (tSqlite / 1000);
    const rP = half / (tPg / 1000);
    console.log(`   SQLite ${fmt(rS)} entries/s, PostgreSQL ${fmt(rP)} entries/s = ${((100 * rP) / rS).toFixed(0)}% (issue 15's target for the whole path: >= 50%)`);

    const rest = inputs.slice(half);
    const schema = freshSchema('bench');
    const conns = await Promise.all(Array.from({ length: 4 }, () => PgLogStore.open(PG_URL!, schema)));
    stores.push(...conns);
    const parts = chunks(rest);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = next++; i < parts.length; i = next++) await conns[w % 4]!.append(parts[i]!);
      }),
    );
    const rC = rest.length / ((performance.now() - t0) / 1000);
    const head = await conns[0]!.head();
    console.log(`   PostgreSQL, 8 clients over 4 connections: ${fmt(rC)} entries/s (${head.size} leaves, each once: the database serialized them)`);

    console.log(`2. reads, one at a time (${fmt(READS)} each): the head and one leaf`);
    const sqliteLat: number[] = [];
    const pgLat: number[] = [];
    for (let i = 0; i < READS; i++) {
      const idx = (i * 7919) % half;
      let a = performance.now();
      sqlite.store.head();
      sqlite.store.leaves(idx, idx + 1);
      sqliteLat.push(performance.now() - a);
      a = performance.now();
      await pg1.head();
      await pg1.leaves(idx, idx + 1);
      pgLat.push(performance.now() - a);
    }
    console.log(`   SQLite p50 ${pct(sqliteLat, 50).toFixed(3)} ms, p99 ${pct(sqliteLat, 99).toFixed(3)} ms; PostgreSQL p50 ${pct(pgLat, 50).toFixed(3)} ms, p99 ${pct(pgLat, 99).toFixed(3)} ms (two round trips on loopback)`);
  } finally {
    for (const s of stores) await s.close();
    sqlite.close();
    l.cleanup();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:postgres failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
