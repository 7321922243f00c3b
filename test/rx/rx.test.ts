// Prescriptions end to end (issue 16) on a real server and SQLite file, through the CLI's own functions and the
// one HTTP client: prescribe, the token, claim, dispense against genuine packs, partial fills and repeats,
// release, cancel, expiry; every refusal coded with the ledger unchanged (snapshot); two pharmacies racing, and a
// reader's offline dispense arriving late through the reader's own queue and delivery.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toBase64 } from '../../core/bytes.js';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { buildEntry } from '../../core/entry/builder.js';
import { parseEntry } from '../../core/entry/entry.js';
import { isMedtrailError, type ErrorCode } from '../../core/errors.js';
import { newAccessCode, parseToken, rxClaimMessage, signWithCode } from '../../core/rx/rx.js';
import { claim, dispenseRx, type Prescribed } from '../../cli/client/rx.js';
import type { SignerKey } from '../../cli/api-client.js';
import { ApiClient } from '../../cli/api-client.js';
import { custodyServices } from '../../server/custody/services.js';
import { rxServices } from '../../server/rx/services.js';
import { OfflineQueue } from '../../reader/queue.js';
import { ReaderCache } from '../../reader/cache.js';
import { QueueDelivery } from '../../reader/delivery.js';
import { gtinOf, sign, snapshot, type Party } from '../support/custody.js';
import { TEST_ORIGIN } from '../support/ledger.js';
import { r4Problems } from '../support/fhir-r4.js';
import { AMOX, AMOX2, IBU, inDays, startRxWorld, today, type RxWorld } from '../support/rx.js';

let w: RxWorld;
beforeAll(async () => {
  w = await startRxWorld();
}, 60_000);
afterAll(async () => w?.close());

const key = (p: Party): SignerKey => p as SignerKey;

/** Expects `fn` to be refused with `code`, and the ledger (tree and every custody table) to be as it was. */
async function refused(code: ErrorCode, fn: () => Promise<unknown>): Promise<void> {
  const before = snapshot(w.srv);
  let got: unknown;
  try {
    await fn();
  } catch (e) {
    got = e;
  }
  expect(isMedtrailError(got) ? got.code : String(got)).toBe(code);
  expect(snapshot(w.srv)).toBe(before);
}

/** A dispense entry of `serial` against `id` by `who`, prev read from the custody state (as /packs answers it). */
function dispenseEntry(who: Party, id: string, gtin: string, serial: string, at?: Date) {
  const p = custodyServices(w.srv.ledger).state.pack(gtin, serial);
  return buildEntry('dispense', { gln: who.gln, seed: keyFileSeed(who), log: TEST_ORIGIN }, { gtin, serial, rx: id }, p === undefined ? [] : [p.lastHash], at !== undefined ? { at } : {});
}

async function post(entry: unknown): Promise<void> {
  const r = await w.post(entry);
  if (r.status !== 201) {
    const e = r.json['error'] as { code: ErrorCode; message: string };
    const { MedtrailError } = await import('../../core/errors.js');
    throw new MedtrailError(e.code, e.message);
  }
}

const status = (id: string) => rxServices(w.srv.ledger).answer(custodyServices(w.srv.ledger).state.rx(id)!, true);

