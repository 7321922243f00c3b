// The offline-first path of the daemon: the server goes away, scans and dispenses are verified offline and
// queued durably, the server comes back on the same port, the queue is delivered in order, and a pack
// dispensed elsewhere meanwhile becomes an alert (never a silent loss). Also: a pack re-scanned while its
// dispense waits is not dispensed twice, and the idempotent resend of a dispense whose acknowledgement was lost.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../core/bytes.js';
import { entryLeafHash } from '../../core/entry/entry.js';
import Database from 'better-sqlite3';
import { OfflineQueue } from '../../reader/queue.js';
import { scansPathFor } from '../../server/verify/scans.js';
import { sign } from '../support/custody.js';
import { readerWorld, spawnReader, type ReaderWorld } from '../support/reader-world.js';

let w: ReaderWorld;
beforeAll(async () => {
  w = await readerWorld();
});
afterAll(() => w?.close());

const verdictOf = (l: Record<string, unknown>) => 'verdict' in l && l['provisional'] !== true;

describe('across a server outage', () => {
  it('verifies offline, queues durably, delivers in order when the server is back, and turns a conflict into an alert', async () => {
    const state = join(w.dir, 'outage');
    const r = await spawnReader(['--server', w.url, '--key', w.keyFile, '--state', state, '--no-nfc', '--dispense', '--retry-ms', '2000']);
    try {
      const [a, b, c] = [w.genuine[0]!, w.genuine[1]!, w.genuine[2]!];
      await w.stop();
      for (const p of [a, b, c]) {
        r.write(w.uri(p));
        expect(await r.next(verdictOf)).toMatchObject({ verdict: 'GENUINE', layer: 'offline', offline: true, queued: true, dispense: { queued: true } });
      }
      // A second tap of a pack dispensed offline is DISPENSED at once, from the local record.
      r.write(w.uri(a));
      expect(await r.next(verdictOf)).toMatchObject({ verdict: 'DISPENSED', offline: true });
      // Recalled as of the last sync, offline too.
      r.write(w.uri(w.recalled));
      expect(await r.next(verdictOf)).toMatchObject({ verdict: 'RECALLED', offline: true });

      const q = new OfflineQueue(join(state, 'queue.db'));
      expect(q.items().map((i) => `${i.kind}:${String(i.payload['code'] ?? i.payload['serial'])}`)).toEqual([
        `verify:${w.uri(a)}`,
        `dispense:${a.serial}`,
        `verify:${w.uri(b)}`,
        `dispense:${b.serial}`,
        `verify:${w.uri(c)}`,
        `dispense:${c.serial}`,
        `verify:${w.uri(a)}`,
        `verify:${w.uri(w.recalled)}`,
      ]);
      q.close();

      const restartedAt = Date.now();
      await w.restart();
      // Meanwhile another counter of the same pharmacy dispenses C directly: the queued dispense conflicts.
      await w.dispenseDirect(c);

      const alert = await r.next((l) => 'alert' in l && String(l['message']).includes(c.serial) && String(l['message']).includes('dispense'), 30_000);
      expect(['PACK_NOT_ACTIVE', 'PREV_MISMATCH']).toContain(alert['alert']);
      const delivered = [];
      for (let i = 0; i < 5; i++) delivered.push(await r.next((l) => verdictOf(l) && l['queued'] === true, 30_000));
      expect(delivered.map((l) => l['uri'])).toEqual([w.uri(a), w.uri(b), w.uri(c), w.uri(a), w.uri(w.recalled)]);
      expect(delivered.map((l) => l['verdict'])).toEqual(['GENUINE', 'GENUINE', 'DISPENSED', 'DISPENSED', 'RECALLED']);
      // C was GENUINE offline and DISPENSED in the ledger: an alert too.
      expect(await r.next((l) => l['alert'] === 'VERDICT_DISPENSED' && String(l['message']).includes(c.serial))).toBeTruthy();

      // In the ledger: A then B dispensed by this pharmacy, in that order; the queue is empty, the alert kept.
      const idx = [];
      for (const p of [a, b]) {
        const got = await w.c.get(`/packs/${p.gtin}/${p.serial}`, w.c.p);
        const pack = got.json['pack'] as Record<string, unknown>;
        expect(pack).toMatchObject({ state: 'dispensed', dispensedBy: w.c.p.gln });
        idx.push(pack['lastIndex'] as number);
      }
      expect(idx[0]).toBeLessThan(idx[1]!);
      await new Promise((res) => setTimeout(res, 300));
      const after = new OfflineQueue(join(state, 'queue.db'));
      expect(after.size()).toBe(0);
      expect(after.alerts().map((x) => x.code)).toEqual([alert['alert']]);
      after.close();
      // The server recorded the queued scans at the time they were made (offline, before it came back), not at
      // their delivery: the alerts that compare scans (seen far apart, scanned after dispense) need that.
      const scans = new Database(scansPathFor(w.c.t.db), { readonly: true });
      const times = scans.prepare<[string], number>('SELECT at FROM verify_scans WHERE serial = ? ORDER BY at').pluck().all(b.serial);
      scans.close();
      expect(times.length).toBeGreaterThan(0);
      expect(times[0]!).toBeLessThan(restartedAt);
    } finally {
      await r.stop();
    }
  });

  it('a pack scanned again while its dispense still waits in the queue is not dispensed twice', async () => {
    const state = join(w.dir, 'rescan');
    // A long retry delay: the queue is still waiting when the server is back and the pack is scanned again.
    const r = await spawnReader(['--server', w.url, '--key', w.keyFile, '--state', state, '--no-nfc', '--dispense', '--retry-ms', '60000']);
    try {
      const p = w.genuine[4]!;
      await w.stop();
      r.write(w.uri(p));
      const first = await r.next(verdictOf);
      expect(first).toMatchObject({ verdict: 'GENUINE', offline: true, dispense: { queued: true } });
      await w.restart();
      r.write(w.uri(p));
      // The server has not been told yet and says GENUINE; the queued dispense stands, no second one is made.
      const again = await r.next(verdictOf, 15_000);
      expect(again).toMatchObject({ verdict: 'GENUINE', layer: 'online', dispense: { queued: true } });
      expect((again['dispense'] as { since?: string }).since).toEqual(expect.any(String));
      const q = new OfflineQueue(join(state, 'queue.db'));
      expect(q.items().filter((i) => i.kind === 'dispense').map((i) => i.payload['serial'])).toEqual([p.serial]);
      q.close();
    } finally {
      await r.stop();
    }
  });

  it('a resend after a lost acknowledgement is ENTRY_REPLAYED, checked in the chain, and counted as done', async () => {
    const p = w.genuine[3]!;
    const held = await w.c.get(`/held?gln=${w.c.p.gln}&gtin=${p.gtin}&serial=${p.serial}`, w.c.p);
    const e = sign('dispense', w.c.p, { gtin: p.gtin, serial: p.serial }, held.json['prev'] as string[]);
    await w.c.ok(e); // delivered, but the daemon "crashed" before ack()
    const state = join(w.dir, 'replay');
    const q = new OfflineQueue(join(state, 'queue.db'));
    q.push('dispense', { entry: e, gtin: p.gtin, serial: p.serial, scannedAt: e.at });
    q.close();
    const r = await spawnReader(['--server', w.url, '--key', w.keyFile, '--state', state, '--no-nfc']);
    try {
      const deadline = Date.now() + 10_000;
      let left = 1;
      while (Date.now() < deadline && left > 0) {
        await new Promise((res) => setTimeout(res, 100));
        const check = new OfflineQueue(join(state, 'queue.db'));
        left = check.size();
        expect(check.alerts()).toEqual([]);
        check.close();
      }
      expect(left).toBe(0);
      expect(r.lines.filter((l) => 'alert' in l)).toEqual([]);
      const chain = (await w.c.get(`/packs/${p.gtin}/${p.serial}`, w.c.p)).json['chain'] as { leafHash: string }[];
      expect(chain.filter((x) => x.leafHash === toHex(entryLeafHash(e)))).toHaveLength(1);
    } finally {
      await r.stop();
    }
  });
});

