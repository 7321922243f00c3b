// The verdict engine: from a scanned code, the custody state and the scans seen before, the reasons that
// apply, and from them the verdict (core/verdict.ts `decide`, which holds the precedence and its rationale).
//
// Every check runs, not just the first that fails, so the answer lists every reason (a recalled lot that is
// also expired says both); the verdict is the most severe. Reads are point lookups on primary keys and one
// index range on the scans: nothing here grows with the size of the ledger.
import { isExpired } from '../../core/gs1/identifiers.js';
import { dataMismatchReason, decide, decommissionedReason, isDecommissionedState, sortReasons, type ReasonCode, type Verdict } from '../../core/verdict.js';
import type { CustodyState, LotRow, PackRow, ProductRow } from '../custody/state.js';
import type { KeyBook } from '../log/keybook.js';
import type { ScannedCode } from '../../core/gs1/scanned-code.js';
import type { Scan, ScanStore } from './scans.js';
import type { SunChecker, SunReading } from './sun.js';
import type { TagSignatureChecker } from './tag-signature.js';

/** Two scans of one serial in different places within this window raise SEEN_FAR_APART (default 30 min). */
export const DEFAULT_SEEN_WINDOW_MS = 30 * 60 * 1000;

export interface Scanner {
  /** GLN of the participant who signed the request; null when anonymous. */
  gln: string | null;
  /** Where the scan happened, as the scanner says (free text), or null. */
  location: string | null;
}

export interface EngineDeps {
  state: CustodyState;
  keys: KeyBook;
  tags: TagSignatureChecker;
  /** NTAG 424 DNA SUN checks (server/verify/sun.ts); without it SUN parameters are TAG_SUN_NOT_CHECKED. */
  sun?: SunChecker;
  scans: ScanStore;
  seenWindowMs?: number;
}

/** What the ledger holds for a scanned code: read first, so that its integrity is checked before a verdict. */
export interface Lookup {
  product: ProductRow | undefined;
  pack: PackRow | undefined;
  lot: LotRow | undefined;
}

/** A verification ('scan': the tag's signature is checked and the scan is to be recorded) or a read. */
export type EvaluationMode = 'scan' | 'read';

export interface Evaluation extends Lookup {
  verdict: Verdict;
  reasons: ReasonCode[];
  /** What recording this verification writes (scan mode): the scan row, and a SUN reading's counter. */
  toRecord: { scan: Scan | undefined; sun: SunReading | undefined };
}

export class VerdictEngine {
  // Products never change once registered (no entry kind updates one), so a hit can be kept for good.
  private readonly products = new Map<string, ProductRow>();
  private readonly windowMs: number;

  constructor(private readonly d: EngineDeps) {
    this.windowMs = d.seenWindowMs ?? DEFAULT_SEEN_WINDOW_MS;
  }

  product(gtin: string): ProductRow | undefined {
    let p = this.products.get(gtin);
    if (p === undefined) {
      p = this.d.state.product(gtin);
      if (p !== undefined) this.products.set(gtin, p);
    }
    return p;
  }

  /** The product, pack and lot a code names, as the custody state holds them (reads only). */
  lookup(code: { gtin: string; serial: string; lot?: string | undefined }): Lookup {
    const product = this.product(code.gtin);
    const pack = product === undefined ? undefined : this.d.state.pack(code.gtin, code.serial);
    const lot = pack !== undefined ? this.d.state.lot(pack.gtin, pack.lot) : code.lot !== undefined && product !== undefined ? this.d.state.lot(code.gtin, code.lot) : undefined;
    return { product, pack, lot };
  }

