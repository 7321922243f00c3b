// The ledger's storage contract, and its SQLite implementation (docs/architecture.md, The store).
//
// Contract (what any backend, e.g. a PostgreSQL one, must guarantee):
// - appendLeaves is atomic: all leaves and nodes and the new head, or nothing.
// - appendLeaves moves the head by compare-and-swap: it fails with STORE_CONFLICT when the head is no longer
//   at `expectedSize`, and then writes nothing.
// - Once transaction() returns, what it wrote is durable (synchronous=FULL on SQLite).
// - Leaves, nodes and checkpoints are never updated or deleted.
// - Every read of the log's tables (leaves, nodes, head, checkpoints, meta) goes through this interface: no
//   other module runs SQL on them. Modules that keep tables of their own in the same database (custody, tag
//   keys, reports) get the connection through `connectionFor(owner)`, the one seam where that happens, so
//   that their writes join the append's transaction and another backend can hand them its own.
import Database from 'better-sqlite3';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { codeOf, MedtrailError } from '../../core/errors.js';
import { emptyRoot } from '../../core/log/merkle.js';
import { LEDGER_SCHEMA, PRAGMAS, SCHEMA_VERSION } from './schema.js';

export interface Head {
  size: number;
  root: Uint8Array;
}

export interface NewLeaf {
  index: number;
  hash: Uint8Array;
  bytes: Uint8Array;
  kind: string;
  signer: string;
  nonce: string;
  at: string;
}

export interface NewNode {
  level: number;
  index: number;
  hash: Uint8Array;
}

export interface StoredCheckpoint {
  size: number;
  root: Uint8Array;
  note: string;
  signedAt: string;
}

export interface StoredLeaf {
  index: number;
  hash: Uint8Array;
  bytes: Uint8Array;
}

/** The modules that own tables beside the log's, each the only reader and writer of its tables. */
export type TableOwner = 'custody' | 'tag-keys' | 'reports' | 'map' | 'publisher';

/** What the store keeps about a leaf besides its bytes (read without touching the bytes). */
export interface LeafInfo {
  kind: string;
  signer: string;
  at: string;
}

export interface LedgerStore {
  /** The database's path (':memory:' for an in-memory one): files that live beside it are named from it. */
  readonly path: string;
  head(): Head;
  /** Hash of the perfect subtree (level, index); level 0 is a leaf hash. STORE_CORRUPT when absent. */
  perfectHash(level: number, index: number): Uint8Array;
  leaf(index: number): StoredLeaf | undefined;
  /** Leaves [start, end) in order; with `maxBytes`, stops after the leaf that takes their bytes to it or past. */
  leaves(start: number, end: number, maxBytes?: number): StoredLeaf[];
  leafIndexByHash(hash: Uint8Array): number | undefined;
  /** Kind, signer and time of the leaf at `index`, or undefined past the end. */
  leafInfo(index: number): LeafInfo | undefined;
  /** Every participant entry (few: one per admission, rotation or revocation), oldest first. */
  participantLeaves(): StoredLeaf[];
  /** A stored interior hash (level >= 1), or undefined when the row is missing (audit names it). */
  storedNode(level: number, index: number): Uint8Array | undefined;
  /** Streams every leaf from `start` in order without holding them all in memory. */
  iterateLeaves(start?: number): IterableIterator<StoredLeaf>;
  nonceUsed(signer: string, nonce: string): boolean;
  appendLeaves(expectedSize: number, leaves: readonly NewLeaf[], nodes: readonly NewNode[], newHead: Head): void;
  latestCheckpoint(): StoredCheckpoint | undefined;
  checkpoints(): StoredCheckpoint[];
  /** The checkpoint kept at exactly this size, if any. */
  checkpointAt(size: number): StoredCheckpoint | undefined;
  saveCheckpoint(cp: StoredCheckpoint): void;
  getMeta(key: string): string | undefined;
  /**
   * SQLite's data_version: changes whenever another connection (another process) commits to the file, never
   * for this connection's own commits. The integrity guard re-checks everything it trusted when it moves.
   */
  dataVersion(): number;
  setMeta(key: string, value: string): void;
  /** Runs fn in one write transaction (IMMEDIATE): everything or nothing. Nested calls join the outer one. */
  transaction<T>(fn: () => T): T;
  /**
   * Runs fn inside the current transaction as a unit of its own (a savepoint): if it throws, what it wrote is
   * undone and the outer transaction goes on. Custody replay refuses one entry without losing the others.
   */
  savepoint<T>(fn: () => T): T;
  /**
   * transaction(fn) without waiting inside the database for a write lock another connection holds: at once
   * when it is free, else resolved once it was (SQLite: writeSoon above). Writes on the server thread use it.
   */
  writeSoon<T>(fn: () => T, opts?: { fsync?: boolean }): T | Promise<T>;
  close(): void;
}

