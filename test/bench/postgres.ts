// npm run bench:postgres — issue 15's figures, PostgreSQL next to SQLite in one run on this machine (absolute
// times drift on shared machines; the ratios are what the targets are about). Loopback only, bounded.
//
// 1. Registration of BENCH_BATCH-pack batches (default 100,000) as `medtrail batch` does it (every tag signed,
//    the batch POSTed to a real `medtrail serve`, then its last pack verified with its state proven on a
//    checkpoint that covers it), rounds alternating between a server on SQLite and one on PostgreSQL.
//    Target: PostgreSQL >= 50% of SQLite's rate.
// 2. Both ledgers filled to BENCH_LEDGER_PACKS (default 1,000,000); POST /verify at 16 clients (rate, medians
//    of 3 alternating runs) and one at a time (p99). Target: PostgreSQL >= 50% of SQLite's rate.
// 3. Two `medtrail serve` processes over the same PostgreSQL against one: verify at 16 clients spread over both
//    (alternating runs with one process), and batches from two clients at once through both against through one.
//    Target: two processes faster than one.
// 4. Bytes per pack at BENCH_BYTES_PACKS (default 10,000,000) registered packs: the store layer only (the same
//    leaves and custody rows the servers write, without HTTP), tables and indexes on PostgreSQL
//    (pg_total_relation_size) and the SQLite file.
// Needs MEDTRAIL_TEST_PG_URL (a PostgreSQL the caller runs; .ci/run starts one for the tests).
import http from 'node:http';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { checkDigit } from '../../core/gs1/identifiers.js';
import { generateKeyFile, keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { leafHash } from '../../core/log/merkle.js';
import { encodeEntry } from '../../core/entry/entry.js';
import { ApiClient, type SignerKey } from '../../cli/api-client.js';
import { isTransient } from '../../client/ledger-client.js';
import { generateSerials, postBatch, signTag, signTags, type BatchSpec } from '../../cli/client/batch.js';
import { enroll } from '../../cli/client/enroll.js';
import { registerProductEntry } from '../../cli/client/product.js';
import { yymmdd } from '../../cli/demo-chain.js';
import { CustodyWriter } from '../../server/custody/writer.js';
import { LogService } from '../../server/log/log-service.js';
import { openDatabase, SqliteLedgerStore } from '../../server/store/ledger-store.js';
import { PgLogStore, prepareAppend } from '../../server/store/pg/pg-log.js';
import { writeCustody } from '../../server/store/pg/pg-custody.js';
import { cli } from '../support/cli.js';
import { entry, gln, TEST_ORIGIN } from '../support/ledger.js';
import { freshSchema, PG_URL } from '../support/pg.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';

installNodeCrypto();
const BATCH = Number(process.env['BENCH_BATCH'] ?? 100_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const LEDGER_PACKS = Number(process.env['BENCH_LEDGER_PACKS'] ?? 1_000_000);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 16);
const REQUESTS = Number(process.env['BENCH_REQUESTS'] ?? 20_000);
const BYTES_PACKS = Number(process.env['BENCH_BYTES_PACKS'] ?? 10_000_000);
const SAMPLE = 5000;
const MAX_PHASE_MS = 30_000;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
const pctOf = (a: number, b: number): string => `${((100 * a) / b).toFixed(0)}%`;

if (PG_URL === undefined) throw new Error('set MEDTRAIL_TEST_PG_URL to a PostgreSQL this benchmark may create schemas in');
const pgUrl = PG_URL;
process.env['MEDTRAIL_RATE_LIMIT'] ??= 'off';
const t = tempDir('medtrail-bench-pg-');
const schema = freshSchema('bench');
const pgDb = `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}schema=${schema}`;
const sqliteDb = join(t.dir, 'sqlite', 'medtrail.db');
const pgKeys = join(t.dir, 'pg-keys');
const maker = generateKeyFile('Bench Pharma', gln(2)) as SignerKey;
const prefix = '4099999';
const gtin = `0${prefix}00011${checkDigit(`0${prefix}00011`)}`;
const expiry = yymmdd(new Date(Date.now() + 700 * 86_400_000));
let lots = 0;
const spec = (n = BATCH): BatchSpec => ({ gtin, lot: `B${++lots}`, expiry, serials: generateSerials(n) });

interface Side {
  name: string;
  server: ServerProcess;
  client: ApiClient;
  bodies: string[];
  packs: number;
}

const procs: ServerProcess[] = [];
async function side(name: string, db: string, authorityFile: string, extra: string[]): Promise<Side> {
  const server = await startServerProcess(db, extra);
  procs.push(server);
  const client = new ApiClient(server.url, maker);
  const authority = parseKeyFile(readFileSync(authorityFile, 'utf8')) as SignerKey;
  await enroll(client, authority, { action: 'admit', gln: maker.gln, name: maker.name, role: 'manufacturer', publicKey: maker.publicKey, prefixes: [prefix] });
  await registerProductEntry(client, maker, { gtin, name: 'Benchmarkol', form: 'tablet', strength: '1 mg', packSize: 10 });
  return { name, server, client, bodies: [], packs: 0 };
}

/** A registration as a manufacturer does it, ending when its last pack verifies with its state proven. */
async function register(s: Side, b: BatchSpec): Promise<void> {
  const tags = signTags(maker, s.server.url, b);
  const appended = await postBatch(s.client, maker, b);
  for (;;) {
    const answer = await s.client.verify({ code: tags[tags.length - 1]!.uri });
    const size = answer.map === undefined ? 0 : Number(answer.map.checkpoint.split('\n')[1]);
    if (answer.verdict === 'GENUINE' && size > appended.index) break;
    if (answer.verdict !== 'GENUINE') throw new Error(`${s.name}: the batch's last pack is ${answer.verdict}`);
  }
  s.packs += b.serials.length;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function post(url: string, body: string): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method: 'POST', path: '/api/v1/verify', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `requests` verifies at `concurrency`, request i to urls[i % urls.length]: rate and latency percentiles. */
async function load(urls: string[], bodies: string[], concurrency: number, requests: number): Promise<{ rate: number; p50: number; p99: number }> {
  const lat: number[] = [];
  let next = 0;
  let failed = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests && performance.now() - start < MAX_PHASE_MS) {
        const i = next++;
        const t0 = performance.now();
        if ((await post(urls[i % urls.length]!, bodies[i % bodies.length]!)) !== 200) failed++;
        lat.push(performance.now() - t0);
      }
    }),
  );
  if (failed > 0) throw new Error(`${failed} verifies did not answer 200`);
  lat.sort((a, b) => a - b);
  return { rate: lat.length / ((performance.now() - start) / 1000), p50: pct(lat, 50), p99: pct(lat, 99) };
}

