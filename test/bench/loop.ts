// npm run bench:loop — how long one request holds the server's event loop (issue 12 item 4). A real
// `medtrail serve` on 127.0.0.1 (nothing else is contacted), bounded in time, stops by itself.
//
// The server measures its own loop (MEDTRAIL_LOOP_STATS=1: perf_hooks.monitorEventLoopDelay at 1 ms
// resolution, read and reset at GET /debug/loop): the longest delay of a 1 ms timer in each phase is the
// longest time anything held the loop. Beside it, the longest /healthz answer a client polling every 5 ms saw.
// Each phase runs twice on the same ledger, side by side:
//   now       the defaults: bodies over 64 KiB read in the entry-check worker, pages capped at 1 MiB;
//   baseline  MEDTRAIL_ENTRY_INLINE_BYTES and MEDTRAIL_LOG_PAGE_BYTES set huge: every body parsed and checked
//             on the event loop, pages of 1,000 leaves whatever their size, appends and the state maps on the
//             event loop, worker threads at the event loop's priority (what the server did before).
//             The cheap-first order of the checks stays in both (an unknown signer is refused before its body
//             is validated); before that order, one 14 MB body held the loop about 2.5 s.
// Phases:
//   (a) 3 clients at once, twice, each POSTing a 14 MB ship entry signed by a key the log never admitted;
//   (b) BENCH_LOOP_BATCHES (default 3) signed batch registrations of 100,000 packs (2.3 MB each), one by one;
//   (c) GET /log/entries of 1,000 leaves, each a batch of 1,000 packs (23 KB), three times;
//   (d) verify from BENCH_LOOP_CLIENTS clients (default 8) for BENCH_LOOP_SECONDS (default 8): alone, then
//       while one more client registers 100,000-pack batches back to back. Verify p50/p99 in each.
// The baseline runs second, on the ledger the first run grew; BENCH_LOOP_BASELINE_FIRST=1 swaps the order.
import http from 'node:http';
import { join } from 'node:path';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { encodeEntry, type Entry } from '../../core/entry/entry.js';
import { toHex } from '../../core/bytes.js';
import { signRequest } from '../../core/api/request-auth.js';
import { leafHash } from '../../core/log/merkle.js';
import { signTag } from '../../cli/client/batch.js';
import { cli } from '../support/cli.js';
import { gtinOf, type Party } from '../support/custody.js';
import { gln, participantKey, TEST_ORIGIN } from '../support/ledger.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';
import { PREFIX, signed } from '../pressure/world.js';
import { readFileSync } from 'node:fs';

installNodeCrypto();
const BATCHES = Number(process.env['BENCH_LOOP_BATCHES'] ?? 3);
const CLIENTS = Number(process.env['BENCH_LOOP_CLIENTS'] ?? 8);
const SECONDS = Number(process.env['BENCH_LOOP_SECONDS'] ?? 8);
const PAGE_LEAVES = 1000;
const GTIN = gtinOf(43);
const EXPIRY = '301231';

const ms = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : '-');
const pct = (a: number[], p: number): number => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((s.length * p) / 100))] ?? NaN;
};
let serial = 0;
const serials = (n: number, tag: string): string[] => Array.from({ length: n }, () => `${tag}${String(++serial).padStart(12, '0')}`);
const hashOf = (e: Entry): string => toHex(leafHash(encodeEntry(e)));

interface Reply {
  status: number;
  body: string;
  ms: number;
}

let server: ServerProcess | undefined;
let agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function send(method: 'GET' | 'POST', path: string, body?: string | Buffer, useAgent = true, extra: Record<string, string> = {}): Promise<Reply> {
  if (server === undefined) throw new Error('no server running');
  const u = new URL(server.url);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path, agent: useAgent ? agent : false, headers: { ...extra, ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 }));
      },
    );
    req.on('error', (e) => resolve({ status: 0, body: String(e), ms: performance.now() - t0 }));
    req.end(body);
  });
}
async function mustPost(e: unknown): Promise<void> {
  const r = await send('POST', '/api/v1/entries', JSON.stringify(e));
  if (r.status !== 201) throw new Error(`refused: ${r.status} ${r.body.slice(0, 300)}`);
}

interface Hold {
  /** The server's longest loop delay (ms) in the phase, and its p99. */
  maxMs: number;
  p99Ms: number;
  /** The server's longest garbage-collection pause in the phase (perf_hooks 'gc' entries). */
  gcMaxMs: number;
  /** The longest /healthz answer the poller saw. */
  healthMaxMs: number;
  /**
   * Share of the phase the server's event-loop thread spent runnable but waiting for a core (the kernel's
   * schedstat): on two cores shared with the load generator and V8's helper threads, a hold includes that wait.
   */
  coreWaitPct: number;
}

