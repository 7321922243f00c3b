// The reader's local picture of the ledger, for verdicts while the server is unreachable: what a "sync" copies.
//
// A sync (at start, then every --sync-interval, and after the queue drains) is three reads:
//   1. GET participants: every participant's current key, role and company prefixes (manufacturer keys are
//      what the tag signatures are checked against);
//   2. the log's new leaves since the last sync (GET log/entries, 1,000 at a time, signed: the entries go only
//      to enrolled participants, so a reader without --key skips this and gives no offline verdicts):
//      product entries (names, maker), recall entries (recalled lots), dispense and undo entries (dispensed
//      serials, whoever dispensed them);
//   3. GET held?gln=<this pharmacy> signed, paged: the packs this pharmacy holds (lot, expiry, and the leaf
//      hash a dispense of each must name as prev).
// Modest on purpose: no custody replay; a pack this pharmacy does not hold is judged by its signature alone.
// Stored in <state dir>/cache.db (SQLite, WAL); a sync replaces the held set and the participants in one
// transaction, so a verdict never sees half a sync.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { checkLogOrigin, decodeEntry } from '../core/entry/entry.js';
import { equalBytes, fromHex, toHex } from '../core/bytes.js';
import { MedtrailError } from '../core/errors.js';
import { parseCheckpointBody, parseNote } from '../core/log/checkpoint.js';
import { completedSubtrees, leafHash, rootAt } from '../core/log/merkle.js';
import { DEFAULT_WITNESS_MAX_AGE_S, requireQuorum, type TlogPolicy } from '../core/log/policy.js';
import { parseHeld, parseParticipants, type ParticipantAnswer } from '../core/api/answers.js';
import type { LedgerClient } from '../client/ledger-client.js';

/** A participant as GET /participants answers it, kept for offline checks. */
export type CachedParticipant = ParticipantAnswer;

export interface CachedPack {
  gtin: string;
  serial: string;
  lot: string;
  expiry: string;
  lastHash: string;
}

export interface CachedProduct {
  gtin: string;
  name: string;
  strength: string;
  form: string;
  manufacturer: string;
}

export interface SyncResult {
  participants: number;
  leaves: number;
  held: number;
  logSize: number;
}

const PAGE = 1000;

export class ReaderCache {
  readonly db: Database.Database;
  private readonly q;

