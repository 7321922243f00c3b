// npm run bench:load — the server under a mixed workload, for issue 6. A real `medtrail serve` process on
// 127.0.0.1 (nothing else is contacted), bounded in time, stops by itself.
//
// 1. Fill: BENCH_PACKS packs (default 10,000,000) as real signed batch entries of 100,000 packs through the
//    real submit path (POST /api/v1/entries: signature check, rules, 100,000 pack rows in the append's
//    transaction). Tag signatures are computed only for the packs the load verifies (BENCH_SAMPLE).
// 2. Mixed load for BENCH_SECONDS (default 30) from BENCH_CONCURRENCY clients (default 16): 90% verify of
//    signed tags, 8% ship/receive hand-offs (a pack shipped by the manufacturer, then received by the
//    distributor), 2% batch registrations of 1,000 packs. Throughput, p50/p99/p99.9 per kind, errors.
// 3. Overload for BENCH_OVERLOAD_SECONDS (default 8): BENCH_OVERLOAD_CONCURRENCY clients (default 1,024) that
//    honour Retry-After, verify only. The server must shed with 503 + Retry-After and keep the requests it
//    takes fast, rather than slowing every one down. The agent keeps 256 idle sockets (node's default), so a
//    client that was shed mostly comes back on a new connection: bursts of hundreds of new connections while
//    the others keep the server busy (server/http/accept-watch.ts; MEDTRAIL_ACCEPT_WATCH=off for the
//    baseline). Answers slower than a second are broken down: waiting to connect vs waiting for the answer.
// Also printed: the server's resident memory (sampled from /proc) and the database's bytes per pack.
// The per-client rate limit is turned off explicitly (MEDTRAIL_RATE_LIMIT=off): all load comes from one address.
import http from 'node:http';
import { readFileSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { encodeEntry, type Entry } from '../../core/entry/entry.js';
import { toHex } from '../../core/bytes.js';
import { keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { leafHash } from '../../core/log/merkle.js';
import { randomSerial } from '../../core/gs1/serial.js';
import { signTag } from '../../cli/client/batch.js';
import { cli } from '../support/cli.js';
import { gtinOf, type Party } from '../support/custody.js';
import { participantKey, TEST_ORIGIN } from '../support/ledger.js';
import { startServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';
import { PREFIX, signed } from '../pressure/world.js';

installNodeCrypto();
const PACKS = Number(process.env['BENCH_PACKS'] ?? 10_000_000);
const PER_BATCH = Math.min(100_000, PACKS);
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 30);
const CONCURRENCY = Number(process.env['BENCH_CONCURRENCY'] ?? 16);
const OVER_SECONDS = Number(process.env['BENCH_OVERLOAD_SECONDS'] ?? 8);
const OVER_CONCURRENCY = Number(process.env['BENCH_OVERLOAD_CONCURRENCY'] ?? 1024);
const SAMPLE = Number(process.env['BENCH_SAMPLE'] ?? 10_000);
const EXPIRY = '301231';
const GTIN = gtinOf(42);

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const pct = (a: number[], p: number): number => a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))] ?? NaN;
const ms = (n: number): string => (Number.isNaN(n) ? '-' : `${n.toFixed(2)} ms`);

const t = tempDir('medtrail-bench-load-');
const db = join(t.dir, 'medtrail.db');
const init = cli(['init', '--db', db, '--origin', TEST_ORIGIN, '--json']);
if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
process.env['MEDTRAIL_RATE_LIMIT'] = 'off';
const server = await startServerProcess(db);
delete process.env['MEDTRAIL_RATE_LIMIT'];
const u = new URL(server.url);
let agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

let rssMax = 0;
const rss = (): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'));
  const kb = m === null ? 0 : Number(m[1]) * 1024;
  rssMax = Math.max(rssMax, kb);
  return kb;
};
const rssTimer = setInterval(rss, 250);

interface Reply {
  status: number;
  retryAfter: number;
  body: string;
  ms: number;
  /** Where the time went: ms until a socket was assigned, until it was connected, until the answer's head came. */
  trace: { socket: number; connect: number; head: number };
}

