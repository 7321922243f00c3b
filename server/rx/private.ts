// The prescription details kept off the ledger (issue 16; docs/architecture.md, Prescriptions): the patient's
// identifier, name and birth date, the salt of the ledger's commitment, a free-text note. Encrypted at rest
// (tweetnacl secretbox: XSalsa20-Poly1305, a fresh 24-byte nonce per row, the prescription id inside the sealed
// text and checked on opening) with a key in a file beside the database (`rx.key`, mode 0600), in a database
// file of their own (`<db>.rx.db`), so that a copy of the ledger (a mirror, an audit copy, a backup handed to a
// regulator) never carries them. This module owns that file (docs/architecture.md, The store).
//
// Erasable: after the retention period (or on demand) a row is deleted and a tombstone kept. `secure_delete`
// overwrites the freed bytes, and a WAL checkpoint (TRUNCATE) then empties the write-ahead log, so the sealed
// bytes are gone from the files, not only unlinked from the table (test/rx/privacy.test.ts reads the bytes).
// The ledger keeps the commitment, which without the salt links to nobody.
import Database from 'better-sqlite3';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import nacl from 'tweetnacl';
import { fromHex, fromUtf8, toHex, utf8 } from '../../core/bytes.js';
import { MedtrailError } from '../../core/errors.js';
import { isJsonObject } from '../../core/api/wire.js';
import type { PgRows } from '../store/pg/pg-log.js';