  /**
   * The verdict on a scanned code, from what `lookup` read. Pure: it writes nothing; in 'scan' mode (a
   * verification) it checks the tag's signature and SUN reading and says what recording it would write
   * (`toRecord`), which the verify flow does after the integrity check (server/verify/flow.ts); in 'read' mode
   * (a read of the pack's page) no signature is expected. `scannedAt` (a participant's scan delivered late) is
   * when the scan happened: compared with other scans at that time; the pack's state and expiry are judged as
   * of `now`.
   */
  evaluate(found: Lookup, code: ScannedCode, scanner: Scanner, now: Date, mode: EvaluationMode, scannedAt: Date = now): Evaluation {
    const record = mode === 'scan';
    const reasons: ReasonCode[] = [];
    const { product, pack, lot } = found;
    let sunReading: SunReading | undefined;

    if (product === undefined) reasons.push('PRODUCT_UNKNOWN');
    else if (pack === undefined) reasons.push(code.lot !== undefined && lot === undefined ? 'BATCH_UNKNOWN' : 'PACK_UNKNOWN');

    // The data on the tag against the ledger (EU hub A68 / A52).
    const mismatch = pack === undefined ? undefined : dataMismatchReason(code, pack);
    if (mismatch !== undefined) reasons.push(mismatch);

    // The manufacturer's signature, over the identity the tag claims (its own lot and expiry when it gives them).
    if (record) {
      // A participant's signed scan of a plain GS1 DataMatrix is taken as the EU system takes it; an anonymous
      // one never reads GENUINE: a serial alone is no proof (serials are seen by many hands).
      if (code.sig === undefined) reasons.push(scanner.gln === null ? 'TAG_SIGNATURE_REQUIRED' : 'TAG_SIGNATURE_ABSENT');
      else if (product !== undefined) {
        const lotV = code.lot ?? pack?.lot;
        const expV = code.expiry ?? pack?.expiry;
        // The key that registered the pack's batch (for a pack the ledger does not know: the maker's current key).
        const batchIndex = pack?.batchIndex ?? lot?.batchIndex ?? Number.MAX_SAFE_INTEGER;
        const r = lotV === undefined || expV === undefined ? 'invalid' : this.d.tags.check({ gtin: code.gtin, serial: code.serial, lot: lotV, expiry: expV }, code.sig, product.manufacturer, batchIndex);
        if (r === 'invalid') reasons.push('TAG_SIGNATURE_INVALID');
        else if (r === 'wrong_key') reasons.push('TAG_SIGNATURE_WRONG_KEY');
        else if (r === 'key_revoked') reasons.push('TAG_KEY_REVOKED');
      }
      if (code.sun !== undefined) {
        if (this.d.sun === undefined) reasons.push('TAG_SUN_NOT_CHECKED');
        else {
          const r = this.d.sun.check(code);
          reasons.push(...r.reasons);
          sunReading = r.reading;
        }
      }
    }

    if (pack !== undefined) {
      if (lot?.recalledIndex !== null && lot?.recalledIndex !== undefined) reasons.push('LOT_RECALLED');
      const s = pack.state;
      if (s === 'dispensed') reasons.push('ALREADY_DISPENSED');
      else if (isDecommissionedState(s)) reasons.push(decommissionedReason(s));
      else if (s === 'missing') reasons.push('PACK_MISSING');
      else if (s === 'in_transit') {
        // The sender and the named recipient handle a pack in transit as a matter of course; anyone else,
        // including an anonymous scan, is told it has not arrived where it is going.
        if (scanner.gln === null || (scanner.gln !== pack.holder && scanner.gln !== pack.inTransitTo)) reasons.push('IN_TRANSIT_NOT_RECEIVED');
      } else if (s === 'active' && scanner.gln !== null && scanner.gln !== pack.holder && this.d.keys.get(scanner.gln)?.role !== 'regulator') {
        reasons.push('SCANNED_OUTSIDE_CUSTODY');
      }
      if (isExpired(pack.expiry, now)) reasons.push('PACK_EXPIRED');
      if (record) this.scanHistory(pack, scanner, scannedAt, reasons);
    }

    const sorted = sortReasons(reasons);
    let verdict = decide(sorted);
    if (verdict === 'GENUINE' && pack !== undefined) sorted.unshift('PACK_ACTIVE');
    verdict = decide(sorted);
    const scan = record && pack !== undefined ? { gtin: pack.gtin, serial: pack.serial, at: scannedAt.getTime(), scanner: scanner.gln, location: scanner.location, verdict } : undefined;
    return { verdict, reasons: sorted, product, pack, lot, toRecord: { scan, sun: sunReading } };
  }

  /** Reasons from earlier scans: the same serial elsewhere within the window; scans since the dispense. */
  private scanHistory(pack: PackRow, scanner: Scanner, now: Date, reasons: ReasonCode[]): void {
    const t = now.getTime();
    const dispensedAt = pack.state === 'dispensed' && pack.dispensedAt !== null ? Date.parse(pack.dispensedAt) : NaN;
    const since = Number.isNaN(dispensedAt) ? t - this.windowMs : Math.min(t - this.windowMs, dispensedAt);
    // Only evidence nobody can forge speaks against a pack: a participant's signed scan. Anonymous scans (their
    // places are whatever the sender typed) never change what another party is told (SECURITY.md).
    const earlier: Scan[] = this.d.scans.recent(pack.gtin, pack.serial, since).filter((s) => s.scanner !== null);
    let farApart = false;
    let afterDispense = false;
    for (const s of earlier) {
      // Within the window on either side: a scan delivered late (scannedAt) may be older than ones already seen.
      if (Math.abs(s.at - t) <= this.windowMs && differentPlaces(scanner, s)) farApart = true;
      if (!Number.isNaN(dispensedAt) && s.at >= dispensedAt) afterDispense = true;
    }
    if (farApart) reasons.push('SEEN_FAR_APART');
    if (afterDispense) reasons.push('SCANNED_AFTER_DISPENSE');
  }
}

/**
 * Whether two scans happened in different places, as far as can be told: two participants (by GLN) are two
 * places; otherwise two given locations that differ are; an anonymous scan without a location has no place,
 * so it never raises an alarm on its own.
 */
function differentPlaces(a: { gln?: string | null; scanner?: string | null; location: string | null }, b: Scan): boolean {
  const ga = a.gln ?? a.scanner ?? null;
  if (ga !== null && b.scanner !== null) return ga !== b.scanner;
  if (a.location !== null && b.location !== null) return norm(a.location) !== norm(b.location);
  return false;
}

function norm(s: string): string {
  return s.trim().replace(/\s+/g, ' ').toLowerCase();
}