describe('a prescription from the prescriber to the patient', () => {
  let rx: Prescribed;

  it('is signed by the prescriber, with the patient only as a commitment, and the token opens it', async () => {
    rx = await w.prescribe({ quantity: 2, repeats: 1 });
    expect(rx.token).toBe(`${w.srv.url}/rx/${rx.id}#ac=${rx.code}`);
    expect(parseToken(rx.gematik)).toEqual({ id: rx.id, code: rx.code });
    const mine = await w.client(w.doc).rx(rx.id);
    expect(mine).toMatchObject({ status: 'open', total: 4, dispensed: 0, prescriber: { gln: w.doc.gln, region: 'DE-BY', type: 'doctor' } });
    expect(mine.patient).toMatch(/^[0-9a-f]{64}$/);
    // The entry on the ledger holds no name, no patient id, no birth date.
    const leaf = Buffer.from(w.srv.ledger.store.leaf(mine.index)!.bytes).toString('utf8');
    for (const s of ['Erika', 'Mustermann', 'X110411675', '1964-08-12']) expect(leaf).not.toContain(s);
    // The holder of the token sees it, without anything about the patient.
    const seen = await new ApiClient(w.srv.url).rxView(rx.id, rx.code);
    expect(seen.prescription).toMatchObject({ id: rx.id, status: 'open', medicineText: `Amoxi 500 (GTIN ${AMOX})` });
    expect(seen.prescription.patient).toBeUndefined();
    // The prescriber reads the sealed details back.
    expect(await w.client(w.doc).rxDetails(rx.id)).toMatchObject({ patient: { id: 'X110411675', name: 'Erika Mustermann' } });
  });

  it('is dispensed only after a claim, only by the claiming pharmacy, only against genuine packs of the medicine', async () => {
    const p = key(w.p);
    await refused('RX_NOT_CLAIMED', () => dispenseRx(w.client(w.p), p, rx.id, `${AMOX}:${w.shelf[AMOX]![0]}`));
    await claim(w.client(w.p), p, rx.token);
    expect((await w.client(w.doc).rx(rx.id)).claimedBy).toEqual({ gln: w.p.gln, name: w.p.name });
    // A second pharmacy with the same token: the claim is exclusive.
    await refused('RX_CLAIMED', () => claim(w.client(w.p2), key(w.p2), rx.token));
    await refused('RX_CLAIMED', () => post(dispenseEntry(w.p2, rx.id, AMOX, w.shelf2[0]!)));
    // Unknown, recalled, the wrong medicine, not held: each refused with its code, the ledger unchanged.
    await refused('PACK_UNKNOWN', () => post(dispenseEntry(w.p, rx.id, AMOX, 'NOSUCHPACK')));
    await refused('LOT_RECALLED', () => post(dispenseEntry(w.p, rx.id, AMOX, w.recalled[0]!)));
    await refused('RX_MEDICINE_MISMATCH', () => post(dispenseEntry(w.p, rx.id, IBU, w.shelf[IBU]![0]!)));
    await refused('RX_MEDICINE_MISMATCH', () => post(dispenseEntry(w.p, rx.id, AMOX2, w.shelf[AMOX2]![0]!)));
    await refused('NOT_HOLDER', () => post(dispenseEntry(w.p, rx.id, AMOX, w.shelf2[0]!)));
    await refused('RX_UNKNOWN', () => post(dispenseEntry(w.p, '0'.repeat(32), AMOX, w.shelf[AMOX]![0]!)));
  });

  it('counts partial fills and repeats: the claim ends with each fill, a repeat may go to another pharmacy', async () => {
    const s1 = w.take();
    await dispenseRx(w.client(w.p), key(w.p), rx.id, `${AMOX}:${s1}`);
    expect(status(rx.id)).toMatchObject({ status: 'claimed', dispensed: 1 });
    // A dispensed pack cannot be dispensed again, against this or any prescription.
    await refused('PACK_NOT_ACTIVE', () => post(dispenseEntry(w.p, rx.id, AMOX, s1)));
    await dispenseRx(w.client(w.p), key(w.p), rx.id, `${AMOX}:${w.take()}`);
    // First fill done (2 packs): the claim ended.
    expect(status(rx.id)).toMatchObject({ status: 'open', dispensed: 2, claimedBy: null });
    await refused('RX_NOT_CLAIMED', () => post(dispenseEntry(w.p, rx.id, AMOX, w.shelf[AMOX]![0]!)));
    // The repeat at the second pharmacy: claim, one pack, hand it back, then the first pharmacy finishes it.
    await claim(w.client(w.p2), key(w.p2), rx.token);
    await dispenseRx(w.client(w.p2), key(w.p2), rx.id, `${AMOX}:${w.shelf2.shift()!}`);
    await w.client(w.p2).submit(buildEntry('rx_release', { gln: w.p2.gln, seed: keyFileSeed(w.p2), log: TEST_ORIGIN }, { id: rx.id }));
    await refused('RX_NOT_CLAIMED', () => post(buildEntry('rx_release', { gln: w.p2.gln, seed: keyFileSeed(w.p2), log: TEST_ORIGIN }, { id: rx.id })));
    await claim(w.client(w.p), key(w.p), rx.token);
    await dispenseRx(w.client(w.p), key(w.p), rx.id, `${AMOX}:${w.take()}`);
    const done = await w.client(w.doc).rx(rx.id);
    expect(done).toMatchObject({ status: 'completed', dispensed: 4, total: 4 });
    expect(done.dispenses.map((d) => d.pharmacy.gln)).toEqual([w.p.gln, w.p.gln, w.p2.gln, w.p.gln]);
    await refused('RX_COMPLETED', () => claim(w.client(w.p), key(w.p), rx.token));
    // The patient's view shows what was dispensed.
    const seen = await new ApiClient(w.srv.url).rxView(rx.id, rx.code);
    expect(seen.prescription.dispenses).toHaveLength(4);
  });

  it('exports as FHIR R4 MedicationRequest and MedicationDispense', async () => {
    const b = (await w.client(w.doc).rxFhir(rx.id)) as { resourceType: string; type: string; entry: { fullUrl: string; resource: Record<string, unknown> }[] };
    expect(b).toMatchObject({ resourceType: 'Bundle', type: 'collection' });
    const [req, ...disp] = b.entry.map((e) => e.resource);
    expect(req).toMatchObject({
      resourceType: 'MedicationRequest',
      status: 'completed',
      intent: 'order',
      medicationCodeableConcept: { coding: [{ system: 'https://www.gs1.org/gtin', code: AMOX }] },
      dispenseRequest: { numberOfRepeatsAllowed: 1, quantity: { value: 2 } },
      requester: { identifier: { value: w.doc.gln } },
    });
    expect(disp).toHaveLength(4);
    expect(disp[0]).toMatchObject({ resourceType: 'MedicationDispense', status: 'completed', authorizingPrescription: [{ reference: b.entry[0]!.fullUrl, type: 'MedicationRequest' }] });
    expect(r4Problems(b)).toEqual([]);
    expect(JSON.stringify(b)).not.toContain('Mustermann');
  });
});