function send(method: 'GET' | 'POST', path: string, body?: string): Promise<Reply> {
  const t0 = performance.now();
  const trace = { socket: NaN, connect: NaN, head: NaN };
  return new Promise((resolve) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path, agent, headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        trace.head = performance.now() - t0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: Number(res.headers['retry-after'] ?? 0), body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0, trace }));
      },
    );
    req.on('socket', (sock) => {
      trace.socket = performance.now() - t0;
      if (sock.connecting) sock.once('connect', () => (trace.connect = performance.now() - t0));
      else trace.connect = trace.socket;
    });
    req.on('error', (e) => resolve({ status: 0, retryAfter: 0, body: String(e), ms: performance.now() - t0, trace }));
    req.end(body);
  });
}

/** Leaves the server accepted from this benchmark: the log's size once every append is in. */
let leaves = 0;

async function post(e: Entry | { entries: Entry[] }): Promise<Reply> {
  const r = await send('POST', '/api/v1/entries', JSON.stringify(e));
  if (r.status === 201) leaves += 'entries' in e ? e.entries.length : 1;
  return r;
}

/**
 * Waits until a signed checkpoint covers every leaf appended so far, that is until the state maps have caught
 * up with the registrations (they are brought up a slice at a time between requests); returns the seconds it
 * took. A verification of a pack no checkpoint covers yet waits for that (CHECKPOINT_PENDING after 2 s), which
 * is the setup catching up, not the load measured.
 */