async function fill(s: Side, packs: number): Promise<void> {
  const seed = keyFileSeed(maker);
  while (s.packs < packs) {
    const b = spec(Math.min(BATCH, packs - s.packs));
    await postBatch(s.client, maker, b);
    s.packs += b.serials.length;
    for (let i = 0; i < SAMPLE / 10 && s.bodies.length < SAMPLE; i++) s.bodies.push(JSON.stringify({ code: signTag(seed, s.server.url, { gtin, lot: b.lot, expiry, serial: b.serials[i * 7]! }) }));
  }
}

const checkpointSize = async (url: string): Promise<number> => Number((await (await fetch(`${url}/api/v1/checkpoint`)).text()).split('\n')[1]);

async function bytesPerPack(): Promise<void> {
  console.log(`\n4. bytes per pack at ${fmt(BYTES_PACKS)} packs (store layer: the batch leaves and custody rows the servers write, no HTTP)`);
  const per = 100_000;
  const makerKey = generateKeyFile('Bytes Pharma', gln(3)) as SignerKey;
  // PostgreSQL
  const s2 = freshSchema('bytes');
  const pg = await PgLogStore.open(pgUrl, s2, { create: true });
  const dbPath = join(t.dir, 'bytes.db');
  const store = new SqliteLedgerStore(openDatabase(dbPath, { create: true }));
  const log = new LogService(store, { origin: TEST_ORIGIN, seed: new Uint8Array(32) });
  const writer = new CustodyWriter(store.connectionFor('custody'));
  let tPg = 0;
  let tSqlite = 0;
  try {
    for (let done = 0, lot = 0; done < BYTES_PACKS; done += per, lot++) {
      const serials = generateSerials(Math.min(per, BYTES_PACKS - done));
      const e = entry('batch', makerKey, { gtin, lot: `Z${lot}`, expiry: '301231', serials });
      const bytes = encodeEntry(e);
      const input = { bytes, leafHash: leafHash(bytes), kind: 'batch', signer: e.signer, nonce: e.nonce, at: e.at };
      const changes = [{ op: 'batch' as const, lot: { gtin, lot: `Z${lot}`, expiry: '301231', manufacturer: makerKey.gln, batchIndex: 0, packCount: serials.length, recalledIndex: null, recallReason: null, recalledAt: null }, serials }];
      let t0 = performance.now();
      await pg.lockedAppend(async (head) => {
        const known = new Map<string, Uint8Array>();
        if (head.size > 0) for (const [k, v] of await pg.frontierOf(head.size)) known.set(k, v);
        const p = prepareAppend(head.size, [input], known);
        return { ...p, also: (q) => writeCustody(q, s2, [{ ref: { index: head.size, hash: input.leafHash, kind: 'batch', at: e.at, signer: e.signer }, changes }], p.head.size) };
      });
      tPg += performance.now() - t0;
      t0 = performance.now();
      store.transaction(() => {
        const [a] = log.append([input]);
        writer.apply({ index: a!.index, hash: a!.leafHash, kind: 'batch', at: e.at, signer: e.signer }, changes);
      });
      tSqlite += performance.now() - t0;
      if ((lot + 1) % 20 === 0) console.log(`   ${fmt(done + serials.length)} packs (PostgreSQL ${(tPg / 1000).toFixed(0)} s, SQLite ${(tSqlite / 1000).toFixed(0)} s)`);
    }
    await pg.query('VACUUM ANALYZE');
    const r = await pg.query(
      `SELECT sum(pg_total_relation_size(c.oid))::bigint AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
      [s2],
    );
    const pgBytes = Number((r.rows[0] as { bytes: number }).bytes);
    store.connectionFor('custody').pragma('wal_checkpoint(TRUNCATE)');
    const sqliteBytes = statSync(dbPath).size;
    console.log(`   PostgreSQL ${(pgBytes / BYTES_PACKS).toFixed(1)} B/pack (${fmt(pgBytes / 1048576)} MiB, tables, indexes and TOAST); SQLite ${(sqliteBytes / BYTES_PACKS).toFixed(1)} B/pack (${fmt(sqliteBytes / 1048576)} MiB file)`);
    console.log(`   written in PostgreSQL ${(tPg / 1000).toFixed(0)} s, SQLite ${(tSqlite / 1000).toFixed(0)} s (${fmt(BYTES_PACKS / (tPg / 1000))} vs ${fmt(BYTES_PACKS / (tSqlite / 1000))} packs/s)`);
  } finally {
    store.close();
    await pg.query('DROP SCHEMA $schema CASCADE').catch(() => undefined);
    await pg.close();
  }
}

try {
  if (process.env['BENCH_ONLY_BYTES'] !== '1') {
    if (cli(['init', '--db', sqliteDb, '--origin', TEST_ORIGIN, '--json']).status !== 0) throw new Error('init (SQLite) failed');
    const pgInit = cli(['init', '--db', pgDb, '--keys', pgKeys, '--origin', TEST_ORIGIN, '--json']);
    if (pgInit.status !== 0) throw new Error(`init (PostgreSQL) failed: ${pgInit.stderr}`);
    const sq = await side('SQLite', sqliteDb, join(t.dir, 'sqlite', 'authority.key.json'), []);
    const pg1 = await side('PostgreSQL', pgDb, join(pgKeys, 'authority.key.json'), ['--log-key', join(pgKeys, 'log.key.json')]);

    console.log(`1. registering ${ROUNDS} batches of ${fmt(BATCH)} packs on each (tags signed, POSTed, last pack verified with its state proven), alternating`);
    const rates: { sq: number[]; pg: number[] } = { sq: [], pg: [] };
    for (let r = 0; r < ROUNDS; r++) {
      for (const [s, into] of [[sq, rates.sq], [pg1, rates.pg]] as const) {
        const t0 = performance.now();
        await register(s, spec());
        into.push(BATCH / ((performance.now() - t0) / 1000));
      }
      console.log(`   round ${r + 1}: SQLite ${fmt(rates.sq[r]!)} packs/s, PostgreSQL ${fmt(rates.pg[r]!)} packs/s`);
    }
    const reg = med(rates.pg) / med(rates.sq);
    console.log(`   median: PostgreSQL ${fmt(med(rates.pg))} vs SQLite ${fmt(med(rates.sq))} packs/s = ${pctOf(med(rates.pg), med(rates.sq))} (target >= 50%) ${reg >= 0.5 ? 'PASS' : 'FAIL'}`);

    console.log(`\n2. both ledgers filled to ${fmt(LEDGER_PACKS)} packs; POST /verify`);
    let t0 = performance.now();
    await fill(sq, LEDGER_PACKS);
    const fillSq = performance.now() - t0;
    t0 = performance.now();
    await fill(pg1, LEDGER_PACKS);
    const fillPg = performance.now() - t0;
    console.log(`   filled in SQLite ${(fillSq / 1000).toFixed(1)} s, PostgreSQL ${(fillPg / 1000).toFixed(1)} s`);
    await load([sq.server.url], sq.bodies, CONCURRENCY, 5000);
    await load([pg1.server.url], pg1.bodies, CONCURRENCY, 5000);
    const runs: { sq: number[]; pg: number[] } = { sq: [], pg: [] };
    for (let r = 0; r < 3; r++) {
      runs.sq.push((await load([sq.server.url], sq.bodies, CONCURRENCY, REQUESTS)).rate);
      runs.pg.push((await load([pg1.server.url], pg1.bodies, CONCURRENCY, REQUESTS)).rate);
      console.log(`   run ${r + 1} at ${CONCURRENCY} clients: SQLite ${fmt(runs.sq[r]!)}/s, PostgreSQL ${fmt(runs.pg[r]!)}/s`);
    }
    const one = { sq: await load([sq.server.url], sq.bodies, 1, 5000), pg: await load([pg1.server.url], pg1.bodies, 1, 5000) };
    const vr = med(runs.pg) / med(runs.sq);
    console.log(`   at ${CONCURRENCY} clients: PostgreSQL ${fmt(med(runs.pg))}/s vs SQLite ${fmt(med(runs.sq))}/s = ${pctOf(med(runs.pg), med(runs.sq))} (target >= 50%) ${vr >= 0.5 ? 'PASS' : 'FAIL'}`);
    console.log(`   one at a time: SQLite p50 ${one.sq.p50.toFixed(2)} ms, p99 ${one.sq.p99.toFixed(2)} ms; PostgreSQL p50 ${one.pg.p50.toFixed(2)} ms, p99 ${one.pg.p99.toFixed(2)} ms`);
    await procs.shift()!.stop();

    console.log('\n3. two `medtrail serve` processes over the same PostgreSQL against one');
    t0 = performance.now();
    // A new server copies the whole ledger from PostgreSQL before it listens (--cache keeps a copy across restarts).
    const pg2proc = await startServerProcess(pgDb, ['--log-key', join(pgKeys, 'log.key.json')], 600_000);
    procs.push(pg2proc);
    const target = await checkpointSize(pg1.server.url);
    for (;;) {
      if ((await checkpointSize(pg2proc.url)) >= target) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    console.log(`   the second server copied ${fmt(LEDGER_PACKS)} packs from PostgreSQL and adopted the signer's checkpoint in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const both = [pg1.server.url, pg2proc.url];
    await load(both, pg1.bodies, CONCURRENCY, 5000);
    const v1: number[] = [];
    const v2: number[] = [];
    for (let r = 0; r < 3; r++) {
      v1.push((await load([pg1.server.url], pg1.bodies, CONCURRENCY, REQUESTS)).rate);
      v2.push((await load(both, pg1.bodies, CONCURRENCY, REQUESTS)).rate);
      console.log(`   run ${r + 1}: verify at ${CONCURRENCY} clients, one process ${fmt(v1[r]!)}/s, two ${fmt(v2[r]!)}/s`);
    }
    console.log(`   verify: two processes ${fmt(med(v2))}/s vs one ${fmt(med(v1))}/s = ${pctOf(med(v2), med(v1))} (target: two faster than one) ${med(v2) > med(v1) ? 'PASS' : 'FAIL'}`);
    const pg2: Side = { name: 'PostgreSQL #2', server: pg2proc, client: new ApiClient(pg2proc.url, maker), bodies: [], packs: 0 };
    // A server replaying the other's 100,000-pack batch sheds for a moment (OVERLOADED): clients ask again, as
    // medtrail's own client does for transient answers.
    const retried = async (s: Side, b: BatchSpec): Promise<void> => {
      for (let i = 0; ; i++) {
        try {
          await postBatch(s.client, maker, b);
          return;
        } catch (e) {
          if (!isTransient(e) || i > 100) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    const twoClients = async (a: Side, b: Side): Promise<number> => {
      const start = performance.now();
      await Promise.all([a, b].map(async (s) => {
        for (let i = 0; i < 2; i++) await retried(s, spec());
      }));
      return (4 * BATCH) / ((performance.now() - start) / 1000);
    };
    const r1 = await twoClients(pg1, pg1);
    const r2 = await twoClients(pg1, pg2);
    console.log(`   batches from two clients at once (2 x 2 x ${fmt(BATCH)} packs, POSTed with tags already signed): through one process ${fmt(r1)} packs/s, through two ${fmt(r2)} packs/s = ${pctOf(r2, r1)}`);
  }
  await bytesPerPack();
} finally {
  agent.destroy();
  for (const p of procs) await p.stop();
  const pg = await PgLogStore.open(pgUrl, schema, { create: false }).catch(() => undefined);
  await pg?.query('DROP SCHEMA $schema CASCADE').catch(() => undefined);
  await pg?.close();
  t.cleanup();
}