/** Nanoseconds the server's main thread has waited for a core since it started (Linux schedstat; 0 elsewhere). */
function coreWaitNs(): number {
  const pid = server?.child.pid;
  if (pid === undefined) return 0;
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Runs `work` while polling /healthz every 5 ms; returns what the server's loop and the poller saw. */
async function phase(work: () => Promise<void>): Promise<Hold> {
  await send('GET', '/debug/loop'); // resets the server's histogram
  const wait0 = coreWaitNs();
  const t0 = performance.now();
  let running = true;
  let healthMax = 0;
  const poller = (async () => {
    while (running) {
      const r = await send('GET', '/healthz', undefined, false);
      healthMax = Math.max(healthMax, r.ms);
      await new Promise((res) => setTimeout(res, 5));
    }
  })();
  await work();
  running = false;
  await poller;
  const s = JSON.parse((await send('GET', '/debug/loop')).body) as { maxMs: number; p99Ms: number; gcMaxMs: number };
  const coreWaitPct = (100 * (coreWaitNs() - wait0)) / 1e6 / (performance.now() - t0);
  return { maxMs: s.maxMs, p99Ms: s.p99Ms, gcMaxMs: s.gcMaxMs, healthMaxMs: healthMax, coreWaitPct };
}

const t = tempDir('medtrail-bench-loop-');
const db = join(t.dir, 'medtrail.db');
const init = cli(['init', '--db', db, '--origin', TEST_ORIGIN, '--json']);
if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
const authority = parseKeyFile(JSON.parse(readFileSync(join(t.dir, 'authority.key.json'), 'utf8'))) as Party;
const m = participantKey(11);
const seed = keyFileSeed(m);
const stranger = participantKey(99);

async function start(env: Record<string, string>): Promise<void> {
  const keep = { ...process.env };
  Object.assign(process.env, { MEDTRAIL_LOOP_STATS: '1', MEDTRAIL_RATE_LIMIT: 'off', MEDTRAIL_MAX_LAG_MS: '0' }, env);
  try {
    // The ledger grows by millions of packs over the run; the state maps are built from it at each start.
    server = await startServerProcess(db, [], 180_000);
  } finally {
    process.env = keep;
  }
  agent.destroy();
  agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
}

interface Result {
  a: Hold & { codes: string };
  b: Hold & { each: string };
  c: Hold & { entries: number; bytes: number; ms: number };
  dAlone: Hold & { p50: number; p99: number; n: number };
  dBusy: Hold & { p50: number; p99: number; n: number; batches: number };
}

const results: Record<string, Result> = {};
let product = '';
let pageStart = 0;
const sample: string[] = [];

try {
  // ---- setup: a maker, a product, and 1,000 batch leaves of 1,000 packs for the page phase ----------------
  await start({});
  await mustPost({ entries: [signed('participant', authority, { action: 'admit', gln: m.gln, name: m.name, role: 'manufacturer', publicKey: m.publicKey, prefixes: [PREFIX] })] });
  const productEntry = signed('product', m, { gtin: GTIN, name: 'Loopol', form: 'tablet', strength: '5 mg', packSize: 28 });
  await mustPost(productEntry);
  product = hashOf(productEntry);
  pageStart = 2;
  console.log(`setup: ${PAGE_LEAVES} batch entries of 1,000 packs (the leaves of phase (c)), 20 per request`);
  const t0 = performance.now();
  for (let i = 0; i < PAGE_LEAVES; i += 20) {
    const list: Entry[] = [];
    for (let k = 0; k < 20; k++) {
      const lot = `P${i + k}`;
      const s = serials(1000, 'P');
      list.push(signed('batch', m, { gtin: GTIN, lot, expiry: EXPIRY, serials: s }, [product]));
      if (k === 0) sample.push(JSON.stringify({ code: signTag(seed, 'https://id.medtrail.test', { gtin: GTIN, lot, expiry: EXPIRY, serial: s[7]! }) }));
    }
    await mustPost({ entries: list });
  }
  console.log(`       done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  await server?.stop();

  const big = (tag: string): Buffer => {
    const items = Array.from({ length: 200_000 }, (_, i) => ({ type: 'pack', gtin: GTIN, serial: `${tag}${String(i).padStart(18, '0')}` }));
    return Buffer.from(JSON.stringify(signed('ship', stranger, { to: gln(5), items })));
  };
  const unsigned = [big('UA'), big('UB'), big('UC')];
  const rand = ((): (() => number) => {
    let r = 7;
    return () => (r = (Math.imul(r, 1103515245) + 12345) >>> 0) / 4294967296;
  })();
  const batch100k = (tag: string): string => JSON.stringify(signed('batch', m, { gtin: GTIN, lot: tag, expiry: EXPIRY, serials: serials(100_000, 'B') }, [product]));

  const modes: [string, Record<string, string>][] = [
    ['now', {}],
    ['baseline', { MEDTRAIL_ENTRY_INLINE_BYTES: String(1 << 30), MEDTRAIL_LOG_PAGE_BYTES: String(1 << 30), MEDTRAIL_LEDGER_WRITER: 'off', MEDTRAIL_MAP_ROUNDS: 'off', MEDTRAIL_THREAD_NICE: '0' }],
  ];
  // The second server runs on a ledger the first one grew: BENCH_LOOP_BASELINE_FIRST=1 swaps the order.
  if (process.env['BENCH_LOOP_BASELINE_FIRST'] === '1') modes.reverse();
  // BENCH_LOOP_ONLY=now (or baseline): one side only, for profiling.
  const only = process.env['BENCH_LOOP_ONLY'];
  if (only !== undefined) modes.splice(0, modes.length, ...modes.filter(([n]) => n === only));
  let lots = 0;
  for (const [name, env] of modes) {
    await start(env);
    console.log(`\n${name}: ${JSON.stringify(env)}`);
    // Warm-up, and the histogram's start. The server's threads start at their first use (the entry-check worker at
    // the first large body, the ledger writer at the first append: ~50-70 ms each, once per process): one of each
    // here, so that the phases measure the steady state.
    await phase(async () => {
      const items = Array.from({ length: 3000 }, (_, i) => ({ type: 'pack', gtin: GTIN, serial: `W${i}` }));
      await send('POST', '/api/v1/entries', JSON.stringify(signed('ship', stranger, { to: gln(5), items })));
      await mustPost(signed('batch', m, { gtin: GTIN, lot: `W${name}${++lots}`, expiry: EXPIRY, serials: serials(10, 'W') }, [product]));
      await new Promise((r) => setTimeout(r, 500));
    });

    const codes: string[] = [];
    const a = await phase(async () => {
      for (let round = 0; round < 2; round++) {
        const rs = await Promise.all(unsigned.map((b) => send('POST', '/api/v1/entries', b, false)));
        for (const r of rs) codes.push(`${r.status} ${(JSON.parse(r.body) as { error?: { code?: string } }).error?.code ?? ''}`);
      }
    });
    console.log(`  (a) 3 x 2 unsigned 14 MB bodies: loop held max ${ms(a.maxMs)} (GC pause max ${ms(a.gcMaxMs)}, waiting for a core ${a.coreWaitPct.toFixed(0)}% of the phase); /healthz max ${ms(a.healthMaxMs)}; answers ${[...new Set(codes)].join(', ')}`);

    const each: number[] = [];
    const bodies = Array.from({ length: BATCHES }, () => batch100k(`B${name}${++lots}`));
    const b = await phase(async () => {
      for (const body of bodies) {
        const r = await send('POST', '/api/v1/entries', body);
        if (r.status !== 201) throw new Error(`batch refused: ${r.status} ${r.body.slice(0, 200)}`);
        each.push(r.ms);
      }
    });
    console.log(`  (b) ${BATCHES} signed batches of 100,000 packs: loop held max ${ms(b.maxMs)} (GC pause max ${ms(b.gcMaxMs)}, waiting for a core ${b.coreWaitPct.toFixed(0)}%); /healthz max ${ms(b.healthMaxMs)}; each registered in ${each.map((x) => ms(x)).join(', ')}`);

    let entries = 0;
    let bytes = 0;
    let pageMs = 0;
    const c = await phase(async () => {
      for (let k = 0; k < 3; k++) {
        // Entries are a signed read of an enrolled participant (issue 12 #9): the maker asks.
        const path = `/api/v1/log/entries?start=${pageStart}&end=${pageStart + PAGE_LEAVES}`;
        const r = await send('GET', path, undefined, true, { ...signRequest({ log: TEST_ORIGIN, method: 'GET', path }, m.gln, seed) });
        if (r.status !== 200) throw new Error(`page refused: ${r.status} ${r.body.slice(0, 200)}`);
        const j = JSON.parse(r.body) as { entries: unknown[] };
        entries = j.entries.length;
        bytes = Buffer.byteLength(r.body);
        pageMs = Math.max(pageMs, r.ms);
      }
    });
    console.log(`  (c) GET /log/entries of up to 1,000 leaves of 23 KB: loop held max ${ms(c.maxMs)} (GC pause max ${ms(c.gcMaxMs)}, waiting for a core ${c.coreWaitPct.toFixed(0)}%); /healthz max ${ms(c.healthMaxMs)}; a page holds ${entries} leaves, ${(bytes / 2 ** 20).toFixed(1)} MiB, slowest ${ms(pageMs)}`);

    const verifyFor = async (secs: number, register: boolean): Promise<{ lat: number[]; batches: number }> => {
      const lat: number[] = [];
      let batches = 0;
      const end = performance.now() + secs * 1000;
      const lanes = Array.from({ length: CLIENTS }, async () => {
        while (performance.now() < end) {
          const r = await send('POST', '/api/v1/verify', sample[Math.floor(rand() * sample.length)]!);
          if (r.status === 200) lat.push(r.ms);
        }
      });
      const registrar = (async () => {
        while (register && performance.now() < end) {
          const r = await send('POST', '/api/v1/entries', batch100k(`V${name}${++lots}`));
          if (r.status === 201) batches++;
        }
      })();
      await Promise.all([...lanes, registrar]);
      return { lat, batches };
    };
    let alone: { lat: number[]; batches: number } = { lat: [], batches: 0 };
    const dAlone = await phase(async () => {
      alone = await verifyFor(SECONDS, false);
    });
    let busy: { lat: number[]; batches: number } = { lat: [], batches: 0 };
    const dBusy = await phase(async () => {
      busy = await verifyFor(SECONDS, true);
    });
    console.log(`  (d) verify, ${CLIENTS} clients, ${SECONDS} s alone: p50 ${ms(pct(alone.lat, 50))} p99 ${ms(pct(alone.lat, 99))} (n=${alone.lat.length}); loop held max ${ms(dAlone.maxMs)} (GC pause max ${ms(dAlone.gcMaxMs)}, waiting for a core ${dAlone.coreWaitPct.toFixed(0)}%)`);
    console.log(`      while 100,000-pack batches register (${busy.batches} registered): p50 ${ms(pct(busy.lat, 50))} p99 ${ms(pct(busy.lat, 99))} (n=${busy.lat.length}); loop held max ${ms(dBusy.maxMs)} (GC pause max ${ms(dBusy.gcMaxMs)}, waiting for a core ${dBusy.coreWaitPct.toFixed(0)}%)`);
    results[name] = {
      a: { ...a, codes: [...new Set(codes)].join(', ') },
      b: { ...b, each: each.map((x) => ms(x)).join(', ') },
      c: { ...c, entries, bytes, ms: pageMs },
      dAlone: { ...dAlone, p50: pct(alone.lat, 50), p99: pct(alone.lat, 99), n: alone.lat.length },
      dBusy: { ...dBusy, p50: pct(busy.lat, 50), p99: pct(busy.lat, 99), n: busy.lat.length, batches: busy.batches },
    };
    await server?.stop();
  }

  const none = { maxMs: NaN, p99: NaN, gcMaxMs: NaN };
  const now = results['now'] ?? { a: none, b: none, c: none, dAlone: none, dBusy: none };
  const base = results['baseline'] ?? now;
  const row = (what: string, x: string, y: string): void => console.log(`  ${what.padEnd(52)} ${x.padStart(12)} ${y.padStart(12)}`);
  console.log('\nlongest event-loop hold (server-side), side by side (target: no request over 20 ms):');
  row('', 'now', 'baseline');
  row('(a) 14 MB bodies no participant signed, 3 at once', ms(now.a.maxMs), ms(base.a.maxMs));
  row('(b) signed batch of 100,000 packs', ms(now.b.maxMs), ms(base.b.maxMs));
  row(`(c) GET /log/entries, 1,000 x 23 KB leaves asked`, ms(now.c.maxMs), ms(base.c.maxMs));
  row('(d) verify alone', ms(now.dAlone.maxMs), ms(base.dAlone.maxMs));
  row('(d) verify while 100,000-pack batches register', ms(now.dBusy.maxMs), ms(base.dBusy.maxMs));
  console.log('verify latency (client-side), target p99 under 25 ms while large batches register:');
  row('(d) verify alone p99', ms(now.dAlone.p99), ms(base.dAlone.p99));
  row('(d) verify while batches register p99', ms(now.dBusy.p99), ms(base.dBusy.p99));
} finally {
  agent.destroy();
  await server?.stop();
  t.cleanup();
}
