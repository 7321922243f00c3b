// npm run bench:custody — figures for issue 3, each printed next to its baseline from the same run (absolute
// times drift on shared machines; the ratios are what the targets are about). Load goes to 127.0.0.1 only,
// bounded in count and time.
//
// 1. Packs registered per second for a 100,000-pack batch, as `medtrail batch` does it: sign every pack's tag
//    (Ed25519 over core/tag/pack.ts packIdentityBytes, Digital Link URI), then POST the batch entry to a real
//    `medtrail serve` process, which checks it and applies it (100,000 pack rows) in the append's transaction.
//    Baseline: raw Ed25519 signing of the same pack identities plus a SQLite insert of the same rows into a
//    plain table (same pragmas), one transaction. Rounds alternate (bare, real, bare, real, ...).
//    Target: real >= 50% of bare.
// 2. POST /api/v1/verify over HTTP on loopback with 1,000,000 packs in the ledger: requests/s and p50/p99
//    latency at a fixed concurrency over keep-alive connections, next to GET /healthz at the same
//    concurrency, alternating. Targets: p99 < 5 ms, verify throughput >= 40% of healthz. The latency is also
//    measured one request at a time: at concurrency 16 a request mostly waits behind the other 15 (p50 is
//    about 16 / throughput, by Little's law), which says more about throughput than about one scan.
import Database from 'better-sqlite3';
import http from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { LoadJob } from './http-load.js';
import { processCpuUs, runLoad } from './verify-ledger.js';
import { sign } from '../../core/crypto/ed25519.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { checkDigit } from '../../core/gs1/identifiers.js';
import { generateKeyFile, keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { packIdentityBytes } from '../../core/tag/pack.js';
import { ApiClient, type SignerKey } from '../../cli/api-client.js';
import { generateSerials, postBatch, signTag, signTags, type BatchSpec } from '../../cli/client/batch.js';
import { enroll } from '../../cli/client/enroll.js';
import { registerProductEntry } from '../../cli/client/product.js';
import { yymmdd } from '../../cli/demo-chain.js';
import { openDatabase } from '../../server/store/ledger-store.js';
import { cli } from '../support/cli.js';
import { gln, TEST_ORIGIN } from '../support/ledger.js';
import { startServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';

installNodeCrypto();
const BATCH = Number(process.env.BENCH_BATCH ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LEDGER_PACKS = Number(process.env.BENCH_LEDGER_PACKS ?? 1_000_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);
const OPEN_RATE = Number(process.env.BENCH_OPEN_RATE ?? 1000);
const BARE_SERVER = `require('http').createServer((q, s) => { q.resume(); q.on('end', () => { s.setHeader('content-type', 'application/json'); s.end('{"ok":true}'); }); }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;
const SAMPLE = 10_000;
const MAX_PHASE_MS = 30_000;

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

const t = tempDir('medtrail-bench-custody-');
const db = join(t.dir, 'medtrail.db');
const init = cli(['init', '--db', db, '--origin', TEST_ORIGIN, '--json']);
if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
// One client at full speed is exactly what the public routes' per-client limit is there to stop; the bench
// measures the service, so the limit is off unless the caller sets MEDTRAIL_RATE_LIMIT.
process.env['MEDTRAIL_RATE_LIMIT'] ??= 'off';
const server = await startServerProcess(db);
const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

try {
  const url = new URL(server.url);
  const authority = parseKeyFile(readFileSync(join(t.dir, 'authority.key.json'), 'utf8')) as SignerKey;
  const maker = generateKeyFile('Bench Pharma', gln(2)) as SignerKey;
  const prefix = '4099999';
  const gtin = `0${prefix}00011${checkDigit(`0${prefix}00011`)}`;
  const c = new ApiClient(server.url, maker);
  await enroll(c, authority, { action: 'admit', gln: maker.gln, name: maker.name, role: 'manufacturer', publicKey: maker.publicKey, prefixes: [prefix] });
  await registerProductEntry(c, maker, { gtin, name: 'Benchmarkol', form: 'tablet', strength: '1 mg', packSize: 10 });
  const expiry = yymmdd(new Date(Date.now() + 700 * 86_400_000));
  let lots = 0;
  let packsInLedger = 0;

  // ---- 1. batch registration ------------------------------------------------------------------------------
  const bareDb: Database.Database = openDatabase(join(t.dir, 'bare.db'), { create: true });
  bareDb.exec('CREATE TABLE packs (gtin TEXT NOT NULL, serial TEXT NOT NULL, lot TEXT NOT NULL, expiry TEXT NOT NULL, sig BLOB NOT NULL, PRIMARY KEY (gtin, serial)) STRICT, WITHOUT ROWID');
  const ins = bareDb.prepare('INSERT INTO packs (gtin, serial, lot, expiry, sig) VALUES (?, ?, ?, ?, ?)');
  const seed = keyFileSeed(maker);
  const bare = (b: BatchSpec): void => {
    bareDb.transaction(() => {
      for (const serial of b.serials) ins.run(b.gtin, serial, b.lot, b.expiry, sign(packIdentityBytes({ gtin: b.gtin, lot: b.lot, expiry: b.expiry, serial }), seed));
    }).immediate();
  };
  // A registration counts once its packs verify with their state proven: the batch, then a verify of its last
  // pack, whose answer must carry the map proofs on a checkpoint that covers the batch (server/map brings the
  // state maps up to date as that checkpoint is signed).
  const real = async (b: BatchSpec): Promise<void> => {
    const tags = signTags(maker, server.url, b);
    const appended = await postBatch(c, maker, b);
    const answer = await c.verify({ code: tags[tags.length - 1]!.uri });
    // The checkpoint note's second line is its tree size (c2sp.org/tlog-checkpoint).
    const size = answer.map === undefined ? 0 : Number(answer.map.checkpoint.split('\n')[1]);
    if (answer.verdict !== 'GENUINE' || size <= appended.index) throw new Error(`the batch's last pack: ${answer.verdict}, map on a checkpoint of ${size} leaves (batch at ${appended.index})`);
  };
  const spec = (): BatchSpec => ({ gtin, lot: `B${++lots}`, expiry, serials: generateSerials(BATCH) });

  console.log(`1. registering ${ROUNDS} batches of ${fmt(BATCH)} packs (tags signed, POSTed to a real server), alternating with the bare baseline`);
  const bareRates: number[] = [];
  const realRates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const b1 = spec();
    let t0 = performance.now();
    bare(b1);
    bareRates.push(BATCH / ((performance.now() - t0) / 1000));
    const b2 = spec();
    t0 = performance.now();
    await real(b2);
    realRates.push(BATCH / ((performance.now() - t0) / 1000));
    packsInLedger += BATCH;
    console.log(`   round ${r + 1}: bare ${fmt(bareRates[r]!)} packs/s, medtrail ${fmt(realRates[r]!)} packs/s`);
  }
  bareDb.close();
  const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const ratio1 = med(realRates) / med(bareRates);
  console.log(`   median: medtrail ${fmt(med(realRates))} packs/s vs bare Ed25519 + SQLite ${fmt(med(bareRates))} packs/s = ${(ratio1 * 100).toFixed(0)}% (target >= 50%) ${ratio1 >= 0.5 ? 'PASS' : 'FAIL'}`);

  // ---- 2. verification over HTTP ----------------------------------------------------------------------------
  console.log(`\n2. filling the ledger to ${fmt(LEDGER_PACKS)} packs (serials only; tags signed for a sample of ${fmt(SAMPLE)})`);
  const sample: string[] = [];
  const fillStart = performance.now();
  while (packsInLedger < LEDGER_PACKS) {
    const b = { ...spec(), serials: generateSerials(Math.min(BATCH, LEDGER_PACKS - packsInLedger)) };
    await postBatch(c, maker, b);
    packsInLedger += b.serials.length;
    for (let i = 0; i < SAMPLE / 10 && sample.length < SAMPLE; i++) sample.push(signTag(seed, server.url, { gtin, lot: b.lot, expiry, serial: b.serials[i * 7]! }));
  }
  console.log(`   ${fmt(packsInLedger)} packs in ${((performance.now() - fillStart) / 1000).toFixed(1)} s`);

  const bodies = sample.map((code) => JSON.stringify({ code }));
  const once = (method: 'GET' | 'POST', path: string, body?: string, port = url.port, via = agent): Promise<number> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        { host: url.hostname, port, method, path, agent: via, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const load = async (name: string, make: (i: number) => Promise<number>, concurrency = CONCURRENCY, requests = REQUESTS): Promise<{ rate: number; p50: number; p99: number; n: number }> => {
    const lat: number[] = [];
    let next = 0;
    let failed = 0;
    const start = performance.now();
    const worker = async (): Promise<void> => {
      while (next < requests && performance.now() - start < MAX_PHASE_MS) {
        const i = next++;
        const t0 = performance.now();
        const status = await make(i);
        lat.push(performance.now() - t0);
        if (status !== 200) failed++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const secs = (performance.now() - start) / 1000;
    lat.sort((a, b) => a - b);
    if (failed > 0) throw new Error(`${name}: ${failed} requests did not answer 200`);
    return { rate: lat.length / secs, p50: pct(lat, 50), p99: pct(lat, 99), n: lat.length };
  };
  const serverCpuUs = (pid = server.child.pid!): number => processCpuUs(pid);
  const verify = (i: number): Promise<number> => once('POST', '/api/v1/verify', bodies[i % bodies.length]!);
  const health = (): Promise<number> => once('GET', '/healthz');
  // The state maps are brought up a slice at a time after the fill: a verification of a pack no checkpoint
  // covers yet waits for that (503 CHECKPOINT_PENDING after 2 s). Measured once the newest packs are covered.
  const caught = performance.now();
  while ((await once('POST', '/api/v1/verify', bodies[bodies.length - 1]!)) !== 200) {
    if (performance.now() - caught > 300_000) throw new Error('no checkpoint covers the newest packs after 300 s');
  }
  console.log(`   a checkpoint covers the newest packs (the state maps caught up) ${((performance.now() - caught) / 1000).toFixed(1)} s after the fill`);
  // Warm both paths (JIT, SQLite page cache) before measuring.
  await load('warm-up', (i) => (i % 2 === 0 ? verify(i) : health()));

  console.log(`   ${fmt(REQUESTS)} requests per run, concurrency ${CONCURRENCY}, keep-alive, alternating healthz / verify`);
  type Run = { rate: number; p50: number; p99: number; n: number; cpu: number };
  const measured = async (name: string, make: (i: number) => Promise<number>): Promise<Run> => {
    const c0 = serverCpuUs();
    const r = await load(name, make);
    return { ...r, cpu: (serverCpuUs() - c0) / r.n };
  };
  const hz: Run[] = [];
  const vf: Run[] = [];
  for (let r = 0; r < 3; r++) {
    hz.push(await measured('healthz', health));
    vf.push(await measured('verify', verify));
    console.log(
      `   run ${r + 1}: GET /healthz ${fmt(hz[r]!.rate)}/s (p50 ${hz[r]!.p50.toFixed(2)} ms, p99 ${hz[r]!.p99.toFixed(2)} ms, server CPU ${fmt(hz[r]!.cpu)} µs/request); ` +
        `POST /api/v1/verify ${fmt(vf[r]!.rate)}/s (p50 ${vf[r]!.p50.toFixed(2)} ms, p99 ${vf[r]!.p99.toFixed(2)} ms, server CPU ${fmt(vf[r]!.cpu)} µs/request)`,
    );
  }
  // Medians of the three runs (one lucky or unlucky run on a shared machine does not decide).
  const median = (a: Run[], k: keyof Run): number => a.map((x) => x[k]).sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const ratio2 = median(vf, 'rate') / median(hz, 'rate');
  const cpuRatio = median(hz, 'cpu') / median(vf, 'cpu');
  console.log(`   at concurrency ${CONCURRENCY} (saturation): verify p50 ${median(vf, 'p50').toFixed(2)} ms, p99 ${median(vf, 'p99').toFixed(2)} ms; healthz p99 ${median(hz, 'p99').toFixed(2)} ms (queueing: see the figures below for latency)`);
  // One request at a time: the latency a single scanner sees, without queueing behind 15 others.
  const v1 = await load('verify c=1', verify, 1, Math.min(REQUESTS, 5000));
  const h1 = await load('healthz c=1', health, 1, Math.min(REQUESTS, 5000));
  console.log(`   one at a time: verify p50 ${v1.p50.toFixed(2)} ms, p99 ${v1.p99.toFixed(2)} ms (target < 5 ms) ${v1.p99 < 5 ? 'PASS' : 'FAIL'}; healthz p50 ${h1.p50.toFixed(2)} ms, p99 ${h1.p99.toFixed(2)} ms`);
  // A fixed offered load, the way traffic arrives from many pharmacies: requests start on a schedule whether
  // or not earlier ones were answered (test/bench/http-load.ts, from a worker thread).
  const open = async (path: string): Promise<{ p50: number; p99: number; errors: number; n: number }> => {
    const job: LoadJob = { url: server.url, method: path === '/healthz' ? 'GET' : 'POST', path, bodies, concurrency: 64, durationMs: 5000, ratePerSec: OPEN_RATE };
    const r = await runLoad(job);
    const lat = [...r.latenciesMs].sort((a, b) => a - b);
    return { p50: pct(lat, 50), p99: pct(lat, 99), errors: r.errors, n: lat.length };
  };
  const ho = await open('/healthz');
  const vo = await open('/api/v1/verify');
  if (ho.errors + vo.errors > 0) throw new Error(`open loop: ${ho.errors + vo.errors} requests did not answer 200`);
  console.log(
    `   at ${fmt(OPEN_RATE)} requests/s offered (open loop, ${fmt(vo.n)} requests): verify p50 ${vo.p50.toFixed(2)} ms, p99 ${vo.p99.toFixed(2)} ms (target < 5 ms) ${vo.p99 < 5 ? 'PASS' : 'FAIL'}; ` +
      `healthz p50 ${ho.p50.toFixed(2)} ms, p99 ${ho.p99.toFixed(2)} ms (this machine's floor)`,
  );
  console.log(`   server CPU per request: verify ${fmt(median(vf, 'cpu'))} µs vs healthz ${fmt(median(hz, 'cpu'))} µs = ${(cpuRatio * 100).toFixed(0)}%`);
  // For scale, not a target: POST /verify runs on medtrail's fast path (ahead of express: server/http/
  // fast-path.ts) while GET /healthz goes through express like every other route. A bare node:http server in
  // its own process, answering {"ok":true} with no framework and no work, loaded the same way, shows what
  // the HTTP exchange alone costs on this machine.
  const bareServer = spawn(process.execPath, ['-e', BARE_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<string>((resolve) => bareServer.stdout.once('data', (d: Buffer) => resolve(d.toString().trim())));
    const bareAgent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const get = (): Promise<number> => once('GET', '/', undefined, port, bareAgent);
    await load('bare warm-up', get, CONCURRENCY, 5000);
    const c0 = serverCpuUs(bareServer.pid!);
    const b = await load('bare', get);
    const bareCpu = (serverCpuUs(bareServer.pid!) - c0) / b.n;
    bareAgent.destroy();
    console.log(`   for scale: bare node:http ${fmt(b.rate)}/s, ${fmt(bareCpu)} µs CPU/request; verify costs ${(median(vf, 'cpu') / bareCpu).toFixed(1)}x a bare request, ${fmt(median(vf, 'cpu') - bareCpu)} µs more`);
  } finally {
    bareServer.kill();
  }
  console.log(`   verify ${fmt(median(vf, 'rate'))}/s vs healthz ${fmt(median(hz, 'rate'))}/s (medians of 3 runs) = ${(ratio2 * 100).toFixed(0)}% (target >= 40%) ${ratio2 >= 0.4 ? 'PASS' : 'FAIL'}`);
} finally {
  agent.destroy();
  await server.stop();
  t.cleanup();
}
