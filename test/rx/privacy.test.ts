// Prescriptions are private by design (issue 16; SECURITY.md, Prescriptions): nothing in a public route, the log's
// entries or the reports links a prescription to a patient; access-code guessing is slowed and bounded; erased
// details are gone from the database files, byte for byte. And the real CLI, end to end, as the prescriber, the
// pharmacist, the regulator and the operator use it.
import Database from 'better-sqlite3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../core/bytes.js';
import { isMedtrailError } from '../../core/errors.js';
import { newAccessCode, rxViewMessage, signWithCode } from '../../core/rx/rx.js';
import { buildReport } from '../../core/rx/report.js';
import { claim, dispenseRx } from '../../cli/client/rx.js';
import type { SignerKey } from '../../cli/api-client.js';
import { ApiClient } from '../../cli/api-client.js';
import { custodyServices } from '../../server/custody/services.js';
import { AccessGuard } from '../../server/rx/access.js';
import { rxKeyPath, rxPrivatePath } from '../../server/rx/private.js';
import { rxServices } from '../../server/rx/services.js';
import { cli, cliAsync } from '../support/cli.js';
import { TEST_ORIGIN } from '../support/ledger.js';
import { AMOX, startRxWorld, type RxWorld } from '../support/rx.js';

let w: RxWorld;
beforeAll(async () => {
  w = await startRxWorld();
}, 60_000);
afterAll(async () => w?.close());

const NAME = 'Erika Mustermann';
const PID = 'X110411675';
const BIRTH = '1964-08-12';
const NOTE = 'allergic to penicillin derivatives? ask';

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return isMedtrailError(e) ? e.code : String(e);
  }
}

async function raw(path: string, init: RequestInit = {}): Promise<{ status: number; text: string }> {
  const r = await fetch(`${w.srv.url}${path}`, init);
  return { status: r.status, text: await r.text() };
}

/** Every file of the ledger's deployment folder that SQLite writes (databases, WALs, journals). */
function dbFiles(): Buffer[] {
  const db = w.t.db;
  return [db, `${db}-wal`, `${db}-journal`, rxPrivatePath(db), `${rxPrivatePath(db)}-wal`, `${rxPrivatePath(db)}-journal`].filter(existsSync).map((f) => readFileSync(f));
}

