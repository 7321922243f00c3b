// NTAG 424 DNA Secure Unique NFC (SUN) on the server: per-tag SDM keys, the check of the `picc`/`cmac`
// Digital Link parameters (core/tag/sun.ts, NXP AN12196), and the last read counter per tag, which is what
// catches a copied tag (a copy can only replay readings already seen).
//
// Keys: one AES-128 key per tag, used as both K_SDMMetaRead and K_SDMFileRead (the tag is personalised so;
// the SDMMAC input is empty, i.e. SDMMACInputOffset = SDMMACOffset, as in AN12196's example). Registered by
// the GTIN's manufacturer with a signed request (POST /api/v1/tags/keys {gtin, serial, uid, key}). The keys
// are a table beside the log, not in it: a log entry is public and permanent, a tag key is a secret.
// At rest each key is sealed with AES-256-GCM under a server secret: MEDTRAIL_TAG_KEY_SECRET (64 hex) if set,
// else a random one kept in `tag-keys.secret` (mode 0600) beside the database, so a copy of the database
// alone does not give the keys away. Keys never appear in logs, errors or answers.
//
// Counter: a verification (POST /verify) whose SUN verifies moves `last_counter` up by compare-and-swap
// (`UPDATE ... WHERE last_counter < ?`); a counter not above it is TAG_COUNTER_REPLAYED (COUNTERFEIT).
//
// With the ledger in PostgreSQL (issue 15) the keys and counters live in its schema, for every server: a key is
// registered there first (the primary key refuses a second), each server copies new keys into its own table
// every round, and the counter's compare-and-swap runs in PostgreSQL, so a reading replayed to another server
// is caught as surely as one replayed to the same server. The local counter is only a first filter.
import type Database from 'better-sqlite3';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fromHex } from '../../core/bytes.js';
import { codeOf, MedtrailError } from '../../core/errors.js';
import { verifySun, type Aes128 } from '../../core/tag/sun.js';
import type { ReasonCode } from '../../core/verdict.js';
import type { PgRows } from '../store/pg/pg-log.js';
import { writeSoon } from '../store/ledger-store.js';

const aes128: Aes128 = {
  encryptBlock: (key, block) => ecb(true, key, block),
  decryptBlock: (key, block) => ecb(false, key, block),
};

function ecb(encrypt: boolean, key: Uint8Array, block: Uint8Array): Uint8Array {
  const c = encrypt ? createCipheriv('aes-128-ecb', key, null) : createDecipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(block), c.final()]));
}