/** What a prescriber gives beside the entry; only `salt` and `patient.id` are required. */
export interface RxDetails {
  /** Hex salt of the ledger's patient commitment (core/rx/rx.ts patientCommitment). */
  salt: string;
  patient: { id: string; name?: string; birthDate?: string };
  /** Free text about the patient for the pharmacist (allergies, ...): never on the ledger. */
  note?: string;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS rx_private (
  id          TEXT PRIMARY KEY,
  valid_until TEXT NOT NULL,
  nonce       BLOB NOT NULL,
  box         BLOB NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rx_private_by_until ON rx_private (valid_until);
CREATE TABLE IF NOT EXISTS rx_erased (
  id TEXT PRIMARY KEY,
  at TEXT NOT NULL
) STRICT, WITHOUT ROWID;`;

export function rxPrivatePath(db: string): string {
  return `${db}.rx.db`;
}

export function rxKeyPath(db: string): string {
  return join(dirname(db), 'rx.key');
}

function loadKey(path: string | undefined): Uint8Array {
  if (path === undefined) return nacl.randomBytes(nacl.secretbox.keyLength);
  if (existsSync(path)) {
    const hex = readFileSync(path, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new MedtrailError('KEYFILE_BAD', `${path} is not 64 hex digits`);
    return fromHex(hex, 32);
  }
  const key = nacl.randomBytes(nacl.secretbox.keyLength);
  writeFileSync(path, `${toHex(key)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return key;
}

const MAX_FIELD = 200;

/** Checks a details object from a request: every bad field at once (BAD_INPUT). */
export function parseDetails(v: unknown): RxDetails {
  const bad: { path: string; code: 'BAD_INPUT'; message: string }[] = [];
  const text = (x: unknown, path: string, required: boolean): string | undefined => {
    if (x === undefined && !required) return undefined;
    if (typeof x !== 'string' || x.trim() === '' || x.length > MAX_FIELD || /[\u0000-\u001f\u007f]/.test(x)) {
      bad.push({ path, code: 'BAD_INPUT', message: `must be text of 1 to ${MAX_FIELD} characters` });
      return undefined;
    }
    return x;
  };
  const o = isJsonObject(v) ? v : {};
  if (!isJsonObject(v)) bad.push({ path: 'details', code: 'BAD_INPUT', message: 'must be an object' });
  for (const k of Object.keys(o)) if (!['salt', 'patient', 'note'].includes(k)) bad.push({ path: `details.${k}`, code: 'BAD_INPUT', message: 'unknown member' });
  const salt = typeof o['salt'] === 'string' && /^[0-9a-f]{64}$/.test(o['salt']) ? o['salt'] : undefined;
  if (salt === undefined) bad.push({ path: 'details.salt', code: 'BAD_INPUT', message: 'must be 64 lowercase hex digits' });
  const p = isJsonObject(o['patient']) ? o['patient'] : {};
  if (!isJsonObject(o['patient'])) bad.push({ path: 'details.patient', code: 'BAD_INPUT', message: 'must be an object' });
  for (const k of Object.keys(p)) if (!['id', 'name', 'birthDate'].includes(k)) bad.push({ path: `details.patient.${k}`, code: 'BAD_INPUT', message: 'unknown member' });
  const id = text(p['id'], 'details.patient.id', true);
  const name = text(p['name'], 'details.patient.name', false);
  const birthDate = text(p['birthDate'], 'details.patient.birthDate', false);
  const note = text(o['note'], 'details.note', false);
  if (bad.length > 0 || salt === undefined || id === undefined) {
    throw new MedtrailError('BAD_INPUT', `malformed prescription details: ${bad.map((b) => `${b.path}: ${b.message}`).join('; ')}`, { fields: bad });
  }
  return {
    salt,
    patient: { id, ...(name !== undefined ? { name } : {}), ...(birthDate !== undefined ? { birthDate } : {}) },
    ...(note !== undefined ? { note } : {}),
  };
}

/** Seals one prescription's details (its id inside the sealed text). */
function seal(key: Uint8Array, id: string, d: RxDetails): { nonce: Buffer; box: Buffer } {
  const nonce = nacl.randomBytes(nacl.secretbox.nonceLength);
  const box = nacl.secretbox(utf8(JSON.stringify({ id, details: d })), nonce, key);
  return { nonce: Buffer.from(nonce), box: Buffer.from(box) };
}

/** Opens sealed details, checking that they are this prescription's. */
function unseal(key: Uint8Array, id: string, nonce: Uint8Array, box: Uint8Array): RxDetails {
  const open = nacl.secretbox.open(new Uint8Array(box), new Uint8Array(nonce), key);
  if (open === null) throw new MedtrailError('STORE_CORRUPT', `the details of prescription ${id} do not open with the key in rx.key`);
  const v: unknown = JSON.parse(fromUtf8(open));
  if (!isJsonObject(v) || v['id'] !== id) throw new MedtrailError('STORE_CORRUPT', `the sealed details of prescription ${id} name another prescription`);
  return parseDetails(v['details']);
}

/** Where the routes keep and read details: the SQLite file beside the ledger, or the PostgreSQL schema. */
export interface RxDetailsStore {
  putAll(items: readonly { id: string; validUntil: string; details: RxDetails }[]): Promise<void>;
  /** The details, or RX_ERASED once erased; undefined when none were ever given. */
  get(id: string): Promise<RxDetails | undefined>;
  eraseDue(cutoff: string, now?: Date): Promise<number>;
  close(): void;
}

/** The SQLite store behind the routes' asynchronous seam. */
export function sqliteRxDetails(s: RxPrivateStore): RxDetailsStore {
  return {
    putAll: (items) => Promise.resolve(s.putAll(items)),
    get: (id) => Promise.resolve().then(() => s.get(id)),
    eraseDue: (cutoff, now) => Promise.resolve(s.eraseDue(cutoff, now)),
    close: () => s.close(),
  };
}

/**
 * The details in the ledger's PostgreSQL schema, for every server of the ledger (issue 15), sealed with the
 * same rx.key, which every server holds beside the log key and which is never in the database. An erased row
 * is deleted (a tombstone kept) and the table vacuumed, so its sealed bytes leave the live table; they can
 * remain in the write-ahead log and in backups for as long as the operator keeps those, still sealed
 * (SECURITY.md).
 */
export class PgRxPrivateStore implements RxDetailsStore {
  private readonly key: Uint8Array;
  private readonly made: Promise<unknown>;

  constructor(
    private readonly rows: PgRows,
    keyPath: string,
  ) {
    this.key = loadKey(keyPath);
    this.made = rows(`CREATE TABLE IF NOT EXISTS $schema.rx_private (id TEXT PRIMARY KEY, valid_until TEXT NOT NULL, nonce BYTEA NOT NULL, box BYTEA NOT NULL);
      CREATE INDEX IF NOT EXISTS rx_private_by_until ON $schema.rx_private (valid_until);
      CREATE TABLE IF NOT EXISTS $schema.rx_erased (id TEXT PRIMARY KEY, at TEXT NOT NULL)`);
    this.made.catch(() => undefined);
  }

  async putAll(items: readonly { id: string; validUntil: string; details: RxDetails }[]): Promise<void> {
    await this.made;
    const sealed = items.map((it) => ({ ...it, ...seal(this.key, it.id, it.details) }));
    await this.rows('INSERT INTO $schema.rx_private (id, valid_until, nonce, box) SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[])', [
      sealed.map((x) => x.id),
      sealed.map((x) => x.validUntil),
      sealed.map((x) => x.nonce),
      sealed.map((x) => x.box),
    ]);
  }

  async get(id: string): Promise<RxDetails | undefined> {
    await this.made;
    const [row] = await this.rows<{ nonce: Buffer; box: Buffer }>('SELECT nonce, box FROM $schema.rx_private WHERE id = $1', [id]);
    if (row !== undefined) return unseal(this.key, id, row.nonce, row.box);
    const [gone] = await this.rows<{ at: string }>('SELECT at FROM $schema.rx_erased WHERE id = $1', [id]);
    if (gone !== undefined) throw new MedtrailError('RX_ERASED', `the details of prescription ${id} were erased on ${gone.at}`);
    return undefined;
  }

  async eraseDue(cutoff: string, now = new Date()): Promise<number> {
    await this.made;
    const gone = await this.rows<{ id: string }>(
      `WITH d AS (DELETE FROM $schema.rx_private WHERE valid_until < $1 RETURNING id)
       INSERT INTO $schema.rx_erased (id, at) SELECT id, $2 FROM d ON CONFLICT (id) DO NOTHING RETURNING id`,
      [cutoff, now.toISOString()],
    );
    if (gone.length > 0) await this.rows('VACUUM $schema.rx_private');
    return gone.length;
  }

  close(): void {
    // The pool is the ledger's (server/pg/replica.ts closes it).
  }
}

export class RxPrivateStore {
  private readonly db: Database.Database;
  private readonly key: Uint8Array;
  private readonly st;

  /** `db` is the ledger's path (':memory:' keeps the details in memory with a key of this process only). */
  constructor(readonly ledgerPath: string) {
    const mem = ledgerPath === ':memory:' || ledgerPath === '';
    this.db = new Database(mem ? ':memory:' : rxPrivatePath(ledgerPath));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('secure_delete = ON');
    this.db.exec(SCHEMA);
    this.key = loadKey(mem ? undefined : rxKeyPath(ledgerPath));
    this.st = {
      put: this.db.prepare('INSERT INTO rx_private (id, valid_until, nonce, box) VALUES (?, ?, ?, ?)'),
      get: this.db.prepare<[string], { nonce: Buffer; box: Buffer }>('SELECT nonce, box FROM rx_private WHERE id = ?'),
      erased: this.db.prepare<[string], string>('SELECT at FROM rx_erased WHERE id = ?').pluck(),
      del: this.db.prepare('DELETE FROM rx_private WHERE id = ?'),
      tomb: this.db.prepare('INSERT OR IGNORE INTO rx_erased (id, at) VALUES (?, ?)'),
      due: this.db.prepare<[string], string>('SELECT id FROM rx_private WHERE valid_until < ? ORDER BY valid_until').pluck(),
    };
  }

  put(id: string, validUntil: string, d: RxDetails): void {
    const { nonce, box } = seal(this.key, id, d);
    this.st.put.run(id, validUntil, nonce, box);
  }

  /** Seals many in one transaction (a POST /rx of many items). */
  putAll(items: readonly { id: string; validUntil: string; details: RxDetails }[]): void {
    this.db.transaction(() => {
      for (const it of items) this.put(it.id, it.validUntil, it.details);
    })();
  }

  /** The details, or RX_ERASED once erased; undefined when none were ever given. */
  get(id: string): RxDetails | undefined {
    const row = this.st.get.get(id);
    if (row === undefined) {
      const at = this.st.erased.get(id);
      if (at !== undefined) throw new MedtrailError('RX_ERASED', `the details of prescription ${id} were erased on ${at}`);
      return undefined;
    }
    return unseal(this.key, id, row.nonce, row.box);
  }

  /** Erases the details of these prescriptions, then checkpoints the WAL so the freed bytes leave the files too. */
  erase(ids: readonly string[], now = new Date()): number {
    let n = 0;
    this.db.transaction(() => {
      for (const id of ids) {
        n += this.st.del.run(id).changes;
        this.st.tomb.run(id, now.toISOString());
      }
    })();
    this.db.pragma('wal_checkpoint(TRUNCATE)');
    return n;
  }

  /** Erases every row whose prescription was valid until before `cutoff` (YYYY-MM-DD): the retention rule. */
  eraseDue(cutoff: string, now = new Date()): number {
    return this.erase(this.st.due.all(cutoff), now);
  }

  close(): void {
    this.db.close();
  }
}
