// Opens a deployment: the SQLite database, the log's signing key, the services on top. One place that knows
// where things live, so that `serve`, `audit` and the tests open a ledger the same way.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { installNodeCrypto } from '../core/crypto/ed25519-node.js';
import { MedtrailError } from '../core/errors.js';
import { keyFileSeed, parseKeyFile, type KeyFile } from '../core/crypto/keys.js';
import type { TlogPolicy } from '../core/log/policy.js';
import { LogService } from './log/log-service.js';
import type { PgReplica } from './pg/replica.js';
import { openDatabase, SqliteLedgerStore } from './store/ledger-store.js';

export const DEFAULT_DB = './data/medtrail.db';

export function logKeyPath(db: string): string {
  return join(dirname(db), 'log.key.json');
}

export function authorityKeyPath(db: string): string {
  return join(dirname(db), 'authority.key.json');
}

export function readKeyFile(path: string): KeyFile {
  if (!existsSync(path)) throw new MedtrailError('CLI_IO', `no key file at ${path}`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new MedtrailError('KEYFILE_BAD', `${path} is not JSON`, { cause: e });
  }
  return parseKeyFile(json);
}

export interface Ledger {
  store: SqliteLedgerStore;
  log: LogService;
  /**
   * The deployment's witness policy (c2sp.org/tlog-policy) when it has one: the log submits every checkpoint
   * to its witnesses (server/log/publisher.ts) and the pages pin it, so that clients hold checkpoints to it.
   */
  policy?: { text: string; parsed: TlogPolicy; maxAgeS: number };
  /**
   * Set when the ledger of record is in PostgreSQL (server/pg/replica.ts): `store` is then this process's
   * working copy, appends go through `pg.write`, and `pg.stop()` runs before `close()`.
   */
  pg?: PgReplica;
  /**
   * With the ledger in PostgreSQL: the folder of the log key, where the secrets every server of the ledger
   * shares are kept too (rx.key, tag-keys.secret). On SQLite they sit beside the database file.
   */
  keyDir?: string;
  close(): void;
}

export interface OpenLedgerOptions {
  db: string;
  logKey?: string;
  checkpointIntervalMs?: number;
  /** Leaf bytes after which a page of GET /log/entries stops (default MAX_PAGE_BYTES). */
  pageBytes?: number;
  /** How long a request waits for a signing round before CHECKPOINT_PENDING (default COVER_WAIT_MS). */
  coverWaitMs?: number;
}

export function openLedger(opts: OpenLedgerOptions): Ledger {
  installNodeCrypto();
  const store = new SqliteLedgerStore(openDatabase(opts.db));
  try {
    const origin = store.getMeta('origin');
    if (origin === undefined) throw new MedtrailError('STORE_CORRUPT', `${opts.db} was not made by medtrail init (no origin)`);
    const key = readKeyFile(opts.logKey ?? logKeyPath(opts.db));
    const log = new LogService(store, {
      origin,
      seed: keyFileSeed(key),
      ...(opts.checkpointIntervalMs !== undefined ? { checkpointIntervalMs: opts.checkpointIntervalMs } : {}),
      ...(opts.pageBytes !== undefined ? { pageBytes: opts.pageBytes } : {}),
      ...(opts.coverWaitMs !== undefined ? { coverWaitMs: opts.coverWaitMs } : {}),
    });
    if (store.getMeta('log_vkey') !== log.verifierKey) {
      throw new MedtrailError('KEYFILE_BAD', 'the log key file does not match the key this database was made with');
    }
    return { store, log, close: () => store.close() };
  } catch (e) {
    store.close();
    throw e;
  }
}
