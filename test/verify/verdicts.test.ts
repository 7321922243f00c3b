// Every verdict through the real HTTP server on a temporary SQLite file: a chain built with signed entries,
// then POST /api/v1/verify as a patient (anonymous) or as a participant (a signed request).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex } from '../../core/bytes.js';
import { openCheckpoint } from '../../core/log/checkpoint.js';
import { formatElementString } from '../../core/gs1/element-string.js';
import { generateKeyFile } from '../../core/crypto/keys.js';
import { verifyInclusion } from '../../core/log/merkle.js';
import { entry } from '../support/ledger.js';
import { batch, get, gtinOf, receive, shipLot, startChain, tagUri, verify, type Chain } from './fixture.js';

const EXP = '301231';
const serials = (p: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${p}${i + 1}`);
const codes = (b: { reasons: { code: string }[] }): string[] => b.reasons.map((r) => r.code);

describe('POST /api/v1/verify: every verdict', () => {
  let c: Chain;
  let recvPharmacyA = '';
  let dispenseA2 = { index: 0, leafHash: '' };
  const pk = (serial: string, lot = 'LA', expiry = EXP): { gtin: string; lot: string; serial: string; expiry: string } => ({ gtin: c.gtin, lot, serial, expiry });

  beforeAll(async () => {
    c = await startChain();
    const bA = batch(c, 'LA', EXP, serials('A', 12));
    const s1 = shipLot(c, c.maker, c.dist, 'LA', bA);
    const r1 = receive(c, c.dist, s1);
    const s2 = shipLot(c, c.dist, c.pharmacy, 'LA', r1);
    recvPharmacyA = receive(c, c.pharmacy, s2);
    dispenseA2 = c.submit(entry('dispense', c.pharmacy, { gtin: c.gtin, serial: 'A2' }, [recvPharmacyA]));
    const d9 = c.submit(entry('dispense', c.pharmacy, { gtin: c.gtin, serial: 'A9' }, [recvPharmacyA]));
    c.submit(entry('undo', c.pharmacy, { of: d9.leafHash, gtin: c.gtin, serial: 'A9' }, [d9.leafHash]));

    batch(c, 'LR', EXP, serials('R', 3));
    c.submit(entry('recall', c.maker, { gtin: c.gtin, lot: 'LR', reason: 'contamination' }));
    batch(c, 'LE', '200131', serials('E', 3));
    const bT = batch(c, 'LT', EXP, serials('T', 3));
    shipLot(c, c.maker, c.dist, 'LT', bT);
  });
  afterAll(async () => {
    await c.close();
  });

  it('GENUINE: a signed tag of an active pack, with a proof that verifies against the signed checkpoint', async () => {
    const { status, body } = await verify(c, tagUri(pk('A1'), c.maker));
    expect(status).toBe(200);
    expect(body.verdict).toBe('GENUINE');
    expect(codes(body)).toEqual(['PACK_ACTIVE']);
    expect(body.pack).toMatchObject({ gtin: c.gtin, serial: 'A1', lot: 'LA', expiry: EXP, state: 'active' });
    expect(body.product).toMatchObject({ gtin: c.gtin, name: 'Paracetamol 500 mg', manufacturer: { gln: c.maker.gln } });
    expect(body.journey.map((j) => j['step'])).toEqual(['made', 'in_transit', 'distributed', 'in_transit', 'at_pharmacy']);

    const vkey = (await (await fetch(`${c.s.url}/api/v1/log/key`)).text()).trim();
    const p = body.proof!;
    const cp = openCheckpoint(p.checkpoint, vkey);
    expect(cp.size).toBe(p.size);
    expect(p.leafHash).toBe(recvPharmacyA);
    expect(p.index).toBeLessThan(p.size);
    verifyInclusion(fromHex(p.leafHash, 32), p.index, p.size, p.proof.map((h) => fromHex(h, 32)), cp.root);
    // A tampered proof must not verify.
    const bad = p.proof.map((h, i) => (i === 0 ? `${h[0] === '0' ? '1' : '0'}${h.slice(1)}` : h));
    expect(() => verifyInclusion(fromHex(p.leafHash, 32), p.index, p.size, bad.map((h) => fromHex(h, 32)), cp.root)).toThrow();
  });

  it('a plain element string is never GENUINE to the public (a serial alone proves nothing), but is to a participant in the chain', async () => {
    const es = formatElementString({ gtin: c.gtin, expiry: EXP, lot: 'LA', serial: 'A3' }, { style: 'gs', symbology: ']d2' });
    // The attack of the hostile test: every serial is readable somewhere, so an anonymous lookup without the
    // maker's signature used to read GENUINE.
    const anonymous = (await verify(c, es)).body;
    expect(anonymous.verdict).not.toBe('GENUINE');
    expect(codes(anonymous)).toContain('TAG_SIGNATURE_REQUIRED');
    const signed = (await verify(c, es, { as: c.pharmacy })).body;
    expect(signed.verdict).toBe('GENUINE');
    expect(codes(signed)).toContain('TAG_SIGNATURE_ABSENT');
  });

  it('GENUINE again after a dispense was undone', async () => {
    const { body } = await verify(c, tagUri(pk('A9'), c.maker));
    expect(body.verdict).toBe('GENUINE');
    expect(body.journey.map((j) => j['step']).slice(-2)).toEqual(['dispensed', 'returned']);
  });

  it('DISPENSED after a dispense (EU A7), and a participant\'s scan after it raises SCANNED_AFTER_DISPENSE (an anonymous one does not)', async () => {
    const first = await verify(c, tagUri(pk('A2'), c.maker));
    expect(first.body.verdict).toBe('DISPENSED');
    expect(first.body.reasons[0]).toMatchObject({ code: 'ALREADY_DISPENSED', emvs: 'A7' });
    expect(codes(first.body)).not.toContain('SCANNED_AFTER_DISPENSE');
    expect(first.body.proof!.leafHash).toBe(dispenseA2.leafHash);
    // The first scan was anonymous: forgeable, it adds nothing to the next one's answer.
    expect(codes((await verify(c, tagUri(pk('A2'), c.maker))).body)).toEqual(['ALREADY_DISPENSED']);
    await verify(c, tagUri(pk('A2'), c.maker), { as: c.pharmacy2 });
    const again = await verify(c, tagUri(pk('A2'), c.maker));
    expect(again.body.verdict).toBe('DISPENSED');
    expect(codes(again.body)).toEqual(['ALREADY_DISPENSED', 'SCANNED_AFTER_DISPENSE']);
  });

  it('RECALLED for a pack of a recalled lot', async () => {
    const { body } = await verify(c, tagUri(pk('R1', 'LR'), c.maker));
    expect(body.verdict).toBe('RECALLED');
    expect(body.reasons[0]).toMatchObject({ code: 'LOT_RECALLED', lmv: 'Recalled' });
    expect(body.journey.at(-1)!['step']).toBe('recalled');
  });

  it('EXPIRED for a pack past its expiry date', async () => {
    const { body } = await verify(c, tagUri(pk('E1', 'LE', '200131'), c.maker));
    expect(body.verdict).toBe('EXPIRED');
    expect(codes(body)).toEqual(['PACK_EXPIRED']);
  });

  it('IN_TRANSIT for an anonymous scan or a third party; not for the recipient or the sender', async () => {
    const uri = tagUri(pk('T1', 'LT'), c.maker);
    expect((await verify(c, uri)).body.verdict).toBe('IN_TRANSIT');
    expect((await verify(c, uri, { as: c.pharmacy })).body.verdict).toBe('IN_TRANSIT');
    expect((await verify(c, tagUri(pk('T2', 'LT'), c.maker), { as: c.dist })).body.verdict).toBe('GENUINE');
    expect((await verify(c, tagUri(pk('T3', 'LT'), c.maker), { as: c.maker })).body.verdict).toBe('GENUINE');
  });

  it('UNKNOWN: a serial never registered (A3), a lot never registered (A2), a product never registered', async () => {
    const a = await verify(c, formatElementString({ gtin: c.gtin, lot: 'LA', serial: 'NEVER1' }));
    expect(a.body.verdict).toBe('UNKNOWN');
    expect(a.body.reasons[0]).toMatchObject({ code: 'PACK_UNKNOWN', emvs: 'A3' });
    expect(a.body.proof).toBeNull();
    const b = await verify(c, formatElementString({ gtin: c.gtin, lot: 'NOLOT', serial: 'NEVER2' }));
    expect(b.body.reasons[0]).toMatchObject({ code: 'BATCH_UNKNOWN', emvs: 'A2' });
    const p = await verify(c, tagUri({ gtin: gtinOf(99), lot: 'X', serial: 'Y', expiry: EXP }, c.maker));
    expect(p.body.verdict).toBe('UNKNOWN');
    expect(codes(p.body)).toContain('PRODUCT_UNKNOWN');
    expect(p.body.product).toBeNull();
  });

  describe('COUNTERFEIT', () => {
    it('a signature by a key that is not the manufacturer of the product (another enrolled maker)', async () => {
      const { body } = await verify(c, tagUri(pk('A4'), c.outsider));
      expect(body.verdict).toBe('COUNTERFEIT');
      expect(codes(body)).toContain('TAG_SIGNATURE_WRONG_KEY');
    });

    it('a signature by a key nobody enrolled', async () => {
      const { body } = await verify(c, tagUri(pk('A4'), generateKeyFile('forger')));
      expect(body.verdict).toBe('COUNTERFEIT');
      expect(codes(body)).toContain('TAG_SIGNATURE_INVALID');
    });

    it('a lot changed in the URI (EU A68)', async () => {
      const genuine = tagUri(pk('A4'), c.maker);
      const forged = genuine.replace('/10/LA/', '/10/LB/');
      expect(forged).not.toBe(genuine);
      const { body } = await verify(c, forged);
      expect(body.verdict).toBe('COUNTERFEIT');
      expect(codes(body)).toEqual(expect.arrayContaining(['DATA_MISMATCH_LOT', 'TAG_SIGNATURE_INVALID']));
      expect(body.reasons.find((r) => r.code === 'DATA_MISMATCH_LOT')).toMatchObject({ emvs: 'A68', lmv: 'No_match_GTIN_Serial_Lot' });
    });

    it('an expiry changed in the URI (EU A52)', async () => {
      const forged = tagUri(pk('A4'), c.maker).replace(`17=${EXP}`, '17=311231');
      const { body } = await verify(c, forged);
      expect(body.verdict).toBe('COUNTERFEIT');
      expect(body.reasons.find((r) => r.code === 'DATA_MISMATCH_EXPIRY')).toMatchObject({ emvs: 'A52' });
    });

    it('a genuine signature copied onto another serial, registered or not', async () => {
      const sig = new URL(tagUri(pk('A5'), c.maker)).searchParams.get('s')!;
      for (const other of ['A6', 'ZZ999']) {
        const copied = tagUri(pk(other), c.maker).replace(/s=[^&]+/, `s=${sig}`);
        const { body } = await verify(c, copied);
        expect(body.verdict).toBe('COUNTERFEIT');
        expect(codes(body)).toContain('TAG_SIGNATURE_INVALID');
      }
      expect((await verify(c, tagUri(pk('A5'), c.maker))).body.verdict).toBe('GENUINE');
    });
  });

  describe('SUSPICIOUS', () => {
    it('anonymous scans at two places never make a genuine pack look cloned (anyone can send them)', async () => {
      // The hostile test: two anonymous verifies, "Berlin" then "Lisbon", used to turn every later answer,
      // the holder pharmacy's own signed scan included, SUSPICIOUS.
      const uri = tagUri(pk('A7'), c.maker);
      expect((await verify(c, uri, { location: 'Berlin, Apotheke am Markt' })).body.verdict).toBe('GENUINE');
      const far = await verify(c, uri, { location: 'Lisbon, Farmácia Central' });
      expect(far.body.verdict).toBe('GENUINE');
      expect(codes(far.body)).not.toContain('SEEN_FAR_APART');
      const holder = await verify(c, uri, { as: c.pharmacy });
      expect(holder.body.verdict).toBe('GENUINE');

      // What the patients' scans say instead goes to the product's maker and the regulators, as an alert.
      const feed = async (as?: typeof c.maker): Promise<{ status: number; json: { alerts?: { gtin: string; serial: string; signals: string[]; places: number }[]; forgeable?: boolean; error?: { code: string } } }> => {
        const r = await get(c, '/alerts', as);
        return { status: r.status, json: (await r.json()) as never };
      };
      for (const who of [c.maker, c.regulator]) {
        const r = await feed(who);
        expect(r.status).toBe(200);
        expect(r.json.forgeable).toBe(true);
        expect(r.json.alerts).toContainEqual(expect.objectContaining({ gtin: c.gtin, serial: 'A7', signals: ['SEEN_APART'], places: 2 }));
      }
      // Nobody else: not the public, not a pharmacy, not a maker of other products.
      expect((await feed()).json.error?.code).toBe('AUTH_REQUIRED');
      expect((await feed(c.pharmacy)).json.error?.code).toBe('ROLE_NOT_ALLOWED');
      const other = await feed(c.outsider);
      expect(other.status).toBe(200);
      expect(other.json.alerts?.filter((a) => a.gtin === c.gtin)).toEqual([]);
    });

    it('two participants scanning the same serial within minutes', async () => {
      const uri = tagUri(pk('A10'), c.maker);
      expect((await verify(c, uri, { as: c.pharmacy })).body.verdict).toBe('GENUINE');
      const other = await verify(c, uri, { as: c.pharmacy2 });
      expect(other.body.verdict).toBe('SUSPICIOUS');
      expect(codes(other.body)).toEqual(expect.arrayContaining(['SCANNED_OUTSIDE_CUSTODY', 'SEEN_FAR_APART']));
    });

    it('a signed scan by a pharmacy that does not hold the pack; the holder and a regulator are fine', async () => {
      expect((await verify(c, tagUri(pk('A8'), c.maker), { as: c.pharmacy2 })).body.reasons.map((r) => r.code)).toContain('SCANNED_OUTSIDE_CUSTODY');
      expect((await verify(c, tagUri(pk('A11'), c.maker), { as: c.pharmacy })).body.verdict).toBe('GENUINE');
      expect((await verify(c, tagUri(pk('A12'), c.maker), { as: c.regulator })).body.verdict).toBe('GENUINE');
    });

    it('an unsigned scanner.gln does not speak for that participant', async () => {
      const { body } = await verify(c, tagUri(pk('T1', 'LT'), c.maker), { gln: c.dist.gln });
      expect(body.verdict).toBe('IN_TRANSIT');
    });
  });

  it('precedence: a recalled lot that is also dispensed says RECALLED first', async () => {
    const bQ = batch(c, 'LQ', EXP, ['Q1']);
    const s = shipLot(c, c.maker, c.pharmacy, 'LQ', bQ);
    const r = receive(c, c.pharmacy, s);
    c.submit(entry('dispense', c.pharmacy, { gtin: c.gtin, serial: 'Q1' }, [r]));
    c.submit(entry('recall', c.regulator, { gtin: c.gtin, lot: 'LQ', reason: 'regulator order' }));
    const { body } = await verify(c, tagUri(pk('Q1', 'LQ'), c.maker));
    expect(body.verdict).toBe('RECALLED');
    expect(codes(body).slice(0, 2)).toEqual(['LOT_RECALLED', 'ALREADY_DISPENSED']);
  });
});