describe('nothing public links a prescription to a patient', () => {
  it('the public routes, the log and the reports carry no name, identifier, birth date or note; two prescriptions of one patient are not linkable', async () => {
    const a = await w.prescribe({ patientId: PID, patientName: NAME, birthDate: BIRTH, note: NOTE });
    const b = await w.prescribe({ patientId: PID, patientName: NAME, birthDate: BIRTH });
    await claim(w.client(w.p), w.p as SignerKey, a.token);
    const served = await dispenseRx(w.client(w.p), w.p as SignerKey, a.id, `${AMOX}:${w.take()}`);
    const st = custodyServices(w.srv.ledger).state;
    const [ca, cb] = [st.rx(a.id)!.patient, st.rx(b.id)!.patient];
    // A fresh salt per prescription: the same patient, two unrelated commitments.
    expect(ca).not.toBe(cb);

    const secrets = [NAME, PID, BIRTH, NOTE, 'Mustermann', ca, cb];
    const leaves = w.srv.ledger.log.entries(0, w.srv.ledger.log.size()).map((l) => Buffer.from(l.bytes).toString('utf8')).join('\n');
    for (const s of [NAME, PID, BIRTH, NOTE, 'Mustermann']) expect(leaves).not.toContain(s);

    // Anonymous: every prescription read is refused; the patient's own view has no commitment; the pack's public
    // verdict says nothing of the prescription.
    expect(JSON.parse((await raw(`/api/v1/rx/${a.id}`)).text).error.code).toBe('AUTH_REQUIRED');
    expect(JSON.parse((await raw(`/api/v1/rx/${a.id}/fhir`)).text).error.code).toBe('AUTH_REQUIRED');
    expect(JSON.parse((await raw(`/api/v1/rx/${a.id}/details`)).text).error.code).toBe('AUTH_REQUIRED');
    expect(JSON.parse((await raw(`/api/v1/rx?prescriber=${w.doc.gln}`)).text).error.code).toBe('AUTH_REQUIRED');
    expect(JSON.parse((await raw('/api/v1/rx/reports')).text).error.code).toBe('AUTH_REQUIRED');
    const view = JSON.stringify(await new ApiClient(w.srv.url).rxView(a.id, a.code));
    const verify = (await raw('/api/v1/verify', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: `https://x/01/${AMOX}/21/${served.serial}` }) })).text;
    const page = (await raw(`/rx/${a.id}`)).text;
    for (const text of [view, verify, page]) for (const s of secrets) expect(text).not.toContain(s);
    expect(verify).not.toContain(a.id);

    // Participants who are not its parties learn nothing, not even that it exists.
    expect(await code(w.client(w.m).rx(a.id))).toBe('AUTH_NOT_PARTY');
    expect(await code(w.client(w.p2).rx(a.id))).toBe('AUTH_NOT_PARTY');
    expect(await code(w.client(w.m).rx('0'.repeat(32)))).toBe('AUTH_NOT_PARTY');
    expect(await code(w.client(w.p2).rxList({ prescriber: w.doc.gln }))).toBe('AUTH_NOT_PARTY');
    // The details: the prescriber and the pharmacy holding the claim only (a regulator reads the ledger part).
    expect(await code(w.client(w.reg).rxDetails(a.id))).toBe('AUTH_NOT_PARTY');
    expect(await code(w.client(w.clinic).rxDetails(a.id))).toBe('AUTH_NOT_PARTY');
    expect(await code(w.client(w.p).rxReport('by=month'))).toBe('ROLE_NOT_ALLOWED');

    // The reports: aggregates only, nothing under the threshold, no id, no commitment.
    const rep = await w.client(w.reg).rxReport('by=month,region,substance,prescriberType');
    const csv = await w.client(w.reg).rxReportCsv('by=region,prescriberType');
    for (const text of [JSON.stringify(rep), csv]) {
      for (const s of [...secrets, a.id, b.id]) expect(text).not.toContain(s);
    }
    for (const r of rep.rows) for (const n of [r.prescriptions, r.packsPrescribed, r.packsDispensed]) expect(n === null || n >= rep.threshold).toBe(true);
    // The clinic wrote no prescription here yet, and one now: its region's cell (1) is suppressed, not shown.
    await w.prescribe({}, w.clinic);
    for (let i = 0; i < 3; i++) await w.prescribe();
    const byRegion = await w.client(w.reg).rxReport('by=region');
    expect(byRegion.rows.find((r) => r.region === 'DE-BE')).toBeUndefined();
    expect(byRegion.rows.find((r) => r.region === 'DE-BY')?.prescriptions).toBeGreaterThanOrEqual(2);
  });

  it('suppression in the report builder: small cells null, rows of only small cells left out, CSV quoting', () => {
    const cells = [
      { month: '2026-11', region: 'DE-BY', substance: 'J01CA04', ptype: 'doctor', prescriptions: 12, packsPrescribed: 20, packsDispensed: 3 },
      { month: '2026-11', region: 'DE-BE', substance: 'J01CA04', ptype: 'clinic', prescriptions: 1, packsPrescribed: 1, packsDispensed: 1 },
    ];
    const r = buildReport(cells, ['region']);
    expect(r.rows).toEqual([{ region: 'DE-BY', prescriptions: 12, packsPrescribed: 20, packsDispensed: null }]);
    expect(buildReport(cells, []).rows).toEqual([{ prescriptions: 13, packsPrescribed: 21, packsDispensed: null }]);
  });
});