describe('prescription by substance, cancel, validity', () => {
  it('a substance prescription takes any GTIN of that substance, strength and form', async () => {
    const rx = await w.prescribe({ medicine: { substance: 'Amoxicillin', strength: '500 mg', form: 'capsule', atc: 'J01CA04' }, quantity: 2 });
    await claim(w.client(w.p), key(w.p), rx.token);
    await refused('RX_MEDICINE_MISMATCH', () => post(dispenseEntry(w.p, rx.id, IBU, w.shelf[IBU]![0]!)));
    await dispenseRx(w.client(w.p), key(w.p), rx.id, `${AMOX}:${w.take()}`);
    await dispenseRx(w.client(w.p), key(w.p), rx.id, `${AMOX2}:${w.take(AMOX2)}`);
    expect(status(rx.id).status).toBe('completed');
  });

  it('is cancelled by its own prescriber only; a cancelled prescription is neither claimed nor dispensed', async () => {
    const rx = await w.prescribe();
    await claim(w.client(w.p), key(w.p), rx.token);
    const cancel = (who: Party) => buildEntry('rx_cancel', { gln: who.gln, seed: keyFileSeed(who), log: TEST_ORIGIN }, { id: rx.id, reason: 'wrong dose' });
    await refused('RX_NOT_PRESCRIBER', () => post(cancel(w.clinic)));
    await refused('ROLE_NOT_ALLOWED', () => post(cancel(w.p)));
    await post(cancel(w.doc));
    expect(status(rx.id)).toMatchObject({ status: 'cancelled', claimedBy: null, cancelReason: 'wrong dose' });
    await refused('RX_CANCELLED', () => post(dispenseEntry(w.p, rx.id, AMOX, w.shelf[AMOX]![0]!)));
    await refused('RX_CANCELLED', () => claim(w.client(w.p), key(w.p), rx.token));
    await refused('RX_CANCELLED', () => post(cancel(w.doc)));
  });

  it('expires: past its last day it can be neither claimed nor dispensed, and reads as expired', async () => {
    const rx = await w.prescribe({ validUntil: inDays(1) });
    await claim(w.client(w.p), key(w.p), rx.token);
    const s = custodyServices(w.srv.ledger);
    const later = Date.now() + 3 * 86_400_000;
    const before = snapshot(w.srv);
    const e = dispenseEntry(w.p, rx.id, AMOX, w.shelf[AMOX]![0]!);
    let code: unknown;
    try {
      s.submit([parseEntry(e)], later);
    } catch (err) {
      code = isMedtrailError(err) ? err.code : err;
    }
    expect(code).toBe('RX_EXPIRED');
    expect(snapshot(w.srv)).toBe(before);
    expect(rxServices(w.srv.ledger).answer(s.state.rx(rx.id)!, false, later).status).toBe('expired');
    // Not valid yet, and over already when signed: refused too.
    const future = await w.prescribe({ validFrom: inDays(5), validUntil: inDays(30) });
    await refused('RX_NOT_YET_VALID', () => claim(w.client(w.p), key(w.p), future.token));
    await refused('RX_EXPIRED', () => w.prescribe({ validFrom: '2020-01-01', validUntil: '2020-02-01' }));
  });

  it('a prescriber signs no custody entry and is shipped no goods', async () => {
    const held = custodyServices(w.srv.ledger).state.pack(AMOX, w.shelf[AMOX]![5]!)!;
    await refused('RECIPIENT_UNKNOWN', () => post(sign('ship', w.p, { to: w.doc.gln, items: [{ type: 'pack', gtin: AMOX, serial: held.serial }] }, [held.lastHash])));
    await refused('ROLE_NOT_ALLOWED', () => post(sign('dispense', w.doc, { gtin: AMOX, serial: held.serial }, [held.lastHash])));
    await refused('ROLE_NOT_ALLOWED', () => post(sign('recall', w.doc, { gtin: AMOX, lot: 'RX1', reason: 'x' })));
  });

  it('refuses a prescription by a non-prescriber, a wrong token, a GTIN not registered, a malformed body', async () => {
    await refused('ROLE_NOT_ALLOWED', () => w.prescribe({}, w.p));
    await refused('PRODUCT_UNKNOWN', () => w.prescribe({ medicine: { gtin: gtinOf(999) } }));
    const rx = await w.prescribe();
    const other = newAccessCode();
    await refused('RX_ACCESS_DENIED', () => claim(w.client(w.p), key(w.p), `${rx.id}:${other}`));
    // A claim signed with the right code for another pharmacy cannot be replayed by this one.
    const at = new Date().toISOString();
    const forP2 = toBase64(signWithCode(rx.code, rxClaimMessage(TEST_ORIGIN, rx.id, w.p2.gln, at)));
    await refused('RX_ACCESS_DENIED', () => post(buildEntry('rx_claim', { gln: w.p.gln, seed: keyFileSeed(w.p), log: TEST_ORIGIN }, { id: rx.id, tokenSig: forP2 }, [], { at: new Date(at) })));
    await refused('ENTRY_MALFORMED', () => post(sign('prescribe', w.doc, { id: 'nothex', patient: 'x', medicine: {}, quantity: 0, dosage: '', validFrom: 'x', validUntil: 'y', repeats: -1, token: 'z' })));
    await refused('RX_EXISTS', async () => {
      const e = custodyServices(w.srv.ledger).state.rx(rx.id)!;
      await post(sign('prescribe', w.doc, { id: rx.id, patient: e.patient, medicine: e.medicine, quantity: 1, dosage: 'x', validFrom: today(), validUntil: inDays(3), repeats: 0, token: e.token }));
    });
  });
});

