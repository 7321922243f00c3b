// The log service: appends leaves, signs checkpoints, serves entries and proofs.
//
// Order of effects for an append (docs/architecture.md, The ledger):
//   1. inside one IMMEDIATE transaction: refuse replays, insert the leaves and the perfect-subtree hashes they
//      complete, compute the new root, move the head by compare-and-swap (plus any custody effects the caller
//      runs in the same transaction);
//   2. commit (synchronous=FULL: durable when it returns);
//   3. only then acknowledge: the caller gets indexes and leaf hashes.
// Checkpoints are signed afterwards, outside any write transaction, over what the head says: committed leaves
// only. One signature covers every append since the last one (signing is batched by `checkpointIntervalMs`).
import { signCheckpoint, verifierKey } from '../../core/log/checkpoint.js';
import { publicKeyFromSeed } from '../../core/crypto/ed25519.js';
import { MedtrailError } from '../../core/errors.js';
import {
  completedSubtrees,
  consistencyProof,
  inclusionProof,
  leafHash,
  rootAt,
  type PerfectHashReader,
} from '../../core/log/merkle.js';
import type { LedgerStore, NewLeaf, NewNode, StoredCheckpoint, StoredLeaf } from '../store/ledger-store.js';

export interface LogConfig {
  /** C2SP checkpoint origin, also the key name, e.g. `medtrail.example/log`. */
  origin: string;
  /**
   * The log's Ed25519 private seed (32 bytes). A mirror (server/mirror) has none: it holds the operator's log,
   * gives `publicKey` instead, appends leaves it checked and never signs (docs/architecture.md, Mirrors).
   */
  seed?: Uint8Array;
  /** The log's public key, for a log opened without its seed (a mirror). */
  publicKey?: Uint8Array;
  /** A new checkpoint is signed at most this often while appends keep coming (default 200 ms). */
  checkpointIntervalMs?: number;
  /** Leaf bytes after which a page of entries() stops (default MAX_PAGE_BYTES). */
  pageBytes?: number;
  /** How long covering() waits for a signing round before CHECKPOINT_PENDING (default COVER_WAIT_MS). */
  coverWaitMs?: number;
}

export interface AppendInput {
  bytes: Uint8Array;
  kind: string;
  signer: string;
  nonce: string;
  at: string;
  /** The leaf hash of `bytes`, when the caller computed it already (off the event loop: custody/entry-checker.ts). */
  leafHash?: Uint8Array;
}

/** The state maps as signing in rounds sees them (server/map/map-service.ts). */
export interface AsyncMaps {
  /** Brings the maps in memory to the head as one read shows it, a slice at a time; resolves with that size. */
  advance(): Promise<number>;
  /** Serves the maps at `size` (the size advance() reached) and returns their checkpoint extension line. */
  publish(size: number): string;
  /** Requests waiting for a round (+1 when one starts waiting, -1 when it stops): rounds with waiters hurry. */
  waiting?(delta: number): void;
}

export interface Appended {
  index: number;
  leafHash: Uint8Array;
}

export const MAX_ENTRIES_PER_PAGE = 1000;
/** How long a request waits for a signing round to cover what it needs before CHECKPOINT_PENDING. */
export const COVER_WAIT_MS = 2000;
/**
 * A page of leaves stops once its leaf bytes reach this (at least one leaf, however large): 1,000 leaves of
 * large batches were 0.65 s of one request on the event loop (issue 12 item 4). Clients page on from `next`.
 */
export const MAX_PAGE_BYTES = 1024 * 1024;

export class LogService {
  readonly origin: string;
  readonly publicKey: Uint8Array;
  readonly verifierKey: string;
  private readonly seed: Uint8Array | undefined;
  private readonly intervalMs: number;
  private readonly pageBytes: number;
  private readonly coverWaitMs: number;
  private lastSignedAt = 0;
  private frozenReason: string | undefined;

  constructor(
    readonly store: LedgerStore,
    cfg: LogConfig,
  ) {
    this.origin = cfg.origin;
    this.seed = cfg.seed;
    const pk = cfg.seed !== undefined ? publicKeyFromSeed(cfg.seed) : cfg.publicKey;
    if (pk === undefined) throw new MedtrailError('KEYFILE_BAD', 'a log needs its seed, or its public key when it is a mirror');
    this.publicKey = pk;
    this.verifierKey = verifierKey(cfg.origin, this.publicKey);
    this.intervalMs = cfg.checkpointIntervalMs ?? 200;
    this.pageBytes = cfg.pageBytes ?? MAX_PAGE_BYTES;
    this.coverWaitMs = cfg.coverWaitMs ?? COVER_WAIT_MS;
  }