  /**
   * `policy`: a witness policy (c2sp.org/tlog-policy). A sync then reads up to a checkpoint that carries its
   * quorum only, and the leaves read must give that checkpoint's root, or the cache keeps nothing of them.
   */
  constructor(
    path: string,
    private readonly policy?: TlogPolicy,
    private readonly maxAgeS = DEFAULT_WITNESS_MAX_AGE_S,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS participants (gln TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, public_key TEXT NOT NULL,
        prefixes TEXT NOT NULL, revoked INTEGER NOT NULL) STRICT;
      CREATE TABLE IF NOT EXISTS products (gtin TEXT PRIMARY KEY, name TEXT NOT NULL, strength TEXT NOT NULL, form TEXT NOT NULL, manufacturer TEXT NOT NULL) STRICT;
      CREATE TABLE IF NOT EXISTS held (gtin TEXT NOT NULL, serial TEXT NOT NULL, lot TEXT NOT NULL, expiry TEXT NOT NULL, last_hash TEXT NOT NULL,
        PRIMARY KEY (gtin, serial)) STRICT, WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS recalled (gtin TEXT NOT NULL, lot TEXT NOT NULL, PRIMARY KEY (gtin, lot)) STRICT, WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS dispensed (gtin TEXT NOT NULL, serial TEXT NOT NULL, by TEXT NOT NULL, at TEXT NOT NULL,
        PRIMARY KEY (gtin, serial)) STRICT, WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;`);
    this.q = {
      participant: this.db.prepare<[string], { gln: string; name: string; role: string; public_key: string; prefixes: string; revoked: number }>('SELECT * FROM participants WHERE gln = ?'),
      manufacturers: this.db.prepare<[], { gln: string; name: string; role: string; public_key: string; prefixes: string; revoked: number }>("SELECT * FROM participants WHERE role = 'manufacturer'"),
      product: this.db.prepare<[string], CachedProduct>('SELECT * FROM products WHERE gtin = ?'),
      held: this.db.prepare<[string, string], { gtin: string; serial: string; lot: string; expiry: string; last_hash: string }>('SELECT * FROM held WHERE gtin = ? AND serial = ?'),
      recalled: this.db.prepare<[string, string], { gtin: string }>('SELECT gtin FROM recalled WHERE gtin = ? AND lot = ?'),
      dispensed: this.db.prepare<[string, string], { by: string; at: string }>('SELECT by, at FROM dispensed WHERE gtin = ? AND serial = ?'),
      meta: this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?'),
      setMeta: this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      markDispensed: this.db.prepare('INSERT INTO dispensed (gtin, serial, by, at) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET by = excluded.by, at = excluded.at'),
      unheld: this.db.prepare('DELETE FROM held WHERE gtin = ? AND serial = ?'),
    };
  }

  participant(gln: string): CachedParticipant | undefined {
    const r = this.q.participant.get(gln);
    return r === undefined ? undefined : participantRow(r);
  }

  manufacturers(): CachedParticipant[] {
    return this.q.manufacturers.all().map(participantRow);
  }

  product(gtin: string): CachedProduct | undefined {
    return this.q.product.get(gtin);
  }

  held(gtin: string, serial: string): CachedPack | undefined {
    const r = this.q.held.get(gtin, serial);
    return r === undefined ? undefined : { gtin: r.gtin, serial: r.serial, lot: r.lot, expiry: r.expiry, lastHash: r.last_hash };
  }

  recalled(gtin: string, lot: string): boolean {
    return this.q.recalled.get(gtin, lot) !== undefined;
  }

  dispensed(gtin: string, serial: string): { by: string; at: string } | undefined {
    return this.q.dispensed.get(gtin, serial);
  }

  /** Records a dispense made here (before the next sync would bring it). */
  markDispensed(gtin: string, serial: string, by: string, at: string): void {
    this.db.transaction(() => {
      this.q.markDispensed.run(gtin, serial, by, at);
      this.q.unheld.run(gtin, serial);
    })();
  }

  /** The origin of the ledger's log as of the last sync: what offline dispenses sign (issue 12 #8). */
  get origin(): string | undefined {
    return this.q.meta.get('log_origin')?.value;
  }

  /** Forgets every entry-derived row (products, recalls, dispenses) and where the reading stood. */
  private resetEntries(): void {
    this.db.transaction(() => {
      this.db.exec('DELETE FROM products; DELETE FROM recalled; DELETE FROM dispensed');
      this.db.prepare("DELETE FROM meta WHERE key IN ('log_index', 'frontier', 'entries_read', 'witnessed_size')").run();
    })();
  }

  /** Whether this cache holds its entries to a witness policy. */
  get holdsPolicy(): boolean {
    return this.policy !== undefined;
  }

  /** With a policy: the size of the witnessed checkpoint the cached entries were checked against. */
  get witnessedSize(): number | undefined {
    const v = this.q.meta.get('witnessed_size')?.value;
    return v === undefined || v === '' ? undefined : Number(v);
  }

  /** Whether a sync has read the ledger's entries (recalls, dispenses): only a reader with a participant key does. */
  get entriesRead(): boolean {
    return this.q.meta.get('entries_read')?.value === '1';
  }

  /** When the last sync finished (RFC 3339), or undefined before the first. */
  get syncedAt(): string | undefined {
    return this.q.meta.get('synced_at')?.value;
  }

  /** One sync (see the top of this file); `gln` is this pharmacy's (the held packs are read signed). */
  async sync(client: LedgerClient, gln: string | undefined): Promise<SyncResult> {
    const participants: CachedParticipant[] = await client.get('/api/v1/participants', parseParticipants);
    const head = await checkpointHead(client, this.policy, Math.floor(Date.now() / 1000) - this.maxAgeS);
    const { origin, size: note } = head;
    let from = Number(this.q.meta.get('log_index')?.value ?? '0');
    // A different (or rebuilt) ledger, or a cache from before the frontier was kept: read it again from the start.
    if (from > note || (this.origin !== undefined && this.origin !== origin) || (from > 0 && this.q.meta.get('frontier') === undefined)) from = 0;
    this.q.setMeta.run('log_origin', origin);
    let leaves = 0;
    const signed = client.signer !== undefined;
    // The perfect subtrees of the leaves read so far (RFC 9162): enough to compute their root, and so to check
    // that the entries the server sent are exactly the ones its checkpoint commits to.
    const frontier = from === 0 ? new Map<string, Uint8Array>() : readFrontier(this.q.meta.get('frontier')?.value);
    if (from === 0) this.resetEntries();
    const read = (level: number, index: number): Uint8Array => {
      const h = frontier.get(`${level}/${index}`);
      if (h === undefined) throw new MedtrailError('STORE_CORRUPT', `the reader cache lacks the subtree ${level}/${index}`);
      return h;
    };
    while (signed && from < note) {
      const page = await client.leaves(from, Math.min(note, from + PAGE));
      if (page.length === 0) break;
      this.db.transaction(() => {
        let next = from;
        for (const l of page) {
          if (l.index !== next++) throw new MedtrailError('BAD_ANSWER', `GET /log/entries answered leaf ${l.index} where ${next - 1} was due`);
          const subs = completedSubtrees(l.index, leafHash(l.bytes), read);
          for (let k = 0; k < subs.length - 1; k++) frontier.delete(`${subs[k]!.level}/${subs[k]!.index - 1}`);
          const top = subs[subs.length - 1]!;
          frontier.set(`${top.level}/${top.index}`, top.hash);
          this.applyLeaf(l.bytes);
        }
        this.q.setMeta.run('log_index', String(from + page.length));
        this.q.setMeta.run('frontier', writeFrontier(frontier));
      })();
      from += page.length;
      leaves += page.length;
    }
    if (signed) {
      if (from !== note || !equalBytes(rootAt(note, read), head.root)) {
        // The server's entries do not give its own checkpoint's root: keep nothing that came from them.
        this.resetEntries();
        throw new MedtrailError('LOG_INTEGRITY', `the entries the server sent do not give the root of its checkpoint (size ${note}); the reader's cache of entries was emptied`);
      }
      this.q.setMeta.run('witnessed_size', this.policy === undefined ? '' : String(note));
    }
    const held: CachedPack[] = [];
    if (gln !== undefined) {
      for (let offset = 0; ; offset += PAGE) {
        const r = await client.get(`/api/v1/held?gln=${gln}&limit=${PAGE}&offset=${offset}`, parseHeld, true);
        held.push(...r.packs);
        if (r.packs.length < PAGE) break;
      }
    }
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM participants').run();
      const ins = this.db.prepare('INSERT INTO participants VALUES (?, ?, ?, ?, ?, ?)');
      for (const p of participants) ins.run(p.gln, p.name, p.role, p.publicKey, JSON.stringify(p.prefixes ?? []), p.revoked ? 1 : 0);
      if (gln !== undefined) {
        this.db.prepare('DELETE FROM held').run();
        const h = this.db.prepare('INSERT OR REPLACE INTO held VALUES (?, ?, ?, ?, ?)');
        for (const p of held) h.run(p.gtin, p.serial, p.lot, p.expiry, p.lastHash);
      }
      this.q.setMeta.run('synced_at', new Date().toISOString());
      if (signed) this.q.setMeta.run('entries_read', '1');
    })();
    return { participants: participants.length, leaves, held: held.length, logSize: note };
  }

  private applyLeaf(bytes: Uint8Array): void {
    let e;
    try {
      e = decodeEntry(bytes);
    } catch {
      return; // not an entry this build reads: nothing to learn from it
    }
    const b = e.body;
    const s = (k: string): string => {
      const v = b[k];
      return typeof v === 'string' ? v : '';
    };
    if (e.kind === 'product') {
      this.db.prepare('INSERT OR REPLACE INTO products VALUES (?, ?, ?, ?, ?)').run(s('gtin'), s('name'), s('strength'), s('form'), e.signer);
    } else if (e.kind === 'recall') {
      this.db.prepare('INSERT OR IGNORE INTO recalled VALUES (?, ?)').run(s('gtin'), s('lot'));
    } else if (e.kind === 'dispense') {
      this.q.markDispensed.run(s('gtin'), s('serial'), e.signer, e.at);
    } else if (e.kind === 'undo') {
      this.db.prepare('DELETE FROM dispensed WHERE gtin = ? AND serial = ?').run(s('gtin'), s('serial'));
    }
  }

  close(): void {
    this.db.close();
  }
}

