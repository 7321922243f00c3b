// HTTP routes for verification and reads (DESIGN.md "Interfaces"): thin handlers that parse, call the engine
// and the answer builders, and map the result (STYLE.md 11).
//
//   POST /verify (verifyFastRoute)  { code, scanner?: { gln?, location? }, scannedAt? } → verdict, reasons,
//                                   product, pack, journey, proof. Signed (X-Medtrail-* headers): the scan counts
//                                   as the signer's, and may be dated (scannedAt: a scan made offline, delivered
//                                   late); anonymous: the patient's, now.
//   GET  /packs/:gtin/:serial       public: verdict and coarse journey; signed by a participant in the chain or a
//                                   regulator: the full custody chain with inclusion proofs.
//   GET  /epcis/events?gtin&serial  the pack's history as an EPCIS 2.0 document (coarse or full, as above).
import { Router, type Request } from 'express';
import { FieldErrors, MedtrailError } from '../../core/errors.js';
import { isValidGln, normalizeGtin, validateSerial } from '../../core/gs1/identifiers.js';
import { reason, VERDICT_MESSAGES } from '../../core/verdict.js';
import type { KeyRecord } from '../log/keybook.js';
import type { PackEvent } from '../custody/state.js';
import { journey, packAnswer, packTimeline, productAnswer } from './answer.js';
import { epcisDocument } from './epcis.js';
import type { Scanner } from './engine.js';
import { MAX_SCAN_AHEAD_MS, MAX_SCAN_BACKDATE_MS, parseScannedCode, type ScannedCode } from '../../core/gs1/scanned-code.js';
import type { VerifyServices } from './services.js';
import type { ServerResponse } from 'node:http';
import type { FastRequest, FastRoute } from '../http/fast-path.js';
import { sendJson } from '../http/json-body.js';

const MAX_LOCATION = 200;
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const BODY_KEYS = new Set(['code', 'scanner', 'scannedAt']);
const ISO_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})$/;
const SCANNER_KEYS = new Set(['gln', 'location']);