describe('access-code guessing is slowed and bounded', () => {
  it('wrong codes and unknown ids fail alike; past five failures the client is refused even with the right code', async () => {
    const rx = await w.prescribe();
    const anon = new ApiClient(w.srv.url);
    expect(await code(anon.rxView('f'.repeat(32), newAccessCode()))).toBe('RX_ACCESS_DENIED');
    for (let i = 0; i < 4; i++) expect(await code(anon.rxView(rx.id, newAccessCode()))).toBe('RX_ACCESS_DENIED');
    const limited = await raw('/api/v1/rx/view', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: rx.id, at: new Date().toISOString(), sig: toBase64(new Uint8Array(64)) }) });
    expect(limited.status).toBe(429);
    expect(JSON.parse(limited.text).error.code).toBe('RX_ACCESS_LIMITED');
    expect(await code(anon.rxView(rx.id, rx.code))).toBe('RX_ACCESS_LIMITED');
    // A signature made with the right code but for another log (or a stale time) is no way around it either.
    const sig = toBase64(signWithCode(rx.code, rxViewMessage('another/log', rx.id, new Date().toISOString())));
    expect(fromBase64(sig)).toHaveLength(64);
    // Another client (here: the guard for another address) is not held back by this one.
    const g = rxServices(w.srv.ledger).guard;
    expect(g.wait('198.51.100.7', rx.id)).toBe(0);
    // (The other tests of this file run from the same address: they get a fresh guard.)
    rxServices(w.srv.ledger).guard = new AccessGuard();
  });

  it('per prescription: many clients together get a bounded number of tries at one id', () => {
    const g = new AccessGuard({ clientFailures: 5, rxFailures: 20, windowMs: 60_000 });
    const id = 'a'.repeat(32);
    let tries = 0;
    for (let client = 0; client < 100; client++) {
      for (let i = 0; i < 5; i++) {
        if (g.wait(`10.0.0.${client}`, id, 1000) > 0) continue;
        tries++;
        g.fail(`10.0.0.${client}`, id, 1000);
      }
    }
    expect(tries).toBe(20);
    expect(g.wait('10.9.9.9', id, 1000)).toBeGreaterThan(0);
    // The window ends: tries again.
    expect(g.wait('10.9.9.9', id, 61_001)).toBe(0);
  });
});