/** What busy_timeout the ledger's connections wait for a lock (PRAGMAS, schema.ts). */
const BUSY_TIMEOUT_MS = 5000;
/** How long writeSoon() keeps trying for the write lock before it answers STORE_BUSY. */
const WRITE_SOON_MS = 30_000;

/**
 * Runs `fn` in an IMMEDIATE transaction on `db` at once when the write lock is free, and otherwise tries again
 * every 2 ms from a timer: the ledger writer thread (server/custody/writer-thread.ts) holds the lock for the
 * length of a large batch's append, and a write on the server thread that waited for it inside SQLite
 * (busy_timeout) would hold the event loop as long. Resolves with fn's value; STORE_BUSY after 30 s.
 */
export function writeSoon<T>(db: Database.Database, fn: () => T, opts: { fsync?: boolean } = {}): T | Promise<T> {
  const attempt = (): { done: true; value: T } | { done: false } => {
    if (db.inTransaction) return { done: true, value: fn() };
    db.pragma('busy_timeout = 0');
    // fsync false: a commit that need not survive a power cut (a checkpoint: signed again, byte for byte the
    // same, from the durable leaves) spares the event loop the WAL's fsync (10-40 ms on this disk).
    if (opts.fsync === false) db.pragma('synchronous = NORMAL');
    try {
      return { done: true, value: db.transaction(fn).immediate() };
    } catch (e) {
      if (codeOf(e) === 'SQLITE_BUSY') return { done: false };
      throw e;
    } finally {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      if (opts.fsync === false) db.pragma('synchronous = FULL');
    }
  };
  const first = attempt();
  if (first.done) return first.value;
  const until = Date.now() + WRITE_SOON_MS;
  return new Promise<T>((resolve, reject) => {
    const again = (): void => {
      try {
        const r = attempt();
        if (r.done) return resolve(r.value);
        if (Date.now() > until) return reject(new MedtrailError('STORE_BUSY', 'the ledger database stayed locked for a write; retry shortly'));
        setTimeout(again, 2);
      } catch (e) {
        reject(e);
      }
    };
    setTimeout(again, 2);
  });
}

function u8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export interface OpenOptions {
  /** Create the database (and its folder) if missing. Without it a missing file is STORE_MISSING. */
  create?: boolean;
  readonly?: boolean;
}

export function openDatabase(path: string, opts: OpenOptions = {}): Database.Database {
  if (path !== ':memory:' && !existsSync(path)) {
    if (!opts.create) throw new MedtrailError('STORE_MISSING', `no database at ${path}; run \`medtrail init --db ${path}\``);
    mkdirSync(dirname(path), { recursive: true });
  }
  const db = new Database(path, { readonly: opts.readonly === true });
  if (!opts.readonly) for (const p of PRAGMAS) db.pragma(p.replace(/^PRAGMA /, ''));
  return db;
}

export class SqliteLedgerStore implements LedgerStore {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly st;

