// Iteration aid (not a benchmark of record): a `medtrail serve` process over a 100,000-pack ledger, load from
// a worker thread, alternating GET /healthz and POST /api/v1/verify rounds. Prints each round's rate, p99 and
// the server process's CPU time per request (from /proc: far steadier than rates on a shared machine), and the
// ratios of the medians. `npm run bench:custody` has the figures of record (1,000,000 packs).
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { openLedger } from '../../server/context.js';
import { startServerProcess } from '../support/server-process.js';
import { makeLedger } from '../support/ledger.js';
import type { LoadJob, LoadResult } from './http-load.js';
import { fillVerifyLedger, processCpuUs, runLoad } from './verify-ledger.js';

installNodeCrypto();
const load = (job: LoadJob): Promise<LoadResult> => runLoad(job);
const t = makeLedger();
const ledger = openLedger({ db: t.db });
const bodies = fillVerifyLedger(ledger, t.authority);
ledger.close();
process.env['MEDTRAIL_RATE_LIMIT'] ??= 'off';
const s = await startServerProcess(t.db);
const cpuUs = (): number => processCpuUs(s.child.pid!);
const conc = Number(process.env.AB_CONCURRENCY ?? 16);
const ms = Number(process.env.AB_MS ?? 3000);
const job = (path: string): LoadJob => ({ url: s.url, method: path === '/healthz' ? 'GET' : 'POST', path, bodies, concurrency: conc, durationMs: ms });
await load(job('/api/v1/verify'));
await load(job('/healthz'));
const rates: Record<string, number[]> = { '/healthz': [], '/api/v1/verify': [] };
const cpu: Record<string, number[]> = { '/healthz': [], '/api/v1/verify': [] };
for (let r = 0; r < Number(process.env.AB_ROUNDS ?? 3); r++) {
  for (const p of ['/healthz', '/api/v1/verify']) {
    const c0 = cpuUs();
    const x = await load(job(p));
    const perReq = (cpuUs() - c0) / x.requests;
    cpu[p]!.push(perReq);
    const lat = [...x.latenciesMs].sort((a, b) => a - b);
    const rate = x.requests / x.seconds;
    rates[p]!.push(rate);
    console.log(`${p.padEnd(16)} ${rate.toFixed(0).padStart(6)}/s p50 ${lat[Math.floor(lat.length / 2)]!.toFixed(2)} p99 ${lat[Math.floor(lat.length * 0.99)]!.toFixed(2)} ms; server CPU ${perReq.toFixed(0)} µs/request; errors ${x.errors}`);
  }
}
const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
if (rates['/healthz']!.length > 0) console.log(`rate ratio ${((100 * med(rates['/api/v1/verify']!)) / med(rates['/healthz']!)).toFixed(1)}%; server CPU per request: healthz ${med(cpu['/healthz']!).toFixed(0)} µs, verify ${med(cpu['/api/v1/verify']!).toFixed(0)} µs = ${((100 * med(cpu['/healthz']!)) / med(cpu['/api/v1/verify']!)).toFixed(1)}%`);
for (const rate of (process.env.AB_RATES ?? '1000').split(',').map(Number).filter((x) => x > 0)) {
  for (const p of ['/healthz', '/api/v1/verify']) {
    const x = await load({ ...job(p), concurrency: 64, ratePerSec: rate, durationMs: Number(process.env.AB_OPEN_MS ?? 5000) });
    const lat = [...x.latenciesMs].sort((a, b) => a - b);
    const q = (f: number): string => lat[Math.min(lat.length - 1, Math.floor(lat.length * f))]!.toFixed(2);
    console.log(`open loop ${rate}/s ${p.padEnd(16)} p50 ${q(0.5)} p99 ${q(0.99)} p99.9 ${q(0.999)} max ${q(1)} ms; ${x.requests} requests, errors ${x.errors}`);
  }
}
await s.stop();
t.cleanup();
