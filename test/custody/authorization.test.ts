// The authorization matrix: every kind of entry from every role it should not come from, a holder that is not
// the holder, a receive by the wrong party, a second ship, a replay, a revoked key, a bad signature, an
// unknown signer, a malformed body. Each is refused with its own code, and the tree (size and root) and every
// custody table stay exactly as they were.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEntry, type Entry, type EntryKind } from '../../core/entry/entry.js';
import { generateKeyFile, keyFileSeed } from '../../core/crypto/keys.js';
import { entry, participantKey, TEST_ORIGIN } from '../support/ledger.js';
import { gtinOf, sign, snapshot, startChain, type Chain, type Party } from '../support/custody.js';

const G = gtinOf(7);
const EXPIRY = '301231';
const product = { gtin: G, name: 'Metformin', form: 'tablet', strength: '850 mg', packSize: 60 };

let c: Chain;
let m2: Party;
const h: Record<string, string> = {};

beforeAll(async () => {
  c = await startChain();
  m2 = participantKey(11);
  await c.ok(c.participant(m2, 'manufacturer', ['4055555']));
  [h.product] = (await c.ok(sign('product', c.m, product))) as [string];
  [h.batch] = (await c.ok(sign('batch', c.m, { gtin: G, lot: 'Z1', expiry: EXPIRY, serials: ['S1', 'S2', 'S3', 'S4', 'S5', 'S6'] }, [h.product]))) as [string];
  const items = (ss: string[]): { type: string; gtin: string; serial: string }[] => ss.map((serial) => ({ type: 'pack', gtin: G, serial }));
  [h.shipA] = (await c.ok(sign('ship', c.m, { to: c.d.gln, items: items(['S1', 'S2', 'S3']) }, [h.batch]))) as [string];
  [h.recvA] = (await c.ok(sign('receive', c.d, { ship: h.shipA, missing: [], extra: [] }, [h.shipA]))) as [string];
  [h.shipB] = (await c.ok(sign('ship', c.m, { to: c.d.gln, items: items(['S5']) }, [h.batch]))) as [string];
  [h.shipC] = (await c.ok(sign('ship', c.d, { to: c.p.gln, items: items(['S1']) }, [h.recvA]))) as [string];
  [h.recvC] = (await c.ok(sign('receive', c.p, { ship: h.shipC, missing: [], extra: [] }, [h.shipC]))) as [string];
  [h.disp] = (await c.ok(sign('dispense', c.p, { gtin: G, serial: 'S1' }, [h.recvC]))) as [string];
});
afterAll(async () => c.close());

async function expectRefused(body: unknown, code: string, status?: number): Promise<void> {
  const before = snapshot(c.srv);
  const r = await c.post(body);
  expect((r.json['error'] as { code?: string } | undefined)?.code, JSON.stringify(r.json)).toBe(code);
  if (status !== undefined) expect(r.status).toBe(status);
  expect(snapshot(c.srv)).toBe(before);
}

type Case = [string, () => Entry | unknown, string, number?];

const who = (name: 'authority' | 'm' | 'd' | 'p' | 'reg'): Party => (name === 'authority' ? c.authority : c[name]);