  /**
   * Appends leaves atomically. Runs inside the caller's transaction when there is one (so custody state and
   * leaves commit together); otherwise in its own. Refuses a replayed (signer, nonce) with ENTRY_REPLAYED.
   */
  append(inputs: readonly AppendInput[]): Appended[] {
    this.assertNotFrozen();
    return this.store.transaction(() => {
      const head = this.store.head();
      const overlay = new Map<string, Uint8Array>();
      const read: PerfectHashReader = (level, index) => overlay.get(`${level}/${index}`) ?? this.store.perfectHash(level, index);
      const leaves: NewLeaf[] = [];
      const nodes: NewNode[] = [];
      const seen = new Set<string>();
      let size = head.size;
      for (const input of inputs) {
        const key = `${input.signer}/${input.nonce}`;
        if (seen.has(key) || this.store.nonceUsed(input.signer, input.nonce)) {
          throw new MedtrailError('ENTRY_REPLAYED', `signer ${input.signer} already used nonce ${input.nonce}`);
        }
        seen.add(key);
        const index = size++;
        const hash = input.leafHash ?? leafHash(input.bytes);
        for (const sub of completedSubtrees(index, hash, read)) {
          overlay.set(`${sub.level}/${sub.index}`, sub.hash);
          if (sub.level > 0) nodes.push(sub);
        }
        leaves.push({ index, hash, bytes: input.bytes, kind: input.kind, signer: input.signer, nonce: input.nonce, at: input.at });
      }
      const root = rootAt(size, read);
      this.store.appendLeaves(head.size, leaves, nodes, { size, root });
      return leaves.map((l) => ({ index: l.index, leafHash: l.hash }));
    });
  }

  /**
   * Freezes the log after a failed integrity check (server/log/integrity.ts): from then on nothing is appended
   * and no checkpoint is signed, since a signature would vouch for a tree that was altered under us.
   */
  freeze(reason: string): void {
    this.frozenReason ??= reason;
  }

  frozen(): string | undefined {
    return this.frozenReason;
  }

  private assertNotFrozen(): void {
    if (this.frozenReason !== undefined) {
      throw new MedtrailError('LOG_INTEGRITY', `the ledger failed an integrity check; nothing is appended or signed: ${this.frozenReason}`);
    }
  }

  size(): number {
    return this.store.head().size;
  }

  /** Whether this log signs its own checkpoints (false for a mirror, which only keeps the operator's it verified). */
  get signs(): boolean {
    return this.seed !== undefined;
  }

  /**
   * A mirror's newest checkpoint: the newest one it verified, and only while its head is at exactly that size.
   * During a catch-up of several pages the custody tables run ahead of it, and nothing is answered from them
   * (MIRROR_BEHIND) until the page that reaches the operator's checkpoint has been checked against it.
   */
  private verified(mustCover: number): StoredCheckpoint {
    const latest = this.store.latestCheckpoint();
    const head = this.store.head();
    if (latest === undefined) throw new MedtrailError('MIRROR_BEHIND', 'this mirror has not verified a checkpoint of the log yet');
    if (latest.size !== head.size || latest.size < mustCover) {
      throw new MedtrailError('MIRROR_BEHIND', `this mirror is catching up (verified to ${latest.size} leaves, holding ${head.size}); ask again shortly`);
    }
    return latest;
  }

  /**
   * The newest checkpoint, signing a new one first when the head has moved and the last signature is older
   * than the interval, or when `mustCover` (a tree size) is beyond the newest checkpoint.
   */
  checkpoint(mustCover = 0): StoredCheckpoint {
    this.assertNotFrozen();
    if (this.seed === undefined) return this.verified(mustCover);
    if (!this.maySign()) return this.held(mustCover);
    const latest = this.store.latestCheckpoint();
    // Signed by rounds (signSoon, covering): a read never signs, unless it needs a size no round covered yet
    // and cannot wait (then at once, the state maps brought up in one go).
    if (this.maps !== undefined) return latest !== undefined && latest.size >= mustCover ? latest : this.signNow();
    const head = this.store.head();
    const stale = latest === undefined || latest.size < head.size;
    const due = Date.now() - this.lastSignedAt >= this.intervalMs;
    if (latest !== undefined && !(stale && (due || latest.size < mustCover))) return latest;
    return this.signNow();
  }

  private maySign: () => boolean = () => true;
  private readonly signedListeners: ((cp: StoredCheckpoint) => void)[] = [];

  /**
   * Several servers over one PostgreSQL ledger (server/pg/replica.ts): only the one holding the signing lease
   * signs; the others serve the newest checkpoint they adopted, and CHECKPOINT_PENDING for newer state.
   */
  setSigningGate(maySign: () => boolean): void {
    this.maySign = maySign;
  }

