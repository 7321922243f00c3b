// The state maps of one ledger (docs/architecture.md, Trust without a centre): the pack map and the lot map of
// core/map/pack-map.ts, brought up to the head every time a checkpoint is signed, in the same transaction as
// the checkpoint row, so the `medtrail-map` line of a checkpoint is always the roots of the maps as they were
// at exactly that tree size.
//
//   map_meta 'applied' -> tree size the maps reflect
//
// The maps are a function of the custody tables (every pack's state, lot, expiry, maker and newest entry; every
// recalled lot), so nothing of them is stored but that size: the trees (core/map/smt.ts MemoryMapStore) are
// built in memory from the custody tables when the server starts, and updated from the packs whose newest
// entry came since, at each signing. Kept as nodes in SQLite they cost ~30 writes per registered pack and made
// registration ten times slower (npm run bench:state). The price is memory (~200 MB per million packs) and a
// build at start (seconds per million); a disk-backed tree (tiles of nodes) is the way past that, with the
// PostgreSQL deployment. `medtrail audit` rebuilds both from the leaves alone (audit-map.ts).
//
// Two ways up to a new size (issue 12 item 4: no request may hold the event loop more than 20 ms):
//   catchUp(size)  at once, in the caller's transaction: a start, a mirror, a PostgreSQL follower adopting the
//                  signer's checkpoint, the fallback of a synchronous signing;
//   advance()      a slice at a time (about SLICE_MS of work, then the event loop serves requests): the rows come
//                  from a read-only connection of its own inside one read transaction, so every slice reads the
//                  tables at one tree size while appends commit on; the trees are pinned meanwhile (core/map/smt.ts
//                  MemoryMapStore.pin), so roots() and prove() keep answering for the newest checkpoint's maps
//                  until publish(size) makes the new size the served one, in the transaction that stores the
//                  checkpoint signing it (server/log/log-service.ts signAsync). Applying 100,000 packs at once
//                  held the loop about a second.
import type Database from 'better-sqlite3';
import { hash as nodeHash } from 'node:crypto';
import { equalBytes } from '../../core/bytes.js';
import { MedtrailError } from '../../core/errors.js';
import { mapExtensionLine, type MapRoots } from '../../core/map/extension.js';
import { lotMapKey, lotValueHash, packMapKey } from '../../core/map/pack-map.js';
import { MemoryMapStore, storedMapRoot, updateMap, type MapChange } from '../../core/map/smt.js';
import { MapSourceReader, packStateOf, type CustodyState, type PackState, type TouchedPack } from '../custody/state.js';
import { openDatabase, SqliteLedgerStore, type LedgerStore } from '../store/ledger-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS map_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
`;

export const MAP_TABLES = ['map_meta'] as const;

// The pack key and value of core/map/pack-map.ts, computed into one scratch buffer with node:crypto for rows
// read back from the custody tables (checked by the rules on the way in, GTIN already 14 digits, all ASCII):
// TextEncoder and the field checks were most of an update's time. test/server/map-service.test.ts holds these
// to the checked functions.
const scratch = Buffer.alloc(512);
const PACK_KEY_DOMAIN = Buffer.from('medtrail/map/pack-key/v1\0', 'latin1');
const PACK_VALUE_DOMAIN = Buffer.from('medtrail/map/pack-value/v1\0', 'latin1');

function short(s: string, at: number): number {
  scratch[at] = s.length;
  return at + 1 + scratch.write(s, at + 1, 'latin1');
}

function digest(len: number): Uint8Array {
  const b = nodeHash('sha256', scratch.subarray(0, len), 'buffer');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function packKeyOf(gtin14: string, serial: string): Uint8Array {
  let at = PACK_KEY_DOMAIN.copy(scratch, 0);
  at += scratch.write(gtin14, at, 'latin1');
  return digest(short(serial, at));
}

export function packValueOf(state: string, lot: string, expiry: string, maker: string, lastEntry: Uint8Array): Uint8Array {
  let at = PACK_VALUE_DOMAIN.copy(scratch, 0);
  at = short(state, at);
  at = short(lot, at);
  at += scratch.write(expiry, at, 'latin1');
  at += scratch.write(maker, at, 'latin1');
  scratch.set(lastEntry, at);
  return digest(at + 32);
}

export interface MapProofs {
  /** Compact proof of the pack's key in the pack map (presence or absence). */
  pack: Uint8Array;
  /** Compact proof of the lot's key in the lot map, when the lot is known. */
  lot: Uint8Array | undefined;
}

/** Work of an advance() between two turns of the event loop (ms). */
export const SLICE_MS = 5;
/**
 * Changes handed to updateMap at a time: runs of neighbouring keys (see Job). The slice's deadline is looked at
 * between runs, so a run must be well under SLICE_MS: 256 keys took 10-25 ms (about 21 SHA-256 a key through
 * node:crypto, and the pinned version's copies), which made every slice a long one; 64 take 2-6 ms.
 */
const CHUNK = 64;
/** Groups of keys by their first 16 bits. */
const GROUPS = 65_536;

/**
 * An advance() in progress: the snapshot it reads, the size it reaches, the rows it has still to read, and the
 * changes read so far, grouped by their key's first 16 bits. The groups are applied in key order, a run of
 * neighbouring groups at a time: keys of one run share their path down to where the run's range lies, so the
 * levels above are hashed once per run, not once per key (random chunks of 256 keys cost three times the
 * hashing of one update of everything).
 */
interface Job {
  size: number;
  rows: IterableIterator<TouchedPack>;
  reading: boolean;
  /** Indexed by the first 16 bits of the key: walked in index order, no sort (65,536 keys sorted took ~30 ms). */
  groups: (MapChange[] | undefined)[];
  next: number;
  lotChanges: MapChange[];
  done: Promise<number>;
}

export class MapService {
  private readonly applied_: Database.Statement<[], number>;
  private readonly setApplied: Database.Statement<[number]>;
  private packs = new MemoryMapStore();
  private lots = new MemoryMapStore();
  /** The tree size served (roots(), prove()): the newest checkpoint's once one is signed. */
  private size_ = 0;
  /** The tree size the trees in memory reflect (ahead of size_ while an advance is unpublished). */
  private live = 0;
  private job: Job | undefined;
  private waiters = 0;
  private reader: { store: SqliteLedgerStore; source: MapSourceReader } | undefined;

  /** `db`: the ledger's connection for the map's table (LedgerStore.connectionFor('map')). */
  constructor(
    db: Database.Database,
    private readonly store: LedgerStore,
    private readonly state: CustodyState,
  ) {
    db.exec(SCHEMA);
    this.applied_ = db.prepare<[], number>("SELECT value FROM map_meta WHERE key = 'applied'").pluck();
    this.setApplied = db.prepare<[number]>("INSERT INTO map_meta (key, value) VALUES ('applied', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    this.build();
    // Built from the tables at the head: they are the maps of the newest checkpoint if that was signed at it.
    const applied = this.applied();
    if (applied === store.head().size) this.size_ = applied;
  }

  /** The tree size the maps reflect (as stored). */
  applied(): number {
    return this.applied_.get() ?? 0;
  }

  /** The tree size the served trees stand at: the newest checkpoint's, once the log has signed one. */
  get size(): number {
    return this.size_;
  }

  /** The roots served: those of the newest checkpoint's maps (while an advance runs, the pinned ones). */
  roots(): MapRoots {
    return { packs: storedMapRoot(this.packs.pinned()), lots: storedMapRoot(this.lots.pinned()) };
  }

  /** The trees from every pack and recalled lot of the custody tables (at the head: the tables' state). */
  private build(): void {
    this.job?.rows.return?.();
    this.job = undefined;
    this.endRead();
    this.packs = new MemoryMapStore();
    this.lots = new MemoryMapStore();
    this.apply(0);
    this.live = this.store.head().size;
  }

  private lotChanges(recalled: readonly { gtin: string; lot: string; recalledIndex: number }[], store: LedgerStore): MapChange[] {
    return recalled.map((l) => ({ key: lotMapKey(l.gtin, l.lot), value: lotValueHash({ state: 'recalled', lastEntry: store.perfectHash(0, l.recalledIndex) }) }));
  }

  private apply(from: number): void {
    const packChanges: MapChange[] = [];
    const values = new PackValues();
    this.state.packsTouchedSince(from, (gtin: string, serial: string, lot: string, expiry: string, state: PackState, maker: string, lastHash: Uint8Array) => {
      packChanges.push({ key: packKeyOf(gtin, serial), value: values.of(state, lot, expiry, maker, lastHash) });
    });
    const lotChanges = this.lotChanges(this.state.lotsRecalledSince(from), this.store);
    if (packChanges.length > 0) updateMap(this.packs, packChanges);
    if (lotChanges.length > 0) updateMap(this.lots, lotChanges);
  }

  /**
   * Brings both maps up to the head (`size` leaves, all applied to the custody tables) and returns their roots,
   * all at once; they are served from then on. Runs in the caller's transaction (the checkpoint's); should it
   * not commit, the trees are built again from the tables (reload()). An advance() in progress is finished first.
   */
  catchUp(size: number): MapRoots {
    try {
      if (this.job !== undefined) this.finish(this.job, Infinity);
      if (size < this.live) throw new MedtrailError('STORE_CORRUPT', `the state maps reflect ${this.live} leaves, more than the log's ${size}`);
      if (size > this.live) this.apply(this.live);
    } catch (e) {
      this.build();
      throw e;
    }
    this.live = size;
    this.publish(size);
    return this.roots();
  }

  /**
   * Brings the trees in memory up to the head as one read of the tables shows it, a slice of about SLICE_MS at a
   * time, and resolves with that tree size; roots() and prove() keep serving the size before until
   * publish(size). One at a time: a call while one runs gets its promise. For a ledger in a file (the rows are
   * read on a connection of its own); catchUp() otherwise.
   */
  advance(): Promise<number> {
    if (this.job !== undefined) return this.job.done;
    if (this.store.path === '' || this.store.path === ':memory:') return Promise.resolve(this.live);
    const r = (this.reader ??= this.openReader());
    r.store.connectionFor('map').exec('BEGIN');
    let size: number;
    try {
      size = r.store.head().size;
      if (size < this.live) throw new MedtrailError('STORE_CORRUPT', `the state maps reflect ${this.live} leaves, more than the log's ${size}`);
    } catch (e) {
      r.store.connectionFor('map').exec('COMMIT');
      return Promise.reject(e);
    }
    if (size === this.live) {
      r.store.connectionFor('map').exec('COMMIT');
      return Promise.resolve(size);
    }
    if (!this.packs.isPinned) {
      this.packs.pin();
      this.lots.pin();
    }
    const lotChanges = this.lotChanges(r.source.lotsRecalledSince(this.live), r.store);
    const job: Job = { size, rows: r.source.packsTouchedSince(this.live), reading: true, groups: new Array<MapChange[] | undefined>(GROUPS), next: 0, lotChanges, done: Promise.resolve(size) };
    this.job = job;
    job.done = new Promise<number>((resolve, reject) => {
      const step = (): void => {
        try {
          if (this.job !== job) return resolve(job.size);
          // Requests waiting for this round: slices three times as long (still under the 20 ms of issue 12).
          if (this.finish(job, performance.now() + (this.waiters > 0 ? 3 * SLICE_MS : SLICE_MS))) return resolve(job.size);
          setImmediate(step);
        } catch (e) {
          this.build();
          reject(e);
        }
      };
      setImmediate(step);
    });
    return job.done;
  }

  /** Works on the job until `deadline` (performance.now()); true once it is all applied and the job ended. */
  private finish(job: Job, deadline: number): boolean {
    const values = new PackValues();
    while (job.reading) {
      for (let i = 0; i < CHUNK; i++) {
        const n = job.rows.next();
        if (n.done === true) {
          // Everything is read: the snapshot is let go (the WAL may be checkpointed past it).
          job.reading = false;
          this.endRead();
          break;
        }
        const [gtin, serial, lot, expiry, state, lastHash, maker] = n.value;
        if (maker === null) throw new MedtrailError('STORE_CORRUPT', `pack ${gtin} ${serial} names a lot ${lot} the tables do not hold`);
        const key = packKeyOf(gtin, serial);
        const g = (key[0]! << 8) | key[1]!;
        const list = job.groups[g];
        const change = { key, value: values.of(packStateOf(state), lot, expiry, maker, lastHash) };
        if (list === undefined) job.groups[g] = [change];
        else list.push(change);
      }
      if (job.reading && performance.now() >= deadline) return false;
    }
    const groups = job.groups;
    while (job.next < GROUPS) {
      const run: MapChange[] = [];
      while (job.next < GROUPS && run.length < CHUNK) {
        const g = groups[job.next++];
        if (g !== undefined) for (const c of g) run.push(c);
      }
      if (run.length > 0) updateMap(this.packs, run);
      if (job.next < GROUPS && performance.now() >= deadline) return false;
    }
    if (job.lotChanges.length > 0) updateMap(this.lots, job.lotChanges);
    this.live = job.size;
    this.job = undefined;
    return true;
  }

  /** Ends the reader's read transaction, if it is in one. */
  private endRead(): void {
    const db = this.reader?.store.connectionFor('map');
    if (db !== undefined && db.open && db.inTransaction) db.exec('COMMIT');
  }

  private openReader(): { store: SqliteLedgerStore; source: MapSourceReader } {
    const store = new SqliteLedgerStore(openDatabase(this.store.path, { readonly: true }));
    return { store, source: new MapSourceReader(store.connectionFor('map')) };
  }

  /** Requests waiting for the round in progress (server/log/log-service.ts covering). */
  waiting(delta: number): void {
    this.waiters = Math.max(0, this.waiters + delta);
  }

  /**
   * Serves the trees as they are (at `size`, which advance() or catchUp() reached) and stores that size: in the
   * transaction that stores the checkpoint signing them.
   */
  publish(size: number): void {
    if (size !== this.live || this.job !== undefined) throw new MedtrailError('INTERNAL', `the state maps are at ${this.live} leaves, not ${size}`);
    this.setApplied.run(size);
    this.packs.unpin();
    this.lots.unpin();
    this.size_ = size;
  }

  /**
   * Builds the trees again from the custody tables: after a transaction that changed those tables and did not
   * commit (a mirror's page refused after its rows were written, server/mirror/follower.ts).
   */
  reload(): void {
    this.build();
  }

  /** The checkpoint extension line of the maps after catchUp(size). */
  extensionLine(size: number): string {
    return mapExtensionLine(this.catchUp(size));
  }

  /** Proofs for one pack (and its lot) against the served roots. */
  prove(gtin: string, serial: string, lot: string | undefined): MapProofs {
    // While a round runs, the version pinned at its start (MemoryMapStore.prove walks it without node objects).
    return { pack: this.packs.prove(packMapKey(gtin, serial), true), lot: lot === undefined ? undefined : this.lots.prove(lotMapKey(gtin, lot), true) };
  }

  close(): void {
    // A slice in progress ends here: its iterator holds the reader's connection.
    this.job?.rows.return?.();
    this.job = undefined;
    this.endRead();
    this.reader?.store.close();
    this.reader = undefined;
  }
}

/**
 * The packs of one entry share their value (a batch's 100,000 packs: one state, lot, expiry, maker and entry),
 * and come one after another: the last value is reused while its inputs stay the same.
 */
class PackValues {
  private last: { state: string; lot: string; expiry: string; maker: string; lastHash: Uint8Array; value: Uint8Array } | undefined;

  of(state: string, lot: string, expiry: string, maker: string, lastHash: Uint8Array): Uint8Array {
    const l = this.last;
    if (l !== undefined && l.state === state && l.lot === lot && l.expiry === expiry && l.maker === maker && equalBytes(l.lastHash, lastHash)) return l.value;
    const value = packValueOf(state, lot, expiry, maker, lastHash);
    this.last = { state, lot, expiry, maker, lastHash, value };
    return value;
  }
}
