// Issue 12 item 4, the pieces that keep large work off the event loop, each against a real SQLite file:
// - the state maps brought up a slice at a time (server/map/map-service.ts advance): while a round runs, roots()
//   and every proof still answer for the newest checkpoint's maps; published, they are the maps a fresh build
//   from the tables gives;
// - writeSoon (server/store/ledger-store.ts): a write of the event loop while another connection holds the
//   write lock (the ledger writer thread, a batch's transaction) waits on a timer, not inside SQLite;
// - the signing rounds: a checkpoint that covers an entry is waited for, and signs the maps of its size;
// - the ledger writer thread's group commit: requests sent at once, some refused, each answered as if alone.
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../core/bytes.js';
import { openCheckpoint } from '../../core/log/checkpoint.js';
import { readMapRoots } from '../../core/map/extension.js';
import { packMapKey } from '../../core/map/pack-map.js';
import { verifyMapProof } from '../../core/map/smt.js';
import { openLedger, type Ledger } from '../../server/context.js';
import { custodyServices } from '../../server/custody/services.js';
import { MapService } from '../../server/map/map-service.js';
import { writeSoon } from '../../server/store/ledger-store.js';
import { gtinOf, PREFIX, sign, startChain } from '../support/custody.js';
import { cli } from '../support/cli.js';
import { entry, makeLedger, participantKey, type TestLedger } from '../support/ledger.js';

const GTIN = gtinOf(61);
const m = participantKey(10);

let t: TestLedger | undefined;
let ledger: Ledger | undefined;
afterEach(() => {
  if (ledger !== undefined) custodyServices(ledger).close();
  ledger?.close();
  t?.cleanup();
  ledger = undefined;
  t = undefined;
});

/** A ledger in a file with a manufacturer, a product and a first batch of 1,000 packs, signed at its head. */
function seeded(): { ledger: Ledger; product: string } {
  t = makeLedger();
  ledger = openLedger({ db: t.db });
  const s = custodyServices(ledger);
  s.submit([entry('participant', t.authority as typeof m, { action: 'admit', gln: m.gln, name: m.name, role: 'manufacturer', publicKey: m.publicKey, prefixes: [PREFIX] })]);
  const product = sign('product', m, { gtin: GTIN, name: 'Roundol', form: 'tablets', strength: '1 mg', packSize: 10 });
  const [p] = s.submit([product]);
  s.submit([sign('batch', m, { gtin: GTIN, lot: 'R0', expiry: '301231', serials: Array.from({ length: 1000 }, (_, i) => `R0-${i}`) }, [toHex(p!.leafHash)])]);
  ledger.log.signNow();
  return { ledger, product: toHex(p!.leafHash) };
}

describe('the state maps, a slice at a time', () => {
  it('answer for the newest checkpoint while a round runs, and after it equal the maps built afresh from the tables', async () => {
    const { ledger: l, product } = seeded();
    const s = custodyServices(l);
    const before = s.map.roots();
    const signedAt = l.log.checkpoint().size;
    const oldProof = s.map.prove(GTIN, 'R0-7', 'R0');
    s.submit([sign('batch', m, { gtin: GTIN, lot: 'R1', expiry: '301231', serials: Array.from({ length: 30_000 }, (_, i) => `R1-${i}`) }, [product])]);
    s.submit([sign('recall', m, { gtin: GTIN, lot: 'R0', reason: 'a test recall' })]);
    const head = l.log.size();

    const round = s.map.advance();
    // The first slice runs on a later turn: until the round ends, what is served does not move.
    let slices = 0;
    let ended = false;
    void round.then(() => (ended = true));
    while (!ended) {
      expect(s.map.roots()).toEqual(before);
      expect(s.map.size).toBe(signedAt);
      const p = s.map.prove(GTIN, 'R0-7', 'R0');
      expect(p.pack).toEqual(oldProof.pack);
      expect(verifyMapProof(before.packs, packMapKey(GTIN, 'R0-7'), p.pack).present).toBe(true);
      // A pack of the new batch is absent from the served maps, provably.
      expect(verifyMapProof(before.packs, packMapKey(GTIN, 'R1-5'), s.map.prove(GTIN, 'R1-5', 'R1').pack).present).toBe(false);
      await new Promise((r) => setImmediate(r));
      slices++;
    }
    expect(await round).toBe(head);
    // 30,000 packs are many slices of about 5 ms, not one.
    expect(slices).toBeGreaterThan(3);
    expect(s.map.roots()).toEqual(before);

    s.map.publish(head);
    const fresh = new MapService(l.store.connectionFor('map'), l.store, s.state).roots();
    expect(s.map.roots()).toEqual(fresh);
    expect(s.map.roots()).not.toEqual(before);
    expect(verifyMapProof(fresh.packs, packMapKey(GTIN, 'R1-5'), s.map.prove(GTIN, 'R1-5', 'R1').pack).present).toBe(true);
  });

  it('a signing round covers what was asked for, and its checkpoint commits to the maps of exactly its size', async () => {
    const { ledger: l, product } = seeded();
    const s = custodyServices(l);
    expect(l.log.signsInRounds).toBe(true);
    const [b] = s.submit([sign('batch', m, { gtin: GTIN, lot: 'R2', expiry: '301231', serials: Array.from({ length: 5000 }, (_, i) => `R2-${i}`) }, [product])]);
    // A read that needs no newer checkpoint never signs one.
    expect(l.log.checkpoint().size).toBeLessThanOrEqual(b!.index);
    const cp = await l.log.covering(b!.index + 1);
    expect(cp.size).toBeGreaterThan(b!.index);
    const roots = readMapRoots(openCheckpoint(cp.note, l.log.verifierKey));
    expect(roots).toEqual(s.map.roots());
    expect(s.map.size).toBe(cp.size);
    expect(new MapService(l.store.connectionFor('map'), l.store, s.state).roots()).toEqual(roots);
  });
});

