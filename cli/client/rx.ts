// `medtrail prescribe` and `medtrail rx ...` (issue 16; docs/architecture.md, Prescriptions): the prescriber's
// and the pharmacist's commands, over the one client. The prescriber's machine makes the id, the salt and the
// access code; the server sees the code never (only its public key, in the entry) and the patient's identity
// only sealed (server/rx/private.ts). `rx erase` is the operator's: it opens the details file beside the database.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import QRCode from 'qrcode';
import { toBase64 } from '../../core/bytes.js';
import type { Medicine, PrescribeBody } from '../../core/entry/bodies.js';
import { buildEntry } from '../../core/entry/builder.js';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { MedtrailError } from '../../core/errors.js';
import { reportChart } from '../../core/rx/report.js';
import { dayOf, gematikToken, newAccessCode, newRxId, newSalt, parseToken, patientCommitment, rxClaimMessage, signWithCode, tokenKeyOf, tokenUrl } from '../../core/rx/rx.js';
import type { RxAnswer } from '../../core/api/rx.js';
import { ApiClient, clientOptions, loadKey, makeEntry, type SignerKey } from '../api-client.js';
import { readPack } from '../custody-reads.js';
import { action, emit } from '../io.js';
import { parsePackRef } from '../pack-refs.js';
import { RxPrivateStore } from '../../server/rx/private.js';
import { retentionCutoff } from '../../server/rx/module.js';

/** What the prescriber gives: the prescription's terms (core/entry/bodies.ts PrescribeBody) and the patient. */
export interface PrescribeInput extends Pick<PrescribeBody, 'medicine' | 'quantity' | 'dosage' | 'validFrom' | 'validUntil' | 'repeats'> {
  patientId: string;
  patientName?: string;
  birthDate?: string;
  note?: string;
}

export interface Prescribed {
  id: string;
  index: number;
  leafHash: string;
  code: string;
  token: string;
  gematik: string;
}

/** Signs and sends a prescription; answers its id, where it went, and the patient's token. */
export async function prescribe(c: ApiClient, key: SignerKey, p: PrescribeInput): Promise<Prescribed> {
  const id = newRxId();
  const code = newAccessCode();
  const salt = newSalt();
  const body: PrescribeBody = {
    id,
    patient: patientCommitment(salt, p.patientId),
    medicine: p.medicine,
    quantity: p.quantity,
    dosage: p.dosage,
    validFrom: p.validFrom,
    validUntil: p.validUntil,
    repeats: p.repeats,
    token: toBase64(tokenKeyOf(code)),
  };
  const entry = await makeEntry(c, 'prescribe', key, body);
  const patient = { id: p.patientId, ...(p.patientName !== undefined ? { name: p.patientName } : {}), ...(p.birthDate !== undefined ? { birthDate: p.birthDate } : {}) };
  const r = await c.prescribe(entry, { salt, patient, ...(p.note !== undefined ? { note: p.note } : {}) });
  return { ...r, code, token: tokenUrl(c.base, id, code), gematik: gematikToken(id, code) };
}

/** Claims a prescription for the key's pharmacy with the patient's token. */
export async function claim(c: ApiClient, key: SignerKey, token: string): Promise<{ id: string; index: number; leafHash: string }> {
  const { id, code } = parseToken(token);
  const at = new Date();
  const log = await c.origin();
  const sig = toBase64(signWithCode(code, rxClaimMessage(log, id, key.gln, at.toISOString())));
  const entry = buildEntry('rx_claim', { gln: key.gln, seed: keyFileSeed(key), log }, { id, tokenSig: sig }, [], { at });
  const r = await c.submit(entry);
  return { id, ...r };
}

/** Dispenses a pack the key's pharmacy holds against a prescription it has claimed. */
export async function dispenseRx(c: ApiClient, key: SignerKey, id: string, pack: string): Promise<{ index: number; leafHash: string; gtin: string; serial: string }> {
  const p = parsePackRef(pack);
  const view = await readPack(c, p);
  const r = await c.submit(await makeEntry(c, 'dispense', key, { gtin: p.gtin, serial: p.serial, rx: id }, [view.lastHash]));
  return { ...r, ...p };
}

