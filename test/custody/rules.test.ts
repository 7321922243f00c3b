// Each custody rule through the real HTTP server on a temporary SQLite file: the full happy path of a
// 10,000-pack batch from manufacturer to patient, then each rule's refusals one by one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry } from '../../core/entry/entry.js';
import { fromHex } from '../../core/bytes.js';
import { generateKeyFile } from '../../core/crypto/keys.js';
import { openLedger } from '../../server/context.js';
import { custodyServices } from '../../server/custody/services.js';
import { CUSTODY_TABLES } from '../../server/custody/schema.js';
import type { PackRow } from '../../server/custody/state.js';
import { expectCode } from '../support/expect-code.js';
import { entry, participantKey, TEST_ORIGIN } from '../support/ledger.js';
import { gtinOf, sign, snapshot, ssccOf, startChain, type Chain, type Party } from '../support/custody.js';

const GTIN = gtinOf(1);
const LOT = 'L2026A';
const EXPIRY = '301231';
const serials = Array.from({ length: 10_000 }, (_, i) => `SN${String(i).padStart(6, '0')}`);
const product = { gtin: GTIN, name: 'Amoxicillin', form: 'capsule', strength: '500 mg', packSize: 21 };

async function pack(c: Chain, serial: string, gtin = GTIN): Promise<PackRow> {
  const p = custodyServices(c.srv.ledger).state.pack(gtin, serial);
  if (p === undefined) throw new Error(`no pack ${serial}`);
  return p;
}

/** Follows prev links from `hash` while each entry names exactly one predecessor; returns the kinds seen. */
function walk(c: Chain, hash: string): string[] {
  const kinds: string[] = [];
  let h: string | undefined = hash;
  while (h !== undefined) {
    const idx = c.srv.ledger.store.leafIndexByHash(fromHex(h, 32));
    expect(idx).toBeDefined();
    const e = decodeEntry(c.srv.ledger.store.leaf(idx!)!.bytes);
    kinds.push(e.kind);
    expect(e.prev.length).toBeLessThanOrEqual(1);
    h = e.prev[0];
  }
  return kinds;
}

async function refused(c: Chain, body: unknown, code: string): Promise<Record<string, unknown>> {
  const before = snapshot(c.srv);
  const r = await c.post(body);
  const err = r.json['error'] as Record<string, unknown> | undefined;
  expect(err?.['code'], JSON.stringify(r.json)).toBe(code);
  expect(r.status).toBeGreaterThanOrEqual(400);
  expect(snapshot(c.srv)).toBe(before);
  return err!;
}