/** The sealing secret: MEDTRAIL_TAG_KEY_SECRET, else the file beside `dbPath` (created on first use). */
export function tagKeySecret(dbPath: string): Buffer {
  const env = process.env['MEDTRAIL_TAG_KEY_SECRET'];
  if (env !== undefined && env !== '') {
    if (!/^[0-9a-fA-F]{64}$/.test(env)) throw new MedtrailError('CLI_USAGE', 'MEDTRAIL_TAG_KEY_SECRET must be 64 hex digits');
    return Buffer.from(env, 'hex');
  }
  const file = join(dirname(dbPath), 'tag-keys.secret');
  if (!existsSync(file)) {
    try {
      writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if (codeOf(e) !== 'EEXIST') throw e;
    }
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
}

export interface SunCode {
  gtin: string;
  serial: string;
  sun?: { picc: string; cmac: string };
}

/** A SUN reading that passed its checks, recorded by moving the tag's counter. */
export interface SunReading {
  gtin: string;
  serial: string;
  counter: number;
}

/** Owns the tag_keys table (docs/architecture.md, The store). */
export class SunChecker {
  private readonly q;
  private readonly made: Promise<unknown> | undefined;
  private pulled = 0;

  /** `shared`: the ledger's PostgreSQL schema, when the ledger is there (see the top of this file). */
  constructor(
    private readonly db: Database.Database,
    private readonly secret: Buffer,
    private readonly shared?: PgRows,
  ) {
    db.exec(`CREATE TABLE IF NOT EXISTS tag_keys (gtin TEXT NOT NULL, serial TEXT NOT NULL, uid TEXT NOT NULL, key_sealed BLOB NOT NULL,
      registered_by TEXT NOT NULL, at TEXT NOT NULL, last_counter INTEGER NOT NULL DEFAULT -1, PRIMARY KEY (gtin, serial)) STRICT, WITHOUT ROWID`);
    this.q = {
      get: db.prepare<[string, string], { uid: string; key_sealed: Buffer; last_counter: number }>('SELECT uid, key_sealed, last_counter FROM tag_keys WHERE gtin = ? AND serial = ?'),
      insert: db.prepare('INSERT INTO tag_keys (gtin, serial, uid, key_sealed, registered_by, at) VALUES (?, ?, ?, ?, ?, ?)'),
      advance: db.prepare('UPDATE tag_keys SET last_counter = ? WHERE gtin = ? AND serial = ? AND last_counter < ?'),
      copy: db.prepare('INSERT OR IGNORE INTO tag_keys (gtin, serial, uid, key_sealed, registered_by, at, last_counter) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    };
    if (shared !== undefined) {
      this.made = shared(`CREATE TABLE IF NOT EXISTS $schema.tag_keys (seq BIGSERIAL UNIQUE, gtin TEXT NOT NULL, serial TEXT NOT NULL, uid TEXT NOT NULL,
        key_sealed BYTEA NOT NULL, registered_by TEXT NOT NULL, at TEXT NOT NULL, last_counter BIGINT NOT NULL DEFAULT -1, PRIMARY KEY (gtin, serial))`);
      this.made.catch(() => undefined);
    }
  }

  /** Whether keys and counters are shared through PostgreSQL (then advanceShared, not advance). */
  get isShared(): boolean {
    return this.shared !== undefined;
  }

  /** Copies keys registered through other servers into this server's table (each round of server/pg/replica.ts). */
  async pull(): Promise<void> {
    if (this.shared === undefined) return;
    await this.made;
    for (;;) {
      const rows = await this.shared<{ seq: number; gtin: string; serial: string; uid: string; key_sealed: Buffer; registered_by: string; at: string; last_counter: number }>(
        'SELECT seq, gtin, serial, uid, key_sealed, registered_by, at, last_counter FROM $schema.tag_keys WHERE seq > $1 ORDER BY seq LIMIT 1000',
        [this.pulled],
      );
      for (const r of rows) this.q.copy.run(r.gtin, r.serial, r.uid, r.key_sealed, r.registered_by, r.at, r.last_counter);
      if (rows.length > 0) this.pulled = rows[rows.length - 1]!.seq;
      if (rows.length < 1000) return;
    }
  }

  /** register() through PostgreSQL: the key is the ledger's once it is there (SUN_KEY_EXISTS for a second). */
  async registerShared(gtin: string, serial: string, uid: string, key: Uint8Array, by: string): Promise<void> {
    if (this.shared === undefined) return this.register(gtin, serial, uid, key, by);
    await this.made;
    const sealed = this.seal(key, `${gtin}/${serial}`);
    const at = new Date().toISOString();
    const put = await this.shared('INSERT INTO $schema.tag_keys (gtin, serial, uid, key_sealed, registered_by, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING seq', [
      gtin,
      serial,
      uid,
      sealed,
      by,
      at,
    ]);
    if (put.length === 0) throw new MedtrailError('SUN_KEY_EXISTS', `pack ${serial} of ${gtin} already has SDM keys`);
    this.q.copy.run(gtin, serial, uid, sealed, by, at, -1);
  }

  /** advance() through PostgreSQL's compare-and-swap: false when any server recorded this counter or a later one. */
  async advanceShared(r: SunReading): Promise<boolean> {
    if (this.shared === undefined) return this.advance(r);
    await this.made;
    const moved = await this.shared('UPDATE $schema.tag_keys SET last_counter = $1 WHERE gtin = $2 AND serial = $3 AND last_counter < $1 RETURNING seq', [r.counter, r.gtin, r.serial]);
    this.q.advance.run(r.counter, r.gtin, r.serial, r.counter);
    return moved.length === 1;
  }

  private seal(key: Uint8Array, aad: string): Buffer {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.secret, iv);
    c.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([c.update(key), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), ct]);
  }

  private open(sealed: Buffer, aad: string): Uint8Array {
    const d = createDecipheriv('aes-256-gcm', this.secret, sealed.subarray(0, 12));
    d.setAAD(Buffer.from(aad));
    d.setAuthTag(sealed.subarray(12, 28));
    return new Uint8Array(Buffer.concat([d.update(sealed.subarray(28)), d.final()]));
  }

  /** Registers a tag's key; SUN_KEY_EXISTS if the pack already has one (keys are never replaced silently). */
  register(gtin: string, serial: string, uid: string, key: Uint8Array, by: string): void {
    if (this.q.get.get(gtin, serial) !== undefined) throw new MedtrailError('SUN_KEY_EXISTS', `pack ${serial} of ${gtin} already has SDM keys`);
    this.q.insert.run(gtin, serial, uid, this.seal(key, `${gtin}/${serial}`), by, new Date().toISOString());
  }

  /**
   * Reasons from the SUN parameters of a scan, and the reading to record when the verification is recorded
   * (`advance`). Reads only: the verify flow records after the ledger's integrity check.
   */
  check(code: SunCode): { reasons: ReasonCode[]; reading?: SunReading } {
    const reasons = this.reasonsOf(code);
    return typeof reasons === 'number' ? { reasons: [], reading: { gtin: code.gtin, serial: code.serial, counter: reasons } } : { reasons };
  }

  /**
   * Moves the tag's counter to the reading's: false when another verification got there first (the same
   * reading twice: TAG_COUNTER_REPLAYED for the later one).
   */
  advance(r: SunReading): boolean | Promise<boolean> {
    // writeSoon: the ledger writer thread may hold the write lock for a large batch (server/store/ledger-store.ts).
    return writeSoon(this.db, () => this.q.advance.run(r.counter, r.gtin, r.serial, r.counter).changes === 1);
  }

  /** Coded reasons, or the read counter of a reading that passed every check. */
  private reasonsOf(code: SunCode): ReasonCode[] | number {
    if (code.sun === undefined) return [];
    const row = this.q.get.get(code.gtin, code.serial);
    if (row === undefined) return ['TAG_SUN_NOT_CHECKED'];
    let key: Uint8Array;
    try {
      key = this.open(row.key_sealed, `${code.gtin}/${code.serial}`);
    } catch {
      return ['TAG_SUN_NOT_CHECKED']; // sealed under another secret: the server cannot tell, and says so
    }
    let picc;
    try {
      picc = verifySun(aes128, { metaRead: key, fileRead: key }, fromHex(code.sun.picc.toLowerCase()), fromHex(code.sun.cmac.toLowerCase()));
    } catch {
      return ['TAG_SIGNATURE_INVALID'];
    }
    if (picc.uid !== row.uid) return ['TAG_SIGNATURE_INVALID']; // a genuine tag's reading pasted onto another pack
    if (picc.readCounter <= row.last_counter) return ['TAG_COUNTER_REPLAYED'];
    return picc.readCounter;
  }
}