function rxLine(r: RxAnswer): string {
  const claimed = r.claimedBy !== null ? `, claimed by ${r.claimedBy.name}` : '';
  const lines = [
    `${r.id}  ${r.status}${claimed}`,
    `  ${r.medicineText}: ${r.quantity} pack(s) per fill, ${r.repeats} repeat(s); ${r.dispensed} of ${r.total} dispensed`,
    `  ${r.dosage}; valid ${r.validFrom} to ${r.validUntil}; prescribed by ${r.prescriber.name} (${r.prescriber.type}, ${r.prescriber.region}) at ${r.at}`,
  ];
  for (const d of r.dispenses) lines.push(`  ${d.undone ? '(undone) ' : ''}${d.at}  ${d.product ?? d.gtin} ${d.gtin} ${d.serial}  by ${d.pharmacy.name}`);
  return lines.join('\n');
}

function intOpt(v: string, name: string, min: number, max: number): number {
  if (!/^[0-9]{1,6}$/.test(v) || Number(v) < min || Number(v) > max) throw new MedtrailError('CLI_USAGE', `${name} must be a whole number from ${min} to ${max}`);
  return Number(v);
}

function idOpt(v: string): string {
  if (!/^[0-9a-f]{32}$/.test(v)) throw new MedtrailError('CLI_USAGE', '--id is a prescription id: 32 lowercase hex digits');
  return v;
}

interface PrescribeOpts {
  server: string;
  key?: string;
  json?: boolean;
  patientId: string;
  patientName?: string;
  birthDate?: string;
  note?: string;
  gtin?: string;
  substance?: string;
  strength?: string;
  form?: string;
  atc?: string;
  quantity: string;
  dosage: string;
  validFrom?: string;
  validUntil?: string;
  validDays: string;
  repeats: string;
  qr?: string;
}

