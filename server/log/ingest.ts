// Signature-checked appends: the path every entry takes into the log. Each entry must be canonical, signed by
// the key that the log currently has for its signer (KeyBook), and fresh (no replayed nonce). The custody
// rules run between the checks and the append, in the same transaction.
import { decodeEntry, encodeEntry, verifyEntry, type Entry } from '../../core/entry/entry.js';
import { MedtrailError } from '../../core/errors.js';
import { fromBase64 } from '../../core/bytes.js';
import type { LedgerStore } from '../store/ledger-store.js';
import { KeyBook } from './keybook.js';
import type { Appended, AppendInput, LogService } from './log-service.js';

/** Loads the KeyBook by replaying the participant entries of the log (few; read once at start). */
export function loadKeyBook(store: LedgerStore): KeyBook {
  const gln = store.getMeta('authority_gln');
  const pk = store.getMeta('authority_public_key');
  const origin = store.getMeta('origin');
  if (gln === undefined || pk === undefined || origin === undefined) throw new MedtrailError('STORE_CORRUPT', 'the database has no authority key or log origin');
  const book = new KeyBook({ gln, publicKey: fromBase64(pk, 32) }, origin);
  for (const leaf of store.participantLeaves()) book.observe(decodeEntry(leaf.bytes));
  return book;
}

/** Checks one entry's signature against the signer's active key; coded errors otherwise. */
export function checkSignature(keys: KeyBook, e: Entry): void {
  const key = keys.activeKey(e.signer);
  if (key === undefined) {
    if (keys.get(e.signer)?.revoked === true) throw new MedtrailError('KEY_REVOKED', `the key of ${e.signer} is revoked`);
    throw new MedtrailError('SIGNER_UNKNOWN', `signer ${e.signer} is not enrolled`);
  }
  if (!verifyEntry(e, key, keys.origin)) {
    throw new MedtrailError('ENTRY_BAD_SIGNATURE', `the signature of this ${e.kind} entry does not verify with the key of ${e.signer} for the log ${keys.origin}`);
  }
}

export function toAppendInput(e: Entry): AppendInput {
  return { bytes: encodeEntry(e), kind: e.kind, signer: e.signer, nonce: e.nonce, at: e.at };
}

/**
 * Verifies every signature, then appends all entries in one transaction (all or nothing). `apply` runs inside
 * that transaction after the leaves are placed (custody effects); a throw there rolls everything back.
 */
export function appendSigned(log: LogService, keys: KeyBook, entries: readonly Entry[], apply?: (appended: Appended[]) => void): Appended[] {
  for (const e of entries) checkSignature(keys, e);
  return appendChecked(log, keys, entries, entries.map(toAppendInput), apply);
}

/**
 * Appends entries whose signatures the caller has checked against `keys` (server/custody/entry-checks.ts),
 * as `inputs` (their leaf bytes), in one transaction with `apply`; then the KeyBook observes them.
 */
export function appendChecked(log: LogService, keys: KeyBook, entries: readonly Entry[], inputs: readonly AppendInput[], apply?: (appended: Appended[]) => void): Appended[] {
  const out = log.store.transaction(() => {
    const appended = log.append(inputs);
    apply?.(appended);
    return appended;
  });
  for (const e of entries) keys.observe(e);
  return out;
}
