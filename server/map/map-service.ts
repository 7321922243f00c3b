// The state maps of one ledger (docs/architecture.md, Trust without a centre): the pack map and the lot map of
// core/map/pack-map.ts, kept in SQLite beside the log, and brought up to the head every time a checkpoint is
// signed, in the same transaction as the checkpoint row, so the `medtrail-map` line of a checkpoint is always
// the roots of the maps as they were at exactly that tree size.
//
//   map_nodes (map, depth, prefix) -> node      map 0 = packs, 1 = lots; the positions of core/map/smt.ts
//   map_meta  'applied' -> tree size the maps reflect
//
// What changed since the last update is read from the custody state (the packs whose newest entry came
// later, the lots recalled later): no second copy of the custody rules. Proofs are answered from the same
// nodes; since nothing but a signing moves them, a proof read right after a checkpoint is against its roots.
import type Database from 'better-sqlite3';
import { MedtrailError } from '../../core/errors.js';
import { mapExtensionLine, type MapRoots } from '../../core/map/extension.js';
import { lotMapKey, lotValueHash, packMapKey, packValueHash } from '../../core/map/pack-map.js';
import { proveMap, storedMapRoot, updateMap, type MapChange, type MapNode, type MapNodeStore } from '../../core/map/smt.js';
import type { CustodyState } from '../custody/state.js';
import type { LedgerStore } from '../store/ledger-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS map_nodes (
  map    INTEGER NOT NULL,
  depth  INTEGER NOT NULL,
  prefix BLOB NOT NULL,
  hash   BLOB NOT NULL,
  key    BLOB,
  value  BLOB,
  PRIMARY KEY (map, depth, prefix)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS map_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
`;

export const MAP_TABLES = ['map_nodes', 'map_meta'] as const;

const PACKS = 0;
const LOTS = 1;

/** One map's nodes in map_nodes (core/map/smt.ts's MapNodeStore). */
class SqliteMapNodes implements MapNodeStore {
  constructor(
    private readonly st: SqliteMapStatements,
    private readonly map: number,
  ) {}

  get(depth: number, prefix: Uint8Array): MapNode | undefined {
    const r = this.st.get.get(this.map, depth, prefix);
    if (r === undefined) return undefined;
    if (r.key === null || r.value === null) return { kind: 'node', hash: new Uint8Array(r.hash) };
    return { kind: 'leaf', hash: new Uint8Array(r.hash), key: new Uint8Array(r.key), value: new Uint8Array(r.value) };
  }

  put(depth: number, prefix: Uint8Array, node: MapNode): void {
    this.st.put.run(this.map, depth, prefix, node.hash, node.kind === 'leaf' ? node.key : null, node.kind === 'leaf' ? node.value : null);
  }

  delete(depth: number, prefix: Uint8Array): void {
    this.st.delete.run(this.map, depth, prefix);
  }
}

type SqliteMapStatements = ReturnType<typeof statements>;

function statements(db: Database.Database) {
  return {
    get: db.prepare<[number, number, Uint8Array], { hash: Buffer; key: Buffer | null; value: Buffer | null }>(
      'SELECT hash, key, value FROM map_nodes WHERE map = ? AND depth = ? AND prefix = ?',
    ),
    put: db.prepare<[number, number, Uint8Array, Uint8Array, Uint8Array | null, Uint8Array | null]>(
      'INSERT INTO map_nodes (map, depth, prefix, hash, key, value) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (map, depth, prefix) DO UPDATE SET hash = excluded.hash, key = excluded.key, value = excluded.value',
    ),
    delete: db.prepare<[number, number, Uint8Array]>('DELETE FROM map_nodes WHERE map = ? AND depth = ? AND prefix = ?'),
    applied: db.prepare<[], number>("SELECT value FROM map_meta WHERE key = 'applied'").pluck(),
    setApplied: db.prepare<[number]>("INSERT INTO map_meta (key, value) VALUES ('applied', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
  };
}

export interface MapProofs {
  /** Compact proof of the pack's key in the pack map (presence or absence). */
  pack: Uint8Array;
  /** Compact proof of the lot's key in the lot map, when the lot is known. */
  lot: Uint8Array | undefined;
}

/**
 * The roots of the maps stored in `db` and the tree size they reflect, read without creating anything (a
 * read-only audit); undefined when the ledger has no map tables yet.
 */
export function storedMaps(db: Database.Database): { applied: number; roots: MapRoots } | undefined {
  const has = db.prepare<[], number>("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('map_nodes', 'map_meta')").pluck().get();
  if (has !== 2) return undefined;
  const st = statements(db);
  return { applied: st.applied.get() ?? 0, roots: { packs: storedMapRoot(new SqliteMapNodes(st, PACKS)), lots: storedMapRoot(new SqliteMapNodes(st, LOTS)) } };
}

export class MapService {
  private readonly st: SqliteMapStatements;
  private readonly packs: SqliteMapNodes;
  private readonly lots: SqliteMapNodes;

  /** `db`: the ledger's connection for the map's tables (LedgerStore.connectionFor('map')). */
  constructor(
    db: Database.Database,
    private readonly store: LedgerStore,
    private readonly state: CustodyState,
  ) {
    db.exec(SCHEMA);
    this.st = statements(db);
    this.packs = new SqliteMapNodes(this.st, PACKS);
    this.lots = new SqliteMapNodes(this.st, LOTS);
  }

  /** The tree size the maps reflect. */
  applied(): number {
    return this.st.applied.get() ?? 0;
  }

  roots(): MapRoots {
    return { packs: storedMapRoot(this.packs), lots: storedMapRoot(this.lots) };
  }

  /**
   * Brings both maps up to the head (`size` leaves, all applied to the custody tables) and returns their roots.
   * Runs in the caller's transaction (the checkpoint's). A head below what the maps reflect: STORE_CORRUPT.
   */
  catchUp(size: number): MapRoots {
    const from = this.applied();
    if (size < from) throw new MedtrailError('STORE_CORRUPT', `the state maps reflect ${from} leaves, more than the log's ${size}`);
    if (size > from) {
      // Collected first: better-sqlite3 allows no write while a read iterates on the same connection.
      const packChanges: MapChange[] = [];
      for (const p of this.state.packsTouchedSince(from)) {
        packChanges.push({ key: packMapKey(p.gtin, p.serial), value: packValueHash({ state: p.state, lot: p.lot, expiry: p.expiry, maker: p.maker, lastEntry: p.lastHash }) });
      }
      const lotChanges: MapChange[] = this.state.lotsRecalledSince(from).map((l) => {
        const hash = this.store.perfectHash(0, l.recalledIndex);
        return { key: lotMapKey(l.gtin, l.lot), value: lotValueHash({ state: 'recalled', lastEntry: hash }) };
      });
      if (packChanges.length > 0) updateMap(this.packs, packChanges);
      if (lotChanges.length > 0) updateMap(this.lots, lotChanges);
      this.st.setApplied.run(size);
    }
    return this.roots();
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

