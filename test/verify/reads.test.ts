// Reads of a pack: the public's coarse view reveals no party; a participant in the chain (or a regulator) who
// signs the request gets the full custody chain with proofs; the EPCIS 2.0 document; signed-request refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../core/bytes.js';
import { openCheckpoint } from '../../core/log/checkpoint.js';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { verifyInclusion } from '../../core/log/merkle.js';
import { signRequest } from '../../core/api/request-auth.js';
import { entry, participantKey, TEST_ORIGIN } from '../support/ledger.js';
import { batch, get, receive, shipLot, startChain, type Chain } from './fixture.js';

interface ChainItem {
  index: number;
  leafHash: string;
  kind: string;
  signer: string;
  counterparty: string | null;
  at: string;
  proof: { size: number; hashes: string[] };
}

describe('pack reads', () => {
  let c: Chain;
  let vkey = '';
  const hashes: string[] = [];

  beforeAll(async () => {
    c = await startChain();
    const b = batch(c, 'L1', '301231', ['P1', 'P2']);
    const s1 = shipLot(c, c.maker, c.dist, 'L1', b);
    const r1 = receive(c, c.dist, s1);
    const s2 = shipLot(c, c.dist, c.pharmacy, 'L1', r1);
    const r2 = receive(c, c.pharmacy, s2);
    const d = c.submit(entry('dispense', c.pharmacy, { gtin: c.gtin, serial: 'P1' }, [r2])).leafHash;
    hashes.push(b, s1, r1, s2, r2, d);
    vkey = (await (await fetch(`${c.s.url}/api/v1/log/key`)).text()).trim();
  });
  afterAll(async () => {
    await c.close();
  });

  it('the public view names no party and no link between parties', async () => {
    const res = await get(c, `/packs/${c.gtin}/P1`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body['verdict']).toBe('DISPENSED');
    expect(body['chain']).toBeUndefined();
    const text = JSON.stringify(body);
    for (const k of [c.dist, c.pharmacy]) {
      expect(text).not.toContain(k.gln);
      expect(text).not.toContain(k.name);
    }
    const journey = body['journey'] as Record<string, unknown>[];
    expect(journey.map((j) => j['step'])).toEqual(['made', 'in_transit', 'distributed', 'in_transit', 'at_pharmacy', 'dispensed']);
    for (const j of journey) expect(Object.keys(j).sort()).toEqual(['at', 'step']);
    expect(body['pack']).not.toHaveProperty('holder');
  });

  it('a participant in the chain sees every entry, each proven against one signed checkpoint', async () => {
    for (const who of [c.pharmacy, c.dist, c.maker, c.regulator]) {
      const res = await get(c, `/packs/${c.gtin}/P1`, who);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { chain: ChainItem[]; checkpoint: string; journey: Record<string, unknown>[] };
      expect(body.chain.map((e) => e.kind)).toEqual(['batch', 'ship', 'receive', 'ship', 'receive', 'dispense']);
      expect(body.chain.map((e) => e.leafHash)).toEqual(hashes);
      expect(body.chain[1]).toMatchObject({ signer: c.maker.gln, counterparty: c.dist.gln });
      expect(body.chain[4]).toMatchObject({ signer: c.pharmacy.gln, counterparty: c.dist.gln });
      const cp = openCheckpoint(body.checkpoint, vkey);
      for (const e of body.chain) {
        expect(e.proof.size).toBe(cp.size);
        verifyInclusion(fromHex(e.leafHash, 32), e.index, cp.size, e.proof.hashes.map((h) => fromHex(h, 32)), cp.root);
      }
      expect(body.journey[1]).toMatchObject({ who: { gln: c.maker.gln }, with: { gln: c.dist.gln } });
    }
  });

  it('a signed participant outside the chain is refused; an unknown pack is 404', async () => {
    const res = await get(c, `/packs/${c.gtin}/P1`, c.pharmacy2);
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('AUTH_NOT_IN_CHAIN');
    const none = await get(c, `/packs/${c.gtin}/NOPE`);
    expect(none.status).toBe(404);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('PACK_UNKNOWN');
    const bad = await get(c, `/packs/123/P1`);
    expect(bad.status).toBe(400);
  });

  describe('signed requests refused with their codes', () => {
    const path = (): string => `/api/v1/packs/${c.gtin}/P1`;
    const send = async (headers: Record<string, string>): Promise<{ status: number; code: string }> => {
      const res = await fetch(`${c.s.url}${path()}`, { headers });
      return { status: res.status, code: ((await res.json()) as { error?: { code: string } }).error?.code ?? '' };
    };

    it('incomplete headers', async () => {
      expect(await send({ 'X-Medtrail-Signer': c.pharmacy.gln })).toEqual({ status: 400, code: 'AUTH_BAD_HEADER' });
    });
    it('a signature over another path', async () => {
      const h = signRequest({ log: TEST_ORIGIN, method: 'GET', path: `/api/v1/packs/${c.gtin}/P2` }, c.pharmacy.gln, keyFileSeed(c.pharmacy));
      expect(await send({ ...h })).toEqual({ status: 401, code: 'AUTH_BAD_SIGNATURE' });
    });
    it('a time more than 5 minutes off', async () => {
      const at = new Date(Date.now() - 6 * 60_000).toISOString();
      const h = signRequest({ log: TEST_ORIGIN, method: 'GET', path: path(), at }, c.pharmacy.gln, keyFileSeed(c.pharmacy));
      expect(await send({ ...h })).toEqual({ status: 401, code: 'AUTH_CLOCK_SKEW' });
    });
    it('a replayed request', async () => {
      const h = signRequest({ log: TEST_ORIGIN, method: 'GET', path: path() }, c.pharmacy.gln, keyFileSeed(c.pharmacy));
      expect((await send({ ...h })).status).toBe(200);
      expect(await send({ ...h })).toEqual({ status: 401, code: 'AUTH_REPLAYED' });
    });
    it('a signer never enrolled, and a revoked one', async () => {
      const stranger = participantKey(77);
      expect(await send({ ...signRequest({ log: TEST_ORIGIN, method: 'GET', path: path() }, stranger.gln, keyFileSeed(stranger)) })).toEqual({ status: 401, code: 'AUTH_SIGNER_UNKNOWN' });
      const gone = participantKey(78);
      const auth = c.t.authority as typeof gone;
      c.submit(entry('participant', auth, { action: 'admit', gln: gone.gln, name: gone.name, role: 'regulator', publicKey: gone.publicKey, prefixes: [] }));
      expect((await send({ ...signRequest({ log: TEST_ORIGIN, method: 'GET', path: path() }, gone.gln, keyFileSeed(gone)) })).status).toBe(200);
      c.submit(entry('participant', auth, { action: 'revoke', gln: gone.gln }));
      expect(await send({ ...signRequest({ log: TEST_ORIGIN, method: 'GET', path: path() }, gone.gln, keyFileSeed(gone)) })).toEqual({ status: 401, code: 'AUTH_KEY_REVOKED' });
    });
    it('a signed verify whose scanner.gln names someone else', async () => {
      const raw = JSON.stringify({ code: `(01)${c.gtin}(21)P2`, scanner: { gln: c.dist.gln } });
      const h = signRequest({ log: TEST_ORIGIN, method: 'POST', path: '/api/v1/verify', body: new TextEncoder().encode(raw) }, c.pharmacy.gln, keyFileSeed(c.pharmacy));
      const res = await fetch(`${c.s.url}/api/v1/verify`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: raw });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('AUTH_SCANNER_MISMATCH');
    });
    it('a signed verify whose body was changed after signing', async () => {
      const raw = JSON.stringify({ code: `(01)${c.gtin}(21)P2` });
      const h = signRequest({ log: TEST_ORIGIN, method: 'POST', path: '/api/v1/verify', body: new TextEncoder().encode(raw) }, c.pharmacy.gln, keyFileSeed(c.pharmacy));
      const res = await fetch(`${c.s.url}/api/v1/verify`, { method: 'POST', headers: { ...h, 'content-type': 'application/json' }, body: raw.replace('P2', 'P1') });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('AUTH_BAD_SIGNATURE');
    });
  });

  describe('GET /api/v1/epcis/events', () => {
    interface Doc {
      '@context': unknown[];
      type: string;
      schemaVersion: string;
      creationDate: string;
      epcisBody: { eventList: Record<string, unknown>[] };
    }

    it('the public document: EPCIS 2.0 ObjectEvents with CBV steps, no locations or parties', async () => {
      const res = await get(c, `/epcis/events?gtin=${c.gtin}&serial=P1`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/ld\+json/);
      const doc = (await res.json()) as Doc;
      expect(doc['@context'][0]).toBe('https://ref.gs1.org/standards/epcis/epcis-context.jsonld');
      expect(doc.type).toBe('EPCISDocument');
      expect(doc.schemaVersion).toBe('2.0');
      expect(Number.isNaN(Date.parse(doc.creationDate))).toBe(false);
      const ev = doc.epcisBody.eventList;
      expect(ev.map((e) => [e['bizStep'], e['disposition']])).toEqual([
        ['commissioning', 'active'],
        ['shipping', 'in_transit'],
        ['receiving', 'in_progress'],
        ['shipping', 'in_transit'],
        ['receiving', 'in_progress'],
        ['dispensing', 'dispensed'],
      ]);
      expect(ev[0]).toMatchObject({ type: 'ObjectEvent', action: 'ADD', eventTimeZoneOffset: '+00:00', epcList: [`https://id.gs1.org/01/${c.gtin}/21/P1`] });
      // The public document names no leaf: no index, no leaf hash as event ID, and days rather than instants.
      expect(ev.map((e) => e['eventID'])).not.toEqual(hashes.map((h) => `ni:///sha-256;${h}`));
      expect(new Set(ev.map((e) => e['eventID'])).size).toBe(ev.length);
      expect(ev.every((e) => String(e['eventTime']).endsWith('T00:00:00.000Z'))).toBe(true);
      const text = JSON.stringify(doc);
      expect(text).not.toContain('leafIndex');
      for (const h of hashes) expect(text).not.toContain(h);
      expect(text).not.toContain(c.dist.gln);
      expect(text).not.toContain(c.pharmacy.gln);
      expect(text).not.toContain('bizLocation');
    });

    it('the full document for a participant: locations and the parties of each hand-off', async () => {
      const doc = (await (await get(c, `/epcis/events?gtin=${c.gtin}&serial=P1`, c.dist)).json()) as Doc;
      const ev = doc.epcisBody.eventList;
      expect(ev.map((e) => e['eventID'])).toEqual(hashes.map((h) => `ni:///sha-256;${h}`));
      expect(ev[0]!['bizLocation']).toEqual({ id: `https://id.gs1.org/414/${c.maker.gln}` });
      expect(ev[1]).toMatchObject({
        sourceList: [{ type: 'owning_party', source: `https://id.gs1.org/414/${c.maker.gln}` }],
        destinationList: [{ type: 'owning_party', destination: `https://id.gs1.org/414/${c.dist.gln}` }],
      });
      expect(ev[5]!['readPoint']).toEqual({ id: `https://id.gs1.org/414/${c.pharmacy.gln}` });
    });

    it('refuses missing parameters and unknown packs with codes', async () => {
      expect((await get(c, `/epcis/events?gtin=${c.gtin}`)).status).toBe(400);
      expect((await get(c, `/epcis/events?gtin=${c.gtin}&serial=NOPE`)).status).toBe(404);
    });
  });
});