function participantRow(r: { gln: string; name: string; role: string; public_key: string; prefixes: string; revoked: number }): CachedParticipant {
  return { gln: r.gln, name: r.name, role: r.role, publicKey: r.public_key, prefixes: JSON.parse(r.prefixes) as string[], revoked: r.revoked === 1 };
}

/**
 * The server's current checkpoint: with a policy, one that carries its witness quorum (CHECKPOINT_QUORUM
 * otherwise); without, as the server says it (its body parsed, not its signature checked: the root is still
 * held against the leaves read).
 */
async function checkpointHead(client: LedgerClient, policy: TlogPolicy | undefined, notBefore: number): Promise<{ origin: string; size: number; root: Uint8Array }> {
  const { text } = await client.text('GET', '/api/v1/checkpoint');
  const cp = policy !== undefined ? requireQuorum(policy, text, { notBefore }).checkpoint : parseCheckpointBody(parseNote(text).body);
  return { origin: checkLogOrigin(cp.origin), size: cp.size, root: cp.root };
}

function writeFrontier(f: Map<string, Uint8Array>): string {
  return JSON.stringify([...f].map(([k, h]) => [k, toHex(h)]));
}

function readFrontier(text: string | undefined): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  if (text === undefined) return out;
  const v: unknown = JSON.parse(text);
  if (!Array.isArray(v)) throw new MedtrailError('STORE_CORRUPT', 'the reader cache frontier is malformed');
  for (const e of v) {
    if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'string') throw new MedtrailError('STORE_CORRUPT', 'the reader cache frontier is malformed');
    out.set(e[0], fromHex(e[1], 32));
  }
  return out;
}