async function covered(limitSecs = 300): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const r = await send('GET', '/api/v1/checkpoint');
    const size = Number(r.body.split('\n')[1] ?? NaN);
    if (r.status === 200 && size >= leaves) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > limitSecs * 1000) throw new Error(`no checkpoint covers ${leaves} leaves after ${limitSecs} s (last ${size})`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function mustPost(e: Entry | { entries: Entry[] }): Promise<void> {
  const r = await post(e);
  if (r.status !== 201) throw new Error(`refused: ${r.status} ${r.body.slice(0, 300)}`);
}

const hashOf = (e: Entry): string => toHex(leafHash(encodeEntry(e)));

try {
  const authority = parseKeyFile(readFileSync(join(t.dir, 'authority.key.json'), 'utf8')) as Party;
  const m = participantKey(11);
  const d = participantKey(12);
  const admit = (k: Party, role: string, prefixes: string[]): Entry => signed('participant', authority, { action: 'admit', gln: k.gln, name: k.name, role, publicKey: k.publicKey, prefixes });
  await mustPost({ entries: [admit(m, 'manufacturer', [PREFIX]), admit(d, 'distributor', [])] });
  const productEntry = signed('product', m, { gtin: GTIN, name: 'Loadol', form: 'tablet', strength: '10 mg', packSize: 28 });
  await mustPost(productEntry);
  const product = hashOf(productEntry);
  const seed = keyFileSeed(m);

  // ---- 1. fill ------------------------------------------------------------------------------------------------
  const batches = Math.ceil(PACKS / PER_BATCH);
  console.log(`1. filling the ledger with ${fmt(PACKS)} packs: ${batches} signed batch entries through POST /api/v1/entries`);
  const sample: string[] = [];
  const shippable: { serial: string; batch: string }[] = [];
  const t0 = performance.now();
  let lots = 0;
  for (let b = 0; b < batches; b++) {
    const n = Math.min(PER_BATCH, PACKS - b * PER_BATCH);
    const seen = new Set<string>();
    while (seen.size < n) seen.add(randomSerial());
    const serials = [...seen];
    const lot = `L${++lots}`;
    const e = signed('batch', m, { gtin: GTIN, lot, expiry: EXPIRY, serials }, [product]);
    await mustPost(e);
    const picked = new Set<number>();
    for (let i = 0; i < Math.ceil(SAMPLE / batches) && i < n; i++) picked.add((i * 7919) % n);
    for (const i of picked) sample.push(JSON.stringify({ code: signTag(seed, 'https://id.medtrail.test', { gtin: GTIN, lot, expiry: EXPIRY, serial: serials[i]! }) }));
    // Packs the hand-offs will ship, never verified (so verify keeps answering GENUINE for its sample).
    const batchHash = hashOf(e);
    for (let i = n - 1, k = 0; i >= 0 && k < Math.ceil(20_000 / batches); i--) if (!picked.has(i)) (shippable.push({ serial: serials[i]!, batch: batchHash }), k++);
    if (b % 10 === 9 || b === batches - 1) {
      const secs = (performance.now() - t0) / 1000;
      console.log(`   ${fmt((b + 1) * PER_BATCH > PACKS ? PACKS : (b + 1) * PER_BATCH)} packs in ${secs.toFixed(1)} s (${fmt(((b + 1) * PER_BATCH) / secs)} packs/s), server RSS ${fmt(rss() / 2 ** 20)} MiB`);
    }
  }
  const fillSecs = (performance.now() - t0) / 1000;
  const dbBytes = (): number => [db, `${db}-wal`].filter(existsSync).reduce((a, f) => a + statSync(f).size, 0);
  console.log(`   filled in ${fillSecs.toFixed(1)} s; database ${fmt(dbBytes() / 2 ** 20)} MiB = ${(dbBytes() / PACKS).toFixed(1)} bytes per pack`);

  // ---- 2. mixed load ------------------------------------------------------------------------------------------
  const lat: Record<'verify' | 'ship' | 'receive' | 'batch', number[]> = { verify: [], ship: [], receive: [], batch: [] };
  const errors: Record<string, number> = {};
  const toReceive: string[] = [];
  let shed = 0;
  let rnd = 12345;
  const rand = (): number => ((rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0) / 4294967296);
  const note = (kind: keyof typeof lat, r: Reply, ok: number): void => {
    if (r.status === ok) lat[kind].push(r.ms);
    else if (r.status === 503) {
      shed++;
      const code = /"code":"([A-Z_]+)"/.exec(r.body)?.[1] ?? '?';
      errors[`${kind} 503 ${code}`] = (errors[`${kind} 503 ${code}`] ?? 0) + 1;
    } else errors[`${kind} ${r.status}`] = (errors[`${kind} ${r.status}`] ?? 0) + 1;
  };
  const one = async (): Promise<void> => {
    const x = rand();
    if (x < 0.9) {
      note('verify', await send('POST', '/api/v1/verify', sample[Math.floor(rand() * sample.length)]!), 200);
    } else if (x < 0.98) {
      const ship = toReceive.shift();
      if (ship !== undefined) {
        note('receive', await post(signed('receive', d, { ship, missing: [], extra: [] }, [ship])), 201);
      } else {
        const p = shippable.pop();
        if (p === undefined) return;
        const e = signed('ship', m, { to: d.gln, items: [{ type: 'pack', gtin: GTIN, serial: p.serial }] }, [p.batch]);
        const r = await post(e);
        note('ship', r, 201);
        if (r.status === 201) toReceive.push(hashOf(e));
      }
    } else {
      const seen = new Set<string>();
      while (seen.size < 1000) seen.add(randomSerial());
      note('batch', await post(signed('batch', m, { gtin: GTIN, lot: `M${++lots}`, expiry: EXPIRY, serials: [...seen] }, [product])), 201);
    }
  };
  const drive = async (lanes: number, secs: number, fn: () => Promise<void>): Promise<number> => {
    const start = performance.now();
    const end = start + secs * 1000;
    await Promise.all(Array.from({ length: lanes }, async () => {
      while (performance.now() < end) await fn();
    }));
    return (performance.now() - start) / 1000;
  };
  console.log(`   a checkpoint covers all ${fmt(leaves)} leaves (the state maps caught up) ${(await covered()).toFixed(1)} s after the fill`);
  // Warm-up: JIT and page cache.
  await drive(CONCURRENCY, 2, async () => {
    await send('POST', '/api/v1/verify', sample[Math.floor(rand() * sample.length)]!);
  });
  console.log(`\n2. mixed load: ${CONCURRENCY} clients for ${SECONDS} s (90% verify, 8% ship/receive, 2% batch of 1,000 packs)`);
  const secs = await drive(CONCURRENCY, SECONDS, one);
  const total = Object.values(lat).reduce((a, l) => a + l.length, 0);
  console.log(`   ${fmt(total)} requests answered in ${secs.toFixed(1)} s = ${fmt(total / secs)} req/s; shed ${shed}; errors ${JSON.stringify(errors)}`);
  for (const [kind, l] of Object.entries(lat)) {
    l.sort((a, b) => a - b);
    console.log(`   ${kind.padEnd(8)} ${fmt(l.length / secs).padStart(6)}/s  p50 ${ms(pct(l, 50))}  p99 ${ms(pct(l, 99))}  p99.9 ${ms(pct(l, 99.9))}  (n=${fmt(l.length)})`);
  }
  console.log(`   server RSS now ${fmt(rss() / 2 ** 20)} MiB (max seen ${fmt(rssMax / 2 ** 20)} MiB); database ${(dbBytes() / PACKS).toFixed(1)} bytes per pack`);

  // ---- 3. overload --------------------------------------------------------------------------------------------
  console.log(`   a checkpoint covers all ${fmt(leaves)} leaves ${(await covered()).toFixed(1)} s after the mixed load`);
  agent.destroy();
  agent = new http.Agent({ keepAlive: true, maxSockets: OVER_CONCURRENCY });
  const okLat: number[] = [];
  const shedLat: number[] = [];
  let other = 0;
  /** Error codes of the answers that were not 200, with their counts. */
  const codes: Record<string, number> = {};
  const codeOf = (r: Reply): string => /"code":"([A-Z_]+)"/.exec(r.body)?.[1] ?? String(r.status);
  console.log(`\n3. overload: ${fmt(OVER_CONCURRENCY)} clients for ${OVER_SECONDS} s, verify only, each honouring Retry-After`);
  // Answers slower than a second, with where their time went (waiting for a connection vs for the server).
  const slow: { at: number; r: Reply }[] = [];
  const phase0 = performance.now();
  const osecs = await drive(OVER_CONCURRENCY, OVER_SECONDS, async () => {
    const at = performance.now() - phase0;
    const r = await send('POST', '/api/v1/verify', sample[Math.floor(rand() * sample.length)]!);
    if (r.ms > 1000) slow.push({ at, r });
    if (r.status === 200) okLat.push(r.ms);
    else if (r.status === 503) {
      shedLat.push(r.ms);
      codes[codeOf(r)] = (codes[codeOf(r)] ?? 0) + 1;
      await new Promise((res) => setTimeout(res, Math.max(1, r.retryAfter) * 1000));
    } else {
      other++;
      codes[codeOf(r)] = (codes[codeOf(r)] ?? 0) + 1;
    }
  });
  okLat.sort((a, b) => a - b);
  shedLat.sort((a, b) => a - b);
  console.log(`   answered ${fmt(okLat.length)} (${fmt(okLat.length / osecs)}/s) p50 ${ms(pct(okLat, 50))} p99 ${ms(pct(okLat, 99))} p99.9 ${ms(pct(okLat, 99.9))}`);
  console.log(`   shed ${fmt(shedLat.length)} with 503 + Retry-After, p50 ${ms(pct(shedLat, 50))} p99 ${ms(pct(shedLat, 99))}; other errors ${other}; by code ${JSON.stringify(codes)}`);
  if (slow.length > 0) {
    const med = (f: (x: { at: number; r: Reply }) => number): string => ms(pct(slow.map(f).sort((a, b) => a - b), 50));
    const conn = slow.filter((x) => x.r.trace.connect > 500).length;
    console.log(`   ${fmt(slow.length)} answers took > 1 s (started at ${med((x) => x.at)} into the phase, median): ${fmt(conn)} of them waited > 0.5 s to connect; median to socket ${med((x) => x.r.trace.socket)}, to connected ${med((x) => x.r.trace.connect)}, to the answer's head ${med((x) => x.r.trace.head)}`);
  }
  console.log(`   server alive afterwards: ${(await send('GET', '/healthz')).status === 200 ? 'yes' : 'NO'}; RSS max ${fmt(rssMax / 2 ** 20)} MiB`);
} finally {
  clearInterval(rssTimer);
  agent.destroy();
  await server.stop();
  t.cleanup();
}