  /** Told of every checkpoint this log signs (the PostgreSQL replica stores it for the other servers). */
  onSigned(listener: (cp: StoredCheckpoint) => void): void {
    this.signedListeners.push(listener);
  }

  /** The newest checkpoint held, when it covers `mustCover` leaves; for a server that may not sign now. */
  private held(mustCover: number): StoredCheckpoint {
    const latest = this.store.latestCheckpoint();
    if (latest === undefined || latest.size < mustCover) {
      throw new MedtrailError('CHECKPOINT_PENDING', `this server holds checkpoints to ${latest?.size ?? 0} leaves and the state asked for needs ${mustCover}; the signing server signs it shortly`);
    }
    return latest;
  }

  private extension: ((size: number) => string) | undefined;
  private cosigned: ((note: string, size: number) => string) | undefined;
  private signed: (() => void) | undefined;

  /**
   * Witness publication (server/log/publisher.ts): `signed` is told of every new checkpoint (it submits it),
   * `cosigned` adds the cosignature lines kept for a checkpoint to its note wherever the note is served.
   */
  setPublication(p: { signed: () => void; cosigned: (note: string, size: number) => string }): void {
    this.signed = p.signed;
    this.cosigned = p.cosigned;
  }

  /** The newest checkpoint as served: checkpoint(mustCover), its note with the witnesses' cosignatures. */
  served(mustCover = 0): StoredCheckpoint {
    const cp = this.checkpoint(mustCover);
    return this.cosigned === undefined ? cp : { ...cp, note: this.cosigned(cp.note, cp.size) };
  }

  /**
   * What else every checkpoint commits to: `line(size)` brings that state up to `size` leaves and returns its
   * extension line (c2sp.org/tlog-checkpoint), inside the signing transaction. The state maps use it
   * (server/map/map-service.ts): one provider per log.
   */
  setExtension(line: (size: number) => string): void {
    this.extension = line;
  }

  private maps: AsyncMaps | undefined;
  private round: Promise<void> | undefined;

  /**
   * Checkpoints signed in rounds that bring the state maps up a slice at a time (server/map/map-service.ts
   * advance): no request waits on the event loop for a signing (issue 12 item 4). A round reads the tables at
   * one tree size S while appends go on, then, in one short synchronous step, publishes the maps at S and signs
   * the checkpoint of size S (the head may be past S by then: any size may be signed, and the next round
   * takes the rest). Requests that need a newer checkpoint await covering(); the server's timer calls signSoon().
   */
  setAsyncMaps(maps: AsyncMaps): void {
    this.maps = maps;
  }

  /** Whether checkpoints are signed in rounds (covering() then waits for one instead of signing at once). */
  get signsInRounds(): boolean {
    return this.maps !== undefined && this.seed !== undefined && this.maySign();
  }

