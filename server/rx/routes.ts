// HTTP routes of prescriptions (issue 16; docs/architecture.md, Prescriptions), under /api/v1:
//   POST /rx                 signed by a prescriber: {entry: a signed prescribe entry, details: the off-ledger
//                            part}; the entry goes through the custody rules like any other, the details are
//                            sealed (private.ts) once it is appended -> 201 {id, index, leafHash}
//   POST /rx/view            anonymous (the patient, or a pharmacy before it claims): {id, at, sig}, sig being
//                            the access code's signature (core/rx/rx.ts rxViewMessage); the prescription without
//                            the patient, with evidence; wrong pairs are bounded (access.ts)
//   GET  /rx/:id             signed by its prescriber, the claiming or a dispensing pharmacy, or a regulator
//   GET  /rx/:id/fhir        the same, as a FHIR R4 Bundle (MedicationRequest + MedicationDispense)
//   GET  /rx/:id/details     the off-ledger details: its prescriber or the claiming pharmacy only; 410 once erased
//   GET  /rx?prescriber=GLN | ?claimedBy=GLN   signed by that party or a regulator
//   GET  /rx/reports?by=month,region,substance,prescriberType[&month&region&substance&prescriberType][&format=csv]
//                            signed by a regulator; aggregates only, small counts suppressed (core/rx/report.ts)
// Entries (claim, dispense, release, cancel) go to POST /entries like every other entry.
import { Router, type Request } from 'express';
import { fromBase64 } from '../../core/bytes.js';
import { parseEntry } from '../../core/entry/entry.js';
import { validateBody } from '../../core/entry/bodies.js';
import { isJsonObject } from '../../core/api/wire.js';
import { RX_REPORT_DIMENSIONS, type RxReportDimension } from '../../core/api/rx.js';
import { checkRequestTime } from '../../core/api/request-auth.js';
import { MedtrailError } from '../../core/errors.js';
import { assertGln } from '../../core/gs1/identifiers.js';
import { isRxId, patientCommitment, rxViewMessage, verifyWithToken } from '../../core/rx/rx.js';
import { rxToFhir } from '../../core/rx/fhir.js';
import { buildReport, DEFAULT_SUPPRESS_BELOW, reportCsv } from '../../core/rx/report.js';
import type { KeyRecord } from '../log/keybook.js';
import type { RxRow } from '../custody/state.js';
import { parseDetails } from './private.js';
import type { RxServices } from './services.js';

/** Most prescriptions one POST /rx may carry. */
export const MAX_RX_PER_POST = 1000;

function idParam(v: unknown): string {
  if (!isRxId(v)) throw new MedtrailError('BAD_INPUT', 'a prescription id is 32 lowercase hex digits', { fields: [{ path: 'id', code: 'BAD_INPUT', message: '32 lowercase hex digits' }] });
  return v;
}

function queryOnce(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new MedtrailError('BAD_INPUT', `${name} must be given once`, { fields: [{ path: name, code: 'BAD_INPUT', message: 'given once' }] });
  return v;
}

