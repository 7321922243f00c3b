// The verify flow (docs/architecture.md, The verify flow): one function from a request to a verdict, in an
// order that is visible here and right:
//   1. authenticate: anonymous (a patient), or a participant's signed request (server/http/auth.ts);
//   2. look up what the ledger holds for the code (reads only);
//   3. check the ledger's integrity for what the verdict stands on: the pack's newest leaf, or the head;
//   4. evaluate: the verdict and its reasons (pure: server/verify/engine.ts);
//   5. record: the scan row and a SUN reading's counter, only now, so that a ledger that failed its check, or
//      a request refused on the way, leaves nothing behind;
//   6. answer, with what this asker may see (the audience rule below, shared with /packs and /epcis).
import { checkedString, FieldErrors, MedtrailError } from '../../core/errors.js';
import { isValidGln } from '../../core/gs1/identifiers.js';
import { MAX_SCAN_AHEAD_MS, MAX_SCAN_BACKDATE_MS, parseScannedCode, type ScannedCode } from '../../core/gs1/scanned-code.js';
import { decide, reason, sortReasons, VERDICT_MESSAGES } from '../../core/verdict.js';
import type { MapAnswer, VerifyAnswer } from '../../core/api/answers.js';
import { toBase64 } from '../../core/bytes.js';
import type { PackEvent } from '../custody/state.js';
import type { AuthRequest } from '../http/auth.js';
import type { KeyRecord } from '../log/keybook.js';
import { journey, packAnswer, packTimeline, productAnswer } from './answer.js';
import type { Evaluation, Lookup, Scanner } from './engine.js';
import type { VerifyServices } from './services.js';

/** Largest verify body accepted: a scanned code is at most a few hundred characters. */
export const VERIFY_BODY_LIMIT = 64 * 1024;

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

/** Checks the verify body; every bad field at once (every bad field at once). */
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
  return { code: checkedString(code), scanner: { gln, location }, scannedAt };
}

/**
 * Who may see a pack's parties (the full chain, with proofs): a regulator, or anyone who signed or was named in
 * its chain; everyone else gets the coarse answer. `events` is the pack's timeline (packTimeline), read once
 * per request; a recall in it is signed by the manufacturer or a regulator, who are in the chain anyway.
 */
export function audience(who: KeyRecord | undefined, events: readonly PackEvent[], manufacturer: string | undefined): 'full' | 'coarse' {
  if (who === undefined) return 'coarse';
  if (who.role === 'regulator' || who.gln === manufacturer) return 'full';
  return events.some((e) => e.signer === who.gln || e.counterparty === who.gln) ? 'full' : 'coarse';
}

/** A read of a pack's history (/packs, /epcis): a signed asker outside the chain is refused, not served coarse. */
export function readAudience(who: KeyRecord | undefined, events: readonly PackEvent[], manufacturer: string | undefined): 'full' | 'coarse' {
  const a = audience(who, events, manufacturer);
  if (who !== undefined && a === 'coarse') throw new MedtrailError('AUTH_NOT_IN_CHAIN', `${who.gln} is not in the custody chain of this pack`);
  return a;
}

/** Step 3: never a verdict from a ledger that fails its own checks (server/log/integrity.ts). */
export function checkIntegrity(v: VerifyServices, found: Lookup): void {
  if (found.pack !== undefined) v.integrity.assertLeaf(found.pack.lastIndex, found.pack.lastHash);
  else v.integrity.assertHead();
}

/**
 * Step 5: writes what the evaluation asked for; a SUN reading another verification used first turns it. With
 * the ledger in PostgreSQL the counter moves there (server/verify/sun.ts), and only then is the answer given.
 */
function record(v: VerifyServices, ev: Evaluation): Evaluation | Promise<Evaluation> {
  const { sun } = ev.toRecord;
  if (sun !== undefined && v.sun.isShared) return v.sun.advanceShared(sun).then((ok) => recorded(v, ev, ok));
  const moved = sun === undefined || v.sun.advance(sun);
  return moved instanceof Promise ? moved.then((ok) => recorded(v, ev, ok)) : recorded(v, ev, moved);
}

function recorded(v: VerifyServices, ev: Evaluation, counterMoved: boolean): Evaluation {
  let out = ev;
  const { scan } = ev.toRecord;
  if (!counterMoved) {
    const reasons = sortReasons([...ev.reasons.filter((r) => r !== 'PACK_ACTIVE'), 'TAG_COUNTER_REPLAYED']);
    out = { ...ev, reasons, verdict: decide(reasons) };
  }
  if (scan !== undefined) v.scans.record(out === ev ? scan : { ...scan, verdict: out.verdict });
  return out;
}

