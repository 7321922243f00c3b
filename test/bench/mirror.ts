// npm run bench:mirror [-- PACKS] — figures for issue 14, from one run (absolute times drift on shared machines; the
// ratio is what the target is about). Everything is a real process on loopback with real SQLite files.
//
// 1. The operator's own ingest rate: a real `medtrail serve` takes the supply chain of PACKS packs (default
//    200,000) in batches of 1,000: per batch the batch entry, a ship of the lot to a distributor, its receive, a
//    ship of the lot to a pharmacy, its receive, and 5 dispenses (10 entries, every one signed and checked, every
//    custody rule applied, the state maps updated). Timed with one chain (the default): the POST /entries round
//    trips alone (the reads the CLI's helpers make to build entries are not the operator's ingest); with
//    BENCH_CHAINS=n lots at a time, the phase's wall time. Packs per second.
// 2. A mirror's catch-up from zero: `medtrail mirror --once` (every signature checked, every rule replayed, the
//    maps recomputed and compared with the checkpoint's map roots, pages of 1,000 leaves in one transaction
//    each) through a counting TCP proxy: wall time of the process, packs per second, and the ratio to (1).
//    Target: >= 50%. Bytes fetched per pack: what the proxy carried from the operator to the mirror.
// 3. Reader failover: `medtrail-reader --server OPERATOR --server MIRROR` verifying one scan after another, the
//    verify time it reports (timings.verifyMs) with the operator up, hung (SIGSTOP: its socket accepts, nothing
//    answers) and dead (SIGKILL: refused). Target: every scan under 2 s.
import net from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { isMedtrailError } from '../../core/errors.js';
import { checkDigit } from '../../core/gs1/identifiers.js';
import { generateKeyFile, parseKeyFile } from '../../core/crypto/keys.js';
import { ApiClient, makeEntry, type SignerKey } from '../../cli/api-client.js';
import { generateSerials, signTag } from '../../cli/client/batch.js';
import { productEntryHash } from '../../cli/custody-reads.js';
import { enroll } from '../../cli/client/enroll.js';
import { registerProductEntry } from '../../cli/client/product.js';
import { ship } from '../../cli/client/ship.js';
import { receive } from '../../cli/client/receive.js';
import { dispense } from '../../cli/client/dispense.js';
import { yymmdd } from '../../cli/demo-chain.js';
import type { Entry } from '../../core/entry/entry.js';
import { cli } from '../support/cli.js';
import { gln } from '../support/ledger.js';
import { startServerProcess } from '../support/server-process.js';
import { startMirrorProcess } from '../support/mirror-process.js';
import { spawnReader } from '../support/reader-world.js';
import { CLI, tempDir } from '../support/tmp.js';

installNodeCrypto();
const PACKS = Number(process.argv[2] ?? process.env.BENCH_PACKS ?? 200_000);
const BATCH = 1000;
const DISPENSES = 5;
const SCANS = Number(process.env.BENCH_SCANS ?? 5);
/**
 * Lots flowing through at once (each its own chain of entries, in order). Default 1: the operator is CPU-bound, so
 * one chain's POST round trips give its best rate (at 1,000,000 packs: 2,835 packs/s with one chain's POST time,
 * 1,817 with 4 chains' wall time, the helpers' reads and shed requests included): the ratio is taken against it.
 */
const CHAINS = Number(process.env.BENCH_CHAINS ?? 1);
if (!Number.isSafeInteger(PACKS) || PACKS < BATCH) throw new Error(`PACKS must be a whole number of at least ${BATCH}, got ${process.argv[2]}`);

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const t = tempDir('medtrail-bench-mirror-');
const db = join(t.dir, 'op', 'medtrail.db');
const init = cli(['init', '--db', db, '--json']);
if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
// One client at full speed is what the public routes' per-client limit stops; the bench is that client.
process.env['MEDTRAIL_RATE_LIMIT'] ??= 'off';
let op = await startServerProcess(db);
const port = new URL(op.url).port;