describe('every kind of entry from a role that may not sign it', () => {
  const bodies: Record<string, () => [Record<string, unknown>, string[]]> = {
    participant: () => [{ action: 'admit', gln: participantKey(60).gln, name: 'x', role: 'pharmacy', publicKey: participantKey(60).publicKey, prefixes: [] }, []],
    product: () => [{ ...product, gtin: gtinOf(8) }, []],
    batch: () => [{ gtin: G, lot: 'Z9', expiry: EXPIRY, serials: ['Q1'] }, [h.product!]],
    ship: () => [{ to: c.p.gln, items: [{ type: 'pack', gtin: G, serial: 'S2' }] }, [h.recvA!]],
    receive: () => [{ ship: h.shipB, missing: [], extra: [] }, [h.shipB!]],
    dispense: () => [{ gtin: G, serial: 'S2' }, [h.recvA!]],
    undo: () => [{ of: h.disp, gtin: G, serial: 'S1' }, [h.disp!]],
    recall: () => [{ gtin: G, lot: 'Z1', reason: 'test' }, [h.batch!]],
    decommission: () => [{ gtin: G, serial: 'S2', state: 'destroyed' }, [h.recvA!]],
  };
  const forbidden: [EntryKind, ('authority' | 'm' | 'd' | 'p' | 'reg')[], string][] = [
    ['participant', ['m', 'd', 'p', 'reg'], 'ROLE_NOT_ALLOWED'],
    ['product', ['authority', 'd', 'p', 'reg'], 'ROLE_NOT_ALLOWED'],
    ['batch', ['authority', 'd', 'p', 'reg'], 'ROLE_NOT_ALLOWED'],
    ['ship', ['authority', 'reg'], 'ROLE_NOT_ALLOWED'],
    ['receive', ['authority'], 'ROLE_NOT_ALLOWED'],
    ['receive', ['m', 'p', 'reg'], 'NOT_RECIPIENT'],
    ['dispense', ['authority', 'm', 'd', 'reg'], 'ROLE_NOT_ALLOWED'],
    ['undo', ['authority', 'm', 'd', 'reg'], 'ROLE_NOT_ALLOWED'],
    ['recall', ['authority', 'd', 'p'], 'ROLE_NOT_ALLOWED'],
    ['decommission', ['authority', 'reg'], 'ROLE_NOT_ALLOWED'],
  ];
  const cases = forbidden.flatMap(([kind, roles, code]) => roles.map((r) => [kind, r, code] as const));
  it.each(cases)('%s signed by %s: %s', async (kind, role, code) => {
    const [body, prev] = bodies[kind]!();
    await expectRefused(entry(kind, who(role), body, prev), code, code === 'NOT_RECIPIENT' || code === 'ROLE_NOT_ALLOWED' ? 403 : undefined);
  });
});