  constructor(db: Database.Database) {
    this.db = db;
    this.path = db.name;
    if (!db.readonly) {
      db.exec(LEDGER_SCHEMA);
      db.prepare('INSERT OR IGNORE INTO head (id, size, root) VALUES (0, 0, ?)').run(Buffer.from(emptyRoot()));
      db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    }
    const version = db.prepare<[], string>("SELECT value FROM meta WHERE key = 'schema_version'").pluck().get();
    if (version !== String(SCHEMA_VERSION)) {
      throw new MedtrailError('STORE_CORRUPT', `unsupported schema version ${String(version)}`);
    }
    this.st = {
      head: db.prepare<[], { size: number; root: Buffer }>('SELECT size, root FROM head WHERE id = 0'),
      dataVersion: db.prepare<[], number>('PRAGMA data_version').pluck(),
      leafHash: db.prepare<[number], Buffer>('SELECT hash FROM leaves WHERE idx = ?').pluck(),
      node: db.prepare<[number, number], Buffer>('SELECT hash FROM nodes WHERE level = ? AND idx = ?').pluck(),
      leaf: db.prepare<[number], { idx: number; hash: Buffer; entry: Buffer }>('SELECT idx, hash, entry FROM leaves WHERE idx = ?'),
      leaves: db.prepare<[number, number], { idx: number; hash: Buffer; entry: Buffer }>(
        'SELECT idx, hash, entry FROM leaves WHERE idx >= ? AND idx < ? ORDER BY idx',
      ),
      info: db.prepare<[number], LeafInfo>('SELECT kind, signer, at FROM leaves WHERE idx = ?'),
      participants: db.prepare<[], { idx: number; hash: Buffer; entry: Buffer }>(
        "SELECT idx, hash, entry FROM leaves WHERE kind = 'participant' ORDER BY idx",
      ),
      byHash: db.prepare<[Buffer], number>('SELECT idx FROM leaves WHERE hash = ?').pluck(),
      nonce: db.prepare<[string, string], number>('SELECT 1 FROM leaves WHERE signer = ? AND nonce = ?').pluck(),
      insLeaf: db.prepare('INSERT INTO leaves (idx, hash, entry, kind, signer, nonce, at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      insNode: db.prepare('INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)'),
      cas: db.prepare('UPDATE head SET size = ?, root = ? WHERE id = 0 AND size = ?'),
      latestCp: db.prepare<[], { size: number; root: Buffer; note: string; signed_at: string }>(
        'SELECT size, root, note, signed_at FROM checkpoints ORDER BY size DESC LIMIT 1',
      ),
      allCp: db.prepare<[], { size: number; root: Buffer; note: string; signed_at: string }>(
        'SELECT size, root, note, signed_at FROM checkpoints ORDER BY size',
      ),
      cpAt: db.prepare<[number], { size: number; root: Buffer; note: string; signed_at: string }>('SELECT size, root, note, signed_at FROM checkpoints WHERE size = ?'),
      insCp: db.prepare('INSERT OR IGNORE INTO checkpoints (size, root, note, signed_at) VALUES (?, ?, ?, ?)'),
      getMeta: db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck(),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    };
  }

  head(): Head {
    const row = this.st.head.get();
    if (row === undefined) throw new MedtrailError('STORE_CORRUPT', 'the head row is missing');
    return { size: row.size, root: u8(row.root) };
  }

  perfectHash(level: number, index: number): Uint8Array {
    const b = level === 0 ? this.st.leafHash.get(index) : this.st.node.get(level, index);
    if (b === undefined) throw new MedtrailError('STORE_CORRUPT', `missing tree node at level ${level} index ${index}`);
    return u8(b);
  }

  leaf(index: number): StoredLeaf | undefined {
    const r = this.st.leaf.get(index);
    return r === undefined ? undefined : { index: r.idx, hash: u8(r.hash), bytes: u8(r.entry) };
  }

  leaves(start: number, end: number, maxBytes = Infinity): StoredLeaf[] {
    if (maxBytes === Infinity) return this.st.leaves.all(start, end).map((r) => ({ index: r.idx, hash: u8(r.hash), bytes: u8(r.entry) }));
    const out: StoredLeaf[] = [];
    let bytes = 0;
    for (const r of this.st.leaves.iterate(start, end)) {
      out.push({ index: r.idx, hash: u8(r.hash), bytes: u8(r.entry) });
      bytes += r.entry.length;
      if (bytes >= maxBytes) break;
    }
    return out;
  }

