// The verify hot path (issue 3's speed work) keeps every contract of the slower path it replaced:
// - answered ahead of express (server/http/fast-path.ts), it carries the same security headers, and it shares
//   one rate-limit budget per client with the express routes;
// - its own JSON body reader (server/http/json-body.ts) refuses what express.json() refused, with the same
//   codes, and leaves the ledger as it was;
// - the in-memory lots and participants (server/custody/state.ts) are exact: a recall, a key rotation or an
//   entry that is refused shows at once, and entries in one submit see what the entries before them changed;
// - scans written by the writer thread are in the scans file once the server has stopped;
// - the integrity guard re-checks a leaf at once when another process writes to the database.
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { generateKeyFile } from '../../core/crypto/keys.js';
import { custodyServices } from '../../server/custody/services.js';
import { serviceModules } from '../../server/modules.js';
import { startServer } from '../../server/server.js';
import { scansPathFor } from '../../server/verify/scans.js';
import { verifyServices } from '../../server/verify/services.js';
import { entry, makeLedger } from '../support/ledger.js';
import { expectCode } from '../support/expect-code.js';
import { batch, receive, shipLot, startChain, tagUri, verify, type Chain, type Key } from './fixture.js';

let c: Chain;
const serials = ['HP0001', 'HP0002', 'HP0003', 'HP0004'];
let batchHash = '';

beforeAll(async () => {
  c = await startChain();
  batchHash = batch(c, 'HOT1', '301231', serials);
});
afterAll(async () => {
  await c?.close();
});

const size = (): number => c.s.ledger.log.size();

async function raw(body: string | Buffer, headers: Record<string, string>): Promise<{ status: number; code: string | undefined }> {
  const r = await fetch(`${c.s.url}/api/v1/verify`, { method: 'POST', headers, body });
  const j = (await r.json()) as { error?: { code: string } };
  return { status: r.status, code: j.error?.code };
}