export function rxRoutes(s: RxServices, origin: string): Router {
  const r = Router();
  const { state, auth } = s.custody;

  /** A signed read of a prescription by one of its parties (or a regulator): never anonymous, never a stranger. */
  const partyRead = (req: Request, id: string): { who: KeyRecord; row: RxRow } => {
    const who = auth.authenticate(req);
    if (who === undefined) throw new MedtrailError('AUTH_REQUIRED', 'a prescription is read with its access code (POST /rx/view) or by a signed request of one of its parties');
    const row = state.rx(id);
    const party =
      row !== undefined && (who.role === 'regulator' || who.gln === row.prescriber || who.gln === row.claimedBy || state.rxDispenses(id).some((d) => d.pharmacy === who.gln));
    // A stranger learns nothing, not even whether the id exists.
    if (!party) throw new MedtrailError('AUTH_NOT_PARTY', `${who.gln} is not a party to prescription ${id}`);
    return { who, row: row! };
  };

  // One prescription {entry, details}, or {items: [{entry, details}, ...]} (up to MAX_RX_PER_POST, all or none:
  // a practice system uploading a day's prescriptions).
  r.post('/rx', async (req, res) => {
    const who = auth.requireRole(req, ['prescriber'], 'prescribing');
    const body: unknown = req.body;
    if (!isJsonObject(body)) throw new MedtrailError('BAD_INPUT', 'the body is {entry, details} or {items: [...]}', { fields: [{ path: '', code: 'BAD_INPUT', message: 'must be an object' }] });
    const list: unknown = body['items'];
    const many = Array.isArray(list);
    const items: unknown[] = Array.isArray(list) ? list : [body];
    if (items.length === 0 || items.length > MAX_RX_PER_POST) throw new MedtrailError('TOO_LARGE', `items holds 1 to ${MAX_RX_PER_POST} prescriptions`, { fields: [{ path: 'items', code: 'TOO_LARGE', message: `1 to ${MAX_RX_PER_POST}` }] });
    const checked = items.map((it, i) => {
      const at = many ? `items[${i}].` : '';
      const o = isJsonObject(it) ? it : {};
      const entry = parseEntry(o['entry']);
      if (entry.kind !== 'prescribe') throw new MedtrailError('BAD_INPUT', 'entry must be a prescribe entry', { fields: [{ path: `${at}entry.kind`, code: 'BAD_INPUT', message: 'must be prescribe' }] });
      if (entry.signer !== who.gln) throw new MedtrailError('RX_DETAILS_MISMATCH', `${at}entry is signed by someone other than the request`);
      const b = validateBody('prescribe', entry.body);
      const details = parseDetails(o['details']);
      if (patientCommitment(details.salt, details.patient.id) !== b.patient) {
        throw new MedtrailError('RX_DETAILS_MISMATCH', "the details' salt and patient id do not make the entry's patient commitment", {
          fields: [{ path: `${at}details.salt`, code: 'RX_DETAILS_MISMATCH', message: 'SHA-256(salt || patient id) differs from entry.body.patient' }],
        });
      }
      return { entry, b, details };
    });
    const appended = await s.custody.commit(checked.map((c) => c.entry));
    await s.priv.putAll(checked.map((c) => ({ id: c.b.id, validUntil: c.b.validUntil, details: c.details })));
    const out = checked.map((c, i) => ({ id: c.b.id, index: appended[i]!.index, leafHash: Buffer.from(appended[i]!.leafHash).toString('hex') }));
    res.status(201).json(many ? { items: out } : out[0]);
  });

  r.post('/rx/view', (req, res) => {
    const body: unknown = req.body;
    const o = isJsonObject(body) ? body : {};
    const id = idParam(o['id']);
    const at = typeof o['at'] === 'string' ? o['at'] : '';
    const client = req.socket.remoteAddress ?? 'unknown';
    const wait = s.guard.wait(client, id);
    if (wait > 0) {
      res.setHeader('Retry-After', String(Math.ceil(wait / 1000)));
      throw new MedtrailError('RX_ACCESS_LIMITED', `too many wrong access codes; retry in ${Math.ceil(wait / 1000)} s`);
    }
    checkRequestTime(at, Date.now());
    const row = state.rx(id);
    let ok = false;
    try {
      ok = row !== undefined && typeof o['sig'] === 'string' && verifyWithToken(fromBase64(row.token, 32), rxViewMessage(origin, id, at), fromBase64(o['sig']));
    } catch {
      ok = false;
    }
    if (!ok || row === undefined) {
      s.guard.fail(client, id);
      throw new MedtrailError('RX_ACCESS_DENIED', 'this prescription id and access code do not match');
    }
    res.setHeader('Cache-Control', 'no-store');
    res.json(s.view(row));
  });

  r.get('/rx/reports', (req, res) => {
    auth.requireRole(req, ['regulator'], 'prescription reports');
    const byText = queryOnce(req, 'by') ?? 'month';
    const by: RxReportDimension[] = [];
    for (const d of byText === '' ? [] : byText.split(',')) {
      const hit = RX_REPORT_DIMENSIONS.find((x) => x === d);
      if (hit === undefined || by.includes(hit)) throw new MedtrailError('BAD_INPUT', `by lists ${RX_REPORT_DIMENSIONS.join(', ')}, each once`, { fields: [{ path: 'by', code: 'BAD_INPUT', message: `unknown or repeated: ${d}` }] });
      by.push(hit);
    }
    const filter: Partial<Record<RxReportDimension, string>> = {};
    for (const d of RX_REPORT_DIMENSIONS) {
      const v = queryOnce(req, d);
      if (v !== undefined) filter[d] = v;
    }
    const format = queryOnce(req, 'format') ?? 'json';
    if (format !== 'json' && format !== 'csv') throw new MedtrailError('BAD_INPUT', 'format is json or csv', { fields: [{ path: 'format', code: 'BAD_INPUT', message: 'json or csv' }] });
    const report = buildReport(state.rxStatsEach(), by, DEFAULT_SUPPRESS_BELOW, filter);
    res.setHeader('Cache-Control', 'no-store');
    if (format === 'csv') res.type('text/csv; charset=utf-8').send(reportCsv(report));
    else res.json(report);
  });

  r.get('/rx', (req, res) => {
    const prescriber = queryOnce(req, 'prescriber');
    const claimedBy = queryOnce(req, 'claimedBy');
    if ((prescriber === undefined) === (claimedBy === undefined)) {
      throw new MedtrailError('BAD_INPUT', 'give prescriber or claimedBy', { fields: [{ path: 'prescriber', code: 'BAD_INPUT', message: 'prescriber or claimedBy, one of them' }] });
    }
    const gln = prescriber ?? claimedBy!;
    assertGln(gln, prescriber !== undefined ? 'prescriber' : 'claimedBy');
    auth.requireParty(req, gln);
    const rows = prescriber !== undefined ? state.rxBy(gln, 200) : state.rxClaimedBy(gln);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ prescriptions: rows.map((x) => s.answer(x, true)) });
  });

  r.get('/rx/:id', (req, res) => {
    const { row } = partyRead(req, idParam(req.params['id']));
    res.setHeader('Cache-Control', 'no-store');
    res.json(s.answer(row, true));
  });

  r.get('/rx/:id/fhir', (req, res) => {
    const { row } = partyRead(req, idParam(req.params['id']));
    res.setHeader('Cache-Control', 'no-store');
    res.type('application/fhir+json').send(JSON.stringify(rxToFhir(s.answer(row, true))));
  });

  r.get('/rx/:id/details', async (req, res) => {
    const { who, row } = partyRead(req, idParam(req.params['id']));
    if (who.gln !== row.prescriber && who.gln !== row.claimedBy) {
      throw new MedtrailError('AUTH_NOT_PARTY', "a prescription's details go to its prescriber and the pharmacy holding its claim only");
    }
    const d = await s.priv.get(row.id);
    if (d === undefined) throw new MedtrailError('NOT_FOUND', `no details were kept for prescription ${row.id}`);
    res.setHeader('Cache-Control', 'no-store');
    res.json(d);
  });

  return r;
}