describe('custody happy path: 10,000 packs from manufacturer to patient', () => {
  let c: Chain;
  beforeAll(async () => {
    c = await startChain();
  });
  afterAll(async () => c.close());

  it('moves a batch along the chain with discrepancies, cases, dispense, undo, recall and decommission', async () => {
    const [productHash] = await c.ok(sign('product', c.m, product));
    const pr = await c.get(`/products/${GTIN}`);
    expect(pr.json).toMatchObject({ ...product, manufacturer: c.m.gln });

    const [batchHash] = await c.ok(sign('batch', c.m, { gtin: GTIN, lot: LOT, expiry: EXPIRY, serials }, [productHash!]));
    expect(custodyServices(c.srv.ledger).state.packCount()).toBe(10_000);
    expect(await pack(c, serials[0]!)).toMatchObject({ state: 'active', holder: c.m.gln, lot: LOT, expiry: EXPIRY, lastHash: batchHash });

    // The whole lot to the distributor: prev is what /held says the manufacturer got the packs from.
    const held = await c.get(`/held?gln=${c.m.gln}&gtin=${GTIN}&lot=${LOT}`, c.m);
    expect((held.json['packs'] as unknown[]).length).toBe(10_000);
    expect(held.json['prev']).toEqual([batchHash]);
    const [ship1] = await c.ok(sign('ship', c.m, { to: c.d.gln, items: [{ type: 'lot', gtin: GTIN, lot: LOT }] }, held.json['prev'] as string[]));
    expect(await pack(c, serials[5]!)).toMatchObject({ state: 'in_transit', holder: c.m.gln, inTransitTo: c.d.gln, lastHash: ship1 });
    const open = await c.get(`/shipments?to=${c.d.gln}&open=1`, c.d);
    expect(open.json['shipments']).toEqual([expect.objectContaining({ hash: ship1, from: c.m.gln, count: 10_000 })]);

    // One pack shipped but not there, one there but not shipped.
    const extra = { gtin: GTIN, serial: 'NOTSHIPPED1' };
    const [recv1] = await c.ok(sign('receive', c.d, { ship: ship1, missing: [{ gtin: GTIN, serial: serials[0] }], extra: [extra] }, [ship1!]));
    expect(await pack(c, serials[0]!)).toMatchObject({ state: 'missing', holder: c.m.gln, inTransitTo: null });
    expect(await pack(c, serials[1]!)).toMatchObject({ state: 'active', holder: c.d.gln, lastHash: recv1 });
    expect((await c.get(`/shipments?to=${c.d.gln}&open=1`, c.d)).json['shipments']).toEqual([]);
    const disc = c.srv.ledger.store.connectionFor('custody').prepare('SELECT gtin, serial, kind FROM custody_discrepancies').all();
    expect(disc).toEqual([{ ...extra, kind: 'extra' }]);

    // A case (SSCC) of five packs and two single packs to the pharmacy.
    const casePacks = serials.slice(1, 6).map((s) => ({ gtin: GTIN, serial: s }));
    const [ship2] = await c.ok(
      sign(
        'ship',
        c.d,
        {
          to: c.p.gln,
          items: [{ type: 'case', sscc: ssccOf(1), packs: casePacks }, { type: 'pack', gtin: GTIN, serial: serials[6] }, { type: 'pack', gtin: GTIN, serial: serials[7] }],
        },
        [recv1!],
      ),
    );
    const [recv2] = await c.ok(sign('receive', c.p, { ship: ship2, missing: [], extra: [] }, [ship2!]));
    expect((await c.get(`/held?gln=${c.p.gln}`, c.p)).json['packs']).toHaveLength(7);
    expect((await c.get(`/held?gln=${c.d.gln}&gtin=${GTIN}&lot=${LOT}`, c.d)).json['packs']).toHaveLength(10_000 - 8);

    const [disp] = await c.ok(sign('dispense', c.p, { gtin: GTIN, serial: serials[6] }, [recv2!]));
    expect(await pack(c, serials[6]!)).toMatchObject({ state: 'dispensed', dispensedBy: c.p.gln });
    const [undo] = await c.ok(sign('undo', c.p, { of: disp, gtin: GTIN, serial: serials[6] }, [disp!]));
    expect(await pack(c, serials[6]!)).toMatchObject({ state: 'active', holder: c.p.gln, dispensedBy: null, lastHash: undo });

    // The pack's chain, link by link, back to its batch and product.
    expect(walk(c, undo!)).toEqual(['undo', 'dispense', 'receive', 'ship', 'receive', 'ship', 'batch', 'product']);
    const events = custodyServices(c.srv.ledger).state.packEvents(GTIN, serials[6]!);
    expect(events.map((e) => e.kind)).toEqual(['batch', 'ship', 'receive', 'ship', 'receive', 'dispense', 'undo']);
    expect(events[0]!.index).toBe((await pack(c, serials[6]!)).batchIndex);

    const [recall] = await c.ok(sign('recall', c.m, { gtin: GTIN, lot: LOT, reason: 'contamination' }, [batchHash!]));
    expect(custodyServices(c.srv.ledger).state.lot(GTIN, LOT)).toMatchObject({ recallReason: 'contamination', packCount: 10_000 });
    await refused(c, sign('dispense', c.p, { gtin: GTIN, serial: serials[7] }, [recv2!]), 'LOT_RECALLED');
    // Recalled packs go back to their manufacturer, and nowhere else.
    await refused(c, sign('ship', c.p, { to: c.d.gln, items: [{ type: 'pack', gtin: GTIN, serial: serials[7] }] }, [recv2!]), 'LOT_RECALLED');
    await c.ok(sign('ship', c.p, { to: c.m.gln, items: [{ type: 'pack', gtin: GTIN, serial: serials[5] }] }, [recv2!]));
    const [destroyed] = await c.ok(sign('decommission', c.p, { gtin: GTIN, serial: serials[7], state: 'destroyed' }, [recv2!]));
    expect(await pack(c, serials[7]!)).toMatchObject({ state: 'destroyed', lastHash: destroyed });
    expect(walk(c, destroyed!)).toEqual(['decommission', 'receive', 'ship', 'receive', 'ship', 'batch', 'product']);
    expect(recall).toMatch(/^[0-9a-f]{64}$/);

    // The tables are an index of the log: dropped, they come back identical from a replay.
    const before = snapshot(c.srv);
    await c.srv.close();
    const l = openLedger({ db: c.t.db });
    for (const t of CUSTODY_TABLES) l.store.connectionFor('custody').exec(`DROP TABLE ${t}`);
    const s = custodyServices(l);
    expect(s.state.packCount()).toBe(10_000);
    expect(snapshot({ ledger: l } as Chain['srv'])).toBe(before);
    l.close();
  });
});

