// `medtrail audit`'s check of the state maps: rebuilt from the leaves alone, compared with what the checkpoint
// of that size signed.
//
// The ledger is copied (VACUUM INTO a temporary file), the copy's custody and map tables are dropped, every
// leaf is replayed through the custody rules (server/custody/replay.ts, the code the server runs) and the maps
// are built from the result (map-service.ts). The roots at the head must equal the `medtrail-map` line of the
// checkpoint of that size, when there is one (a server signs at start, so after any restart there is).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toBase64, equalBytes } from '../../core/bytes.js';
import { openCheckpoint } from '../../core/log/checkpoint.js';
import type Database from 'better-sqlite3';
import { readMapRoots, type MapRoots } from '../../core/map/extension.js';
import { isMedtrailError, messageOf } from '../../core/errors.js';
import { catchUp } from '../custody/replay.js';
import { CUSTODY_TABLES } from '../custody/schema.js';
import { CustodyState } from '../custody/state.js';
import { CustodyWriter } from '../custody/writer.js';
import { LogService } from '../log/log-service.js';
import { openDatabase, SqliteLedgerStore, type LedgerStore } from '../store/ledger-store.js';
import { MAP_TABLES, MapService } from './map-service.js';

export interface MapFinding {
  code: 'MAP_ROOT_MISMATCH' | 'MAP_NOT_REBUILT' | 'CUSTODY_ROW_MISMATCH';
  /** Never a single leaf: a map covers them all (the field keeps findings of one shape). */
  index?: undefined;
  message: string;
}

export interface MapAudit {
  /** Tree size the maps were rebuilt at; undefined when they could not be. */
  size?: number;
  roots?: { packs: string; lots: string };
  /** Whether a checkpoint of that size carried map roots to compare with. */
  checkpointCompared: boolean;
  findings: MapFinding[];
}

function differ(a: MapRoots, b: MapRoots): string[] {
  return [...(equalBytes(a.packs, b.packs) ? [] : ['pack map']), ...(equalBytes(a.lots, b.lots) ? [] : ['lot map'])];
}

/**
 * The custody tables as the ledger holds them against the same tables rebuilt from its leaves (in `copy`): a row
 * edited, added or removed behind the server (in the SQLite file, or in PostgreSQL, whose rows the audit copied)
 * is a finding naming the table and one of the rows.
 */
function compareCustody(copy: Database.Database, livePath: string): MapFinding[] {
  const out: MapFinding[] = [];
  copy.prepare('ATTACH DATABASE ? AS live').run(livePath);
  try {
    const has = copy.prepare<[string], number>("SELECT 1 FROM live.sqlite_master WHERE type = 'table' AND name = ?").pluck();
    for (const t of CUSTODY_TABLES) {
      // A ledger never served has no custody tables yet: nothing to hold to the leaves.
      if (has.get(t) === undefined) continue;
      for (const [from, other, what] of [['live', 'main', 'not given by the leaves'], ['main', 'live', 'missing']] as const) {
        const rows: unknown[][] = copy.prepare<[], unknown[]>(`SELECT * FROM ${from}.${t} EXCEPT SELECT * FROM ${other}.${t} LIMIT 3`).raw().all();
        if (rows.length === 0) continue;
        const shown = rows.map((r) => r.slice(0, 3).map((v) => (Buffer.isBuffer(v) ? v.toString('hex').slice(0, 16) : String(v))).join('/')).join(', ');
        out.push({ code: 'CUSTODY_ROW_MISMATCH', message: `${t}: rows ${what} (e.g. ${shown})` });
      }
    }
  } finally {
    copy.exec('DETACH DATABASE live');
  }
  return out;
}

/** Rebuilds both maps from the leaves of the ledger at `dbPath` (read through `store`) and compares them. */
export function auditMaps(store: LedgerStore, live: Database.Database): MapAudit {
  const dir = mkdtempSync(join(tmpdir(), 'medtrail-audit-map-'));
  const copyPath = join(dir, 'copy.db');
  try {
    live.prepare('VACUUM INTO ?').run(copyPath);
    const copyDb = openDatabase(copyPath);
    const copy = new SqliteLedgerStore(copyDb);
    try {
      for (const t of [...CUSTODY_TABLES, ...MAP_TABLES, 'custody_meta']) copyDb.exec(`DROP TABLE IF EXISTS ${t}`);
      const state = new CustodyState(copyDb);
      const writer = new CustodyWriter(copyDb);
      const authority = copy.getMeta('authority_gln') ?? '';
      // The log service here only counts leaves (catchUp reads its size); nothing is signed with this seed.
      const log = new LogService(copy, { origin: copy.getMeta('origin') ?? 'audit', seed: new Uint8Array(32) });
      catchUp({ state, writer, store: copy, authority }, log);
      const size = copy.head().size;
      const findings: MapFinding[] = compareCustody(copyDb, live.name);
      const rebuilt = copy.transaction(() => new MapService(copyDb, copy, state).catchUp(size));
      const cp = store.checkpoints().find((c) => c.size === size);
      let compared = false;
      if (cp !== undefined) {
        const signed = readMapRoots(openCheckpoint(cp.note, store.getMeta('log_vkey') ?? ''));
        if (signed !== undefined) {
          compared = true;
          const bad = differ(rebuilt, signed);
          if (bad.length > 0) findings.push({ code: 'MAP_ROOT_MISMATCH', message: `the checkpoint of size ${size} signed ${bad.join(' and ')} roots that the leaves do not give` });
        }
      }
      return { size, roots: { packs: toBase64(rebuilt.packs), lots: toBase64(rebuilt.lots) }, checkpointCompared: compared, findings };
    } finally {
      copy.close();
    }
  } catch (e) {
    return { checkpointCompared: false, findings: [{ code: 'MAP_NOT_REBUILT', message: `the maps could not be rebuilt: ${isMedtrailError(e) ? `${e.code}: ${e.message}` : messageOf(e)}` }] };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
