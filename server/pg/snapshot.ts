// `medtrail audit --db postgres://...`: the rows of the ledger in PostgreSQL, copied as they are (nothing
// recomputed, nothing checked) into an SQLite file of the same shape, which the audit then judges with the same
// code as any SQLite ledger (server/log/audit.ts, server/map/audit-map.ts). Read in one REPEATABLE READ
// transaction, so the copy is one instant of the database even while servers append.
import { MedtrailError } from '../../core/errors.js';
import { openDatabase, SqliteLedgerStore } from '../store/ledger-store.js';
import { PgLogStore } from '../store/pg/pg-log.js';
import { CUSTODY_SCHEMA, CUSTODY_TABLES } from '../custody/schema.js';
import type { PgTarget } from './target.js';

// Pages of leaves: a batch leaf of 100,000 packs is about 1.5 MB.
const PAGE = 100;


/** Copies the ledger at `target` into a new SQLite file at `path`; returns its leaf count. */
export async function snapshotToSqlite(target: PgTarget, path: string): Promise<number> {
  const pg = await PgLogStore.open(target.url, target.schema, { create: false });
  const store = new SqliteLedgerStore(openDatabase(path, { create: true }));
  try {
    return await pg.snapshot(async (r) => {
      const meta = await r.meta();
      if (meta['origin'] === undefined) throw new MedtrailError('STORE_MISSING', `schema ${target.schema} holds no ledger`);
      const head = await r.head();
      store.transaction(() => {
        for (const [k, v] of Object.entries(meta)) if (k !== 'schema_version') store.setMeta(k, v);
      });
      let size = 0;
      for (let start = 0; start < head.size; start += PAGE) {
        const rows = await r.leafRows(start, Math.min(head.size, start + PAGE));
        // The rows as stored, whatever they say: the head is placed at the end (audit judges it).
        store.appendLeaves(size, rows, [], { size: size + rows.length, root: head.root });
        size += rows.length;
        if (rows.length === 0) break;
      }
      store.appendLeaves(size, [], await r.nodes(), head);
      // The custody rows as PostgreSQL holds them: audit holds them to a replay of the leaves (audit-map.ts).
      const db = store.connectionFor('custody');
      db.exec(CUSTODY_SCHEMA);
      for (const t of CUSTODY_TABLES) {
        const rows = await r.rows(t);
        if (rows.length === 0) continue;
        const cols = Object.keys(rows[0]!);
        const ins = db.prepare(`INSERT INTO ${t} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
        store.transaction(() => {
          for (const row of rows) ins.run(cols.map((c) => row[c]));
        });
      }
      const cps = await r.checkpoints();
      store.transaction(() => {
        for (const cp of cps) store.saveCheckpoint(cp);
      });
      return head.size;
    });
  } finally {
    store.close();
    await pg.close();
  }
}