describe('a reader that has never synced', () => {
  it('says it cannot check a genuine pack offline yet (never COUNTERFEIT), in JSON and in words', async () => {
    const state = join(w.dir, 'never-synced');
    // Nothing listens on port 9: the first sync fails, so the cache holds no maker key at all.
    const r = await spawnReader(['--server', 'http://127.0.0.1:9', '--key', w.keyFile, '--state', state, '--no-nfc']);
    try {
      r.write(w.uri(w.genuine[3]!));
      const line = await r.next(verdictOf);
      expect(line).toMatchObject({ verdict: 'NOT_CHECKED', offline: true, queued: true });
      expect(String(line['cannotCheck'])).toMatch(/never synced/);
      expect(line['syncedAt']).toBeUndefined();
    } finally {
      await r.stop();
    }
  });

  it('prints "cannot check offline yet" and "never synced" for a person, no verdict of fraud', async () => {
    const { Printer } = await import('../../reader/output.js');
    let out = '';
    new Printer(false, false, (s) => (out += s)).verdict({
      verdict: 'NOT_CHECKED', cannotCheck: 'this reader has never synced with the server: no maker keys are cached',
      source: 'scanner', uri: 'x', reasons: [], layer: 'offline', offline: true, provisional: false, queued: true, timings: { verifyMs: 1 },
    });
    expect(out).toMatch(/CANNOT CHECK OFFLINE YET/);
    expect(out).toMatch(/never synced/);
    expect(out).not.toMatch(/COUNTERFEIT|as of the last sync/);
  });
});

describe('a reader without --key (issue 12 #9: the entries go only to enrolled participants)', () => {
  it('syncs the public parts, reads no entries, and gives no offline verdict; with its key it reads them', async () => {
    const { ReaderCache } = await import('../../reader/cache.js');
    const { evaluateOffline, parseCode } = await import('../../reader/offline.js');
    const { LedgerClient } = await import('../../client/ledger-client.js');
    const { keyFileSeed } = await import('../../core/crypto/keys.js');
    const anon = new ReaderCache(join(w.dir, 'keyless', 'cache.db'));
    const own = new ReaderCache(join(w.dir, 'keyed', 'cache.db'));
    try {
      const r = await anon.sync(new LedgerClient(w.c.srv.url), undefined);
      expect(r.participants).toBeGreaterThan(0);
      expect(r.leaves).toBe(0);
      expect(anon.entriesRead).toBe(false);
      const ev = evaluateOffline(anon, parseCode(w.uri(w.genuine[4]!)), new Date());
      expect(ev.cannotCheck).toMatch(/without --key/);

      const signer = { gln: w.c.p.gln, seed: keyFileSeed(w.c.p) };
      const s = await own.sync(new LedgerClient(w.c.srv.url, { signer }), signer.gln);
      expect(s.leaves).toBe(s.logSize);
      expect(own.entriesRead).toBe(true);
      expect(evaluateOffline(own, parseCode(w.uri(w.genuine[4]!)), new Date()).cannotCheck).toBeUndefined();
    } finally {
      anon.close();
      own.close();
    }
  });
});