interface VerifyBody {
  code: string;
  scanner: { gln: string | null; location: string | null };
  /** When the scan happened (ms since the epoch), for a scan delivered late; null: now. */
  scannedAt: number | null;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Checks the verify body; every bad field at once (STYLE.md 4). */
export function parseVerifyBody(body: unknown): VerifyBody {
  if (!isObject(body)) throw new MedtrailError('BAD_INPUT', 'body must be a JSON object { code, scanner?, scannedAt? } sent as application/json');
  const errs = new FieldErrors();
  for (const k of Object.keys(body)) if (!BODY_KEYS.has(k)) errs.add(k, 'BAD_INPUT', 'unknown member');
  const code = body['code'];
  if (typeof code !== 'string' || code.length === 0) errs.add('code', 'BAD_INPUT', 'required non-empty string');
  let gln: string | null = null;
  let location: string | null = null;
  const sc = body['scanner'];
  if (sc !== undefined && sc !== null) {
    if (!isObject(sc)) errs.add('scanner', 'BAD_INPUT', 'must be an object { gln?, location? }');
    else {
      for (const k of Object.keys(sc)) if (!SCANNER_KEYS.has(k)) errs.add(`scanner.${k}`, 'BAD_INPUT', 'unknown member');
      const g = sc['gln'];
      if (g !== undefined && g !== null) {
        if (!isValidGln(g)) errs.add('scanner.gln', 'GS1_BAD_GLN', 'must be a 13-digit GLN with a valid check digit');
        else gln = g;
      }
      const l = sc['location'];
      if (l !== undefined && l !== null) {
        if (typeof l !== 'string' || l.trim() === '' || l.length > MAX_LOCATION || CONTROL.test(l)) {
          errs.add('scanner.location', 'BAD_INPUT', `must be 1..${MAX_LOCATION} characters of text`);
        } else location = l;
      }
    }
  }
  let scannedAt: number | null = null;
  const at = body['scannedAt'];
  if (at !== undefined && at !== null) {
    if (typeof at !== 'string' || !ISO_TIME.test(at) || !Number.isFinite(Date.parse(at))) errs.add('scannedAt', 'BAD_INPUT', 'must be an ISO 8601 date-time with a zone');
    else scannedAt = Date.parse(at);
  }
  errs.throwIfAny(errs.list[0]?.code ?? 'BAD_INPUT', 'invalid verify request');
  return { code: code as string, scanner: { gln, location }, scannedAt };
}

function packParams(req: Request): { gtin: string; serial: string } {
  const errs = new FieldErrors();
  let gtin = '';
  let serial = '';
  try {
    gtin = normalizeGtin(String(req.params['gtin'] ?? ''), 'gtin');
  } catch (e) {
    if (!(e instanceof MedtrailError)) throw e;
    errs.add('gtin', e.code, e.message);
  }
  try {
    serial = validateSerial(String(req.params['serial'] ?? ''), 'serial');
  } catch (e) {
    if (!(e instanceof MedtrailError)) throw e;
    errs.add('serial', e.code, e.message);
  }
  errs.throwIfAny(errs.list[0]?.code ?? 'BAD_INPUT', 'invalid pack identifier');
  return { gtin, serial };
}

function queryPack(req: Request): { gtin: string; serial: string } {
  const errs = new FieldErrors();
  const g = req.query['gtin'];
  const s = req.query['serial'];
  if (typeof g !== 'string') errs.add('gtin', 'BAD_INPUT', g === undefined ? 'required' : 'must be given once');
  if (typeof s !== 'string') errs.add('serial', 'BAD_INPUT', s === undefined ? 'required' : 'must be given once');
  errs.throwIfAny('BAD_INPUT', 'bad query parameters');
  return packParams({ params: { gtin: g, serial: s } } as unknown as Request);
}

/** Largest verify body accepted: a scanned code is at most a few hundred characters. */
export const VERIFY_BODY_LIMIT = 64 * 1024;

/** Whether `who` may see the pack's parties: a regulator, or anyone who signed or was named in its chain. */
// `events` is the pack's timeline (packTimeline), read once per request; a recall in it is signed by the
// manufacturer or a regulator, who are in the chain anyway.
function inChain(who: KeyRecord | undefined, events: readonly PackEvent[], manufacturer: string | undefined): boolean {
  if (who === undefined) return false;
  if (who.role === 'regulator' || who.gln === manufacturer) return true;
  return events.some((e) => e.signer === who.gln || e.counterparty === who.gln);
}

/**
 * POST /verify on the fast path (server/http/fast-path.ts): answered ahead of express, with the same guards
 * (headers, rate limit, shedder), a lean body reader and a direct JSON write (server/http/json-body.ts).
 */
export function verifyFastRoute(v: VerifyServices): FastRoute {
  const handle = (req: FastRequest, res: ServerResponse): void => {
    const who = v.auth.authenticate(req);
    const body = parseVerifyBody(req.body);
    if (who !== undefined && body.scanner.gln !== null && body.scanner.gln !== who.gln) {
      throw new MedtrailError('AUTH_SCANNER_MISMATCH', 'scanner.gln must be the signer of the request (or left out)');
    }
    const now = new Date();
    let scannedAt = now;
    if (body.scannedAt !== null) {
      // A counter delivering its offline queue says when each scan happened; only a participant may date one.
      if (who === undefined) throw new MedtrailError('AUTH_REQUIRED', 'scannedAt is taken from a signed request only (a participant delivering scans made offline)');
      if (body.scannedAt > now.getTime() + MAX_SCAN_AHEAD_MS || body.scannedAt < now.getTime() - MAX_SCAN_BACKDATE_MS) {
        throw new MedtrailError('DATE_INVALID', 'scannedAt must be within the last 30 days and not ahead of the server', { fields: [{ path: 'scannedAt', code: 'DATE_INVALID', message: 'out of range' }] });
      }
      scannedAt = new Date(body.scannedAt);
    }
    const code: ScannedCode = parseScannedCode(body.code);
    // Only a signed request speaks for a participant; an unsigned scanner.gln is not proof of anything.
    const scanner: Scanner = { gln: who?.gln ?? null, location: body.scanner.location };
    const ev = v.engine.evaluate(code, scanner, now, true, scannedAt);
    // Never a verdict from a ledger that fails its own checks (server/log/integrity.ts).
    if (ev.pack !== undefined) v.integrity.assertLeaf(ev.pack.lastIndex, ev.pack.lastHash);
    else v.integrity.assertHead();
    const events = ev.pack === undefined ? [] : packTimeline(v.state, ev.pack, ev.lot, v.signerAt);
    const full = ev.pack !== undefined && inChain(who, events, ev.product?.manufacturer);
    sendJson(res, 200, {
      verdict: ev.verdict,
      reasons: ev.reasons.map(reason),
      message: VERDICT_MESSAGES[ev.verdict],
      product: ev.product === undefined ? null : productAnswer(ev.product, v.keys, v.state),
      pack: ev.pack === undefined ? null : packAnswer(ev.pack, ev.lot, full),
      journey: journey(events, v.keys, full),
      proof: ev.pack === undefined ? null : v.proofs.inclusion(ev.pack.lastIndex),
    });
  };
  return { method: 'POST', path: '/api/v1/verify', bodyLimit: VERIFY_BODY_LIMIT, handle };
}

export function verifyRoutes(v: VerifyServices): Router {
  const r = Router();

  r.get('/packs/:gtin/:serial', (req, res) => {
    const who = v.auth.authenticate(req);
    const { gtin, serial } = packParams(req);
    const ev = v.engine.evaluate({ source: 'element-string', gtin, serial }, { gln: who?.gln ?? null, location: null }, new Date(), false);
    if (ev.pack === undefined) throw new MedtrailError('PACK_UNKNOWN', `no pack ${serial} of ${gtin} is registered`);
    v.integrity.assertLeaf(ev.pack.lastIndex, ev.pack.lastHash);
    const events = packTimeline(v.state, ev.pack, ev.lot, v.signerAt);
    const full = inChain(who, events, ev.product?.manufacturer);
    if (who !== undefined && !full) throw new MedtrailError('AUTH_NOT_IN_CHAIN', `${who.gln} is not in the custody chain of this pack`);
    const out: Record<string, unknown> = {
      verdict: ev.verdict,
      reasons: ev.reasons.map(reason),
      message: VERDICT_MESSAGES[ev.verdict],
      product: ev.product === undefined ? null : productAnswer(ev.product, v.keys, v.state),
      pack: packAnswer(ev.pack, ev.lot, full),
      journey: journey(events, v.keys, full),
    };
    if (full) {
      const chain = v.proofs.chain(events);
      out['checkpoint'] = chain.checkpoint.note;
      out['chain'] = chain.events.map((e) => ({
        index: e.index,
        leafHash: e.leafHash,
        kind: e.kind,
        signer: e.signer,
        signerName: v.keys.get(e.signer)?.name ?? null,
        counterparty: e.counterparty,
        counterpartyName: e.counterparty === null ? null : (v.keys.get(e.counterparty)?.name ?? null),
        at: e.at,
        proof: { size: chain.checkpoint.size, hashes: e.proof },
      }));
    }
    res.json(out);
  });

  r.get('/epcis/events', (req, res) => {
    const who = v.auth.authenticate(req);
    const { gtin, serial } = queryPack(req);
    const pack = v.state.pack(gtin, serial);
    if (pack === undefined) throw new MedtrailError('PACK_UNKNOWN', `no pack ${serial} of ${gtin} is registered`);
    const events = packTimeline(v.state, pack, v.state.lot(gtin, pack.lot), v.signerAt);
    const full = inChain(who, events, v.engine.product(gtin)?.manufacturer);
    if (who !== undefined && !full) throw new MedtrailError('AUTH_NOT_IN_CHAIN', `${who.gln} is not in the custody chain of this pack`);
    const chain = v.proofs.chain(events);
    res.type('application/ld+json').send(JSON.stringify(epcisDocument(pack, chain.events, full, new Date())));
  });

  return r;
}
