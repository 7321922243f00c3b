// Load shedding: with far more requests at once than the server takes (maxInFlight), the excess is answered
// at once with 503 OVERLOADED and Retry-After, while the requests it took are answered in full; nothing
// hangs, nothing crashes, and the server answers normally once the burst is over.
import { until } from '../support/until.js';
import { describe, expect, it } from 'vitest';
import http from 'node:http';
import { gtinOf } from '../support/custody.js';
import { makeLedger } from '../support/ledger.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';

function verify(url: string, agent: http.Agent, code: string): Promise<{ status: number; retryAfter: string | undefined; code: string | undefined; ms: number }> {
  const u = new URL(url);
  const body = JSON.stringify({ code });
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: '/api/v1/verify', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => {
        let c: string | undefined;
        try {
          c = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          c = undefined;
        }
        resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined, code: c, ms: performance.now() - t0 });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function phase(url: string, lanes: number, ms: number, code: string): Promise<{ ok: number[]; shed: { retryAfter: string | undefined; code: string | undefined }[]; other: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: lanes });
  const ok: number[] = [];
  const shed: { retryAfter: string | undefined; code: string | undefined }[] = [];
  let other = 0;
  const end = performance.now() + ms;
  const lane = async (): Promise<void> => {
    while (performance.now() < end) {
      const r = await verify(url, agent, code);
      if (r.status === 200) ok.push(r.ms);
      else if (r.status === 503) {
        shed.push(r);
        // A well-behaved client waits as told before it tries again.
        await new Promise((res) => setTimeout(res, Number(r.retryAfter ?? 1) * 1000));
      }
      else other++;
    }
  };
  await Promise.all(Array.from({ length: lanes }, lane));
  agent.destroy();
  ok.sort((a, b) => a - b);
  return { ok, shed, other };
}

// Far more clients than one 2-core server answers promptly: without shedding each waits behind all the others.
const LANES = 512;

const pct = (a: number[], p: number): number => a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))] ?? NaN;

describe('overload', () => {
  it('sheds the excess with 503 OVERLOADED + Retry-After, and answers everyone again once the burst is over', async () => {
    const l = makeLedger();
    const code = `https://id.medtrail.test/01/${gtinOf(1)}/21/NOPE`;
    const run = async (lagMs: string): Promise<Awaited<ReturnType<typeof phase>>> => {
      process.env['MEDTRAIL_MAX_LAG_MS'] = lagMs;
      process.env['MEDTRAIL_RATE_LIMIT'] = 'off';
      let s: ServerProcess;
      try {
        s = await startServerProcess(l.db);
      } finally {
        delete process.env['MEDTRAIL_MAX_LAG_MS'];
        delete process.env['MEDTRAIL_RATE_LIMIT'];
      }
      try {
        await phase(s.url, 8, 300, code); // warm-up
        const r = await phase(s.url, LANES, 2000, code);
        // Once the burst is over (and the lag probe has seen an idle loop: with other test files busy on the
        // other core a 20 ms threshold can stay tripped for a few probes), every request is answered again: a
        // short phase with nothing shed, within a few seconds.
        await new Promise((res) => setTimeout(res, 1000));
        const after = await until(
          'every request answered again after the burst',
          async () => {
            const a = await phase(s.url, 2, 200, code);
            return a.shed.length + a.other === 0 ? a : undefined;
          },
          10_000,
        );
        expect(after.ok.length).toBeGreaterThan(0);
        expect(s.child.exitCode).toBe(null);
        return r;
      } finally {
        await s.stop();
      }
    };
    try {
      // Behaviour only: what a client is told. How fast the requests taken are answered, with and without
      // shedding, is a figure for the benchmark (npm run bench:overload), not a timed assertion here: the
      // other test file running beside this one on two cores moves single runs by more than the difference.
      const on = await run('10');
      expect(on.other).toBe(0);
      expect(on.ok.length).toBeGreaterThan(0);
      expect(on.shed.length).toBeGreaterThan(0);
      for (const r of on.shed) {
        expect(r.code).toBe('OVERLOADED');
        expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      }
      console.log(`overload: ${LANES} clients for 2 s against one server, shedding at 10 ms lag: ${on.ok.length} answered (p50 ${pct(on.ok, 50).toFixed(1)} ms), ${on.shed.length} shed with 503 + Retry-After`);
    } finally {
      l.cleanup();
    }
  });
});