describe('custody rules, one refusal at a time', () => {
  let c: Chain;
  let productHash: string;
  let batchHash: string;
  const lotSerials = ['A1', 'A2', 'A3', 'A4', 'A5', 'A6'];
  beforeAll(async () => {
    c = await startChain();
    [productHash] = (await c.ok(sign('product', c.m, { ...product, gtin: gtinOf(2) }))) as [string];
    [batchHash] = (await c.ok(sign('batch', c.m, { gtin: gtinOf(2), lot: 'R1', expiry: EXPIRY, serials: lotSerials }, [productHash]))) as [string];
  });
  afterAll(async () => c.close());
  const G = gtinOf(2);

  it('participants: duplicate admit, unknown revoke, prefixes for a non-manufacturer, rotate', async () => {
    await refused(c, c.participant(c.d, 'distributor'), 'PARTICIPANT_EXISTS');
    const x = participantKey(77);
    await refused(c, entry('participant', c.authority, { action: 'revoke', gln: x.gln }), 'PARTICIPANT_UNKNOWN');
    await refused(c, c.participant(x, 'pharmacy', ['4012345']), 'ENTRY_MALFORMED');
    await refused(c, c.participant(c.authority, 'regulator'), 'ROLE_NOT_ALLOWED');
    // Rotate: the new key signs, the old one no longer does.
    const y = participantKey(78);
    await c.ok(c.participant(y, 'distributor'));
    const y2 = { ...generateKeyFile('y2', y.gln), gln: y.gln } as Party;
    await c.ok(entry('participant', c.authority, { action: 'rotate', gln: y.gln, publicKey: y2.publicKey }));
    await refused(c, sign('product', y, product), 'ENTRY_BAD_SIGNATURE');
    await refused(c, sign('product', y2, product), 'ROLE_NOT_ALLOWED');
    const pub = await c.get('/participants');
    expect(pub.json['participants']).toContainEqual({ gln: y.gln, name: y.name, role: 'distributor', publicKey: y2.publicKey, prefixes: [], revoked: false });
    expect((await c.get(`/participants/${x.gln}`)).status).toBe(404);
  });

  it('products: canonical GTIN-14 only, own prefix, once', async () => {
    const e = await refused(c, sign('product', c.m, { ...product, gtin: gtinOf(3).slice(1) }), 'ENTRY_MALFORMED');
    expect(e['fields']).toEqual([expect.objectContaining({ path: 'body.gtin', code: 'GS1_BAD_GTIN' })]);
    const foreign = `0${'4099999'}00001`;
    const { checkDigit } = await import('../../core/gs1/identifiers.js');
    await refused(c, sign('product', c.m, { ...product, gtin: foreign + String(checkDigit(foreign)) }), 'PREFIX_NOT_OWNED');
    await refused(c, sign('product', c.m, { ...product, gtin: G }), 'PRODUCT_EXISTS');
    await refused(c, sign('product', c.m, { ...product, gtin: gtinOf(3) }, [productHash]), 'PREV_MISMATCH');
  });

  it('batches: product known, prev = product, lot once, serials unique within and across lots, size limit', async () => {
    await refused(c, sign('batch', c.m, { gtin: gtinOf(9), lot: 'X', expiry: EXPIRY, serials: ['Z1'] }), 'PRODUCT_UNKNOWN');
    await refused(c, sign('batch', c.m, { gtin: G, lot: 'R2', expiry: EXPIRY, serials: ['B1'] }), 'PREV_MISMATCH');
    await refused(c, sign('batch', c.m, { gtin: G, lot: 'R1', expiry: EXPIRY, serials: ['B1'] }, [productHash]), 'BATCH_EXISTS');
    await refused(c, sign('batch', c.m, { gtin: G, lot: 'R2', expiry: EXPIRY, serials: ['B1', 'B2', 'B1'] }, [productHash]), 'SERIAL_DUPLICATE');
    const dup = await refused(c, sign('batch', c.m, { gtin: G, lot: 'R2', expiry: EXPIRY, serials: ['B1', 'A3'] }, [productHash]), 'SERIAL_DUPLICATE');
    expect(dup['fields']).toEqual([expect.objectContaining({ path: 'body.serials[1]' })]);
    await refused(c, sign('batch', c.m, { gtin: G, lot: 'R2', expiry: '301332', serials: ['B1'] }, [productHash]), 'ENTRY_MALFORMED');
    const big = Array.from({ length: 200_001 }, (_, i) => `B${i}`);
    await refused(c, sign('batch', c.m, { gtin: G, lot: 'R2', expiry: EXPIRY, serials: big }, [productHash]), 'BATCH_TOO_LARGE');
  });

  it('every bad field of a body is reported at once', async () => {
    const e = await refused(
      c,
      sign('ship', c.m, { to: '4000000000000', items: [{ type: 'pack', gtin: G, serial: 'A1' }, { type: 'pack', gtin: G, serial: 'bad serial' }, { type: 'lot', gtin: '123', lot: 'R1' }], x: 1 }),
      'ENTRY_MALFORMED',
    );
    const paths = (e['fields'] as { path: string }[]).map((f) => f.path).sort();
    expect(paths).toEqual(['body.items[1].serial', 'body.items[2].gtin', 'body.to', 'body.x']);
  });

  it('entries dated more than 5 minutes ahead are refused', async () => {
    const e = sign('product', c.m, { ...product, gtin: gtinOf(4) });
    const future = { ...e, at: new Date(Date.now() + 10 * 60_000).toISOString() };
    const { signEntry } = await import('../../core/entry/entry.js');
    const { keyFileSeed } = await import('../../core/crypto/keys.js');
    await refused(c, signEntry(future, keyFileSeed(c.m), TEST_ORIGIN), 'DATE_INVALID');
  });

  it('ship, receive, dispense, undo, decommission: holder, recipient, state, prev and time rules', async () => {
    await refused(c, sign('ship', c.m, { to: participantKey(99).gln, items: [{ type: 'pack', gtin: G, serial: 'A1' }] }, [batchHash]), 'RECIPIENT_UNKNOWN');
    await refused(c, sign('ship', c.m, { to: c.d.gln, items: [{ type: 'pack', gtin: G, serial: 'NOPE' }] }, [batchHash]), 'PACK_UNKNOWN');
    await refused(c, sign('ship', c.m, { to: c.d.gln, items: [{ type: 'lot', gtin: G, lot: 'NOLOT' }] }, [batchHash]), 'LOT_UNKNOWN');
    await refused(c, sign('ship', c.m, { to: c.d.gln, items: [{ type: 'pack', gtin: G, serial: 'A1' }] }, []), 'PREV_MISMATCH');
    await refused(c, sign('ship', c.m, { to: c.d.gln, items: [{ type: 'pack', gtin: G, serial: 'A1' }] }, ['00'.repeat(32)]), 'PREV_MISMATCH');
    const items = lotSerials.map((s) => ({ type: 'pack', gtin: G, serial: s }));
    const [ship] = await c.ok(sign('ship', c.m, { to: c.p.gln, items }, [batchHash]));
    await refused(c, sign('receive', c.p, { ship: '11'.repeat(32), missing: [], extra: [] }, [ship!]), 'SHIPMENT_UNKNOWN');
    await refused(c, sign('receive', c.p, { ship: batchHash, missing: [], extra: [] }, [batchHash]), 'SHIPMENT_UNKNOWN');
    await refused(c, sign('receive', c.p, { ship, missing: [{ gtin: G, serial: 'Q9' }], extra: [] }, [ship!]), 'BAD_INPUT');
    await refused(c, sign('receive', c.p, { ship, missing: [], extra: [{ gtin: G, serial: 'A1' }] }, [ship!]), 'BAD_INPUT');
    await refused(c, sign('dispense', c.p, { gtin: G, serial: 'A1' }, [ship!]), 'NOT_HOLDER');
    const [recv] = await c.ok(sign('receive', c.p, { ship, missing: [], extra: [] }, [ship!]));
    await refused(c, sign('receive', c.p, { ship, missing: [], extra: [] }, [ship!]), 'SHIPMENT_CLOSED');
    await refused(c, sign('dispense', c.p, { gtin: G, serial: 'A1' }, [ship!]), 'PREV_MISMATCH');

    const svc = custodyServices(c.srv.ledger);
    const [disp] = await c.ok(sign('dispense', c.p, { gtin: G, serial: 'A1' }, [recv!]));
    await refused(c, sign('dispense', c.p, { gtin: G, serial: 'A1' }, [disp!]), 'PACK_NOT_ACTIVE');
    await refused(c, sign('decommission', c.p, { gtin: G, serial: 'A1', state: 'stolen' }, [disp!]), 'PACK_NOT_ACTIVE');
    // 10 days and a minute later, on the server's clock.
    const late = sign('undo', c.p, { of: disp, gtin: G, serial: 'A1' }, [disp!]);
    expectCode(() => svc.submit([late], Date.now() + 10 * 86_400_000 + 60_000), 'UNDO_NOT_ALLOWED');
    await refused(c, sign('undo', c.p, { of: recv, gtin: G, serial: 'A1' }, [recv!]), 'UNDO_NOT_ALLOWED');
    await refused(c, sign('undo', c.p, { of: disp, gtin: G, serial: 'A1' }, []), 'PREV_MISMATCH');
    await c.ok(late);

    // Another pharmacy may not undo; an expired pack may not be dispensed (server clock ten years on).
    const p2 = participantKey(31);
    await c.ok(c.participant(p2, 'pharmacy'));
    const [s2] = await c.ok(sign('ship', c.p, { to: p2.gln, items: [{ type: 'pack', gtin: G, serial: 'A2' }] }, [recv!]));
    const [r2] = await c.ok(sign('receive', p2, { ship: s2, missing: [], extra: [] }, [s2!]));
    const [d2] = await c.ok(sign('dispense', p2, { gtin: G, serial: 'A2' }, [r2!]));
    await refused(c, sign('undo', c.p, { of: d2, gtin: G, serial: 'A2' }, [d2!]), 'UNDO_NOT_ALLOWED');
    expectCode(() => svc.submit([sign('dispense', c.p, { gtin: G, serial: 'A3' }, [recv!])], Date.UTC(2031, 0, 2)), 'EXPIRED_PACK');
    expectCode(() => svc.submit([sign('undo', p2, { of: d2, gtin: G, serial: 'A2' }, [d2!])], Date.UTC(2031, 0, 2)), 'UNDO_NOT_ALLOWED');

    // A regulator recalls; the manufacturer then cannot recall twice; undo of a recalled pack is refused.
    await c.ok(sign('recall', c.reg, { gtin: G, lot: 'R1', reason: 'falsified packs reported' }));
    await refused(c, sign('recall', c.m, { gtin: G, lot: 'R1', reason: 'again' }, [batchHash]), 'LOT_RECALLED');
    await refused(c, sign('undo', p2, { of: d2, gtin: G, serial: 'A2' }, [d2!]), 'UNDO_NOT_ALLOWED');
  });

  it('a batch of entries is all or nothing, and later entries see earlier ones', async () => {
    const g = gtinOf(5);
    const e1 = sign('product', c.m, { ...product, gtin: g });
    const h1 = (await import('../../core/entry/entry.js')).entryLeafHash(e1);
    const { toHex } = await import('../../core/bytes.js');
    const e2 = sign('batch', c.m, { gtin: g, lot: 'T1', expiry: EXPIRY, serials: ['T1', 'T2'] }, [toHex(h1)]);
    const bad = sign('batch', c.m, { gtin: g, lot: 'T1', expiry: EXPIRY, serials: ['T3'] }, [toHex(h1)]);
    const err = await refused(c, { entries: [e1, e2, bad] }, 'BATCH_EXISTS');
    expect(String(err['message'])).toMatch(/^entries\[2\]/);
    await c.ok(e1, e2);
    expect(custodyServices(c.srv.ledger).state.lot(g, 'T1')?.packCount).toBe(2);
  });
});
