// The integrity guard: the running server's own cheap checks that the ledger under it was not rewritten, so
// that POST /verify answers LOG_INTEGRITY with the reason instead of a verdict drawn from altered data.
// `medtrail audit` recomputes everything; this checks only what a verdict stands on, in O(log n) reads:
//
// head (at start, then at most once a second, lazily on use and on a timer):
//   - the newest stored checkpoint carries a valid signature of the log key, and its row says what it signs;
//   - the stored tree still produces that checkpoint's root at its size, and the head's root at the head's size
//     (a leaf or node rewritten under a signed checkpoint, a deleted node);
//   - the tree never shrank below any checkpoint this server signed or verified (the witness, below).
// leaf (each verification, for the pack's newest entry; a pass is trusted for `leafCacheMs`, and only while no
// other connection has written to the file: SQLite's data_version, read on every check, moves when another
// process commits, and then every leaf and the head are checked afresh at their next use; the commits of this
// server's own ledger writer thread are told apart, setOwnWrites()):
//   - the leaf is there, its bytes hash to its stored leaf hash, and that hash is the one the custody index
//     names for the pack (a reordered or swapped row);
//   - it is included, through the stored nodes, in a checkpoint that carries a valid log signature.
//
// The witness: a file beside the database (`<db>.witness`) holding the newest checkpoint this guard verified.
// Swapping the database for an older copy leaves a witness beyond the tree: detected at the next start, by
// `medtrail audit` (which reads it too) and by any client holding a newer checkpoint. It is a tripwire for a
// careless or hasty rollback, not a defence against an operator who also deletes the witness: that is what
// checkpoints kept by clients and mirrors are for (SECURITY.md).
//
// A failure is sticky until restart: once the ledger has been seen altered, nothing this process says about
// it is trustworthy. Errors that are not evidence of tampering (a busy database) are rethrown as they are.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { equalBytes, toHex } from '../../core/bytes.js';
import { openCheckpoint, type Checkpoint } from '../../core/log/checkpoint.js';
import { isMedtrailError, MedtrailError } from '../../core/errors.js';
import { leafHash, verifyInclusion } from '../../core/log/merkle.js';
import type { LedgerStore } from '../store/ledger-store.js';
import type { LogService } from './log-service.js';

export interface IntegrityOptions {
  /** How long a passed head check is trusted before it runs again (default 1,000 ms). */
  headCheckMs?: number;
  /**
   * How long a leaf that passed is trusted before it is read and hashed again, while no other process wrote
   * to the database (default 10 minutes: a batch leaf is megabytes, and re-hashing one held the event loop
   * ~10 ms, which every 10 s per batch was the p99 of verification under load).
   */
  leafCacheMs?: number;
  /** The witness file (default witnessPath(db)); null keeps none (an in-memory database). */
  witnessPath?: string | null;
}

/** Where the newest verified checkpoint of the database at `db` is kept. */
export function witnessPath(db: string): string {
  return `${db}.witness`;
}

/** Reads a witness file: the checkpoint note, or undefined when there is none. */
export function readWitness(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}

const MAX_LEAF_CACHE = 10_000;

export class IntegrityGuard {
  private failed: string | undefined;
  private headOkUntil = 0;
  private readonly leafOkUntil = new Map<number, number>();
  private readonly headCheckMs: number;
  private readonly leafCacheMs: number;
  private readonly witness: string | null;
  /** The newest checkpoint known good: from the witness at start, then every one this guard verified. */
  private high: Checkpoint | undefined;
  private highNote: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dataVersion: number | undefined;

  constructor(
    private readonly store: LedgerStore,
    private readonly log: LogService,
    opts: IntegrityOptions & { db?: string } = {},
  ) {
    this.headCheckMs = opts.headCheckMs ?? 1000;
    this.leafCacheMs = opts.leafCacheMs ?? 600_000;
    this.witness = opts.witnessPath !== undefined ? opts.witnessPath : opts.db !== undefined && opts.db !== ':memory:' && opts.db !== '' ? witnessPath(opts.db) : null;
    if (this.witness !== null) {
      const note = readWitness(this.witness);
      if (note !== undefined) {
        try {
          this.high = openCheckpoint(note, log.verifierKey);
          this.highNote = note;
        } catch (e) {
          if (!isMedtrailError(e)) throw e;
          this.markFailed(`the witness ${this.witness} holds no checkpoint signed by this log's key (${e.code})`);
        }
      }
    }
  }

  /** The reason the ledger failed a check, or undefined while it has passed them all. */
  failure(): string | undefined {
    return this.failed;
  }

  /** Runs the head check now; never throws for a failed check (see failure()). */
  checkNow(): string | undefined {
    this.headOkUntil = 0;
    try {
      this.assertHead();
    } catch (e) {
      if (!isMedtrailError(e) || e.code !== 'LOG_INTEGRITY') throw e;
    }
    return this.failed;
  }

