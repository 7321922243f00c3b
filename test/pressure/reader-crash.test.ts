// The reader's offline queue across crashes (issue 6, faults): a real `medtrail serve` process and the real
// medtrail-reader daemon (`--dispense --no-nfc --json`, built bin), each SIGKILLed at random points.
//   1. The reader's own crash. With the server down, scanner lines of genuine packs are fed; the daemon is
//      killed mid-way through the feed, restarted on the same state (server still down) to take the rest of
//      the lines, killed again while it is sending after the server came back, and restarted with it up.
//   2. The server's crash mid-sync. With the queue full, the server comes back and is killed while the daemon
//      drains, then restarted on the same port, several times.
// After each round: every dispense the daemon acknowledged as queued (its line said so), and every dispense
// found in queue.db after a kill, is in the log exactly once (by its leaf hash), in scan order, the pack
// dispensed by this pharmacy; no other pack of the round is dispensed; the queue is empty with no alert row
// (an ENTRY_REPLAYED or PACK_NOT_ACTIVE that became a conflict would be one) and no daemon printed an alert.
// Default: 2 reader rounds and 1 server round (2 kills) of 12 packs. MEDTRAIL_LONG=1: 12 + 8 rounds (3 kills
// each) of 30 packs.
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toHex } from '../../core/bytes.js';
import { decodeEntry, entryLeafHash, type Entry } from '../../core/entry/entry.js';
import { OfflineQueue } from '../../reader/queue.js';
import { gtinOf, PREFIX, sign, type Party } from '../support/custody.js';
import { makeLedger, participantKey, type TestLedger } from '../support/ledger.js';
import { spawnReader, type PackFacts, type ReaderProcess } from '../support/reader-world.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tagUri } from '../verify/fixture.js';
import { call } from './world.js';

const LONG = process.env['MEDTRAIL_LONG'] === '1';
const N = LONG ? 30 : 12;
const READER_ROUNDS = LONG ? 12 : 2;
const SERVER_ROUNDS = LONG ? 8 : 1;
const SERVER_KILLS = LONG ? 3 : 2; // per server round
const TIMEOUT = LONG ? 600_000 : 60_000;
const GTIN = gtinOf(31);
const EXPIRY = '301231';
const seed = Number(process.env['MEDTRAIL_SEED'] ?? Date.now() % 1e9);

