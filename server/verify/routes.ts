// HTTP routes for verification and reads (docs/architecture.md, The verify flow): thin handlers that parse,
// call the flow (server/verify/flow.ts) and the answer builders, and map the result.
//
//   POST /verify (verifyFastRoute)  { code, scanner?: { gln?, location? }, scannedAt? } → verdict, reasons,
//                                   product, pack, journey, proof. Signed (X-Medtrail-* headers): the scan counts
//                                   as the signer's, and may be dated (scannedAt: a scan made offline, delivered
//                                   late); anonymous: the patient's, now.
//   GET  /packs/:gtin/:serial       public: verdict and coarse journey; signed by a participant in the chain or a
//                                   regulator: the full custody chain with inclusion proofs.
//   GET  /epcis/events?gtin&serial  the pack's history as an EPCIS 2.0 document (coarse or full, as above).
import { Router, type Request } from 'express';
import type { PackReadAnswer } from '../../core/api/answers.js';
import { FieldErrors, MedtrailError } from '../../core/errors.js';
import { normalizeGtin, validateSerial } from '../../core/gs1/identifiers.js';
import { reason, VERDICT_MESSAGES } from '../../core/verdict.js';
import { journey, packAnswer, packTimeline, productAnswer } from './answer.js';
import { epcisDocument } from './epcis.js';
import { alertScope, alertsFrom, MAX_SCANS } from './alerts.js';
import { DEFAULT_SEEN_WINDOW_MS } from './engine.js';
import { afterCover, checkIntegrity, readAudience, VERIFY_BODY_LIMIT, verifyScan } from './flow.js';
import type { VerifyServices } from './services.js';
import type { ServerResponse } from 'node:http';
import type { FastRequest, FastRoute } from '../http/fast-path.js';
import { sendJson } from '../http/json-body.js';

function packParams(req: Request): { gtin: string; serial: string } {
  return packIdentifier(req.params['gtin'], req.params['serial']);
}

function packIdentifier(gtinIn: unknown, serialIn: unknown): { gtin: string; serial: string } {
  const errs = new FieldErrors();
  let gtin = '';
  let serial = '';
  try {
    gtin = normalizeGtin(String(gtinIn ?? ''), 'gtin');
  } catch (e) {
    if (!(e instanceof MedtrailError)) throw e;
    errs.add('gtin', e.code, e.message);
  }
  try {
    serial = validateSerial(String(serialIn ?? ''), 'serial');
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
  return packIdentifier(g, s);
}

/**
 * POST /verify on the fast path (server/http/fast-path.ts): answered ahead of express, with the same guards
 * (headers, rate limit, shedder), a lean body reader and a direct JSON write (server/http/json-body.ts).
 */
export function verifyFastRoute(v: VerifyServices): FastRoute {
  const handle = (req: FastRequest, res: ServerResponse): void | Promise<void> => {
    const a = verifyScan(v, req);
    if (a instanceof Promise) return a.then((x) => sendJson(res, 200, x));
    sendJson(res, 200, a);
  };
  return { method: 'POST', path: '/api/v1/verify', bodyLimit: VERIFY_BODY_LIMIT, handle };
}

export function verifyRoutes(v: VerifyServices): Router {
  const r = Router();

  r.get('/packs/:gtin/:serial', async (req, res) => {
    const who = v.auth.authenticate(req);
    const { gtin, serial } = packParams(req);
    const code = { source: 'element-string' as const, gtin, serial };
    const found = await afterCover(v, () => v.engine.lookup(code), (f) => f);
    if (found.pack === undefined) throw new MedtrailError('PACK_UNKNOWN', `no pack ${serial} of ${gtin} is registered`);
    checkIntegrity(v, found);
    const ev = v.engine.evaluate(found, code, { gln: who?.gln ?? null, location: null }, new Date(), 'read');
    if (ev.pack === undefined) throw new MedtrailError('PACK_UNKNOWN', `no pack ${serial} of ${gtin} is registered`);
    const events = packTimeline(v.state, ev.pack, ev.lot, v.signerAt);
    const full = readAudience(who, events, ev.product?.manufacturer) === 'full';
    const out: PackReadAnswer = {
      verdict: ev.verdict,
      reasons: ev.reasons.map(reason),
      message: VERDICT_MESSAGES[ev.verdict],
      product: ev.product === undefined ? null : productAnswer(ev.product, v.keys, v.state),
      pack: packAnswer(ev.pack, ev.lot, full),
      journey: journey(events, v.keys, full, ev.pack),
    };
    if (full) {
      const chain = v.proofs.chain(events);
      out.checkpoint = chain.checkpoint.note;
      out.chain = chain.events.map((e) => ({
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

  // Patient-page and app scans that look like a clone, for the product's maker and the regulators (alerts.ts).
  r.get('/alerts', async (req, res) => {
    const who = v.auth.requireRole(req, ['manufacturer', 'regulator'], 'the alert feed');
    const now = Date.now();
    const sinceText = req.query['since'];
    let since = now - 86_400_000;
    if (sinceText !== undefined) {
      const t = typeof sinceText === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(sinceText) ? Date.parse(sinceText) : NaN;
      if (Number.isNaN(t)) throw new MedtrailError('BAD_INPUT', 'since must be an RFC 3339 time', { fields: [{ path: 'since', code: 'BAD_INPUT', message: 'RFC 3339 time' }] });
      since = t;
    }
    const alerts = alertsFrom(await v.anonymousScans(since, MAX_SCANS), DEFAULT_SEEN_WINDOW_MS, alertScope(who));
    res.json({ alerts, since: new Date(since).toISOString(), forgeable: true });
  });

  r.get('/epcis/events', async (req, res) => {
    const who = v.auth.authenticate(req);
    const { gtin, serial } = queryPack(req);
    const found = await afterCover(v, () => v.engine.lookup({ gtin, serial }), (f) => f);
    const pack = found.pack;
    if (pack === undefined) throw new MedtrailError('PACK_UNKNOWN', `no pack ${serial} of ${gtin} is registered`);
    // The same order as every answer about a pack: no history told from a ledger that fails its own checks.
    checkIntegrity(v, found);
    const events = packTimeline(v.state, pack, found.lot, v.signerAt);
    const full = readAudience(who, events, v.engine.product(gtin)?.manufacturer) === 'full';
    const chain = v.proofs.chain(events);
    res.type('application/ld+json').send(JSON.stringify(epcisDocument(pack, chain.events, full, new Date())));
  });

  return r;
}
