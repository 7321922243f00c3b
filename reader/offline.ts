// The offline layer of a verdict: what the reader can say at once, from the code itself and its cache
// (reader/cache.ts), without the server. The manufacturer's signature in the URI is checked against the
// manufacturer keys of the last sync; the pack's state is the one of the last sync plus the dispenses made
// here since. Reason codes and the verdict precedence are the ledger's own (core/verdict.ts), so the two
// layers speak the same language; the online answer wins whenever there is one.
import { fromBase64, fromBase64Url } from '../core/bytes.js';
import { verify } from '../core/crypto/ed25519.js';
import { gtinHasCompanyPrefix } from '../core/gs1/identifiers.js';
import { isExpired } from '../core/gs1/date.js';
import { packIdentityBytes } from '../core/tag/pack.js';
import { parseScannedCode, type ScannedCode } from '../core/gs1/scanned-code.js';
import { dataMismatchReason, decide, sortReasons, type ReasonCode, type Verdict } from '../core/verdict.js';
import type { CachedPack, CachedParticipant, CachedProduct, ReaderCache } from './cache.js';

/** What a scanned code says (core/gs1/scanned-code.ts: the server reads codes with the same function). */
export type ParsedCode = ScannedCode;

/** A Digital Link URI or a GS1 element string (any AIM prefix), exactly as the server reads it. Coded errors only. */
export function parseCode(code: string): ParsedCode {
  return parseScannedCode(code);
}

export interface OfflineEvaluation {
  /**
   * Set when the cache cannot judge this pack at all: the reader never synced, holds no key of the GTIN's
   * maker, or (no --key) could not read the entries that say what was recalled or dispensed. Then no offline verdict is given (never COUNTERFEIT for a pack the reader simply does not know yet).
   */
  cannotCheck?: string;
  verdict: Verdict;
  reasons: ReasonCode[];
  code: ParsedCode;
  product: CachedProduct | undefined;
  /** The pack as this pharmacy holds it (last sync), if it does. */
  held: CachedPack | undefined;
  lot: string | undefined;
  expiry: string | undefined;
}

/** The manufacturer whose key should have signed a GTIN: the product's maker, else the owner of its prefix. */
function makerOf(cache: ReaderCache, gtin: string, product: CachedProduct | undefined): CachedParticipant | undefined {
  if (product !== undefined) return cache.participant(product.manufacturer);
  return cache.manufacturers().find((m) => m.prefixes.some((p) => gtinHasCompanyPrefix(gtin, p)));
}

function signatureReason(cache: ReaderCache, code: ParsedCode, lot: string | undefined, expiry: string | undefined, maker: CachedParticipant | undefined): ReasonCode | undefined {
  if (code.sig === undefined) return 'TAG_SIGNATURE_ABSENT';
  if (lot === undefined || expiry === undefined) return 'TAG_SIGNATURE_INVALID';
  let msg: Uint8Array;
  let sig: Uint8Array;
  try {
    msg = packIdentityBytes({ gtin: code.gtin, serial: code.serial, lot, expiry });
    sig = fromBase64Url(code.sig);
  } catch {
    return 'TAG_SIGNATURE_INVALID';
  }
  if (sig.length !== 64) return 'TAG_SIGNATURE_INVALID';
  const ok = (p: CachedParticipant) => {
    try {
      return verify(msg, sig, fromBase64(p.publicKey));
    } catch {
      return false;
    }
  };
  if (maker !== undefined && ok(maker)) return undefined;
  // Only the current keys are cached: a tag signed before a key rotation reads as invalid offline until the
  // server (which keeps every past key) answers.
  if (cache.manufacturers().some((m) => m.gln !== maker?.gln && ok(m))) return 'TAG_SIGNATURE_WRONG_KEY';
  return 'TAG_SIGNATURE_INVALID';
}

/** The offline verdict on a scanned code (which must already parse: see parseCode). */
export function evaluateOffline(cache: ReaderCache, code: ParsedCode, now: Date): OfflineEvaluation {
  const reasons: ReasonCode[] = [];
  const product = cache.product(code.gtin);
  const maker = makerOf(cache, code.gtin, product);
  const held = cache.held(code.gtin, code.serial);
  const lot = code.lot ?? held?.lot;
  const expiry = code.expiry ?? held?.expiry;
  if (product === undefined && maker === undefined) reasons.push('PRODUCT_UNKNOWN');
  const sr = signatureReason(cache, code, lot, expiry, maker);
  if (sr !== undefined) reasons.push(sr);
  if (code.sun !== undefined) reasons.push('TAG_SUN_NOT_CHECKED');
  const mismatch = held === undefined ? undefined : dataMismatchReason(code, held);
  if (mismatch !== undefined) reasons.push(mismatch);
  if (lot !== undefined && cache.recalled(code.gtin, lot)) reasons.push('LOT_RECALLED');
  const dispensed = cache.dispensed(code.gtin, code.serial);
  if (dispensed !== undefined) reasons.push('ALREADY_DISPENSED');
  else if (held === undefined && product !== undefined) reasons.push('SCANNED_OUTSIDE_CUSTODY'); // not in this pharmacy's stock
  if (expiry !== undefined) {
    try {
      if (isExpired(expiry, now)) reasons.push('PACK_EXPIRED');
    } catch {
      /* a malformed date was refused by the parser already */
    }
  }
  const sorted = sortReasons(reasons);
  if (decide(sorted) === 'GENUINE' && held !== undefined) sorted.unshift('PACK_ACTIVE');
  const out: OfflineEvaluation = { verdict: decide(sorted), reasons: sorted, code, product, held, lot, expiry };
  if (cache.syncedAt === undefined) out.cannotCheck = 'this reader has never synced with the server: no maker keys are cached';
  else if (maker === undefined) out.cannotCheck = `no key of this product's maker is cached (last sync ${cache.syncedAt})`;
  else if (cache.holdsPolicy && cache.witnessedSize === undefined) out.cannotCheck = `no sync has yet read the ledger's entries up to a checkpoint its witnesses cosigned (last sync ${cache.syncedAt})`;
  else if (!cache.entriesRead) out.cannotCheck = `this reader runs without --key: the ledger's entries (products, recalls, dispenses) are read only by an enrolled participant (last sync ${cache.syncedAt})`;
  return out;
}