describe('POST /verify ahead of express', () => {
  it('carries the security headers of every answer, refusals included', async () => {
    for (const body of [JSON.stringify({ code: tagUri({ gtin: c.gtin, lot: 'HOT1', serial: serials[0]!, expiry: '301231' }, c.maker) }), '{bad']) {
      const r = await fetch(`${c.s.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
      expect(r.headers.get('content-type')).toBe('application/json; charset=utf-8');
    }
  });

  it('leaves other methods and paths to express (404/405 as before), a query string does not matter', async () => {
    const code = tagUri({ gtin: c.gtin, lot: 'HOT1', serial: serials[0]!, expiry: '301231' }, c.maker);
    const q = await fetch(`${c.s.url}/api/v1/verify?x=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
    expect(q.status).toBe(200);
    const g = await fetch(`${c.s.url}/api/v1/verify`);
    expect(g.status).toBe(404);
    expect(((await g.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
  });

  it('shares one rate-limit budget per client with the express routes', async () => {
    const l = makeLedger();
    const s = await startServer({ db: l.db, port: 0, modules: serviceModules(), rateLimit: { perSecond: 1, burst: 4 } });
    try {
      const v = (): Promise<number> =>
        fetch(`${s.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: `https://id.medtrail.test/01/${c.gtin}/21/NOPE` }) }).then((r) => r.status);
      const p = (): Promise<number> => fetch(`${s.url}/api/v1/packs/${c.gtin}/NOPE`).then((r) => r.status);
      // Two on the fast path and two through express use up the burst of 4: both are refused next.
      expect([await v(), await v(), await p(), await p()]).toEqual([200, 200, 404, 404]);
      expect([await v(), await p()]).toEqual([429, 429]);
    } finally {
      await s.close();
      l.cleanup();
    }
  });
});

describe('POST /verify body reader', () => {
  const code = (): string => tagUri({ gtin: c.gtin, lot: 'HOT1', serial: serials[0]!, expiry: '301231' }, c.maker);
  const json = { 'content-type': 'application/json' };

  it('answers a well-formed request, with or without charset=utf-8', async () => {
    expect((await raw(JSON.stringify({ code: code() }), json)).status).toBe(200);
    expect((await raw(JSON.stringify({ code: code() }), { 'content-type': 'application/json; charset=UTF-8' })).status).toBe(200);
  });

  it('refuses every malformed body with its code and appends nothing', async () => {
    const before = size();
    const cases: [string, string | Buffer, Record<string, string>, number, string][] = [
      ['not JSON', '{"code": ', json, 400, 'BAD_JSON'],
      ['a JSON string at the top', '"abc"', json, 400, 'BAD_JSON'],
      ['nested past the limit', `${'['.repeat(40)}${']'.repeat(40)}`, json, 400, 'BAD_JSON'],
      ['too large', JSON.stringify({ code: 'A'.repeat(70 * 1024) }), json, 413, 'BODY_TOO_LARGE'],
      ['another charset', JSON.stringify({ code: code() }), { 'content-type': 'application/json; charset=utf-16' }, 400, 'BAD_INPUT'],
      ['compressed', gzipSync(JSON.stringify({ code: code() })), { 'content-type': 'application/json', 'content-encoding': 'gzip' }, 400, 'BAD_INPUT'],
      ['not declared JSON', JSON.stringify({ code: code() }), { 'content-type': 'text/plain' }, 400, 'BAD_INPUT'],
      ['empty', '', json, 400, 'BAD_INPUT'],
      ['an unknown member', JSON.stringify({ code: code(), extra: 1 }), json, 400, 'BAD_INPUT'],
    ];
    for (const [what, body, headers, status, err] of cases) {
      const r = await raw(body, headers);
      expect({ what, ...r }).toEqual({ what, status, code: err });
    }
    expect(size()).toBe(before);
  });
});

describe('a scan delivered late keeps its own time (scannedAt, signed requests only)', () => {
  const ago = (min: number): string => new Date(Date.now() - min * 60_000).toISOString();
  const codes = (b: { reasons: { code: string }[] }): string[] => b.reasons.map((r) => r.code);

  it('is compared with other scans at the time it happened', async () => {
    batch(c, 'HOTD', '301231', ['HD0001', 'HD0002']);
    const near = tagUri({ gtin: c.gtin, lot: 'HOTD', serial: 'HD0001', expiry: '301231' }, c.maker);
    const far = tagUri({ gtin: c.gtin, lot: 'HOTD', serial: 'HD0002', expiry: '301231' }, c.maker);
    // Offline 20 minutes ago at one pharmacy, now at another: within the 30-minute window.
    expect((await verify(c, near, { as: c.pharmacy, scannedAt: ago(20) })).status).toBe(200);
    expect(codes((await verify(c, near, { as: c.pharmacy2 })).body)).toContain('SEEN_FAR_APART');
    // 45 minutes ago: outside it, although it reached the server just now; and in the other order too (the
    // late scan arrives after one made now elsewhere).
    expect((await verify(c, far, { as: c.pharmacy, scannedAt: ago(45) })).status).toBe(200);
    expect(codes((await verify(c, far, { as: c.pharmacy2 })).body)).not.toContain('SEEN_FAR_APART');
    batch(c, 'HOTE', '301231', ['HE0001']);
    const late = tagUri({ gtin: c.gtin, lot: 'HOTE', serial: 'HE0001', expiry: '301231' }, c.maker);
    expect((await verify(c, late, { as: c.pharmacy2 })).status).toBe(200);
    expect(codes((await verify(c, late, { as: c.pharmacy, scannedAt: ago(45) })).body)).not.toContain('SEEN_FAR_APART');
    expect(codes((await verify(c, late, { as: c.pharmacy, scannedAt: ago(10) })).body)).toContain('SEEN_FAR_APART');
  });

  it('is refused unsigned, from the future, too old or malformed, and appends nothing', async () => {
    const uri = tagUri({ gtin: c.gtin, lot: 'HOTD', serial: 'HD0001', expiry: '301231' }, c.maker);
    const before = size();
    const cases: [string, Parameters<typeof verify>[2], number, string][] = [
      ['anonymous', { scannedAt: ago(5) }, 401, 'AUTH_REQUIRED'],
      ['ahead of the server', { as: c.pharmacy, scannedAt: ago(-10) }, 400, 'DATE_INVALID'],
      ['31 days ago', { as: c.pharmacy, scannedAt: ago(31 * 24 * 60) }, 400, 'DATE_INVALID'],
      ['a date without a time', { as: c.pharmacy, scannedAt: '2026-11-20' }, 400, 'BAD_INPUT'],
    ];
    for (const [what, opts, status, code] of cases) {
      const r = await verify(c, uri, opts);
      expect({ what, status: r.status, code: r.body.error?.code }).toEqual({ what, status, code });
    }
    expect(size()).toBe(before);
  });
});

describe('cached lots and participants are exact', () => {
  it('a recall shows in the very next verification', async () => {
    const uri = tagUri({ gtin: c.gtin, lot: 'HOT1', serial: serials[1]!, expiry: '301231' }, c.maker);
    expect((await verify(c, uri)).body.verdict).toBe('GENUINE');
    c.submit(entry('recall', c.maker, { gtin: c.gtin, lot: 'HOT1', reason: 'hot path test' }));
    const after = await verify(c, uri);
    expect(after.body.verdict).toBe('RECALLED');
    expect(after.body.pack?.['recall']).toMatchObject({ reason: 'hot path test' });
  });

  it('entries of one submit see what the entries before them changed (a recall, then a ship of that lot)', async () => {
    batch(c, 'HOT2', '301231', ['HQ0001', 'HQ0002']);
    const svc = custodyServices(c.s.ledger);
    // Warm the cache with the lot as it is now (not recalled).
    expect(svc.state.lot(c.gtin, 'HOT2')?.recalledIndex).toBeNull();
    const before = size();
    const recall = entry('recall', c.maker, { gtin: c.gtin, lot: 'HOT2', reason: 'same submit' });
    const ship = entry('ship', c.maker, { to: c.dist.gln, items: [{ type: 'lot', gtin: c.gtin, lot: 'HOT2' }] }, [batchHash]);
    expectCode(() => svc.submit([recall, ship]), 'LOT_RECALLED');
    expect(size()).toBe(before);
    // Refused and rolled back: the lot is not recalled, and the cache says so too.
    expect(svc.state.lot(c.gtin, 'HOT2')?.recalledIndex).toBeNull();
    expect((await verify(c, tagUri({ gtin: c.gtin, lot: 'HOT2', serial: 'HQ0001', expiry: '301231' }, c.maker))).body.verdict).toBe('GENUINE');
  });

  it('a pack moved along the chain reads its events (the no-events shortcut applies only to unmoved packs)', async () => {
    const hash = batch(c, 'HOT3', '301231', ['HR0001']);
    const ship = shipLot(c, c.maker, c.dist, 'HOT3', hash);
    receive(c, c.dist, ship);
    const body = (await verify(c, tagUri({ gtin: c.gtin, lot: 'HOT3', serial: 'HR0001', expiry: '301231' }, c.maker))).body;
    expect(body.journey.map((s) => s['step'])).toEqual(['made', 'in_transit', 'distributed']);
  });
  it("a maker's key rotation shows in the next answer's maker index", async () => {
    const uri = tagUri({ gtin: c.gtin, lot: 'HOT2', serial: 'HQ0002', expiry: '301231' }, c.maker);
    const first = (await verify(c, uri)).body.product?.['manufacturer'] as { index: number };
    const next = generateKeyFile(c.maker.name, c.maker.gln);
    const rotated = c.submit(entry('participant', c.t.authority as Key, { action: 'rotate', gln: c.maker.gln, publicKey: next.publicKey }));
    const second = (await verify(c, uri)).body;
    expect(first.index).not.toBe(rotated.index);
    expect((second.product?.['manufacturer'] as { index: number }).index).toBe(rotated.index);
    // A tag signed by the old key still verifies: the batch was signed before the rotation.
    expect(second.verdict).toBe('GENUINE');
  });
});

describe('integrity guard and scans writer', () => {
  it('a leaf rewritten by another process is caught at the next verification, without waiting', async () => {
    const t2 = await startChain();
    try {
      const b = batch(t2, 'HOT9', '301231', ['HZ0001']);
      const uri = tagUri({ gtin: t2.gtin, lot: 'HOT9', serial: 'HZ0001', expiry: '301231' }, t2.maker);
      expect((await verify(t2, uri)).status).toBe(200);
      const idx = t2.s.ledger.store.leafIndexByHash(Buffer.from(b, 'hex'))!;
      const d = new Database(t2.t.db);
      d.exec('DROP TRIGGER IF EXISTS leaves_no_update');
      const row = d.prepare<[number], { entry: Buffer }>('SELECT entry FROM leaves WHERE idx = ?').get(idx)!;
      d.prepare('UPDATE leaves SET entry = ? WHERE idx = ?').run(Buffer.from(row.entry.toString('utf8').replace('"301231"', '"351231"')), idx);
      d.close();
      const r = await verify(t2, uri);
      expect(r.status).toBe(500);
      expect(r.body.error?.code).toBe('LOG_INTEGRITY');
    } finally {
      await t2.close();
    }
  });

  it('records nothing for a verification the integrity check refused (the flow records after the check)', async () => {
    const t4 = await startChain();
    try {
      const b = batch(t4, 'HOT8', '301231', ['HY0001']);
      const uri = tagUri({ gtin: t4.gtin, lot: 'HOT8', serial: 'HY0001', expiry: '301231' }, t4.maker);
      expect((await verify(t4, uri, { location: 'before' })).status).toBe(200);
      const scans = verifyServices(t4.s.ledger).scans;
      expect(scans.recent(t4.gtin, 'HY0001', 0)).toHaveLength(1);
      const idx = t4.s.ledger.store.leafIndexByHash(Buffer.from(b, 'hex'))!;
      const d = new Database(t4.t.db);
      d.exec('DROP TRIGGER IF EXISTS leaves_no_update');
      const row = d.prepare<[number], { entry: Buffer }>('SELECT entry FROM leaves WHERE idx = ?').get(idx)!;
      d.prepare('UPDATE leaves SET entry = ? WHERE idx = ?').run(Buffer.from(row.entry.toString('utf8').replace('"301231"', '"351231"')), idx);
      d.close();
      const r = await verify(t4, uri, { location: 'after' });
      expect(r.body.error?.code).toBe('LOG_INTEGRITY');
      expect(scans.recent(t4.gtin, 'HY0001', 0).map((x) => x.location)).toEqual(['before']);
    } finally {
      await t4.close();
    }
  });

  it("the server's scans are in the scans file once it has stopped", async () => {
    const t3 = await startChain();
    const db = t3.t.db;
    try {
      batch(t3, 'HOTS', '301231', ['HS0001', 'HS0002']);
      for (const s of ['HS0001', 'HS0002', 'HS0001']) {
        expect((await verify(t3, tagUri({ gtin: t3.gtin, lot: 'HOTS', serial: s, expiry: '301231' }, t3.maker), { location: `counter ${s}` })).status).toBe(200);
      }
      await t3.s.close();
      const d = new Database(scansPathFor(db), { readonly: true });
      const rows = d.prepare('SELECT serial, location FROM verify_scans ORDER BY id').all();
      d.close();
      expect(rows).toEqual([
        { serial: 'HS0001', location: 'counter HS0001' },
        { serial: 'HS0002', location: 'counter HS0002' },
        { serial: 'HS0001', location: 'counter HS0001' },
      ]);
    } finally {
      t3.t.cleanup();
    }
  });
});
