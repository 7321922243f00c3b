// The public journey of a pack reported missing on delivery ends there, "missing": it never reached the party
// that reported it (it used to read "at the pharmacy").
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePackRead } from '../../core/api/answers.js';
import { gtinOf, sign, startChain, type Chain } from '../support/custody.js';

let c: Chain;
const gtin = gtinOf(5);
beforeAll(async () => {
  c = await startChain();
  const [product] = await c.ok(sign('product', c.m, { gtin, name: 'Journeyol', form: 'tablets', strength: '1 mg', packSize: 10 }));
  const [batch] = await c.ok(sign('batch', c.m, { gtin, lot: 'J1', expiry: '301231', serials: ['J1A', 'J1B'] }, [product!]));
  const items = ['J1A', 'J1B'].map((serial) => ({ type: 'pack', gtin, serial }));
  const [ship] = await c.ok(sign('ship', c.m, { to: c.p.gln, items }, [batch!]));
  await c.ok(sign('receive', c.p, { ship: ship!, missing: [{ gtin, serial: 'J1B' }], extra: [] }, [ship!]));
});
afterAll(() => c?.close());

describe('journey of a pack reported missing', () => {
  it('ends "missing" for the public and for the parties, while the delivered pack reads "at the pharmacy"', async () => {
    const missing = parsePackRead((await c.get(`/packs/${gtin}/J1B`)).json);
    expect(missing.journey.map((s) => s.step)).toEqual(['made', 'in_transit', 'missing']);
    const full = parsePackRead((await c.get(`/packs/${gtin}/J1B`, c.m)).json);
    expect(full.journey.at(-1)?.step).toBe('missing');
    const delivered = parsePackRead((await c.get(`/packs/${gtin}/J1A`)).json);
    expect(delivered.journey.at(-1)?.step).toBe('at_pharmacy');
  });
});