/**
 * POST /verify: the whole flow for one request whose body was read as JSON. Synchronous but for a SUN reading
 * on a ledger in PostgreSQL, whose counter is moved there first.
 */
export function verifyScan(v: VerifyServices, req: AuthRequest & { body: unknown }): VerifyAnswer | Promise<VerifyAnswer> {
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
  return afterCover(v, () => v.engine.lookup(code), (found) => {
    checkIntegrity(v, found);
    const ev = record(v, v.engine.evaluate(found, code, scanner, now, 'scan', scannedAt));
    return ev instanceof Promise ? ev.then((e) => answerOf(v, who, code, e)) : answerOf(v, who, code, ev);
  });
}

/** The tree size an answer about `found` stands on: its pack's newest entry and its lot's recall. */
export function coverOf(found: Lookup): number {
  return Math.max(found.pack?.lastIndex ?? -1, found.lot?.recalledIndex ?? -1) + 1;
}

/**
 * Runs `then` on a lookup the served checkpoint covers: when the pack moved since (its newest entry not yet
 * signed), waits for the signing round that covers it and looks again (a pack that moves again meanwhile is
 * looked up again, a few times, before the answer signs at once: server/log/log-service.ts covering()).
 */
export function afterCover<T>(v: VerifyServices, lookup: () => Lookup, then: (found: Lookup) => T | Promise<T>, tries = 0): T | Promise<T> {
  const found = lookup();
  const waiting = tries < 3 ? v.proofs.covered(coverOf(found), v.map.size) : undefined;
  if (waiting === undefined) return then(found);
  return waiting.then(() => afterCover(v, lookup, then, tries + 1));
}

function answerOf(v: VerifyServices, who: KeyRecord | undefined, code: ScannedCode, ev: Evaluation): VerifyAnswer {
  const events = ev.pack === undefined ? [] : packTimeline(v.state, ev.pack, ev.lot, v.signerAt);
  const full = ev.pack !== undefined && audience(who, events, ev.product?.manufacturer) === 'full';
  // One checkpoint for both proofs, covering the pack's newest entry and its lot's recall: the newest, whose map
  // roots are the maps' current state (server/map).
  const cp = v.proofs.latest(coverOf(ev), v.map.size);
  return {
    verdict: ev.verdict,
    reasons: ev.reasons.map(reason),
    message: VERDICT_MESSAGES[ev.verdict],
    product: ev.product === undefined ? null : productAnswer(ev.product, v.keys, v.state),
    pack: ev.pack === undefined ? null : packAnswer(ev.pack, ev.lot, full),
    journey: journey(events, v.keys, full, ev.pack),
    proof: ev.pack === undefined ? null : v.proofs.inclusionIn(ev.pack.lastIndex, cp),
    map: mapAnswer(v, code, ev, cp.note),
  };
}

/** The pack's state proven (core/api/answers.ts MapAnswer); absent keys get proofs of absence. */
function mapAnswer(v: VerifyServices, code: { gtin: string; serial: string }, ev: Evaluation, checkpoint: string): MapAnswer {
  const pack = ev.pack;
  const lot = pack === undefined ? undefined : ev.lot;
  const proofs = v.map.prove(pack?.gtin ?? code.gtin, pack?.serial ?? code.serial, lot?.lot);
  return {
    checkpoint,
    pack: toBase64(proofs.pack),
    value: pack === undefined || lot === undefined ? null : { state: pack.state, lot: pack.lot, expiry: pack.expiry, maker: lot.manufacturer, lastEntry: pack.lastHash },
    lot: proofs.lot === undefined ? null : toBase64(proofs.lot),
    lotValue: lot?.recalledIndex === null || lot?.recalledIndex === undefined ? null : { state: 'recalled', lastEntry: v.leafHashAt(lot.recalledIndex) },
  };
}

/**
 * The server's own verdict on a code, as an anonymous verification would give it, recording nothing (a patient's
 * report keeps it beside the sender's claim); null for a code that does not parse.
 */
export function judgeWith(v: VerifyServices): (code: string) => string | null {
  return (text) => {
    let code: ScannedCode;
    try {
      code = parseScannedCode(text);
    } catch {
      return null;
    }
    const found = v.engine.lookup(code);
    return v.engine.evaluate(found, code, { gln: null, location: null }, new Date(), 'scan').verdict;
  };
}
