// Holes found by hostile testing (issue 12), each attack performed for real against a running server and
// shown closed; a refused entry leaves the ledger byte for byte as it was. (The unsigned-serial attack on
// POST /verify is in test/verify/verdicts.test.ts, next to the verdicts it changes.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { newNonce, signEntry } from '../../core/entry/entry.js';
import { serviceModules } from '../../server/modules.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { gtinOf, PREFIX, snapshot, type Party } from '../support/custody.js';
import { admit, entry, makeLedger, participantKey, type TestLedger } from '../support/ledger.js';

let t: TestLedger;
let srv: RunningServer;
const m = participantKey(61);
const d = participantKey(62);
const gtin = gtinOf(8);
let batchHash = '';

async function post(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${srv.url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  t = makeLedger();
  // A low public limit, so that the rate-limit attack shows within a few requests.
  srv = await startServer({ db: t.db, port: 0, modules: serviceModules(), rateLimit: { perSecond: 1, burst: 3 } });
  const authority = t.authority as Party;
  const maker = entry('participant', authority, { action: 'admit', gln: m.gln, name: m.name, role: 'manufacturer', publicKey: m.publicKey, prefixes: [PREFIX] });
  for (const e of [maker, admit(authority, d, 'distributor')]) expect((await post(e)).status).toBe(201);
  const product = await post(entry('product', m, { gtin, name: 'Holesartan', form: 'tablets', strength: '1 mg', packSize: 10 }));
  const prod = String(product.json['leafHash']);
  const batch = await post(entry('batch', m, { gtin, lot: 'H1', expiry: '301231', serials: ['H1A', 'H1B'] }, [prod]));
  expect(batch.status, JSON.stringify(batch.json)).toBe(201);
  batchHash = String(batch.json['leafHash']);
});
afterAll(async () => {
  await srv?.close();
  t?.cleanup();
});

describe('issue 12 #14: an entry dated before the entry it continues', () => {
  it('is refused DATE_BEFORE_PREV, and leaves the ledger exactly as it was', async () => {
    const before = snapshot(srv);
    const backdated = signEntry(
      { v: 1, kind: 'ship', signer: m.gln, at: '2020-01-01T00:00:00.000Z', nonce: newNonce(), prev: [batchHash], body: { to: d.gln, items: [{ type: 'pack', gtin, serial: 'H1A' }] } },
      keyFileSeed(m),
    );
    const r = await post(backdated);
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ error: { code: 'DATE_BEFORE_PREV' } });
    expect(snapshot(srv)).toBe(before);
    // The same hand-off dated now goes through.
    expect((await post(entry('ship', m, { to: d.gln, items: [{ type: 'pack', gtin, serial: 'H1A' }] }, [batchHash]))).status).toBe(201);
  });
});

describe('issue 12 #10: the public rate limit', () => {
  it('cannot be bypassed by changing the case of the path', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await fetch(`${srv.url}/API/V1/PACKS/${gtin}/H1B`)).status);
    expect(statuses).toContain(429);
  });
});
