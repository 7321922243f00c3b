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
import type Database from 'better-sqlite3';
import { hash as nodeHash } from 'node:crypto';
import { equalBytes } from '../../core/bytes.js';
import { MedtrailError } from '../../core/errors.js';
import { mapExtensionLine, type MapRoots } from '../../core/map/extension.js';
import { lotMapKey, lotValueHash, packMapKey } from '../../core/map/pack-map.js';
import { MemoryMapStore, proveMap, storedMapRoot, updateMap, type MapChange } from '../../core/map/smt.js';
import type { CustodyState, PackState } from '../custody/state.js';
import type { LedgerStore } from '../store/ledger-store.js';

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

export class MapService {
  private readonly applied_: Database.Statement<[], number>;
  private readonly setApplied: Database.Statement<[number]>;
  private packs = new MemoryMapStore();
  private lots = new MemoryMapStore();
  private size_ = 0;

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

  /** The tree size the trees in memory stand at: the newest checkpoint's, once the log has signed one. */
  get size(): number {
    return this.size_;
  }

  roots(): MapRoots {
    return { packs: storedMapRoot(this.packs), lots: storedMapRoot(this.lots) };
  }

  /** The trees from every pack and recalled lot of the custody tables. */
  private build(): void {
    this.packs = new MemoryMapStore();
    this.lots = new MemoryMapStore();
    this.apply(0);
  }

  private apply(from: number): void {
    const packChanges: MapChange[] = [];
    // The packs of one entry share their value (a batch's 100,000 packs: one state, lot, expiry, maker and entry),
    // and come one after another: the last value is reused while its inputs stay the same.
    let last: { state: string; lot: string; expiry: string; maker: string; lastHash: Uint8Array; value: Uint8Array } | undefined;
    this.state.packsTouchedSince(from, (gtin: string, serial: string, lot: string, expiry: string, state: PackState, maker: string, lastHash: Uint8Array) => {
      if (last === undefined || last.state !== state || last.lot !== lot || last.expiry !== expiry || last.maker !== maker || !equalBytes(last.lastHash, lastHash)) {
        last = { state, lot, expiry, maker, lastHash, value: packValueOf(state, lot, expiry, maker, lastHash) };
      }
      packChanges.push({ key: packKeyOf(gtin, serial), value: last.value });
    });
    const lotChanges: MapChange[] = this.state.lotsRecalledSince(from).map((l) => ({
      key: lotMapKey(l.gtin, l.lot),
      value: lotValueHash({ state: 'recalled', lastEntry: this.store.perfectHash(0, l.recalledIndex) }),
    }));
    if (packChanges.length > 0) updateMap(this.packs, packChanges);
    if (lotChanges.length > 0) updateMap(this.lots, lotChanges);
  }

  /**
   * Brings both maps up to the head (`size` leaves, all applied to the custody tables) and returns their roots.
   * Runs in the caller's transaction (the checkpoint's); should it not commit, the trees are built again from
   * the tables (reload()).
   */
  catchUp(size: number): MapRoots {
    const from = this.applied();
    if (size < from) throw new MedtrailError('STORE_CORRUPT', `the state maps reflect ${from} leaves, more than the log's ${size}`);
    if (size === from) {
      this.size_ = size;
      return this.roots();
    }
    this.setApplied.run(size);
    try {
      this.apply(from);
    } catch (e) {
      this.build();
      throw e;
    }
    this.size_ = size;
    return this.roots();
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

  /** Proofs for one pack (and its lot) against the current roots. */
  prove(gtin: string, serial: string, lot: string | undefined): MapProofs {
    return { pack: proveMap(this.packs, packMapKey(gtin, serial)), lot: lot === undefined ? undefined : proveMap(this.lots, lotMapKey(gtin, lot)) };
  }
}
