// SIGKILL of a real `medtrail serve` process at random points of a long run of appends over HTTP (single
// admissions, multi-entry requests, batches of hundreds to thousands of packs, whole-lot ships and their
// receives), then a restart and, after every restart:
//   - every entry the client saw acknowledged (201) is in the log at its index with its leaf hash;
//   - every entry sent without an answer is in the log at most once (found by its leaf hash) or not at all;
//   - no partial batch: every committed batch has all its packs, and the custody tables equal a rebuild of
//     them by replaying the log from scratch (they are written in the append's transaction);
//   - every checkpoint the client was ever served is consistent with the current tree (RFC 9162 proof);
//   - `medtrail audit` passes, and POST /verify still answers verdicts (the integrity guard is satisfied).
// Default: 5 kills (npm test). MEDTRAIL_LONG=1: 40 kills (or MEDTRAIL_KILLS=n).
import { afterAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { fromBase64, toHex } from '../../core/bytes.js';
import { openCheckpoint, type Checkpoint } from '../../core/log/checkpoint.js';
import { encodeEntry, type Entry } from '../../core/entry/entry.js';
import { leafHash, verifyConsistency } from '../../core/log/merkle.js';
import { openLedger } from '../../server/context.js';
import { CUSTODY_TABLES } from '../../server/custody/schema.js';
import { custodyServices } from '../../server/custody/services.js';
import { cli } from '../support/cli.js';
import { gtinOf, type Party } from '../support/custody.js';
import { makeLedger, participantKey } from '../support/ledger.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { call, PREFIX, signed } from './world.js';

const KILLS = Number(process.env['MEDTRAIL_KILLS'] ?? (process.env['MEDTRAIL_LONG'] === '1' ? 40 : 5));
const GTIN = gtinOf(21);

interface Sent {
  entry: Entry;
  hash: string;
  kind: string;
  /** Set once acknowledged (201) or found in the log after a crash. */
  index?: number;
  acked: boolean;
  lot?: string;
  serials?: string[];
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function custodySnapshot(db: Database.Database): string {
  return CUSTODY_TABLES.map((tb) => `${tb}:${(db.prepare(`SELECT * FROM ${tb}`).raw().all() as unknown[][]).map((r) => JSON.stringify(r.map((v) => (Buffer.isBuffer(v) ? toHex(v) : v)))).sort().join('|')}`).join('\n');
}

describe('SIGKILL at random points of a long run of appends', () => {
  const t = makeLedger();
  afterAll(() => t.cleanup());
  const seed = Number(process.env['MEDTRAIL_SEED'] ?? Date.now() % 1e9);
  const rand = rng(seed);
  const authority = t.authority as Party;
  const m = participantKey(501);
  const d = participantKey(502);
  const sent: Sent[] = [];
  const served: Checkpoint[] = [];
  let vkey = '';
  let product = '';
  let lots = 0;
  let admitted = 600;
  const figures = { kills: 0, acked: 0, foundAfterCrash: 0, lostInFlight: 0, batches: 0, packs: 0, checkpoints: 0 };

  const committed = (s: Sent): boolean => s.index !== undefined;

  /** Sends one request (one entry or several); marks them acknowledged on 201. Network errors: left pending. */
  async function submit(url: string, entries: Sent[]): Promise<void> {
    sent.push(...entries);
    let r;
    try {
      r = await call(url, 'POST', '/api/v1/entries', entries.length === 1 ? entries[0]!.entry : { entries: entries.map((e) => e.entry) });
    } catch {
      return; // killed mid-request: the restart decides
    }
    if (r.status !== 201) throw new Error(`refused: ${r.status} ${r.text}`);
    const list = entries.length === 1 ? [r.json] : (r.json['entries'] as Record<string, unknown>[]);
    list.forEach((a, i) => {
      expect(a['leafHash']).toBe(entries[i]!.hash);
      entries[i]!.index = Number(a['index']);
      entries[i]!.acked = true;
    });
  }

  const make = (e: Entry, extra: Partial<Sent> = {}): Sent => ({ entry: e, hash: toHex(leafHash(encodeEntry(e))), kind: e.kind, acked: false, ...extra });

  /** One random step of the workload, built only on entries known to be committed. */
  async function step(url: string): Promise<void> {
    const x = rand();
    const batches = sent.filter((s) => s.kind === 'batch' && committed(s));
    const ships = sent.filter((s) => s.kind === 'ship' && committed(s));
    const shippedLots = new Set(sent.filter((s) => s.kind === 'ship' && (committed(s) || !s.acked)).map((s) => s.lot));
    const received = new Set(sent.filter((s) => s.kind === 'receive').map((s) => (s.entry.body as { ship: string }).ship));
    const toShip = batches.find((b) => !shippedLots.has(b.lot));
    const toReceive = ships.find((s) => !received.has(s.hash));
    if (x < 0.35) {
      const n = 200 + Math.floor(rand() * 2800);
      const lot = `F${++lots}`;
      const serials = Array.from({ length: n }, (_, i) => `S${lots}X${i}`);
      await submit(url, [make(signed('batch', m, { gtin: GTIN, lot, expiry: '301231', serials }, [product]), { lot, serials })]);
    } else if (x < 0.55 && toShip !== undefined) {
      await submit(url, [make(signed('ship', m, { to: d.gln, items: [{ type: 'lot', gtin: GTIN, lot: toShip.lot }] }, [toShip.hash]), { lot: toShip.lot! })]);
    } else if (x < 0.7 && toReceive !== undefined) {
      await submit(url, [make(signed('receive', d, { ship: toReceive.hash, missing: [], extra: [] }, [toReceive.hash]))]);
    } else if (x < 0.85) {
      const a = participantKey(admitted++);
      const b = participantKey(admitted++);
      const adm = (k: Party): Entry => signed('participant', authority, { action: 'admit', gln: k.gln, name: k.name, role: 'pharmacy', publicKey: k.publicKey, prefixes: [] });
      await submit(url, [make(adm(a)), make(adm(b))]);
    } else {
      const a = participantKey(admitted++);
      await submit(url, [make(signed('participant', authority, { action: 'admit', gln: a.gln, name: a.name, role: 'distributor', publicKey: a.publicKey, prefixes: [] }))]);
    }
    if (rand() < 0.3) {
      try {
        const note = (await call(url, 'GET', '/api/v1/checkpoint')).text;
        served.push(openCheckpoint(note, vkey));
      } catch {
        /* killed */
      }
    }
  }

  /** After a restart: find unanswered entries in the log by leaf hash (at most once each), then check all. */
  async function checkAll(url: string): Promise<void> {
    const now = openCheckpoint((await call(url, 'GET', '/api/v1/checkpoint')).text, vkey);
    const size = Number((now.size));
    // The server signs a checkpoint at start over the committed head: `now` covers every committed leaf.
    const log: string[] = [];
    // A page stops at 1,000 leaves or about 1 MiB of them: page on from the last leaf read.
    for (let start = 0; start < size; start = log.length) {
      const r = await call(url, 'GET', `/api/v1/log/entries?start=${start}&end=${Math.min(size, start + 1000)}`, undefined, m);
      for (const e of r.json['entries'] as { index: number; leaf: string }[]) {
        expect(e.index).toBe(log.length);
        log.push(toHex(leafHash(fromBase64(e.leaf))));
      }
    }
    expect(log.length).toBe(size);
    const where = new Map<string, number[]>();
    log.forEach((h, i) => where.set(h, [...(where.get(h) ?? []), i]));
    for (const s of sent) {
      const at = where.get(s.hash) ?? [];
      expect(at.length, `entry ${s.kind} ${s.hash} is in the log ${at.length} times`).toBeLessThanOrEqual(1);
      if (s.acked) {
        // Acknowledged: there, at its index, with its leaf hash.
        expect(log[s.index!], `acknowledged ${s.kind} at ${s.index} is missing`).toBe(s.hash);
      } else if (s.index === undefined && at.length === 1) {
        s.index = at[0]!;
        figures.foundAfterCrash++;
      }
    }
    // Unanswered and not in the log: they never happened. Forget them so the workload can redo the step.
    for (let i = sent.length - 1; i >= 0; i--) {
      if (!committed(sent[i]!)) {
        figures.lostInFlight++;
        sent.splice(i, 1);
      }
    }
    // Every checkpoint ever served is a prefix of today's tree.
    for (const cp of served) {
      if (cp.size === 0) continue;
      const p = await call(url, 'GET', `/api/v1/log/proof/consistency?from=${cp.size}&to=${now.size}`);
      verifyConsistency(cp.size, now.size, (p.json['proof'] as string[]).map((h) => Buffer.from(h, 'hex')), cp.root, now.root);
    }
    // No partial batch; the custody tables are exactly what replaying the log gives.
    const ro = new Database(t.db, { readonly: true });
    const copy = join(t.dir, `replay-${figures.kills}.db`);
    try {
      for (const b of sent.filter((s) => s.kind === 'batch')) {
        const n = ro.prepare('SELECT count(*) FROM custody_packs WHERE gtin = ? AND lot = ?').pluck().get(GTIN, b.lot) as number;
        expect(n, `batch ${b.lot}`).toBe(b.serials!.length);
      }
      const live = custodySnapshot(ro);
      ro.prepare('VACUUM INTO ?').run(copy);
      const c = new Database(copy);
      for (const tb of CUSTODY_TABLES) c.exec(`DROP TABLE IF EXISTS ${tb}`);
      c.close();
      const l = openLedger({ db: copy, logKey: join(t.dir, 'log.key.json') });
      custodyServices(l); // opening replays the whole log into fresh tables
      expect(custodySnapshot(l.store.connectionFor('custody'))).toBe(live);
      l.close();
    } finally {
      ro.close();
    }
    // The real CLI audit on the live file, and a verdict from the server (its integrity guard passes).
    const a = cli(['audit', '--db', t.db, '--json']);
    expect(a.status, a.stdout).toBe(0);
    const someBatch = sent.find((s) => s.kind === 'batch');
    if (someBatch !== undefined) {
      const v = await call(url, 'POST', '/api/v1/verify', { code: `https://id.medtrail.test/01/${GTIN}/21/${someBatch.serials![0]!}` });
      expect(v.status, v.text).toBe(200);
    }
    figures.checkpoints = served.length;
  }

  it(`survives ${KILLS} kills with nothing acknowledged lost and nothing partial (seed ${seed})`, async () => {
    let srv: ServerProcess = await startServerProcess(t.db);
    try {
      vkey = (await call(srv.url, 'GET', '/api/v1/log/key')).text.trim();
      const setup = [
        make(signed('participant', authority, { action: 'admit', gln: m.gln, name: m.name, role: 'manufacturer', publicKey: m.publicKey, prefixes: [PREFIX] })),
        make(signed('participant', authority, { action: 'admit', gln: d.gln, name: d.name, role: 'distributor', publicKey: d.publicKey, prefixes: [] })),
      ];
      await submit(srv.url, setup);
      const p = make(signed('product', m, { gtin: GTIN, name: 'Faultol', form: 'tablet', strength: '1 mg', packSize: 10 }));
      await submit(srv.url, [p]);
      product = p.hash;
      for (let k = 0; k < KILLS; k++) {
        // Run the workload from two clients at once; kill the server at a random moment.
        const killAt = 100 + rand() * 700;
        const url = srv.url;
        let running = true;
        const lane = async (): Promise<void> => {
          while (running) {
            try {
              await step(url);
            } catch (e) {
              if (running) throw e;
            }
          }
        };
        const lanes = [lane(), lane()];
        await new Promise((r) => setTimeout(r, killAt));
        srv.child.kill('SIGKILL');
        running = false;
        await srv.stop();
        await Promise.all(lanes);
        figures.kills++;
        srv = await startServerProcess(t.db);
        await checkAll(srv.url);
      }
      figures.acked = sent.filter((s) => s.acked).length;
      const batches = sent.filter((s) => s.kind === 'batch');
      figures.batches = batches.length;
      figures.packs = batches.reduce((a, b) => a + b.serials!.length, 0);
      console.log(`faults: ${figures.kills} SIGKILLs survived; ${sent.length} entries committed (${figures.acked} acknowledged, ${figures.foundAfterCrash} committed but unanswered when killed, ${figures.lostInFlight} unanswered and never committed); ${figures.batches} batches / ${figures.packs} packs, none partial; ${figures.checkpoints} served checkpoints all consistent; audit passed after every restart`);
      expect(figures.acked).toBeGreaterThan(0);
    } finally {
      await srv.stop();
    }
  });
});