describe('a request waiting for a round', () => {
  it('is answered CHECKPOINT_PENDING once it waited its limit, and covered once the round ends', async () => {
    t = makeLedger();
    ledger = openLedger({ db: t.db, coverWaitMs: 1 });
    const l = ledger;
    const s = custodyServices(l);
    s.submit([entry('participant', t.authority as typeof m, { action: 'admit', gln: m.gln, name: m.name, role: 'manufacturer', publicKey: m.publicKey, prefixes: [PREFIX] })]);
    const [p] = s.submit([sign('product', m, { gtin: GTIN, name: 'Waitol', form: 'tablets', strength: '1 mg', packSize: 10 })]);
    l.log.signNow();
    const [b] = s.submit([sign('batch', m, { gtin: GTIN, lot: 'W1', expiry: '301231', serials: Array.from({ length: 30_000 }, (_, i) => `W1-${i}`) }, [toHex(p!.leafHash)])]);
    // A round of 30,000 packs takes many slices; 1 ms is not enough to wait for it.
    await expect(l.log.covering(b!.index + 1)).rejects.toMatchObject({ code: 'CHECKPOINT_PENDING' });
    // The round goes on; once it ended, the same request is covered at once.
    await s.map.advance();
    await new Promise((r) => setTimeout(r, 10));
    const cp = await l.log.covering(b!.index + 1);
    expect(cp.size).toBeGreaterThan(b!.index);
  });
});

describe('writeSoon', () => {
  it('writes at once when the lock is free, and otherwise waits for it on a timer, without blocking the event loop', async () => {
    t = makeLedger();
    const db = new Database(t.db);
    const other = new Database(t.db);
    db.exec('CREATE TABLE IF NOT EXISTS soon (v INTEGER)');
    expect(writeSoon(db, () => db.prepare('INSERT INTO soon VALUES (1)').run().changes)).toBe(1);

    other.exec('BEGIN IMMEDIATE');
    const started = performance.now();
    const pending = writeSoon(db, () => db.prepare('INSERT INTO soon VALUES (2)').run().changes);
    // Handed back at once (a promise), not after SQLite's busy timeout of 5 s.
    expect(pending).toBeInstanceOf(Promise);
    expect(performance.now() - started).toBeLessThan(1000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    await new Promise((r) => setTimeout(r, 120));
    expect(ticks).toBeGreaterThan(5); // the event loop ran meanwhile
    other.exec('COMMIT');
    expect(await pending).toBe(1);
    clearInterval(timer);
    expect(db.prepare('SELECT count(*) AS n FROM soon').get()).toEqual({ n: 2 });
    db.close();
    other.close();
  });
});

describe('the ledger writer thread', () => {
  it('commits requests sent at once together, each all or nothing: the refused ones leave nothing, the others land once', async () => {
    const c = await startChain();
    try {
      const [product] = await c.ok(sign('product', c.m, { gtin: GTIN, name: 'Groupol', form: 'tablets', strength: '1 mg', packSize: 10 }));
      await c.ok(sign('batch', c.m, { gtin: GTIN, lot: 'G0', expiry: '301231', serials: ['G0-1', 'G0-2'] }, [product!]));
      const before = c.srv.ledger.log.size();
      // 24 requests at once: even ones new batches, odd ones a batch naming a serial already registered.
      const bodies = Array.from({ length: 24 }, (_, i) =>
        sign('batch', c.m, { gtin: GTIN, lot: `G${i + 1}`, expiry: '301231', serials: i % 2 === 0 ? [`G${i + 1}-a`, `G${i + 1}-b`] : [`G${i + 1}-a`, 'G0-1'] }, [product!]),
      );
      const answers = await Promise.all(bodies.map((b) => c.post(b)));
      const indexes: number[] = [];
      answers.forEach((a, i) => {
        if (i % 2 === 0) {
          expect(a.status).toBe(201);
          indexes.push(a.json['index'] as number);
        } else {
          expect(a.status).toBe(409);
          expect((a.json['error'] as { code: string }).code).toBe('SERIAL_DUPLICATE');
        }
      });
      // Each accepted batch once, at the index it was answered with; nothing of a refused one anywhere.
      expect(new Set(indexes).size).toBe(12);
      const s = custodyServices(c.srv.ledger);
      for (let i = 0; i < 24; i++) {
        const lot = s.state.lot(GTIN, `G${i + 1}`);
        if (i % 2 === 0) expect(lot?.batchIndex).toBe(answers[i]!.json['index']);
        else expect(lot).toBeUndefined();
      }
      expect(c.srv.ledger.log.size()).toBe(before + 12);
      await c.srv.close();
      const audit = cli(['audit', '--db', c.t.db, '--json']);
      expect(audit.status).toBe(0);
    } finally {
      await c.close();
    }
  });
});
