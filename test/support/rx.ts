// A prescription world on a real server and SQLite file (issue 16): the custody chain of test/support/custody.ts,
// two prescribers (a doctor in DE-BY, a clinic in DE-BE), a second pharmacy, products registered with their
// substance (amoxicillin capsules under two GTINs, ibuprofen tablets), their packs received by the pharmacies,
// and a recalled lot on the first pharmacy's shelf.
import { ApiClient, type SignerKey } from '../../cli/api-client.js';
import { prescribe, type PrescribeInput, type Prescribed } from '../../cli/client/rx.js';
import { dayOf } from '../../core/rx/rx.js';
import { gtinOf, sign, startChain, type Chain, type Party } from './custody.js';
import { participantKey } from './ledger.js';

export const AMOX = gtinOf(11);
export const AMOX2 = gtinOf(12);
export const IBU = gtinOf(13);
export const LOT = 'RX1';
export const RECALLED_LOT = 'RXBAD';
export const EXPIRY = '301231';

export interface RxWorld extends Chain {
  doc: Party;
  clinic: Party;
  p2: Party;
  /** Packs on the first pharmacy's shelf, by GTIN (not recalled). */
  shelf: Record<string, string[]>;
  /** Packs on the second pharmacy's shelf (amoxicillin). */
  shelf2: string[];
  /** Packs of the recalled amoxicillin lot on the first pharmacy's shelf. */
  recalled: string[];
  client(who: Party): ApiClient;
  /** Prescribes as `who` (default the doctor): amoxicillin by GTIN, 1 pack, today for 28 days, unless overridden. */
  prescribe(o?: Partial<PrescribeInput>, who?: Party): Promise<Prescribed>;
  /** A pack of `gtin` the first pharmacy still holds, taken off the list. */
  take(gtin?: string): string;
}

export const today = (): string => dayOf(Date.now());
export const inDays = (n: number): string => dayOf(Date.now() + n * 86_400_000);

export async function startRxWorld(): Promise<RxWorld> {
  const c = await startChain();
  const doc = participantKey(50);
  const clinic = participantKey(51);
  const p2 = participantKey(31);
  await c.ok(
    sign('participant', c.authority, { action: 'admit', gln: doc.gln, name: 'Dr. Weber', role: 'prescriber', publicKey: doc.publicKey, prefixes: [], region: 'DE-BY', prescriberType: 'doctor' }),
    sign('participant', c.authority, { action: 'admit', gln: clinic.gln, name: 'Charité clinic', role: 'prescriber', publicKey: clinic.publicKey, prefixes: [], region: 'DE-BE', prescriberType: 'clinic' }),
    c.participant(p2, 'pharmacy'),
  );
  const products = [
    { gtin: AMOX, name: 'Amoxi 500', form: 'capsule', strength: '500 mg', packSize: 20, substance: 'amoxicillin', atc: 'J01CA04' },
    { gtin: AMOX2, name: 'AmoxiGen 500', form: 'capsule', strength: '500 mg', packSize: 20, substance: 'amoxicillin', atc: 'J01CA04' },
    { gtin: IBU, name: 'Ibu 400', form: 'tablet', strength: '400 mg', packSize: 20, substance: 'ibuprofen', atc: 'M01AE01' },
  ];
  const shelf: Record<string, string[]> = {};
  const shelf2: string[] = [];
  const recalled: string[] = [];
  for (const pr of products) {
    const [ph] = await c.ok(sign('product', c.m, pr));
    const serials = Array.from({ length: 40 }, (_, i) => `${pr.gtin.slice(-3)}S${String(i).padStart(3, '0')}`);
    const [bh] = await c.ok(sign('batch', c.m, { gtin: pr.gtin, lot: LOT, expiry: EXPIRY, serials }, [ph!]));
    const to1 = serials.slice(0, 30);
    const to2 = pr.gtin === AMOX ? serials.slice(30) : [];
    const [s1] = await c.ok(sign('ship', c.m, { to: c.p.gln, items: to1.map((serial) => ({ type: 'pack', gtin: pr.gtin, serial })) }, [bh!]));
    await c.ok(sign('receive', c.p, { ship: s1, missing: [], extra: [] }, [s1!]));
    shelf[pr.gtin] = to1;
    if (to2.length > 0) {
      const [s2] = await c.ok(sign('ship', c.m, { to: p2.gln, items: to2.map((serial) => ({ type: 'pack', gtin: pr.gtin, serial })) }, [bh!]));
      await c.ok(sign('receive', p2, { ship: s2, missing: [], extra: [] }, [s2!]));
      shelf2.push(...to2);
    }
    if (pr.gtin === AMOX) {
      const bad = ['BAD1', 'BAD2'];
      const [bb] = await c.ok(sign('batch', c.m, { gtin: AMOX, lot: RECALLED_LOT, expiry: EXPIRY, serials: bad }, [ph!]));
      const [s3] = await c.ok(sign('ship', c.m, { to: c.p.gln, items: bad.map((serial) => ({ type: 'pack', gtin: AMOX, serial })) }, [bb!]));
      await c.ok(sign('receive', c.p, { ship: s3, missing: [], extra: [] }, [s3!]));
      await c.ok(sign('recall', c.m, { gtin: AMOX, lot: RECALLED_LOT, reason: 'contamination' }));
      recalled.push(...bad);
    }
  }
  const client = (who: Party): ApiClient => new ApiClient(c.srv.url, who as SignerKey);
  return {
    ...c,
    doc,
    clinic,
    p2,
    shelf,
    shelf2,
    recalled,
    client,
    prescribe: (o = {}, who = doc) =>
      prescribe(client(who), who as SignerKey, {
        patientId: 'X110411675',
        patientName: 'Erika Mustermann',
        birthDate: '1964-08-12',
        medicine: { gtin: AMOX },
        quantity: 1,
        dosage: '1 capsule 3 times a day for 7 days',
        validFrom: today(),
        validUntil: inDays(28),
        repeats: 0,
        ...o,
      }),
    take: (gtin = AMOX) => {
      const s = shelf[gtin]!.shift();
      if (s === undefined) throw new Error(`no ${gtin} left on the shelf`);
      return s;
    },
  };
}