describe('never dispensed twice', () => {
  it('two pharmacies racing to claim: exactly one wins', async () => {
    for (let round = 0; round < 5; round++) {
      const rx = await w.prescribe();
      const got = await Promise.allSettled([claim(w.client(w.p), key(w.p), rx.token), claim(w.client(w.p2), key(w.p2), rx.token)]);
      expect(got.filter((g) => g.status === 'fulfilled')).toHaveLength(1);
      const loser = got.find((g) => g.status === 'rejected');
      expect(loser?.status === 'rejected' && isMedtrailError(loser.reason) ? loser.reason.code : undefined).toBe('RX_CLAIMED');
    }
  });

  it('two dispenses of the last pack at once: one is refused', async () => {
    const rx = await w.prescribe();
    await claim(w.client(w.p), key(w.p), rx.token);
    const [a, b] = [w.take(), w.take()];
    const got = await Promise.allSettled([post(dispenseEntry(w.p, rx.id, AMOX, a)), post(dispenseEntry(w.p, rx.id, AMOX, b))]);
    expect(got.filter((g) => g.status === 'fulfilled')).toHaveLength(1);
    expect(status(rx.id)).toMatchObject({ status: 'completed', dispensed: 1 });
    const st = custodyServices(w.srv.ledger).state;
    expect([st.pack(AMOX, a)!.state, st.pack(AMOX, b)!.state].sort()).toEqual(['active', 'dispensed']);
  });

  it("a reader's offline dispense arriving late, after the prescription was filled online, is refused and becomes an alert", async () => {
    const rx = await w.prescribe();
    await claim(w.client(w.p), key(w.p), rx.token);
    const dir = (await import('../support/tmp.js')).tempDir();
    const queue = new OfflineQueue(join(dir.dir, 'queue.db'));
    const cache = new ReaderCache(join(dir.dir, 'cache.db'));
    try {
      // Offline at the counter: the dispense is signed now and queued (as reader/dispense.ts does).
      const late = w.take();
      const entry = dispenseEntry(w.p, rx.id, AMOX, late);
      queue.push('dispense', { entry, gtin: AMOX, serial: late, scannedAt: entry.at });
      // Meanwhile the prescription is filled online at another till.
      await dispenseRx(w.client(w.p), key(w.p), rx.id, `${AMOX}:${w.take()}`);
      const before = snapshot(w.srv);
      const alerts: string[] = [];
      const d = new QueueDelivery({ client: w.client(w.p), cache, queue, gln: w.p.gln, onVerdict: () => undefined, onAlert: (a) => alerts.push(a.alert) });
      await d.drain();
      d.close();
      expect(alerts).toContain('RX_COMPLETED');
      expect(queue.size()).toBe(0);
      expect(queue.alerts().map((a) => a.code)).toEqual(['RX_COMPLETED']);
      expect(snapshot(w.srv)).toBe(before);
      expect(custodyServices(w.srv.ledger).state.pack(AMOX, late)!.state).toBe('active');
    } finally {
      queue.close();
      cache.close();
      dir.cleanup();
    }
  });
});