  /** Re-checks the head every `ms` until stop() (the timer does not keep the process alive). */
  start(ms = this.headCheckMs): void {
    this.stop();
    this.timer = setInterval(() => {
      try {
        this.checkNow();
      } catch {
        /* a busy database: the next tick tries again */
      }
    }, ms);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** LOG_INTEGRITY unless the newest checkpoint, the head and the witness agree with the stored tree. */
  assertHead(now = Date.now()): void {
    // The log frozen by another check (the PostgreSQL guard, server/pg/replica.ts) fails this one too.
    this.failed ??= this.log.frozen();
    if (this.failed !== undefined) throw this.error();
    if (now < this.headOkUntil) return;
    this.guarded(() => {
      // Checkpoint first, then head: the head only grows, so a checkpoint read first is never beyond it
      // unless leaves were taken away.
      const stored = this.store.latestCheckpoint();
      const head = this.store.head();
      if (stored !== undefined) {
        const cp = this.opened(stored.note, 'the newest stored checkpoint');
        if (cp.size !== stored.size || !equalBytes(cp.root, stored.root)) this.fail(`the checkpoint row at size ${stored.size} does not hold what its signed note says`);
        this.consistentWith(cp, head.size, 'the newest signed checkpoint');
        if (this.high === undefined || cp.size > this.high.size) this.raise(cp, stored.note);
      }
      if (this.high !== undefined) this.consistentWith(this.high, head.size, 'the newest checkpoint this server verified (witness)');
      if (!equalBytes(this.log.rootAt(head.size), head.root)) this.fail(`the head (size ${head.size}) does not commit to the stored tree`);
    });
    this.headOkUntil = now + this.headCheckMs;
  }

  /**
   * LOG_INTEGRITY unless leaf `index` is present, hashes to its stored hash (and to `expectedHex`, the hash the
   * custody index names, when given), and is included in a validly signed checkpoint through the stored nodes.
   */
  assertLeaf(index: number, expectedHex?: string, now = Date.now()): void {
    // Another process committed to the file since the last look: whatever was checked before may have changed.
    const version = this.store.dataVersion();
    if (version !== this.dataVersion) {
      const ours = this.dataVersion !== undefined && this.ownWrites();
      this.dataVersion = version;
      if (!ours) {
        this.leafOkUntil.clear();
        this.headOkUntil = 0;
      }
    }
    this.assertHead(now);
    const until = this.leafOkUntil.get(index);
    if (until !== undefined && now < until) return;
    this.guarded(() => {
      const leaf = this.store.leaf(index);
      if (leaf === undefined) this.fail(`leaf ${index} is missing from the log`);
      if (!equalBytes(leafHash(leaf.bytes), leaf.hash)) this.fail(`leaf ${index}: its bytes do not hash to its stored leaf hash`);
      if (expectedHex !== undefined && toHex(leaf.hash) !== expectedHex) {
        this.fail(`leaf ${index} is not the entry the custody index names (${expectedHex.slice(0, 16)}...): rows were moved or replaced`);
      }
      const stored = this.log.checkpoint(index + 1);
      const cp = stored.note === this.highNote ? this.high! : this.opened(stored.note, `the checkpoint at size ${stored.size}`);
      try {
        verifyInclusion(leaf.hash, index, cp.size, this.log.inclusion(index, cp.size).proof, cp.root);
      } catch (e) {
        if (!isMedtrailError(e)) throw e;
        this.fail(`leaf ${index} is not included in the signed checkpoint at size ${cp.size} (${e.code})`);
      }
      if (this.high === undefined || cp.size > this.high.size) this.raise(cp, stored.note);
    });
    if (this.leafOkUntil.size >= MAX_LEAF_CACHE) this.leafOkUntil.clear();
    this.leafOkUntil.set(index, now + this.leafCacheMs);
  }

  private ownWrites: () => boolean = () => false;

  /**
   * `wrote()`: whether this server's ledger writer thread (server/custody/ledger-writer.ts) has an append open or
   * committed since it was last asked. A data_version that moved then moved by our own hand, and what was checked
   * stays checked. Another process committing in the same moment passes unseen until the rows it changed are
   * checked again (the head check each second still runs; `medtrail audit` reads everything).
   */
  setOwnWrites(wrote: () => boolean): void {
    this.ownWrites = wrote;
  }

  private opened(note: string, what: string): Checkpoint {
    try {
      return openCheckpoint(note, this.log.verifierKey);
    } catch (e) {
      if (!isMedtrailError(e)) throw e;
      return this.fail(`${what} does not carry a valid signature of the log key (${e.code})`);
    }
  }

  /** The stored tree must still produce cp's root at cp's size, and must not have shrunk below it. */
  private consistentWith(cp: Checkpoint, headSize: number, what: string): void {
    if (cp.size > headSize) this.fail(`the tree shrank: ${what} is at size ${cp.size}, the head at ${headSize} (leaves removed, or an older copy of the database restored)`);
    if (cp.size > 0 && !equalBytes(this.log.rootAt(cp.size), cp.root)) this.fail(`the stored tree no longer produces the root of ${what} at size ${cp.size}: the ledger was rewritten`);
  }

  /** Remembers a newer verified checkpoint, in memory and in the witness file (written whole, then renamed). */
  private raise(cp: Checkpoint, note: string): void {
    this.high = cp;
    this.highNote = note;
    if (this.witness === null) return;
    const tmp = `${this.witness}.tmp`;
    writeFileSync(tmp, note);
    renameSync(tmp, this.witness);
  }

  /** Runs a check; a missing tree node (STORE_CORRUPT) is evidence too. Other errors pass through. */
  private guarded(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (isMedtrailError(e) && e.code === 'STORE_CORRUPT' && this.failed === undefined) this.markFailed(`the stored tree is incomplete: ${e.message}`);
      if (this.failed !== undefined) throw this.error();
      throw e;
    }
  }

  private fail(reason: string): never {
    this.markFailed(reason);
    throw this.error();
  }

  /** Sticky: the first reason is kept, and the log is frozen so nothing is appended or signed over it. */
  private markFailed(reason: string): void {
    this.failed ??= reason;
    this.log.freeze(this.failed);
  }

  private error(): MedtrailError {
    return new MedtrailError('LOG_INTEGRITY', `the ledger failed an integrity check; no verdict can be given: ${this.failed}`);
  }
}
