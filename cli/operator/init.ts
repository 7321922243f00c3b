// `medtrail init`: creates the database, the log's key and the authority's key. Refuses to overwrite any of
// them: a ledger's keys are its identity, and losing one silently would orphan every checkpoint signed with it.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { checkDigit } from '../../core/gs1/identifiers.js';
import { isValidGln } from '../../core/gs1/identifiers.js';
import { verifierKey } from '../../core/log/checkpoint.js';
import { MedtrailError } from '../../core/errors.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { generateKeyFile, keyFilePublic, keyId } from '../../core/crypto/keys.js';
import { authorityKeyPath, DEFAULT_DB, logKeyPath } from '../../server/context.js';
import { openDatabase, SqliteLedgerStore } from '../../server/store/ledger-store.js';
import { action, emit, writeNewFile } from '../io.js';
import { join } from 'node:path';
import { initPgLedger, pgLedgerExists } from '../../server/pg/ledger.js';
import { DEFAULT_PG_KEY_DIR, defaultDb, pgTarget, type PgTarget } from '../../server/pg/target.js';

/**
 * A fresh origin for a ledger made without --origin: `localhost/medtrail/<8 random hex>`. Every entry and
 * signed request signs its log's origin (core/entry/entry.ts), so two ledgers made with defaults must not share
 * one, or entries and requests copied from one would be accepted by the other (issue 12 #8).
 */
export function freshOrigin(): string {
  const b = new Uint8Array(4);
  globalThis.crypto.getRandomValues(b);
  return `localhost/medtrail/${Buffer.from(b).toString('hex')}`;
}
/** A syntactically valid GLN for a local authority when none is given (prefix 0000000, never issued by GS1). */
export const DEFAULT_AUTHORITY_GLN = `000000000001${checkDigit('000000000001')}`;

export interface InitOptions {
  db: string;
  /** With `db` a postgres:// URL: the folder the key files go to (default ./data). */
  keys?: string | undefined;
  /** Default: freshOrigin(). */
  origin?: string | undefined;
  authorityGln: string;
  authorityName: string;
}

export interface InitResult {
  db: string;
  origin: string;
  logKey: string;
  authorityKey: string;
  logVerifierKey: string;
  authorityGln: string;
  authorityKeyId: string;
}

const ORIGIN_RE = /^[a-zA-Z0-9.-]+(:[0-9]+)?(\/[a-zA-Z0-9._~-]+)*$/;

/** The new ledger's identity, checked, and where its keys go. */
function prepareInit(o: InitOptions, keyDir: string | undefined): { origin: string; logPath: string; authPath: string } {
  installNodeCrypto();
  const origin = o.origin ?? freshOrigin();
  if (!ORIGIN_RE.test(origin)) throw new MedtrailError('CLI_USAGE', `--origin must look like host/path (no scheme), got ${origin}`);
  if (!isValidGln(o.authorityGln)) throw new MedtrailError('GS1_BAD_GLN', `--authority-gln ${o.authorityGln} is not a valid GLN`);
  const logPath = keyDir === undefined ? logKeyPath(o.db) : join(keyDir, 'log.key.json');
  const authPath = keyDir === undefined ? authorityKeyPath(o.db) : join(keyDir, 'authority.key.json');
  for (const p of keyDir === undefined ? [o.db, logPath, authPath] : [logPath, authPath]) {
    if (existsSync(p)) throw new MedtrailError('STORE_EXISTS', `${p} already exists; refusing to overwrite`);
  }
  return { origin, logPath, authPath };
}

/**
 * Writes the two key files and returns the meta rows of the ledger. Keys first (exclusive create), then the
 * database: a crash in between leaves no database, so init can be re-run after removing the key files, and
 * never leaves a database whose keys are gone.
 */
function writeKeys(o: InitOptions, p: { origin: string; logPath: string; authPath: string }): { meta: Record<string, string>; authKeyId: string } {
  const logKey = generateKeyFile(p.origin);
  const authKey = generateKeyFile(o.authorityName, o.authorityGln);
  const vkey = verifierKey(p.origin, keyFilePublic(logKey));
  writeNewFile(p.logPath, `${JSON.stringify(logKey, null, 2)}\n`, true);
  writeNewFile(p.authPath, `${JSON.stringify(authKey, null, 2)}\n`, true);
  return {
    meta: { origin: p.origin, log_vkey: vkey, authority_gln: o.authorityGln, authority_public_key: authKey.publicKey, created: new Date().toISOString() },
    authKeyId: keyId(keyFilePublic(authKey)),
  };
}

function initResult(o: InitOptions, p: { origin: string; logPath: string; authPath: string }, k: { meta: Record<string, string>; authKeyId: string }, shown: string): InitResult {
  return { db: shown, origin: p.origin, logKey: p.logPath, authorityKey: p.authPath, logVerifierKey: k.meta['log_vkey']!, authorityGln: o.authorityGln, authorityKeyId: k.authKeyId };
}

/** `init --db postgres://...`: the schema in PostgreSQL (docs/postgres.md), the keys in `keys` (default ./data). */
export async function initPgLedgerCli(o: InitOptions, target: PgTarget): Promise<InitResult> {
  const p = prepareInit(o, o.keys ?? DEFAULT_PG_KEY_DIR);
  if (await pgLedgerExists(target)) throw new MedtrailError('STORE_EXISTS', `${target.shown} already holds a ledger; refusing to overwrite`);
  const k = writeKeys(o, p);
  await initPgLedger(target, k.meta);
  return initResult(o, p, k, target.shown);
}

export function initLedger(o: InitOptions): InitResult {
  const p = prepareInit(o, undefined);
  const k = writeKeys(o, p);
  const store = new SqliteLedgerStore(openDatabase(o.db, { create: true }));
  try {
    store.transaction(() => {
      for (const [key, v] of Object.entries(k.meta)) store.setMeta(key, v);
    });
  } finally {
    store.close();
  }
  return initResult(o, p, k, o.db);
}

/** init on whichever engine `--db` names. */
export async function initAny(o: InitOptions): Promise<InitResult> {
  const target = pgTarget(o.db);
  return target === undefined ? initLedger(o) : initPgLedgerCli(o, target);
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create a new ledger: the database (an SQLite file, or a schema in PostgreSQL), the log key and the authority key (never overwrites)')
    .option('--db <path>', 'database: an SQLite file, or postgres://user@host:port/db?schema=name (default: MEDTRAIL_DB, else ./data/medtrail.db)', defaultDb(DEFAULT_DB))
    .option('--keys <dir>', 'with a postgres:// --db: the folder for the key files', DEFAULT_PG_KEY_DIR)
    .option('--origin <origin>', 'checkpoint origin and log key name (host/path; default: localhost/medtrail/<random>, distinct for every ledger)')
    .option('--authority-gln <gln>', 'GLN of the authority that admits participants', DEFAULT_AUTHORITY_GLN)
    .option('--authority-name <name>', 'name of the authority', 'medtrail authority')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: InitOptions & { json?: boolean }) => {
        const r = await initAny(opts);
        emit(opts, r, `created ${r.db}\nlog key        ${r.logKey}\nauthority key  ${r.authorityKey} (GLN ${r.authorityGln})\nverifier key   ${r.logVerifierKey}`);
      }),
    );
}