describe('undo and replay', () => {
  it('an undone dispense gives the pack back to the prescription; replay rebuilds the prescription tables exactly', async () => {
    const rx = await w.prescribe();
    await claim(w.client(w.p), key(w.p), rx.token);
    const s = w.take();
    const d = await dispenseRx(w.client(w.p), key(w.p), rx.id, `${AMOX}:${s}`);
    expect(status(rx.id).status).toBe('completed');
    await post(buildEntry('undo', { gln: w.p.gln, seed: keyFileSeed(w.p), log: TEST_ORIGIN }, { gtin: AMOX, serial: s, of: d.leafHash }, [d.leafHash]));
    expect(status(rx.id)).toMatchObject({ status: 'open', dispensed: 0 });
    expect(status(rx.id).dispenses[0]!.undone).toBe(true);

    // Copy the ledger, drop the custody tables and replay every leaf through the rules: the same rows come back.
    const { CUSTODY_TABLES } = await import('../../server/custody/schema.js');
    const { catchUp } = await import('../../server/custody/replay.js');
    const { CustodyWriter } = await import('../../server/custody/writer.js');
    const { CustodyState } = await import('../../server/custody/state.js');
    const { openDatabase, SqliteLedgerStore } = await import('../../server/store/ledger-store.js');
    const { LogService } = await import('../../server/log/log-service.js');
    const tmp = (await import('../support/tmp.js')).tempDir();
    try {
      const copy = join(tmp.dir, 'copy.db');
      w.srv.ledger.store.connectionFor('custody').prepare('VACUUM INTO ?').run(copy);
      const db = openDatabase(copy);
      const rows = (): string[] => CUSTODY_TABLES.filter((t) => t !== 'custody_meta').map((t) => JSON.stringify(db.prepare(`SELECT * FROM ${t}`).raw().all().map((r) => JSON.stringify(r)).sort()));
      const before = rows();
      expect(before.join()).toContain(rx.id);
      for (const t of CUSTODY_TABLES) db.exec(`DROP TABLE ${t}`);
      const store = new SqliteLedgerStore(db);
      const r = catchUp({ state: new CustodyState(db), writer: new CustodyWriter(db), store, authority: w.authority.gln }, new LogService(store, { origin: TEST_ORIGIN, seed: new Uint8Array(32) }));
      expect(r.refused).toBe(0);
      expect(rows()).toEqual(before);
      store.close();
      // And `medtrail audit` (every hash, signature and checkpoint; the state maps rebuilt by replay) passes.
      const { cli } = await import('../support/cli.js');
      const audit = cli(['audit', '--db', w.t.db, '--json']);
      expect(audit.status, audit.stdout + audit.stderr).toBe(0);
    } finally {
      tmp.cleanup();
    }
  });
});