  leafInfo(index: number): LeafInfo | undefined {
    return this.st.info.get(index);
  }

  participantLeaves(): StoredLeaf[] {
    return this.st.participants.all().map((r) => ({ index: r.idx, hash: u8(r.hash), bytes: u8(r.entry) }));
  }

  storedNode(level: number, index: number): Uint8Array | undefined {
    const b = this.st.node.get(level, index);
    return b === undefined ? undefined : u8(b);
  }

  *iterateLeaves(start = 0): IterableIterator<StoredLeaf> {
    const stmt = this.db.prepare<[number], { idx: number; hash: Buffer; entry: Buffer }>(
      'SELECT idx, hash, entry FROM leaves WHERE idx >= ? ORDER BY idx',
    );
    for (const r of stmt.iterate(start)) yield { index: r.idx, hash: u8(r.hash), bytes: u8(r.entry) };
  }

  leafIndexByHash(hash: Uint8Array): number | undefined {
    return this.st.byHash.get(Buffer.from(hash));
  }

  nonceUsed(signer: string, nonce: string): boolean {
    return this.st.nonce.get(signer, nonce) !== undefined;
  }

  appendLeaves(expectedSize: number, leaves: readonly NewLeaf[], nodes: readonly NewNode[], newHead: Head): void {
    this.transaction(() => {
      for (const l of leaves) {
        this.st.insLeaf.run(l.index, Buffer.from(l.hash), Buffer.from(l.bytes), l.kind, l.signer, l.nonce, l.at);
      }
      for (const n of nodes) this.st.insNode.run(n.level, n.index, Buffer.from(n.hash));
      const moved = this.st.cas.run(newHead.size, Buffer.from(newHead.root), expectedSize);
      if (moved.changes !== 1) {
        throw new MedtrailError('STORE_CONFLICT', `the head is no longer at size ${expectedSize}`);
      }
    });
  }

  latestCheckpoint(): StoredCheckpoint | undefined {
    const r = this.st.latestCp.get();
    return r === undefined ? undefined : { size: r.size, root: u8(r.root), note: r.note, signedAt: r.signed_at };
  }

  checkpoints(): StoredCheckpoint[] {
    return this.st.allCp.all().map((r) => ({ size: r.size, root: u8(r.root), note: r.note, signedAt: r.signed_at }));
  }

  checkpointAt(size: number): StoredCheckpoint | undefined {
    const r = this.st.cpAt.get(size);
    return r === undefined ? undefined : { size: r.size, root: u8(r.root), note: r.note, signedAt: r.signed_at };
  }

  saveCheckpoint(cp: StoredCheckpoint): void {
    this.st.insCp.run(cp.size, Buffer.from(cp.root), cp.note, cp.signedAt);
  }

  getMeta(key: string): string | undefined {
    return this.st.getMeta.get(key);
  }

  dataVersion(): number {
    return this.st.dataVersion.get() ?? 0;
  }

  setMeta(key: string, value: string): void {
    this.st.setMeta.run(key, value);
  }

  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.db.transaction(fn).immediate();
  }

  writeSoon<T>(fn: () => T, opts?: { fsync?: boolean }): T | Promise<T> {
    return writeSoon(this.db, fn, opts);
  }

  /**
   * Leaves SQLite's WAL checkpoints (which fsync the database file) to another connection to the file: the
   * ledger writer thread's, which commits nearly every write (server/custody/ledger-writer.ts). On = again.
   */
  autoCheckpoint(on: boolean): void {
    this.db.pragma(`wal_autocheckpoint = ${on ? 1000 : 0}`);
  }

  savepoint<T>(fn: () => T): T {
    if (!this.db.inTransaction) throw new MedtrailError('STORE_CORRUPT', 'a savepoint needs an open transaction');
    // better-sqlite3 runs a transaction function called inside another as a SAVEPOINT.
    return this.db.transaction(fn)();
  }

  /**
   * The connection for a module that owns tables beside the log's (custody, tag keys, reports): the one place
   * where it is handed out (docs/architecture.md, The store). Their writes join the append's transaction.
   */
  connectionFor(_owner: TableOwner): Database.Database {
    return this.db;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