/** A TCP proxy in front of the operator that counts the bytes each way. */
async function countingProxy(target: URL): Promise<{ url: string; down: () => number; up: () => number; close: () => void }> {
  let down = 0;
  let up = 0;
  const server = net.createServer((sock) => {
    const o = net.connect(Number(target.port), target.hostname);
    sock.on('data', (d: Buffer) => (up += d.length));
    o.on('data', (d: Buffer) => (down += d.length));
    sock.pipe(o);
    o.pipe(sock);
    sock.on('error', () => o.destroy());
    o.on('error', () => sock.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  const p = typeof a === 'object' && a !== null ? a.port : 0;
  return { url: `http://127.0.0.1:${p}`, down: () => down, up: () => up, close: () => server.close() };
}

try {
  const authority = parseKeyFile(readFileSync(join(t.dir, 'op', 'authority.key.json'), 'utf8')) as SignerKey;
  const maker = generateKeyFile('Bench Pharma', gln(2)) as SignerKey;
  const dist = generateKeyFile('Bench Distribution', gln(3)) as SignerKey;
  const pharmacy = generateKeyFile('Bench Pharmacy', gln(4)) as SignerKey;
  const prefix = '4099999';
  const gtin = `0${prefix}00011${checkDigit(`0${prefix}00011`)}`;
  // The operator's ingest: the time of each POST /entries round trip, summed.
  let ingestMs = 0;
  let entries = 0;
  let shed = 0;
  const timed = (key: SignerKey): ApiClient => {
    const c = new ApiClient(op.url, key);
    // A saturated operator sheds load (503 OVERLOADED): the chain waits a moment and asks again.
    const text = c.text.bind(c);
    c.text = async (...args: Parameters<ApiClient['text']>) => {
      for (;;) {
        try {
          return await text(...args);
        } catch (e) {
          if (!isMedtrailError(e, 'OVERLOADED')) throw e;
          shed++;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const submit = c.submit.bind(c);
    c.submit = async (e: Entry<object>) => {
      const t0 = performance.now();
      try {
        return await submit(e);
      } finally {
        ingestMs += performance.now() - t0;
        entries++;
      }
    };
    return c;
  };
  const ca = new ApiClient(op.url, authority);
  await enroll(ca, authority, { action: 'admit', gln: maker.gln, name: maker.name, role: 'manufacturer', publicKey: maker.publicKey, prefixes: [prefix] });
  await enroll(ca, authority, { action: 'admit', gln: dist.gln, name: dist.name, role: 'distributor', publicKey: dist.publicKey, prefixes: [] });
  await enroll(ca, authority, { action: 'admit', gln: pharmacy.gln, name: pharmacy.name, role: 'pharmacy', publicKey: pharmacy.publicKey, prefixes: [] });
  const mirrorKey = join(t.dir, 'mirror.key.json');
  if (cli(['keygen', '--out', mirrorKey, '--name', 'Bench mirror', '--gln', gln(5)]).status !== 0) throw new Error('keygen failed');
  const en = cli(['enroll', '--server', op.url, '--authority-key', join(t.dir, 'op', 'authority.key.json'), '--participant-key', mirrorKey, '--role', 'mirror', '--name', 'Mirror', '--json']);
  if (en.status !== 0) throw new Error(`enroll failed: ${en.stderr}`);
  const cm = timed(maker);
  const cd = timed(dist);
  const cp = timed(pharmacy);
  await registerProductEntry(cm, maker, { gtin, name: 'Benchmarkol', form: 'tablet', strength: '1 mg', packSize: 10 });
  const expiry = yymmdd(new Date(Date.now() + 700 * 86_400_000));
  const sample: string[] = [];

  console.log(`1. the operator ingests ${fmt(PACKS)} packs: ${fmt(PACKS / BATCH)} batches of ${fmt(BATCH)} (batch, ship, receive, ship, receive, ${DISPENSES} dispenses), POSTed to a real server by ${CHAINS} concurrent chains`);
  const productPrev = await productEntryHash(cm, gtin);
  const wall0 = performance.now();
  let nextBatch = 0;
  const chain = async (): Promise<void> => {
    for (let b = nextBatch++; b < PACKS / BATCH; b = nextBatch++) {
      const lot = `L${b + 1}`;
      const serials = generateSerials(BATCH);
      // postBatch's own read of the product entry, made once: the same signed read from two chains within one
      // millisecond would be the same request twice (AUTH_REPLAYED).
      await cm.submit(await makeEntry(cm, 'batch', maker, { gtin, lot, expiry, serials }, [productPrev]));
      const s1 = await ship(cm, maker, dist.gln, [{ type: 'lot', gtin, lot }]);
      await receive(cd, dist, s1.leafHash);
      const s2 = await ship(cd, dist, pharmacy.gln, [{ type: 'lot', gtin, lot }]);
      await receive(cp, pharmacy, s2.leafHash);
      for (let i = 0; i < DISPENSES; i++) await dispense(cp, pharmacy, { gtin, serial: serials[i]! });
      if (b % 50 === 0 && sample.length < SCANS * 3) sample.push(signTag(new Uint8Array(32), op.url, { gtin, lot, expiry, serial: serials[BATCH - 1]! }));
      if ((b + 1) % 100 === 0) process.stdout.write(`   ${fmt((b + 1) * BATCH)} packs, ${fmt(entries)} entries\n`);
    }
  };
  await Promise.all(Array.from({ length: CHAINS }, chain));
  const wallS = (performance.now() - wall0) / 1000;
  // With one chain the operator's time is the POST round trips alone; with several they overlap, and the wall
  // time of the phase (the helpers' reads included, which only slows the operator down) is the rate.
  const ingestRate = CHAINS === 1 ? PACKS / (ingestMs / 1000) : PACKS / wallS;
  console.log(`   ${fmt(entries)} entries in ${wallS.toFixed(1)} s (POST round trips summed: ${(ingestMs / 1000).toFixed(1)} s; ${fmt(shed)} requests shed and asked again): ${fmt(ingestRate)} packs/s, ${fmt((entries * ingestRate) / PACKS)} entries/s`);

  // ---- 2. a mirror from zero ---------------------------------------------------------------------------------
  const proxy = await countingProxy(new URL(op.url));
  const mdb = join(t.dir, 'mirror.db');
  console.log(`2. a mirror catches up from zero (medtrail mirror --once, every signature, rule and map root checked)`);
  const m0 = performance.now();
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, [CLI, 'mirror', '--from', proxy.url, '--db', mdb, '--key', mirrorKey, '--authority', join(t.dir, 'op', 'authority.key.json'), '--once', '--json'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)));
    child.once('exit', (c) => {
      if (c !== 0) process.stderr.write(err);
      resolve(c);
    });
  });
  const mirrorS = (performance.now() - m0) / 1000;
  if (code !== 0) throw new Error(`mirror --once exited with ${code}`);
  const catchUp = PACKS / mirrorS;
  console.log(`   ${mirrorS.toFixed(1)} s: ${fmt(catchUp)} packs/s = ${((100 * catchUp) / ingestRate).toFixed(0)}% of the operator's ingest rate (target >= 50%)`);
  console.log(`   fetched ${fmt(proxy.down())} bytes from the operator, ${(proxy.down() / PACKS).toFixed(1)} bytes per pack (sent ${fmt(proxy.up())})`);
  proxy.close();

  // ---- 3. reader failover ------------------------------------------------------------------------------------
  const mirror = await startMirrorProcess(['--from', op.url, '--db', mdb, '--key', mirrorKey, '--authority', join(t.dir, 'op', 'authority.key.json'), '--interval-ms', '200']);
  const reader = await spawnReader(['--server', op.url, '--server', mirror.url, '--state', join(t.dir, 'reader'), '--no-nfc']);
  console.log(`3. reader failover (operator first, then the mirror): verify time per scan`);
  try {
    let n = 0;
    const scan = async (): Promise<{ ms: number; via: string }> => {
      const uri = sample[n++ % sample.length]!;
      reader.write(uri);
      const l = await reader.next((x) => 'verdict' in x && x['provisional'] === false, 30_000);
      return { ms: (l['timings'] as { verifyMs: number }).verifyMs, via: typeof l['via'] === 'string' ? 'mirror' : 'operator' };
    };
    const phase = async (name: string): Promise<void> => {
      const got: { ms: number; via: string }[] = [];
      for (let i = 0; i < SCANS; i++) got.push(await scan());
      const max = Math.max(...got.map((g) => g.ms));
      console.log(`   ${name.padEnd(34)} ${got.map((g) => `${g.ms.toFixed(0)} ms (${g.via})`).join(', ')}; max ${max.toFixed(0)} ms ${max < 2000 ? '(< 2 s)' : '(OVER 2 s)'}`);
    };
    await phase('operator up');
    op.child.kill('SIGSTOP');
    await phase('operator hung (SIGSTOP)');
    op.child.kill('SIGCONT');
    await op.stop('SIGKILL');
    await phase('operator dead (refused)');
    op = await startServerProcess(db, ['--port', port]);
    // The operator was marked down: it is asked first again once that has passed (client/failover.ts).
  } finally {
    await reader.stop();
    await mirror.stop();
  }
} finally {
  op.child.kill('SIGCONT');
  await op.stop();
  t.cleanup();
}