export function registerRx(program: Command): void {
  clientOptions(
    program
      .command('prescribe')
      .description("as a prescriber, sign a prescription; prints the patient's token (and writes its QR code with --qr)")
      .requiredOption('--patient-id <id>', "the patient's identifier (insurance number): sealed off the ledger, only a salted commitment goes on it")
      .option('--patient-name <name>', "the patient's name (sealed off the ledger)")
      .option('--birth-date <YYYY-MM-DD>', "the patient's birth date (sealed off the ledger)")
      .option('--note <text>', 'a note for the pharmacist about the patient (sealed off the ledger)')
      .option('--gtin <GTIN>', 'the medicine as one product (GTIN-14)')
      .option('--substance <INN>', 'the medicine as an active substance (with --strength and --form)')
      .option('--strength <text>', 'e.g. "500 mg"')
      .option('--form <text>', 'e.g. capsule')
      .option('--atc <code>', 'ATC code of the substance')
      .option('--quantity <packs>', 'packs per fill', '1')
      .requiredOption('--dosage <text>', 'dosage instruction, e.g. "1 capsule 3 times a day"')
      .option('--valid-from <YYYY-MM-DD>', 'first day it may be dispensed (default today)')
      .option('--valid-until <YYYY-MM-DD>', 'last day it may be dispensed (default: --valid-days from --valid-from)')
      .option('--valid-days <n>', 'days of validity when --valid-until is not given', '28')
      .option('--repeats <n>', 'fills after the first', '0')
      .option('--qr <file.png>', "write the patient's token as a QR code PNG"),
  ).action(
    action(async (o: PrescribeOpts) => {
      const key = loadKey(o.key);
      if ((o.gtin === undefined) === (o.substance === undefined)) throw new MedtrailError('CLI_USAGE', 'give --gtin, or --substance with --strength and --form');
      let medicine: Medicine;
      if (o.gtin !== undefined) medicine = { gtin: o.gtin };
      else {
        if (o.strength === undefined || o.form === undefined) throw new MedtrailError('CLI_USAGE', '--substance needs --strength and --form');
        medicine = { substance: o.substance!, strength: o.strength, form: o.form, ...(o.atc !== undefined ? { atc: o.atc } : {}) };
      }
      const from = o.validFrom ?? dayOf(Date.now());
      const until = o.validUntil ?? dayOf(Date.parse(`${from}T00:00:00Z`) + intOpt(o.validDays, '--valid-days', 1, 3650) * 86_400_000);
      const c = new ApiClient(o.server, key);
      const r = await prescribe(c, key, {
        patientId: o.patientId,
        ...(o.patientName !== undefined ? { patientName: o.patientName } : {}),
        ...(o.birthDate !== undefined ? { birthDate: o.birthDate } : {}),
        ...(o.note !== undefined ? { note: o.note } : {}),
        medicine,
        quantity: intOpt(o.quantity, '--quantity', 1, 100),
        dosage: o.dosage,
        validFrom: from,
        validUntil: until,
        repeats: intOpt(o.repeats, '--repeats', 0, 12),
      });
      if (o.qr !== undefined) writeFileSync(o.qr, await QRCode.toBuffer(r.token, { type: 'png', errorCorrectionLevel: 'M', margin: 2, scale: 6 }));
      const qr = o.json ? '' : await QRCode.toString(r.token, { type: 'utf8', errorCorrectionLevel: 'L', margin: 1 });
      emit(o, r, `prescription ${r.id}: entry ${r.index} ${r.leafHash}\npatient token (give it to the patient only): ${r.token}\ngematik form: ${r.gematik}\n${qr}`);
    }),
  );

  const rx = program.command('rx').description("prescriptions: the pharmacist's and prescriber's commands (claim, dispense, release, cancel, show, list, fhir, report, erase)");

  clientOptions(rx.command('claim').description('as a pharmacy, claim a prescription with the patient token (nobody else can dispense it meanwhile)').requiredOption('--token <token>', 'the token: <server>/rx/<id>#ac=<code>, Task/<id>/$accept?ac=<code> or <id>:<code>')).action(
    action(async (o: { server: string; key?: string; json?: boolean; token: string }) => {
      const key = loadKey(o.key);
      const r = await claim(new ApiClient(o.server, key), key, o.token);
      emit(o, r, `claimed prescription ${r.id}: entry ${r.index} ${r.leafHash}`);
    }),
  );

  clientOptions(
    rx
      .command('dispense')
      .description('as the pharmacy holding its claim, dispense a pack against a prescription (the pack must be genuine, held by you, and the medicine prescribed)')
      .requiredOption('--id <id>', 'the prescription id')
      .requiredOption('--pack <GTIN:SERIAL>', 'the pack, or its Digital Link URI'),
  ).action(
    action(async (o: { server: string; key?: string; json?: boolean; id: string; pack: string }) => {
      const key = loadKey(o.key);
      const r = await dispenseRx(new ApiClient(o.server, key), key, idOpt(o.id), o.pack);
      emit(o, r, `dispensed ${r.gtin} ${r.serial} against prescription ${o.id}: entry ${r.index} ${r.leafHash}`);
    }),
  );

  clientOptions(rx.command('release').description('as the pharmacy holding its claim, hand a prescription back').requiredOption('--id <id>', 'the prescription id')).action(
    action(async (o: { server: string; key?: string; json?: boolean; id: string }) => {
      const key = loadKey(o.key);
      const c = new ApiClient(o.server, key);
      const r = await c.submit(await makeEntry(c, 'rx_release', key, { id: idOpt(o.id) }));
      emit(o, r, `released prescription ${o.id}: entry ${r.index} ${r.leafHash}`);
    }),
  );

  clientOptions(rx.command('cancel').description('as its prescriber, cancel what is left of a prescription').requiredOption('--id <id>', 'the prescription id').requiredOption('--reason <text>', 'why')).action(
    action(async (o: { server: string; key?: string; json?: boolean; id: string; reason: string }) => {
      const key = loadKey(o.key);
      const c = new ApiClient(o.server, key);
      const r = await c.submit(await makeEntry(c, 'rx_cancel', key, { id: idOpt(o.id), reason: o.reason }));
      emit(o, r, `cancelled prescription ${o.id}: entry ${r.index} ${r.leafHash}`);
    }),
  );

  clientOptions(rx.command('show').description('show a prescription: with --token as its holder, or with --id as one of its parties (signed)').option('--token <token>', 'the patient token').option('--id <id>', 'the prescription id (signed read)')).action(
    action(async (o: { server: string; key?: string; json?: boolean; token?: string; id?: string }) => {
      if ((o.token === undefined) === (o.id === undefined)) throw new MedtrailError('CLI_USAGE', 'give --token or --id');
      let r: RxAnswer;
      if (o.token !== undefined) {
        const t = parseToken(o.token);
        r = (await new ApiClient(o.server).rxView(t.id, t.code)).prescription;
      } else r = await new ApiClient(o.server, loadKey(o.key)).rx(idOpt(o.id!));
      emit(o, r, rxLine(r));
    }),
  );

  clientOptions(rx.command('list').description('as a prescriber, your newest prescriptions; as a pharmacy, those you hold the claim of').option('--claimed', 'list the claims of a pharmacy')).action(
    action(async (o: { server: string; key?: string; json?: boolean; claimed?: boolean }) => {
      const key = loadKey(o.key);
      const r = await new ApiClient(o.server, key).rxList(o.claimed ? { claimedBy: key.gln } : { prescriber: key.gln });
      emit(o, r, r.prescriptions.map(rxLine).join('\n') || '(none)');
    }),
  );

  clientOptions(rx.command('fhir').description('a prescription and its dispenses as a FHIR R4 Bundle (MedicationRequest, MedicationDispense)').requiredOption('--id <id>', 'the prescription id')).action(
    action(async (o: { server: string; key?: string; json?: boolean; id: string }) => {
      const r = await new ApiClient(o.server, loadKey(o.key)).rxFhir(idOpt(o.id));
      process.stdout.write(`${JSON.stringify(r, null, o.json ? undefined : 2)}\n`);
    }),
  );

  clientOptions(
    rx
      .command('report')
      .description('as a regulator, prescribed and dispensed medicines by month, region, substance, prescriber type (aggregates; small counts suppressed)')
      .option('--by <dims>', 'comma-separated: month, region, substance, prescriberType', 'month,region')
      .option('--where <dim=value...>', 'only cells with these values, e.g. region=DE-BY')
      .option('--csv', 'print CSV'),
  ).action(
    action(async (o: { server: string; key?: string; json?: boolean; by: string; where?: string[] | string; csv?: boolean }) => {
      const c = new ApiClient(o.server, loadKey(o.key));
      const where = (Array.isArray(o.where) ? o.where : o.where === undefined ? [] : [o.where]).map((w) => {
        const m = /^(month|region|substance|prescriberType)=(.+)$/.exec(w);
        if (m === null) throw new MedtrailError('CLI_USAGE', `--where takes dim=value, got ${w}`);
        return `${m[1]}=${encodeURIComponent(m[2]!)}`;
      });
      const q = [`by=${encodeURIComponent(o.by)}`, ...where].join('&');
      if (o.csv) {
        process.stdout.write(await c.rxReportCsv(q));
        return;
      }
      const r = await c.rxReport(q);
      emit(o, r, reportChart(r));
    }),
  );

  rx.command('erase')
    .description("as the operator, erase prescriptions' off-ledger details (the ledger keeps the commitment): one, or all valid until before a day")
    .requiredOption('--db <path>', 'the ledger database (the details are in <db>.rx.db, the key in rx.key beside it)')
    .option('--id <id>', 'the prescription id')
    .option('--retention-days <n>', 'erase every prescription whose validity ended more than n days ago')
    .option('--json', 'print JSON')
    .action(
      action((o: { db: string; id?: string; retentionDays?: string; json?: boolean }) => {
        if ((o.id === undefined) === (o.retentionDays === undefined)) throw new MedtrailError('CLI_USAGE', 'give --id or --retention-days');
        const s = new RxPrivateStore(o.db);
        try {
          const n = o.id !== undefined ? s.erase([idOpt(o.id)]) : s.eraseDue(retentionCutoff(Date.now(), intOpt(o.retentionDays!, '--retention-days', 0, 100_000)));
          emit(o, { erased: n }, `erased the details of ${n} prescription(s)`);
        } finally {
          s.close();
        }
      }),
    );
}
