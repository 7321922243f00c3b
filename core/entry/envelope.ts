// The entry envelope's shape: its members, their types and formats (docs/architecture.md, Entries). checkEnvelope()
// reports every bad field at once (every bad field at once) and returns a fresh envelope that core/entry/entry.ts signs, encodes
// and decodes. Only the envelope is checked here; the body's shape belongs to the custody rules. A body must
// still be plain JSON (no lone surrogates, finite numbers, depth limit), or it would have no canonical form.
//
// The checks are also what makes envelopeText() in core/entry/entry.ts sound: every member but body is held to
// characters that JSON never escapes, so only the body needs the canonicaliser.
import { fromBase64, fromBase64Url } from '../bytes.js';
import { SIGNATURE_BYTES } from '../crypto/ed25519.js';
import { FieldErrors, MedtrailError, isMedtrailError, checkedString, checkedStrings } from '../errors.js';
import { isValidGln } from '../gs1/identifiers.js';
import { MAX_JSON_DEPTH, assertPlainJson, memberPath } from './jcs.js';

export const ENTRY_KINDS = ['participant', 'product', 'batch', 'ship', 'receive', 'dispense', 'undo', 'recall', 'decommission', 'prescribe', 'rx_claim', 'rx_release', 'rx_cancel'] as const;
export type EntryKind = (typeof ENTRY_KINDS)[number];

export interface UnsignedEntry<B = Record<string, unknown>> {
  v: 1;
  kind: EntryKind;
  /** GLN of the signer: 13 digits with its check digit. */
  signer: string;
  /** RFC 3339 UTC with milliseconds, e.g. 2026-11-21T17:45:09.123Z. */
  at: string;
  /** base64url (no padding) of 16 random bytes: makes every entry unique and replays detectable. */
  nonce: string;
  /** Leaf hashes (lowercase hex, 64 chars) of the entries this one continues; at most MAX_PREV, no duplicates. */
  prev: string[];
  /** A JSON object; its shape is checked by the custody rules, not here. */
  body: B;
}

export interface Entry<B = Record<string, unknown>> extends UnsignedEntry<B> {
  /** Standard base64 (with padding) of the 64-byte Ed25519 signature over signingBytes(). */
  sig: string;
}

export const MAX_PREV = 10_000;
export const NONCE_BYTES = 16;

const KINDS: ReadonlySet<string> = new Set(ENTRY_KINDS);
const MEMBERS: ReadonlySet<string> = new Set(['v', 'kind', 'signer', 'at', 'nonce', 'prev', 'body', 'sig']);
const AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const LEAF_HEX = /^[0-9a-f]{64}$/;
// A 10,000-item prev full of garbage should not produce a 10,000-line error: report the first few.
const MAX_ITEM_ERRORS = 20;

function own(o: Record<string, unknown>, k: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined;
}

