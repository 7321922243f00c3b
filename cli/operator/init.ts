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

export function initLedger(o: InitOptions): InitResult {
  installNodeCrypto();
  const origin = o.origin ?? freshOrigin();
  if (!ORIGIN_RE.test(origin)) throw new MedtrailError('CLI_USAGE', `--origin must look like host/path (no scheme), got ${origin}`);
  if (!isValidGln(o.authorityGln)) throw new MedtrailError('GS1_BAD_GLN', `--authority-gln ${o.authorityGln} is not a valid GLN`);
  const logPath = logKeyPath(o.db);
  const authPath = authorityKeyPath(o.db);
  for (const p of [o.db, logPath, authPath]) {
    if (existsSync(p)) throw new MedtrailError('STORE_EXISTS', `${p} already exists; refusing to overwrite`);
  }
  const logKey = generateKeyFile(origin);
  const authKey = generateKeyFile(o.authorityName, o.authorityGln);
  const vkey = verifierKey(origin, keyFilePublic(logKey));
  // Keys first (exclusive create), then the database: a crash in between leaves no database, so init can be
  // re-run after removing the key files, and never leaves a database whose keys are gone.
  writeNewFile(logPath, `${JSON.stringify(logKey, null, 2)}\n`, true);
  writeNewFile(authPath, `${JSON.stringify(authKey, null, 2)}\n`, true);
  const store = new SqliteLedgerStore(openDatabase(o.db, { create: true }));
  try {
    store.transaction(() => {
      store.setMeta('origin', origin);
      store.setMeta('log_vkey', vkey);
      store.setMeta('authority_gln', o.authorityGln);
      store.setMeta('authority_public_key', authKey.publicKey);
      store.setMeta('created', new Date().toISOString());
    });
  } finally {
    store.close();
  }
  return {
    db: o.db,
    origin,
    logKey: logPath,
    authorityKey: authPath,
    logVerifierKey: vkey,
    authorityGln: o.authorityGln,
    authorityKeyId: keyId(keyFilePublic(authKey)),
  };
}

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create a new ledger: the SQLite database, the log key and the authority key (never overwrites)')
    .option('--db <path>', 'database file', DEFAULT_DB)
    .option('--origin <origin>', 'checkpoint origin and log key name (host/path; default: localhost/medtrail/<random>, distinct for every ledger)')
    .option('--authority-gln <gln>', 'GLN of the authority that admits participants', DEFAULT_AUTHORITY_GLN)
    .option('--authority-name <name>', 'name of the authority', 'medtrail authority')
    .option('--json', 'print JSON')
    .action(
      action((opts: InitOptions & { json?: boolean }) => {
        const r = initLedger(opts);
        emit(opts, r, `created ${r.db}\nlog key        ${r.logKey}\nauthority key  ${r.authorityKey} (GLN ${r.authorityGln})\nverifier key   ${r.logVerifierKey}`);
      }),
    );
}