  /**
   * A checkpoint covering `mustCover` leaves: the newest, or one a coming round signs. The rounds are told a
   * request waits (they then take larger slices); one that would wait past COVER_WAIT_MS (a server so busy that
   * its rounds fall behind) is answered CHECKPOINT_PENDING, 503 with Retry-After, which clients ask again after.
   */
  async covering(mustCover: number): Promise<StoredCheckpoint> {
    const until = Date.now() + this.coverWaitMs;
    this.maps?.waiting?.(1);
    try {
      for (;;) {
        this.assertNotFrozen();
        const latest = this.store.latestCheckpoint();
        if (latest !== undefined && latest.size >= mustCover) return latest;
        if (!this.signsInRounds) return this.checkpoint(mustCover);
        const left = until - Date.now();
        if (left <= 0) throw new MedtrailError('CHECKPOINT_PENDING', `no checkpoint covers ${mustCover} leaves yet: the server is busy bringing its state maps up; ask again shortly`);
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.nextRound(), new Promise<void>((r) => (timer = setTimeout(r, left)))]);
        clearTimeout(timer);
      }
    } finally {
      this.maps?.waiting?.(-1);
    }
  }

  /**
   * served(), a round first when the head has moved past the newest checkpoint and the interval has passed:
   * what GET /checkpoint answers (a mirror, a witness, a reader syncing want the head soon after an append).
   */
  async servedFresh(): Promise<StoredCheckpoint> {
    if (this.signsInRounds && this.roundDue()) await this.nextRound();
    return this.served();
  }

  private roundDue(): boolean {
    const latest = this.store.latestCheckpoint();
    if (latest !== undefined && latest.size >= this.store.head().size) return false;
    return latest === undefined || Date.now() - this.lastSignedAt >= this.intervalMs;
  }

  /** Starts a round when the head has moved past the newest checkpoint and the interval has passed. */
  signSoon(): void {
    if (!this.signsInRounds) {
      this.checkpoint();
      return;
    }
    if (!this.roundDue()) return;
    this.nextRound().catch(() => {
      /* frozen or a busy database: the next call tries again, covering() reports it */
    });
  }

  /** The round running, or a new one. */
  private nextRound(): Promise<void> {
    this.round ??= this.runRound().finally(() => {
      this.round = undefined;
    });
    return this.round;
  }

  private async runRound(): Promise<void> {
    this.assertNotFrozen();
    const size = await this.maps!.advance();
    this.assertNotFrozen();
    if (this.seed === undefined || !this.maySign()) return;
    const seed = this.seed;
    let fresh = false;
    // The write lock may be the ledger writer thread's for a while (a large batch): waited for off the loop.
    // Not fsynced: a checkpoint lost to a power cut is signed again from the durable leaves, and the same tree
    // and maps give the same note (Ed25519 signatures are deterministic).
    const cp = await this.store.writeSoon(() => {
      const latest = this.store.latestCheckpoint();
      // Signed meanwhile by a read that could not wait (checkpoint()): that signing took these maps along.
      if (latest !== undefined && latest.size >= size) return latest;
      const line = this.maps!.publish(size);
      const root = rootAt(size, this.reader());
      const note = signCheckpoint({ origin: this.origin, size, root, extensions: [line] }, this.origin, seed);
      const signed: StoredCheckpoint = { size, root, note, signedAt: new Date().toISOString() };
      this.store.saveCheckpoint(signed);
      fresh = true;
      return signed;
    }, { fsync: false });
    this.lastSignedAt = Date.now();
    if (fresh) for (const l of this.signedListeners) l(cp);
    this.signed?.();
  }

  /** Signs a checkpoint over the committed head. Never inside a write transaction: only committed leaves. */
  signNow(): StoredCheckpoint {
    this.assertNotFrozen();
    const seed = this.seed;
    if (seed === undefined) return this.verified(0);
    if (!this.maySign()) return this.held(0);
    let fresh = false;
    const cp = this.store.transaction(() => {
      const head = this.store.head();
      const latest = this.store.latestCheckpoint();
      if (latest !== undefined && latest.size === head.size) return latest;
      const extensions = this.extension === undefined ? [] : [this.extension(head.size)];
      const note = signCheckpoint({ origin: this.origin, size: head.size, root: head.root, extensions }, this.origin, seed);
      const signed: StoredCheckpoint = { size: head.size, root: head.root, note, signedAt: new Date().toISOString() };
      this.store.saveCheckpoint(signed);
      fresh = true;
      return signed;
    });
    this.lastSignedAt = Date.now();
    if (fresh) for (const l of this.signedListeners) l(cp);
    this.signed?.();
    return cp;
  }

  /** Leaves from `start` to before `end`: at most MAX_ENTRIES_PER_PAGE, and no more once `maxBytes` is reached. */
  entries(start: number, end: number, maxBytes = this.pageBytes): StoredLeaf[] {
    const size = this.size();
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end <= start) {
      throw new MedtrailError('BAD_INPUT', 'need 0 <= start < end', { fields: [{ path: 'start', code: 'BAD_INPUT', message: 'need 0 <= start < end' }] });
    }
    if (start >= size) throw new MedtrailError('NOT_FOUND', `start ${start} is beyond the tree size ${size}`);
    const stop = Math.min(end, size, start + MAX_ENTRIES_PER_PAGE);
    return this.store.leaves(start, stop, maxBytes);
  }

  inclusion(index: number, size: number): { leafHash: Uint8Array; proof: Uint8Array[] } {
    this.checkSize(size);
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw new MedtrailError('PROOF_BAD_INDEX', `index ${index} is not below size ${size}`);
    }
    const read = this.reader();
    return { leafHash: read(0, index), proof: inclusionProof(index, size, read) };
  }

  consistency(from: number, to: number): Uint8Array[] {
    this.checkSize(to);
    if (!Number.isSafeInteger(from) || from < 0 || from > to) {
      throw new MedtrailError('PROOF_BAD_SIZE', `need 0 <= from <= to, got from=${from} to=${to}`);
    }
    return consistencyProof(from, to, this.reader());
  }

  rootAt(size: number): Uint8Array {
    this.checkSize(size);
    return rootAt(size, this.reader());
  }

  private checkSize(size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.size()) {
      throw new MedtrailError('PROOF_BAD_SIZE', `size ${size} is beyond the tree size ${this.size()}`);
    }
  }

  private reader(): PerfectHashReader {
    return (level, index) => this.store.perfectHash(level, index);
  }
}
