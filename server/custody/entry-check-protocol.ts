// What the server thread and the entry-check worker (entry-check-worker.ts) exchange. Its own file so that
// neither side imports the other (docs/architecture.md, Custody rules).
import type { Entry } from '../../core/entry/entry.js';
import type { FieldError } from '../../core/errors.js';

/** The signers the worker may accept: GLN and active key, or null for a revoked key. */
export type KeySnapshot = [gln: string, key: Uint8Array | null][];

/**
 * `keys`: replace the worker's signers and the log's origin (entries sign it: core/entry/entry.ts), sent before
 * a check whenever the KeyBook changed; `id`: check a body.
 */
export type CheckRequest = { keys: KeySnapshot; origin: string } | { id: number; bytes: Uint8Array; now: number };

/** Leaf bytes up to which a checked entry comes back whole (CheckPassed.entries). */
export const SMALL_ENTRY_BYTES = 64 * 1024;

export interface EntryMeta {
  kind: Entry['kind'];
  signer: string;
  nonce: string;
  at: string;
}

/** A request that passed every check (entry-checks.ts), with what the append needs. */
export interface CheckPassed {
  id: number;
  ok: true;
  /** The body held one envelope (answered as one), not {"entries":[...]}. */
  single: boolean;
  /**
   * Each entry, or null for one whose leaf is over SMALL_ENTRY_BYTES: a batch of 100,000 serials cloned into the
   * server thread and on to the ledger writer cost ~20 ms of the event loop each way; whoever needs it whole
   * decodes it from its leaf bytes (the ledger writer thread does, in its own thread).
   */
  entries: (Entry | null)[];
  /** What the append needs of each entry besides its bytes. */
  metas: EntryMeta[];
  /** Each entry's leaf bytes (its canonical encoding) and leaf hash. */
  leaves: Uint8Array[];
  hashes: Uint8Array[];
  /** The key each entry's signature was verified with. */
  keys: Uint8Array[];
}

export interface CheckRefused {
  id: number;
  ok: false;
  code: string;
  message: string;
  fields?: FieldError[];
}

export type CheckReply = CheckPassed | CheckRefused;