// The round trip through Date refuses 30 February, hour 24 and the like; an invalid date (month 13) is NaN,
// and toISOString() would throw a RangeError on it, so that is checked first.
function isUtcMillis(at: unknown): boolean {
  if (typeof at !== 'string' || !AT.test(at)) return false;
  const t = Date.parse(at);
  return !Number.isNaN(t) && new Date(t).toISOString() === at;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const p: unknown = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/**
 * Checks the envelope, collecting every bad field, and returns a fresh envelope object with members in a
 * fixed order (prev copied, body shared). `sig`: 'check' validates it; 'ignore' lets it be present unchecked.
 */
export function checkEnvelope(value: unknown, sig: 'check'): Entry;
export function checkEnvelope(value: unknown, sig: 'ignore'): UnsignedEntry;
export function checkEnvelope(value: unknown, sig: 'check' | 'ignore'): UnsignedEntry | Entry {
  if (!isPlainObject(value)) {
    throw new MedtrailError('ENTRY_MALFORMED', 'entry is not a JSON object', {
      fields: [{ path: '', code: 'BAD_TYPE', message: 'not a JSON object' }],
    });
  }
  const errs = new FieldErrors();
  const missing = (k: string): boolean => {
    if (own(value, k) !== undefined) return false;
    errs.add(k, 'ENTRY_MALFORMED', 'missing');
    return true;
  };

  // The version decides how everything else is read, so an unknown version is refused before the rest.
  const v = own(value, 'v');
  if (typeof v === 'number' && Number.isInteger(v) && v !== 1) {
    throw new MedtrailError('ENTRY_BAD_VERSION', `entry version ${v} is not supported`, {
      fields: [{ path: 'v', code: 'ENTRY_BAD_VERSION', message: `version ${v} not supported (only 1)` }],
    });
  }
  if (!missing('v') && v !== 1) errs.add('v', 'BAD_TYPE', 'must be the number 1');

  for (const k of Object.keys(value)) {
    if (!MEMBERS.has(k)) errs.add(memberPath('', k), 'ENTRY_MALFORMED', 'unknown member');
  }

  const kind = own(value, 'kind');
  if (!missing('kind')) {
    if (typeof kind !== 'string') errs.add('kind', 'BAD_TYPE', 'must be a string');
    else if (!KINDS.has(kind)) errs.add('kind', 'ENTRY_BAD_KIND', `unknown kind (one of ${ENTRY_KINDS.join(', ')})`);
  }

  const signer = own(value, 'signer');
  if (!missing('signer') && !isValidGln(signer)) {
    if (typeof signer === 'string' && /^[0-9]{13}$/.test(signer)) errs.add('signer', 'GS1_BAD_CHECK_DIGIT', 'GLN check digit does not match');
    else errs.add('signer', 'GS1_BAD_GLN', 'must be a GLN: 13 digits');
  }

  const at = own(value, 'at');
  if (!missing('at') && !isUtcMillis(at)) {
    errs.add('at', 'BAD_INPUT', 'must be an RFC 3339 UTC time with milliseconds, e.g. 2026-11-21T17:45:09.123Z');
  }

  const nonce = own(value, 'nonce');
  if (!missing('nonce')) {
    if (typeof nonce !== 'string') errs.add('nonce', 'BAD_TYPE', 'must be a string');
    else {
      try {
        fromBase64Url(nonce, NONCE_BYTES);
      } catch (e) {
        errs.add('nonce', isMedtrailError(e) ? e.code : 'BAD_INPUT', `must be base64url of ${NONCE_BYTES} bytes`);
      }
    }
  }

  const prev = own(value, 'prev');
  if (!missing('prev')) {
    if (!Array.isArray(prev)) errs.add('prev', 'BAD_TYPE', 'must be an array of leaf hashes');
    else if (prev.length > MAX_PREV) errs.add('prev', 'TOO_LARGE', `more than ${MAX_PREV} leaf hashes`);
    else {
      const seen = new Map<string, number>();
      let reported = 0;
      for (let i = 0; i < prev.length && reported < MAX_ITEM_ERRORS; i++) {
        const h: unknown = prev[i];
        if (typeof h !== 'string' || !LEAF_HEX.test(h)) {
          errs.add(`prev[${i}]`, 'BAD_HEX', 'must be 64 lowercase hex digits');
          reported++;
        } else if (seen.has(h)) {
          errs.add(`prev[${i}]`, 'ENTRY_MALFORMED', `duplicate of prev[${seen.get(h)}]`);
          reported++;
        } else seen.set(h, i);
      }
    }
  }

  const body = own(value, 'body');
  if (!missing('body')) {
    if (!isPlainObject(body)) errs.add('body', 'BAD_TYPE', 'must be a JSON object');
    else {
      try {
        assertPlainJson(body, { path: 'body', maxDepth: MAX_JSON_DEPTH - 1 });
      } catch (e) {
        if (!isMedtrailError(e)) throw e;
        for (const f of e.fields ?? [{ path: 'body', code: e.code, message: e.message }]) errs.add(f.path, f.code, f.message);
      }
    }
  }

  const s = own(value, 'sig');
  if (sig === 'check' && !missing('sig')) {
    if (typeof s !== 'string') errs.add('sig', 'BAD_TYPE', 'must be a string');
    else {
      try {
        if (fromBase64(s).length !== SIGNATURE_BYTES) errs.add('sig', 'SIG_BAD_LENGTH', `must be ${SIGNATURE_BYTES} bytes`);
      } catch (e) {
        errs.add('sig', isMedtrailError(e) ? e.code : 'BAD_BASE64', 'must be standard base64');
      }
    }
  }

  const onlyKind = errs.list.length > 0 && errs.list.every((f) => f.code === 'ENTRY_BAD_KIND');
  errs.throwIfAny(onlyKind ? 'ENTRY_BAD_KIND' : 'ENTRY_MALFORMED', 'malformed entry');
  const out: UnsignedEntry = {
    v: 1,
    kind: entryKindOf(kind),
    signer: checkedString(signer),
    at: checkedString(at),
    nonce: checkedString(nonce),
    prev: checkedStrings(prev),
    body: plainObjectOf(body),
  };
  return sig === 'check' ? { ...out, sig: checkedString(s) } : out;
}

function entryKindOf(v: unknown): EntryKind {
  const k = ENTRY_KINDS.find((x) => x === v);
  if (k === undefined) throw new MedtrailError('INTERNAL', 'a kind passed validation but is not an entry kind');
  return k;
}

function plainObjectOf(v: unknown): Record<string, unknown> {
  if (!isPlainObject(v)) throw new MedtrailError('INTERNAL', 'a body passed validation but is not an object');
  return v;
}