describe('erasure after the retention period', () => {
  it('erased details are gone from the database files (WAL included); the ledger keeps the commitment', async () => {
    const rx = await w.prescribe({ patientId: 'Q998877665', patientName: 'Max Unerasable', note: 'marker-note-4711' });
    expect(await w.client(w.doc).rxDetails(rx.id)).toMatchObject({ patient: { name: 'Max Unerasable' } });
    // At rest the details are sealed: the plaintext is in no file, ever.
    const file = new Database(rxPrivatePath(w.t.db), { readonly: true });
    const sealed = file.prepare('SELECT box FROM rx_private WHERE id = ?').pluck().get(rx.id) as Buffer;
    file.close();
    expect(sealed.length).toBeGreaterThan(40);
    const probe = sealed.subarray(8, 40);
    for (const f of dbFiles()) for (const t of ['Max Unerasable', 'Q998877665', 'marker-note-4711']) expect(f.includes(Buffer.from(t))).toBe(false);
    expect(dbFiles().some((f) => f.includes(probe))).toBe(true);
    expect(readFileSync(rxKeyPath(w.t.db), 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);

    // The operator erases them with the CLI (a second connection to the details file, beside the running server).
    const r = cli(['rx', 'erase', '--db', w.t.db, '--id', rx.id, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ erased: 1 });
    expect(await code(w.client(w.doc).rxDetails(rx.id))).toBe('RX_ERASED');
    for (const f of dbFiles()) expect(f.includes(probe)).toBe(false);
    expect(custodyServices(w.srv.ledger).state.rx(rx.id)!.patient).toMatch(/^[0-9a-f]{64}$/);

    // The retention rule: validity ended long enough ago -> erased by the sweep.
    const old = await w.prescribe({ validUntil: new Date(Date.now() + 86_400_000).toISOString().slice(0, 10) });
    const s = rxServices(w.srv.ledger);
    expect(await s.priv.eraseDue('2000-01-01')).toBe(0);
    expect(await s.priv.eraseDue('2999-01-01')).toBeGreaterThanOrEqual(1);
    expect(await code(w.client(w.doc).rxDetails(old.id))).toBe('RX_ERASED');
  });

  it('details that do not match the entry are refused, and nothing is appended', async () => {
    const before = w.srv.ledger.log.size();
    const { prescribe } = await import('../../cli/client/rx.js');
    const c = w.client(w.doc);
    // A prescriber signing the entry, another sending it: refused.
    const sent = c.prescribe.bind(c);
    c.prescribe = (entry, details) => sent(entry, { ...(details as object), salt: 'ab'.repeat(32) });
    expect(await code(prescribe(c, w.doc as SignerKey, { patientId: 'P1', medicine: { gtin: AMOX }, quantity: 1, dosage: 'd', validFrom: '2026-01-01', validUntil: '2099-01-01', repeats: 0 }))).toBe('RX_DETAILS_MISMATCH');
    expect(w.srv.ledger.log.size()).toBe(before);
  });
});

describe('the CLI, end to end', () => {
  it('prescribe, show with the token, claim, dispense, report as CSV and chart, FHIR', async () => {
    const key = (p: { gln: string }, name: string): string => {
      const f = join(w.t.dir, `${name}.key.json`);
      writeFileSync(f, JSON.stringify(p));
      return f;
    };
    const [doc, ph, reg] = [key(w.doc, 'doc'), key(w.p, 'pharmacy'), key(w.reg, 'regulator')];
    const qr = join(w.t.dir, 'token.png');
    const run = async (args: string[]): Promise<string> => {
      const r = await cliAsync([...args, '--server', w.srv.url]);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    const made = JSON.parse(await run(['prescribe', '--key', doc, '--patient-id', 'CLI-PATIENT', '--substance', 'amoxicillin', '--strength', '500 mg', '--form', 'capsule', '--atc', 'J01CA04', '--quantity', '1', '--dosage', '1 capsule 3 times a day', '--qr', qr, '--json'])) as { id: string; token: string };
    expect(readFileSync(qr).subarray(1, 4).toString()).toBe('PNG');
    expect(await run(['rx', 'show', '--token', made.token])).toContain('amoxicillin 500 mg capsule');
    await run(['rx', 'claim', '--key', ph, '--token', made.token]);
    const serial = w.take();
    expect(await run(['rx', 'dispense', '--key', ph, '--id', made.id, '--pack', `${AMOX}:${serial}`])).toContain(`dispensed ${AMOX} ${serial}`);
    const bad = await cliAsync(['rx', 'dispense', '--key', ph, '--id', made.id, '--pack', `${AMOX}:${w.take()}`, '--server', w.srv.url, '--json']);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stderr).error.code).toBe('RX_COMPLETED');
    expect(await run(['rx', 'report', '--key', reg, '--by', 'month,region', '--csv'])).toMatch(/^month,region,prescriptions,packsPrescribed,packsDispensed\r\n/);
    expect(await run(['rx', 'report', '--key', reg, '--by', 'region'])).toContain('DE-BY');
    const fhir = JSON.parse(await run(['rx', 'fhir', '--key', doc, '--id', made.id, '--json'])) as { entry: { resource: { resourceType: string } }[] };
    expect(fhir.entry.map((e) => e.resource.resourceType)).toEqual(['MedicationRequest', 'MedicationDispense']);
    expect(TEST_ORIGIN).toBeTruthy();
  });
});
