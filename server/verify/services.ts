// The verify services of one ledger: the engine, the proofs, the scans and request authentication, built on
// the custody services (one KeyBook, one CustodyState per ledger). Memoized per Ledger like custodyServices,
// so that every router and test sees the same scan queue.
import { join } from 'node:path';
import { toHex } from '../../core/bytes.js';
import { isMedtrailError } from '../../core/errors.js';
import type { Ledger } from '../context.js';
import type { MapService } from '../map/map-service.js';
import { custodyServices } from '../custody/services.js';
import type { CustodyState } from '../custody/state.js';
import { IntegrityGuard, type IntegrityOptions } from '../log/integrity.js';
import type { KeyBook } from '../log/keybook.js';
import { Proofs } from './answer.js';
import type { RequestAuth } from '../http/auth.js';
import { DEFAULT_SEEN_WINDOW_MS, VerdictEngine } from './engine.js';
import { ScanStore, type ScanStoreOptions } from './scans.js';
import { SunChecker, tagKeySecret } from './sun.js';
import { ScanShare } from './scan-share.js';
import type { Scan } from './scans.js';
import { TagSignatureChecker } from './tag-signature.js';

export interface VerifyServices {
  keys: KeyBook;
  state: CustodyState;
  engine: VerdictEngine;
  /** NTAG 424 DNA SUN keys and read counters (server/verify/sun.ts). */
  sun: SunChecker;
  proofs: Proofs;
  /** The state maps every checkpoint commits to (server/map): the pack's state proven in the verify answer. */
  map: MapService;
  /** Hex leaf hash of the leaf at `index`. */
  leafHashAt: (index: number) => string;
  scans: ScanStore;
  /** Patients' anonymous scans since `sinceMs` (the alert feed): this server's, or every server's on PostgreSQL. */
  anonymousScans(sinceMs: number, limit: number): Promise<Scan[]>;
  auth: RequestAuth;
  /** The ledger's own integrity checks (server/log/integrity.ts): LOG_INTEGRITY instead of a verdict. */
  integrity: IntegrityGuard;
  /** The signer of the leaf at `index` (for lot-level entries such as a recall). */
  signerAt: (index: number) => string | undefined;
  /** Flushes the scan queue (before the database closes). */
  close(): void;
}

export interface VerifyOptions {
  scans?: ScanStoreOptions;
  /** Window for SEEN_FAR_APART (default 30 minutes). */
  seenWindowMs?: number;
  integrity?: IntegrityOptions;
}

const cache = new WeakMap<Ledger, VerifyServices>();

export function verifyServices(ledger: Ledger, opts: VerifyOptions = {}): VerifyServices {
  const have = cache.get(ledger);
  if (have !== undefined) return have;
  const { keys, state, auth, map } = custodyServices(ledger);
  const scans = new ScanStore(ledger.store.path, { ...(opts.seenWindowMs !== undefined ? { memoryWindowMs: opts.seenWindowMs } : {}), ...opts.scans });
  const tags = new TagSignatureChecker(keys, ledger.store);
  // With the ledger in PostgreSQL, keys and counters are shared there, sealed under a secret every server holds
  // beside the log key (or MEDTRAIL_TAG_KEY_SECRET): server/verify/sun.ts.
  const pgCopy = ledger.pg;
  const sun =
    pgCopy !== undefined && ledger.keyDir !== undefined
      ? new SunChecker(ledger.store.connectionFor('tag-keys'), tagKeySecret(join(ledger.keyDir, 'ledger')), pgCopy.pg.rows)
      : new SunChecker(ledger.store.connectionFor('tag-keys'), tagKeySecret(ledger.store.path));
  pgCopy?.eachRound(() => sun.pull());
  // Participants' scans meet across the servers of a ledger in PostgreSQL (server/verify/scan-share.ts).
  const share = pgCopy === undefined ? undefined : new ScanShare(scans, pgCopy.pg.rows, () => pgCopy.pg.notify('scans'), opts.seenWindowMs ?? DEFAULT_SEEN_WINDOW_MS);
  if (share !== undefined) pgCopy?.eachRound(() => share.pull());
  const engine = new VerdictEngine({ state, keys, tags, scans, sun, ...(opts.seenWindowMs !== undefined ? { seenWindowMs: opts.seenWindowMs } : {}) });
  // Checked once at start (a failure is kept and answered on every verification), then every second.
  const integrity = new IntegrityGuard(ledger.store, ledger.log, { db: ledger.store.path, ...opts.integrity });
  integrity.checkNow();
  // The ledger writer thread's commits move the file's data_version too; they are this server's own.
  integrity.setOwnWrites(() => custodyServices(ledger).ownWrites());
  // The keys the server trusts are leaves too: a participant leaf whose key was replaced on disk would let a
  // forged tag or entry pass. Every participant leaf is checked (bytes against hash, hash in a signed
  // checkpoint) before the first verification; a failure freezes the log like any other.
  try {
    for (const leaf of ledger.store.participantLeaves()) integrity.assertLeaf(leaf.index, toHex(leaf.hash));
  } catch (e) {
    // A server over PostgreSQL that does not sign and has not adopted a checkpoint yet (server/pg/replica.ts)
    // checked every leaf of its copy against PostgreSQL's hashes and root as it copied them; the signed
    // checkpoint follows within a round, and each leaf is checked again at its first verification.
    if (!isMedtrailError(e, 'LOG_INTEGRITY') && !isMedtrailError(e, 'CHECKPOINT_PENDING')) throw e;
  }
  integrity.start();
  const v: VerifyServices = {
    keys,
    state,
    engine,
    sun,
    proofs: new Proofs(ledger.log),
    map,
    leafHashAt: (index) => toHex(ledger.store.perfectHash(0, index)),
    scans,
    anonymousScans: (since, limit) => (share !== undefined ? share.anonymousSince(since, limit) : Promise.resolve(scans.anonymousSince(since, limit))),
    auth,
    integrity,
    signerAt: (index) => ledger.store.leafInfo(index)?.signer,
    close: () => {
      integrity.stop();
      // A last check brings the witness up to the newest checkpoint before the database closes.
      try {
        integrity.checkNow();
      } catch {
        /* a busy database: the witness stays at the last one verified */
      }
      share?.close();
      scans.close();
    },
  };
  cache.set(ledger, v);
  return v;
}