describe('custody refusals', () => {
  const cases: Case[] = [
    ['a distributor ships a pack the manufacturer holds', () => sign('ship', c.d, { to: c.p.gln, items: [{ type: 'pack', gtin: G, serial: 'S4' }] }, [h.batch!]), 'NOT_HOLDER', 403],
    ['a manufacturer ships a pack it handed on', () => sign('ship', c.m, { to: c.p.gln, items: [{ type: 'pack', gtin: G, serial: 'S2' }] }, [h.batch!]), 'NOT_HOLDER', 403],
    ['a pharmacy dispenses a pack the distributor holds', () => sign('dispense', c.p, { gtin: G, serial: 'S2' }, [h.recvA!]), 'NOT_HOLDER', 403],
    ['a recipient decommissions a pack before receiving it', () => sign('decommission', c.d, { gtin: G, serial: 'S5', state: 'stolen' }, [h.shipB!]), 'NOT_HOLDER', 403],
    ['a distributor decommissions a pack it does not hold', () => sign('decommission', c.d, { gtin: G, serial: 'S4', state: 'destroyed' }, [h.batch!]), 'NOT_HOLDER', 403],
    ['a second ship of a pack in transit', () => sign('ship', c.m, { to: c.p.gln, items: [{ type: 'pack', gtin: G, serial: 'S5' }] }, [h.shipB!]), 'ALREADY_SHIPPED', 409],
    ['a pack named twice in one ship', () => sign('ship', c.m, { to: c.p.gln, items: [{ type: 'lot', gtin: G, lot: 'Z1' }, { type: 'pack', gtin: G, serial: 'S4' }] }, [h.batch!]), 'ALREADY_SHIPPED', 409],
    ['a receive by the wrong party', () => sign('receive', c.p, { ship: h.shipB, missing: [], extra: [] }, [h.shipB!]), 'NOT_RECIPIENT', 403],
    ['a second receive of one shipment', () => sign('receive', c.d, { ship: h.shipA, missing: [], extra: [] }, [h.shipA!]), 'SHIPMENT_CLOSED', 409],
    ['another manufacturer registers a product under a foreign prefix', () => sign('product', m2, { ...product, gtin: gtinOf(9) }), 'PREFIX_NOT_OWNED', 403],
    ['another manufacturer registers a batch of a foreign product', () => sign('batch', m2, { gtin: G, lot: 'Z8', expiry: EXPIRY, serials: ['Q1'] }, [h.product!]), 'PREFIX_NOT_OWNED', 403],
    ['another manufacturer recalls a foreign lot', () => sign('recall', m2, { gtin: G, lot: 'Z1', reason: 'x' }, [h.batch!]), 'PREFIX_NOT_OWNED', 403],
    ['an undo of an entry that is not a dispense', () => sign('undo', c.p, { of: h.recvC, gtin: G, serial: 'S1' }, [h.recvC!]), 'UNDO_NOT_ALLOWED', 409],
    ['an unknown signer', () => sign('ship', participantKey(90), { to: c.p.gln, items: [{ type: 'pack', gtin: G, serial: 'S4' }] }, [h.batch!]), 'SIGNER_UNKNOWN', 403],
    ['a signature by another key', () => sign('ship', { ...generateKeyFile('forger', c.m.gln), gln: c.m.gln } as Party, { to: c.p.gln, items: [{ type: 'pack', gtin: G, serial: 'S4' }] }, [h.batch!]), 'ENTRY_BAD_SIGNATURE', 401],
    ['a body changed after signing', () => ({ ...sign('ship', c.m, { to: c.p.gln, items: [{ type: 'pack', gtin: G, serial: 'S4' }] }, [h.batch!]), body: { to: c.d.gln, items: [{ type: 'pack', gtin: G, serial: 'S4' }] } }), 'ENTRY_BAD_SIGNATURE', 401],
    ['a malformed body', () => sign('ship', c.m, { to: c.p.gln, items: [{ type: 'pallet', gtin: G }] }, [h.batch!]), 'ENTRY_MALFORMED', 400],
    ['an envelope without a signature', () => { const { sig: _sig, ...rest } = sign('dispense', c.p, { gtin: G, serial: 'S1' }, [h.recvC!]); return rest; }, 'ENTRY_MALFORMED', 400],
    ['a body that is not an object', () => [1, 2], 'ENTRY_MALFORMED', 400],
  ];
  it.each(cases)('%s: %s', async (_name, make, code, status) => {
    await expectRefused(make(), code, status);
  });

  it('a replayed entry, and a new entry reusing a nonce', async () => {
    const e = sign('ship', c.m, { to: c.p.gln, items: [{ type: 'pack', gtin: G, serial: 'S6' }] }, [h.batch!]);
    await c.ok(e);
    await expectRefused(e, 'ENTRY_REPLAYED', 409);
    const again = signEntry({ ...e, body: { to: c.d.gln, items: [{ type: 'pack', gtin: G, serial: 'S4' }] } }, keyFileSeed(c.m), TEST_ORIGIN);
    await expectRefused(again, 'ENTRY_REPLAYED', 409);
  });

  it('a revoked key, including a revocation earlier in the same request', async () => {
    const x = participantKey(61);
    const y = participantKey(62);
    await c.ok(c.participant(x, 'distributor'), c.participant(y, 'distributor'));
    await c.ok(entry('participant', c.authority, { action: 'revoke', gln: x.gln }));
    await expectRefused(sign('ship', x, { to: c.p.gln, items: [{ type: 'pack', gtin: G, serial: 'S4' }] }, [h.batch!]), 'KEY_REVOKED', 403);
    await expectRefused(entry('participant', c.authority, { action: 'revoke', gln: x.gln }), 'KEY_REVOKED', 403);
    // y is revoked by the first entry; its own entry in the same request must not pass on the old KeyBook.
    await expectRefused(
      { entries: [entry('participant', c.authority, { action: 'revoke', gln: y.gln }), sign('ship', y, { to: c.p.gln, items: [{ type: 'pack', gtin: G, serial: 'S4' }] }, [h.batch!])] },
      'KEY_REVOKED',
      403,
    );
    // ...and all or nothing: y's revocation did not happen either.
    expect((await c.get(`/participants/${y.gln}`)).json['revoked']).toBe(false);
  });

  it('a shipment to a revoked or unknown party', async () => {
    await expectRefused(sign('ship', c.m, { to: participantKey(61).gln, items: [{ type: 'pack', gtin: G, serial: 'S4' }] }, [h.batch!]), 'RECIPIENT_UNKNOWN', 404);
    await expectRefused(sign('ship', c.m, { to: participantKey(95).gln, items: [{ type: 'pack', gtin: G, serial: 'S4' }] }, [h.batch!]), 'RECIPIENT_UNKNOWN', 404);
  });
});
