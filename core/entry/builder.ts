// The one entry builder (docs/architecture.md, Entries): every participant — the CLI, the reader's dispense,
// the browser console, the demo — builds and signs its entries here. The body is checked first with the
// validator the server runs (core/entry/bodies.ts), so a malformed body is reported at once, every bad field,
// and never signed; then the envelope gets its time, a fresh nonce and the signature.
import { validateBody, type BodyOf } from './bodies.js';
import { newNonce, signEntry, type Entry, type EntryKind } from './entry.js';

/**
 * Who signs, and for which ledger: a participant's GLN, its Ed25519 seed (which never leaves the process) and
 * the origin of the log it writes to (a server's checkpoint origin; see LedgerClient.origin()).
 */
export interface EntrySigner {
  gln: string;
  seed: Uint8Array;
  log: string;
}

export interface BuildOptions {
  /** The entry's time (default now). */
  at?: Date;
}

export function buildEntry<K extends EntryKind>(kind: K, signer: EntrySigner, body: BodyOf[K], prev: readonly string[] = [], o: BuildOptions = {}): Entry<BodyOf[K]> {
  const checked = validateBody(kind, body);
  return signEntry({ v: 1, kind, signer: signer.gln, at: (o.at ?? new Date()).toISOString(), nonce: newNonce(), prev: [...prev], body: checked }, signer.seed, signer.log);
}
