// The checks an entry request passes before anything is appended, cheapest first (docs/architecture.md,
// Custody rules; issue 12 item 4: anonymous heavy work). Pure: no database, no event loop of its own, so the
// same code runs on the server's thread for small requests and in the entry-check worker thread
// (entry-check-worker.ts) for large ones.
//
//   1. the request's shape: one envelope or {"entries":[...]}, at most MAX_ENTRIES_PER_SUBMIT, every
//      envelope well formed (ENTRY_MALFORMED lists every bad field);
//   2. every signer is enrolled and not revoked (SIGNER_UNKNOWN, KEY_REVOKED): a map lookup each;
//   3. every signature verifies under the signer's active key for this log's origin (ENTRY_BAD_SIGNATURE): one
//      canonical encoding and one Ed25519 verification each;
//   4. only then every body against its kind's schema, and the date (ENTRY_MALFORMED, DATE_INVALID, ...):
//      for a batch or ship of 200,000 packs the costliest check, so it is spent on signed entries only.
// The custody rules (apply.ts) run after these, in the append's transaction.
import { isJsonObject } from '../../core/api/wire.js';
import { validateBody } from '../../core/entry/bodies.js';
import { parseEntry, verifyEntry, type Entry } from '../../core/entry/entry.js';
import { FieldErrors, isMedtrailError, MedtrailError } from '../../core/errors.js';

/** Clock skew tolerated between a signer and the server. */
export const MAX_FUTURE_MS = 5 * 60 * 1000;
/** Most entries in one request. */
export const MAX_ENTRIES_PER_SUBMIT = 1000;

/** What the checks need to know of a signer: its active key, or that it was revoked; undefined: unknown. */
export type SignerLookup = (gln: string) => { key: Uint8Array } | { revoked: true } | undefined;

/** The entries of a request body: one envelope, or {"entries":[...]}; every bad field reported at once. */
export function entriesOf(body: unknown): Entry[] {
  if (!isJsonObject(body)) {
    throw new MedtrailError('ENTRY_MALFORMED', 'request body must be a signed entry or {"entries":[...]}');
  }
  const list = body['entries'];
  if (list === undefined) return [parseEntry(body)];
  if (!Array.isArray(list) || list.length === 0 || Object.keys(body).length !== 1) {
    throw new MedtrailError('ENTRY_MALFORMED', '{"entries":[...]} must hold a non-empty array and nothing else');
  }
  if (list.length > MAX_ENTRIES_PER_SUBMIT) throw new MedtrailError('TOO_LARGE', 'at most 1,000 entries per request');
  const errs = new FieldErrors();
  const out: Entry[] = [];
  list.forEach((v, i) => {
    try {
      out.push(parseEntry(v));
    } catch (e) {
      if (!(e instanceof MedtrailError)) throw e;
      for (const f of e.fields ?? [{ path: '', code: e.code, message: e.message }]) errs.add(`entries[${i}]${f.path === '' ? '' : `.${f.path}`}`, f.code, f.message);
    }
  });
  errs.throwIfAny('ENTRY_MALFORMED', 'malformed entries');
  return out;
}

/** Whether a request body holds one entry (answered as one) rather than {"entries":[...]}. */
export function isSingle(body: unknown): boolean {
  return isJsonObject(body) && !('entries' in body);
}

/** Re-throws a per-entry error with its field paths under `entries[i]` when a request holds several. */
export function within<T>(i: number, many: boolean, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!many || !isMedtrailError(e)) throw e;
    throw new MedtrailError(e.code, `entries[${i}]: ${e.message}`, {
      cause: e,
      fields: (e.fields ?? [{ path: '', code: e.code, message: e.message }]).map((f) => ({ ...f, path: `entries[${i}]${f.path === '' ? '' : `.${f.path}`}` })),
    });
  }
}

/** The number of entries in one request: at least one, at most MAX_ENTRIES_PER_SUBMIT. */
export function checkCount(entries: readonly Entry[]): void {
  if (entries.length === 0) throw new MedtrailError('BAD_INPUT', 'no entries');
  if (entries.length > MAX_ENTRIES_PER_SUBMIT) throw new MedtrailError('TOO_LARGE', `more than ${MAX_ENTRIES_PER_SUBMIT} entries in one request`);
}

/** The active key of `gln`; SIGNER_UNKNOWN or KEY_REVOKED otherwise. */
export function keyOf(lookup: SignerLookup, gln: string): Uint8Array {
  const k = lookup(gln);
  if (k === undefined) throw new MedtrailError('SIGNER_UNKNOWN', `signer ${gln} is not enrolled`);
  if (!('key' in k)) throw new MedtrailError('KEY_REVOKED', `the key of ${gln} is revoked`);
  return k.key;
}

/**
 * Steps 2 and 3: every signer known (all of them before any signature is checked: a lookup costs nothing, a
 * verification of a 14 MB entry costs its canonical encoding), then every signature. Returns the key each
 * entry was verified with, so that a caller on another thread can see whether the keys changed meanwhile.
 */
export function checkSigners(entries: readonly Entry[], lookup: SignerLookup, origin: string): Uint8Array[] {
  const keys = entries.map((e) => keyOf(lookup, e.signer));
  entries.forEach((e, i) => {
    if (!verifyEntry(e, keys[i]!, origin)) {
      throw new MedtrailError('ENTRY_BAD_SIGNATURE', `the signature of this ${e.kind} entry does not verify with the key of ${e.signer} for the log ${origin}`);
    }
  });
  return keys;
}

/** Step 4: every body against its kind's schema, and no entry dated more than MAX_FUTURE_MS ahead of `now`. */
export function checkBodies(entries: readonly Entry[], now: number): void {
  const many = entries.length > 1;
  entries.forEach((e, i) =>
    within(i, many, () => {
      validateBody(e.kind, e.body);
      if (Date.parse(e.at) > now + MAX_FUTURE_MS) {
        throw new MedtrailError('DATE_INVALID', `entry is dated ${e.at}, more than 5 minutes ahead of the server`, {
          fields: [{ path: 'at', code: 'DATE_INVALID', message: 'in the future' }],
        });
      }
    }),
  );
}

/** Steps 2 to 4 over entries already read (step 1), for the log named `origin`. */
export function checkEntries(entries: readonly Entry[], lookup: SignerLookup, origin: string, now: number): Uint8Array[] {
  checkCount(entries);
  const keys = checkSigners(entries, lookup, origin);
  checkBodies(entries, now);
  return keys;
}
