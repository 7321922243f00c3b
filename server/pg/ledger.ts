// Opening a ledger that lives in PostgreSQL (docs/postgres.md): `medtrail init --db postgres://...` makes its
// schema and keys; `serve`, `start` and `audit` open it. A serving process gets a working copy (an SQLite file
// of its own, server/pg/replica.ts) that it brings up to PostgreSQL before it answers anything.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { equalBytes } from '../../core/bytes.js';
import { MedtrailError } from '../../core/errors.js';
import { readKeyFile, type Ledger } from '../context.js';
import { LogService } from '../log/log-service.js';
import { openDatabase, SqliteLedgerStore } from '../store/ledger-store.js';
import { PgLogStore } from '../store/pg/pg-log.js';
import { PgReplica, type ReplicaOptions } from './replica.js';
import type { PgTarget } from './target.js';

/** The meta rows `medtrail init` writes (the same keys on SQLite and PostgreSQL). */
export const LEDGER_META_KEYS = ['origin', 'log_vkey', 'authority_gln', 'authority_public_key', 'created'] as const;

/** Makes the ledger's schema and writes its identity: STORE_EXISTS when the schema holds a ledger already. */
export async function initPgLedger(target: PgTarget, meta: Record<string, string>): Promise<void> {
  const pg = await PgLogStore.open(target.url, target.schema, { create: true });
  try {
    await pg.initMeta(meta);
  } finally {
    await pg.close();
  }
}

/** Whether the schema holds a ledger (`medtrail start` makes one when it does not). */
export async function pgLedgerExists(target: PgTarget): Promise<boolean> {
  try {
    const pg = await PgLogStore.open(target.url, target.schema, { create: false });
    try {
      return (await pg.getMeta('origin')) !== undefined;
    } finally {
      await pg.close();
    }
  } catch (e) {
    if (e instanceof MedtrailError && e.code === 'STORE_MISSING') return false;
    throw e;
  }
}

export interface OpenPgOptions extends ReplicaOptions {
  target: PgTarget;
  /** The log's key file (every server of the ledger has it; one at a time signs). */
  logKey: string;
  /** The working copy's SQLite file, kept across restarts; default a fresh temporary one, removed at close. */
  cache?: string;
  pageBytes?: number;
  /** A streaming replica to follow from (reads), the primary being `target` (writes): see ReplicaOptions.source. */
  replica?: PgTarget;
}

export async function openPgLedger(o: OpenPgOptions): Promise<Ledger> {
  installNodeCrypto();
  const key = readKeyFile(o.logKey);
  const pg = await PgLogStore.open(o.target.url, o.target.schema, { create: false });
  let tmp: string | undefined;
  let store: SqliteLedgerStore | undefined;
  try {
    const meta = await pg.allMeta();
    const origin = meta['origin'];
    if (origin === undefined) throw new MedtrailError('STORE_MISSING', `schema ${o.target.schema} holds no ledger; run \`medtrail init --db ${o.target.shown}\``);
    if (o.cache === undefined) tmp = mkdtempSync(join(tmpdir(), 'medtrail-copy-'));
    const path = o.cache ?? join(tmp!, 'ledger.db');
    store = new SqliteLedgerStore(openDatabase(path, { create: true }));
    const s = store;
    if (s.getMeta('origin') === undefined) {
      s.transaction(() => {
        for (const [k, v] of Object.entries(meta)) if (k !== 'schema_version') s.setMeta(k, v);
      });
    } else if (s.getMeta('log_vkey') !== meta['log_vkey']) {
      throw new MedtrailError('STORE_MISMATCH', `the working copy ${path} is of another ledger (${String(s.getMeta('log_vkey'))})`);
    }
    const log = new LogService(s, { origin, seed: keyFileSeed(key), ...(o.pageBytes !== undefined ? { pageBytes: o.pageBytes } : {}) });
    if (log.verifierKey !== meta['log_vkey']) throw new MedtrailError('KEYFILE_BAD', 'the log key file does not match the key this ledger was made with');
    // A kept copy must be a prefix of the ledger in PostgreSQL: same root at its size.
    const mine = s.head();
    const theirs = await pg.head();
    if (mine.size > theirs.size || (mine.size > 0 && !equalBytes(await pg.rootAt(mine.size), mine.root))) {
      throw new MedtrailError('STORE_MISMATCH', `the working copy ${path} holds a tree of ${mine.size} leaves that the ledger in PostgreSQL (${theirs.size} leaves) does not contain`);
    }
    const source = o.replica === undefined ? undefined : await PgLogStore.open(o.replica.url, o.replica.schema, { create: false });
    const replica = new PgReplica(pg, s, log, { ...o, ...(source !== undefined ? { source } : {}) });
    await replica.open();
    return {
      store: s,
      log,
      pg: replica,
      keyDir: dirname(o.logKey),
      close: () => {
        s.close();
        if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
      },
    };
  } catch (e) {
    store?.close();
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
    await pg.close().catch(() => undefined);
    throw e;
  }
}
