// Verification figures for issue 3: POST /api/v1/verify over HTTP on loopback with PACKS packs in the ledger
// (default 1,000,000, in batches of 100,000), next to GET /healthz in the same run, each loaded from a worker
// thread over keep-alive connections. Targets: verify p99 < 5 ms; verify throughput >= 40% of healthz.
// Codes are signed Digital Link tag URIs of random registered packs (a real tag scan: Ed25519 verification,
// custody lookups, inclusion proof, a scan row). Runs alternate (healthz, verify, healthz, verify).
import { Worker } from 'node:worker_threads';
import { toBase64Url } from '../../core/bytes.js';
import { formatDigitalLink } from '../../core/digital-link.js';
import { sign } from '../../core/ed25519.js';
import { installNodeCrypto } from '../../core/ed25519-node.js';
import { checkDigit, randomSerial } from '../../core/gs1.js';
import { keyFileSeed, type KeyFile } from '../../core/keys.js';
import { packIdentityBytes } from '../../core/pack.js';
import { toHex } from '../../core/bytes.js';
import { custodyServices } from '../../server/custody/services.js';
import { serviceModules } from '../../server/modules.js';
import { startServer } from '../../server/server.js';
import { entry, makeLedger, participantKey } from '../support/ledger.js';
import type { LoadJob, LoadResult } from './http-load.js';

installNodeCrypto();
const PACKS = Number(process.env.BENCH_PACKS ?? 1_000_000);
const PER_BATCH = 100_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const SAMPLE = 20_000;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

function load(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./http-load.js', import.meta.url), { workerData: job });
    w.once('message', (r: LoadResult) => {
      void w.terminate();
      resolve(r);
    });
    w.once('error', reject);
  });
}

const t = makeLedger();
const s = await startServer({ db: t.db, port: 0, modules: serviceModules() });
try {
  const svc = custodyServices(s.ledger);
  const submit = (e: Parameters<typeof svc.submit>[0][number]): string => toHex(svc.submit([e])[0]!.leafHash);
  const auth = t.authority as KeyFile & { gln: string };
  const maker = participantKey(10);
  submit(entry('participant', auth, { action: 'admit', gln: maker.gln, name: maker.name, role: 'manufacturer', publicKey: maker.publicKey, prefixes: ['4000001'] }));
  const body = '0400000100001';
  const gtin = body + String(checkDigit(body));
  const product = submit(entry('product', maker, { gtin, name: 'Bench', form: 'tablet', strength: '1 mg', packSize: 10 }));
  const sample: { lot: string; serial: string }[] = [];
  const t0 = performance.now();
  for (let b = 0; b * PER_BATCH < PACKS; b++) {
    const n = Math.min(PER_BATCH, PACKS - b * PER_BATCH);
    const seen = new Set<string>();
    while (seen.size < n) seen.add(randomSerial(12));
    const serials = [...seen];
    const lot = `B${b}`;
    submit(entry('batch', maker, { gtin, lot, expiry: '301231', serials }, [product]));
    for (let i = 0; i < SAMPLE / Math.ceil(PACKS / PER_BATCH); i++) sample.push({ lot, serial: serials[(i * 7919) % n]! });
    process.stdout.write(`\rregistered ${(b * PER_BATCH + n).toLocaleString()} packs`);
  }
  console.log(` in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const seed = keyFileSeed(maker);
  const bodies = sample.map((p) => {
    const sig = toBase64Url(sign(packIdentityBytes({ gtin, lot: p.lot, serial: p.serial, expiry: '301231' }), seed));
    return JSON.stringify({ code: formatDigitalLink({ resolver: 'https://id.medtrail.test', gtin, lot: p.lot, serial: p.serial, expiry: '301231', sig, query: {} }) });
  });
  // Warm-up (JIT, page cache), not counted.
  await load({ url: s.url, method: 'POST', path: '/api/v1/verify', bodies, concurrency: CONCURRENCY, durationMs: 1000 });
  const runs: { name: string; r: LoadResult }[] = [];
  for (let round = 0; round < 2; round++) {
    runs.push({ name: 'healthz', r: await load({ url: s.url, method: 'GET', path: '/healthz', bodies: [], concurrency: CONCURRENCY, durationMs: SECONDS * 1000 }) });
    runs.push({ name: 'verify', r: await load({ url: s.url, method: 'POST', path: '/api/v1/verify', bodies, concurrency: CONCURRENCY, durationMs: SECONDS * 1000 }) });
  }
  const sum = (name: string): { rps: number; p50: number; p99: number; errors: number } => {
    const rs = runs.filter((x) => x.name === name).map((x) => x.r);
    const lat = rs.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
    const reqs = rs.reduce((a, r) => a + r.requests, 0);
    const secs = rs.reduce((a, r) => a + r.seconds, 0);
    return { rps: reqs / secs, p50: pct(lat, 50), p99: pct(lat, 99), errors: rs.reduce((a, r) => a + r.errors, 0) };
  };
  const h = sum('healthz');
  const v = sum('verify');
  console.log(`packs in ledger: ${svc.state.packCount().toLocaleString()}, concurrency ${CONCURRENCY}, ${SECONDS} s x 2 each`);
  console.log(`GET /healthz       ${h.rps.toFixed(0)} req/s  p50 ${h.p50.toFixed(2)} ms  p99 ${h.p99.toFixed(2)} ms  errors ${h.errors}`);
  console.log(`POST /api/v1/verify ${v.rps.toFixed(0)} req/s  p50 ${v.p50.toFixed(2)} ms  p99 ${v.p99.toFixed(2)} ms  errors ${v.errors}`);
  console.log(`verify/healthz throughput ${((100 * v.rps) / h.rps).toFixed(1)}% (target >= 40%); verify p99 ${v.p99.toFixed(2)} ms (target < 5 ms)`);
} finally {
  await s.close();
  t.cleanup();
}