/** A small seeded generator (mulberry32) so a failing run can be replayed with MEDTRAIL_SEED. */
function rng(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(seed);
const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let t: TestLedger;
let srv: ServerProcess | undefined;
let port = '0';
let url = '';
let pharmacy: Party;
let maker: Party;
let keyFile = '';
let stock: PackFacts[] = [];
let states = 0;
const figures = { readerKills: 0, serverKills: 0, scans: 0, acked: 0, queuedAtKill: 0, lostAcks: 0, delivered: 0 };
/** Every alert or error line any daemon printed (must stay empty). */
const complaints: Record<string, unknown>[] = [];

async function serverUp(): Promise<void> {
  srv = await startServerProcess(t.db, ['--port', port]);
  url = srv.url;
  port = new URL(url).port;
}

async function serverDown(how: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  if (how === 'SIGKILL') srv?.child.kill('SIGKILL');
  await srv?.stop();
  srv = undefined;
}

/** A request to the server that rides out its load shedding (503) and the moment it restarts. */
async function ask(method: 'GET' | 'POST', path: string, body?: unknown, as?: Party) {
  for (let i = 0; ; i++) {
    const r = await call(url, method, path, body, as);
    if (r.status !== 503 || i > 50) return r;
    await sleep(50);
  }
}

async function ok(e: Entry): Promise<string> {
  const r = await ask('POST', '/api/v1/entries', e);
  if (r.status !== 201) throw new Error(`expected 201, got ${r.status} ${r.text}`);
  return String(r.json['leafHash']);
}

interface Daemon extends ReaderProcess {
  closed: Promise<unknown>;
}

async function daemon(state: string): Promise<Daemon> {
  const r = await spawnReader(['--server', `http://127.0.0.1:${port}`, '--key', keyFile, '--state', state, '--no-nfc', '--dispense', '--retry-ms', '50']);
  return Object.assign(r, { closed: new Promise((res) => r.child.once('close', res)) });
}

/** Ends a daemon (SIGKILL or SIGTERM), waits until its stdout is drained, keeps its alert and error lines. */
async function end(d: Daemon, how: 'SIGKILL' | 'SIGTERM'): Promise<void> {
  d.child.kill(how);
  await d.closed;
  if (how === 'SIGKILL') figures.readerKills++;
  complaints.push(...d.lines.filter((l) => 'alert' in l || 'error' in l));
}

const isLineFor = (p: PackFacts) => (l: Record<string, unknown>) => 'verdict' in l && l['provisional'] !== true && l['uri'] === tagUri(p, maker);
const isDelivered = (l: Record<string, unknown>) => 'verdict' in l && l['queued'] === true && l['layer'] === 'online';

/**
 * Feeds scanner lines with the server down; each must be acknowledged as queued. With `killAt`, SIGKILLs the
 * daemon 0-20 ms after writing that line (the line may or may not have been handled). Returns the packs whose
 * line said queued, and how many lines were written.
 */
async function feed(d: Daemon, packs: PackFacts[], killAt?: number): Promise<{ acked: PackFacts[]; written: number }> {
  const acked: PackFacts[] = [];
  for (let i = 0; i < packs.length; i++) {
    const p = packs[i]!;
    d.write(tagUri(p, maker));
    figures.scans++;
    if (i === killAt) {
      await sleep(between(0, 20));
      await end(d, 'SIGKILL');
      if (d.lines.some((l) => isLineFor(p)(l) && (l['dispense'] as { queued?: boolean } | undefined)?.queued === true)) acked.push(p);
      return { acked, written: i + 1 };
    }
    expect(await d.next(isLineFor(p))).toMatchObject({ verdict: 'GENUINE', offline: true, queued: true, dispense: { queued: true } });
    acked.push(p);
  }
  return { acked, written: packs.length };
}

/** The dispense entries in a state's queue right now (by leaf hash), added to `seen`. */
function snapshot(state: string, seen: Map<string, { entry: Entry; id: number }>): number {
  const q = new OfflineQueue(join(state, 'queue.db'));
  try {
    const items = q.items();
    for (const it of items) {
      if (it.kind !== 'dispense') continue;
      const entry = it.payload['entry'] as Entry;
      seen.set(toHex(entryLeafHash(entry)), { entry, id: it.id });
    }
    return items.length;
  } finally {
    q.close();
  }
}

/** The whole log, as leaf hash -> indexes, and the dispense entries in it. */
async function readLog(): Promise<{ at: Map<string, number[]>; dispenses: { index: number; entry: Entry; hash: string }[] }> {
  const at = new Map<string, number[]>();
  const dispenses: { index: number; entry: Entry; hash: string }[] = [];
  // A page stops at 1,000 leaves or about 1 MiB of them: page on from the last leaf read (404 past the end).
  for (let start = 0; ; ) {
    const r = await ask('GET', `/api/v1/log/entries?start=${start}&end=${start + 1000}`, undefined, pharmacy);
    if (r.status === 404) break;
    expect(r.status, r.text).toBe(200);
    const list = r.json['entries'] as { index: number; leaf: string }[];
    for (const e of list) {
      const entry = decodeEntry(fromBase64(e.leaf));
      const hash = toHex(entryLeafHash(entry));
      at.set(hash, [...(at.get(hash) ?? []), e.index]);
      if (entry.kind === 'dispense') dispenses.push({ index: e.index, entry, hash });
    }
    const last = list[list.length - 1];
    if (last === undefined) break;
    start = last.index + 1;
  }
  return { at, dispenses };
}

/** Waits until the daemon has delivered everything (queue.db empty). */
async function drained(state: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const q = new OfflineQueue(join(state, 'queue.db'));
    const left = q.size();
    q.close();
    if (left === 0) return;
    if (Date.now() > deadline) throw new Error(`${left} items still queued after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** The exactly-once, in-order, nothing-lost checks of one round. */
async function check(state: string, packs: PackFacts[], acked: PackFacts[], seen: Map<string, { entry: Entry; id: number }>): Promise<void> {
  const q = new OfflineQueue(join(state, 'queue.db'));
  expect(q.size()).toBe(0);
  expect(q.alerts()).toEqual([]);
  q.close();
  expect(complaints).toEqual([]);
  const log = await readLog();
  const mine = new Set(packs.map((p) => p.serial));
  const inLog = log.dispenses.filter((d) => (d.entry.body as { gtin: string; serial: string }).gtin === GTIN && mine.has((d.entry.body as { serial: string }).serial));
  // Each queued dispense is in the log exactly once, under its own leaf hash (its own nonce).
  const queued = [...seen.entries()].sort((a, b) => a[1].id - b[1].id);
  for (const [hash, { entry }] of queued) expect(log.at.get(hash), `queued dispense of ${(entry.body as { serial: string }).serial}`).toHaveLength(1);
  // ...and nothing else of this round's packs was dispensed: one dispense per pack, each one that was queued.
  expect(inLog.map((d) => d.hash).sort()).toEqual(queued.map(([h]) => h).sort());
  expect(new Set(inLog.map((d) => (d.entry.body as { serial: string }).serial)).size).toBe(inLog.length);
  // In the order of the scans (queue ids).
  const order = queued.map(([h]) => log.at.get(h)![0]!);
  expect(order).toEqual([...order].sort((a, b) => a - b));
  // Every acknowledged scan is among them, and the pack reads dispensed by this pharmacy.
  const queuedSerials = new Set(queued.map(([, v]) => (v.entry.body as { serial: string }).serial));
  for (const p of acked) {
    expect(queuedSerials.has(p.serial), `acknowledged ${p.serial} was queued`).toBe(true);
    const r = await ask('GET', `/api/v1/packs/${p.gtin}/${p.serial}`, undefined, pharmacy);
    expect(r.status, r.text).toBe(200);
    expect(r.json['pack']).toMatchObject({ state: 'dispensed', dispensedBy: pharmacy.gln });
    expect((r.json['chain'] as { kind: string }[]).filter((c) => c.kind === 'dispense')).toHaveLength(1);
  }
  figures.acked += acked.length;
  figures.delivered += queued.length;
}

beforeAll(async () => {
  t = makeLedger();
  await serverUp();
  const authority = t.authority as Party;
  maker = participantKey(310);
  const dist = participantKey(320);
  pharmacy = participantKey(330);
  const admit = (who: Party, role: string, prefixes: string[] = []) => sign('participant', authority, { action: 'admit', gln: who.gln, name: who.name, role, publicKey: who.publicKey, prefixes });
  await ok(admit(maker, 'manufacturer', [PREFIX]));
  await ok(admit(dist, 'distributor'));
  await ok(admit(pharmacy, 'pharmacy'));
  const product = await ok(sign('product', maker, { gtin: GTIN, name: 'Crashol 10 mg', form: 'tablet', strength: '10 mg', packSize: 28 }));
  const serials = Array.from({ length: N * (READER_ROUNDS + SERVER_ROUNDS) }, (_, i) => `RC${String(i).padStart(5, '0')}Q`);
  const batch = await ok(sign('batch', maker, { gtin: GTIN, lot: 'Q1', expiry: EXPIRY, serials }, [product]));
  const items = [{ type: 'lot', gtin: GTIN, lot: 'Q1' }];
  const s1 = await ok(sign('ship', maker, { to: dist.gln, items }, [batch]));
  const r1 = await ok(sign('receive', dist, { ship: s1, missing: [], extra: [] }, [s1]));
  const s2 = await ok(sign('ship', dist, { to: pharmacy.gln, items }, [r1]));
  await ok(sign('receive', pharmacy, { ship: s2, missing: [], extra: [] }, [s2]));
  keyFile = join(t.dir, 'pharmacy.key.json');
  writeFileSync(keyFile, JSON.stringify(pharmacy), { mode: 0o600 });
  stock = serials.map((serial) => ({ gtin: GTIN, lot: 'Q1', serial, expiry: EXPIRY }));
});

afterAll(async () => {
  await serverDown('SIGTERM');
  t?.cleanup();
  console.log(
    `reader-crash (seed ${seed}): ${figures.readerKills} daemon SIGKILLs and ${figures.serverKills} server SIGKILLs survived; ` +
      `${figures.scans} lines fed, ${figures.acked} acknowledged as queued, ${figures.delivered} dispenses delivered exactly once in scan order ` +
      `(${figures.queuedAtKill} items in the queue at kills, ${figures.lostAcks} of them already committed: resent and settled as replays); nothing lost`,
  );
});

describe("the reader's offline queue loses nothing", () => {
  it(`across its own SIGKILL: mid-feed and mid-delivery (${READER_ROUNDS} rounds of ${N} packs, seed ${seed})`, async () => {
    for (let round = 0; round < READER_ROUNDS; round++) {
      const packs = stock.splice(0, N);
      const state = join(t.dir, `state-${states++}`);
      const seen = new Map<string, { entry: Entry; id: number }>();
      // A sync with the server up (held packs in the cache), then the outage.
      let d = await daemon(state);
      await serverDown('SIGTERM');
      const killAt = between(1, N - 2);
      const first = await feed(d, packs, killAt);
      figures.queuedAtKill += snapshot(state, seen);
      // Restarted on the same state, server still down: the lines never written are fed now.
      d = await daemon(state);
      const rest = await feed(d, packs.slice(first.written));
      snapshot(state, seen);
      const acked = [...first.acked, ...rest.acked];
      // The server comes back; the daemon starts sending (its retry timer) and is killed after a random number
      // of delivered scans plus 0-15 ms, often in the middle of the next dispense's request.
      await serverUp();
      const target = between(1, Math.max(1, acked.length - 1));
      for (let n = 0; n < target; n++) await d.next(isDelivered, 30_000);
      await sleep(between(0, 15));
      await end(d, 'SIGKILL');
      figures.queuedAtKill += snapshot(state, seen);
      figures.lostAcks += committedButQueued(state);
      // Restarted with the server up: it drains what is left.
      d = await daemon(state);
      await drained(state);
      await end(d, 'SIGTERM');
      await check(state, packs, acked, seen);
    }
  }, TIMEOUT);

  it(`across the server's SIGKILL mid-sync (${SERVER_ROUNDS} rounds of ${N} packs, ${SERVER_KILLS} kills each)`, async () => {
    for (let round = 0; round < SERVER_ROUNDS; round++) {
      const packs = stock.splice(0, N);
      const state = join(t.dir, `state-${states++}`);
      const seen = new Map<string, { entry: Entry; id: number }>();
      const d = await daemon(state);
      await serverDown('SIGKILL');
      const { acked } = await feed(d, packs);
      expect(acked).toHaveLength(N);
      snapshot(state, seen);
      // Kill points spread over the drain: after a random number of delivered scans, plus 0-10 ms.
      for (let k = 0; k < SERVER_KILLS; k++) {
        await serverUp();
        const target = between(1, Math.max(1, Math.floor(N / SERVER_KILLS)));
        for (let n = 0; n < target; n++) await d.next(isDelivered, 30_000);
        await sleep(between(0, 10));
        await serverDown('SIGKILL');
        figures.serverKills++;
        figures.queuedAtKill += snapshot(state, seen);
        figures.lostAcks += committedButQueued(state);
      }
      await serverUp();
      await drained(state);
      await end(d, 'SIGTERM');
      await check(state, packs, acked, seen);
    }
  }, TIMEOUT);
});

/**
 * How many dispenses still in the state's queue are already committed (their acknowledgement was lost: the
 * resend must settle as a replay). Read from the ledger file itself, so it holds with the server dead too.
 */
function committedButQueued(state: string): number {
  const q = new OfflineQueue(join(state, 'queue.db'));
  const db = new Database(t.db, { readonly: true, fileMustExist: true });
  try {
    const has = db.prepare<[Buffer], { n: number }>('SELECT count(*) AS n FROM leaves WHERE hash = ?');
    return q.items().filter((i) => i.kind === 'dispense' && has.get(Buffer.from(entryLeafHash(i.payload['entry'] as Entry)))!.n > 0).length;
  } finally {
    db.close();
    q.close();
  }
}
