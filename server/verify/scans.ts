// Scans: every verification is remembered (outside the log: a scan is an observation, not a signed custody
// fact), so that the same serial seen in two places within a short time, or a pack scanned again after it was
// dispensed, raises an alert on the next scan.
//
// A write per verification must not cost a synchronous commit each, so rows wait in a small in-memory queue
// and are flushed every few milliseconds in one transaction, on a connection of their own with
// synchronous=NORMAL: in WAL mode that commit does not wait for fsync (the ledger's connection keeps FULL, and
// its next commit makes these frames durable too). The contract is weaker than the ledger's on purpose: a crash
// loses at most the last few milliseconds of scans, never a ledger entry. Reads see the queue too, so the very next scan of the same pack
// is compared with this one even before the flush.
import Database from 'better-sqlite3';
import type { Verdict } from '../../core/verdict.js';

export interface Scan {
  gtin: string;
  serial: string;
  /** Milliseconds since the epoch. */
  at: number;
  /** GLN of the participant who signed the scan request, or null for an anonymous scan. */
  scanner: string | null;
  /** Free text the scanner gave as its place (a counter, a town), or null. */
  location: string | null;
  verdict: Verdict;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS verify_scans (
  id INTEGER PRIMARY KEY,
  gtin TEXT NOT NULL,
  serial TEXT NOT NULL,
  at INTEGER NOT NULL,
  scanner TEXT,
  location TEXT,
  verdict TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS verify_scans_by_pack ON verify_scans (gtin, serial, at);
`;

/** `data/medtrail.db` -> `data/medtrail.scans.db`; an in-memory ledger keeps its scans in memory too. */
export function scansPathFor(ledgerPath: string): string {
  if (ledgerPath === ':memory:' || ledgerPath === '') return ':memory:';
  return ledgerPath.replace(/(\.db)?$/, '.scans.db');
}

export interface ScanStoreOptions {
  /** Flush the queue this long after its first row (default 5 ms). */
  flushMs?: number;
  /** Flush at once when this many rows wait (default 1,000). */
  maxQueue?: number;
  /** How far back recent scans are also kept in memory (default 30 min: the engine's window). */
  memoryWindowMs?: number;
  /** At most this many scans in memory (default 500,000, ~75 MB); past it the memory starts afresh. */
  maxMemory?: number;
}

const packKey = (gtin: string, serial: string): string => `${gtin}\u001d${serial}`;

export class ScanStore {
  private queue: Scan[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly flushMs: number;
  private readonly maxQueue: number;
  private readonly insert: Database.Statement<[string, string, number, string | null, string | null, string]>;
  private readonly since: Database.Statement<[string, string, number, number], Scan>;
  private readonly flushTx: (rows: Scan[]) => void;
  private closed = false;
  private readonly db: Database.Database;
  // Recent scans in memory, per pack, so that the verify hot path needs no SQLite read (a read of a table that
  // another statement writes every few milliseconds costs ~50 us under load, a map lookup ~1 us). It holds
  // every scan at or after `memSince`; a query reaching further back reads the table instead.
  private mem = new Map<string, Scan[]>();
  private memCount = 0;
  private memSince: number;
  private readonly memWindow: number;
  private readonly maxMemory: number;

  /**
   * Opens (creating it if needed) the scans database beside the ledger's file `ledgerPath` (scansPathFor).
   * A file of its own, not a table in the ledger's file: every commit to a SQLite file makes every other
   * connection to it drop its page cache, so scan writes every few milliseconds in the ledger's file would
   * send each custody lookup of the verify path back to disk.
   */
  constructor(ledgerPath: string, opts: ScanStoreOptions = {}) {
    const db = new Database(scansPathFor(ledgerPath));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    this.db = db;
    db.exec(SCHEMA);
    this.flushMs = opts.flushMs ?? 5;
    this.maxQueue = opts.maxQueue ?? 1000;
    this.insert = db.prepare('INSERT INTO verify_scans (gtin, serial, at, scanner, location, verdict) VALUES (?, ?, ?, ?, ?, ?)');
    this.since = db.prepare(
      'SELECT gtin, serial, at, scanner, location, verdict FROM verify_scans WHERE gtin = ? AND serial = ? AND at >= ? ORDER BY at DESC LIMIT ?',
    );
    this.flushTx = db.transaction((rows: Scan[]) => {
      for (const r of rows) this.insert.run(r.gtin, r.serial, r.at, r.scanner, r.location, r.verdict);
    });
    this.memWindow = opts.memoryWindowMs ?? 30 * 60_000;
    this.maxMemory = opts.maxMemory ?? 500_000;
    // Start with the window's scans from the table (newest first, at most maxMemory of them).
    const now = Date.now();
    this.memSince = now - this.memWindow;
    const rows = db
      .prepare<[number, number], Scan>('SELECT gtin, serial, at, scanner, location, verdict FROM verify_scans WHERE at >= ? ORDER BY at DESC LIMIT ?')
      .all(this.memSince, this.maxMemory);
    if (rows.length === this.maxMemory) this.memSince = rows[rows.length - 1]!.at + 1;
    for (let i = rows.length - 1; i >= 0; i--) if (rows[i]!.at >= this.memSince) this.remember(rows[i]!);
  }

  private remember(scan: Scan): void {
    if (this.memCount >= this.maxMemory) {
      // Start afresh rather than evict one by one: what is older than now is still in the table (or queue).
      this.mem = new Map();
      this.memCount = 0;
      this.memSince = scan.at;
    }
    const k = packKey(scan.gtin, scan.serial);
    const list = this.mem.get(k);
    if (list === undefined) this.mem.set(k, [scan]);
    else list.push(scan);
    this.memCount++;
  }

  /** Queues one scan; it is written within `flushMs`. */
  record(scan: Scan): void {
    if (this.closed) return;
    this.queue.push(scan);
    this.remember(scan);
    if (this.queue.length >= this.maxQueue) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), this.flushMs);
      this.timer.unref();
    }
  }

  /** Scans of one pack at or after `sinceMs`, newest first (queued ones included), at most `limit`. */
  recent(gtin: string, serial: string, sinceMs: number, limit = 32): Scan[] {
    if (sinceMs >= this.memSince) {
      const list = this.mem.get(packKey(gtin, serial));
      const out: Scan[] = [];
      if (list !== undefined) for (let i = list.length - 1; i >= 0 && out.length < limit; i--) if (list[i]!.at >= sinceMs) out.push(list[i]!);
      return out;
    }
    const queued = this.queue.filter((s) => s.serial === serial && s.gtin === gtin && s.at >= sinceMs).reverse();
    if (queued.length >= limit) return queued.slice(0, limit);
    return queued.concat(this.since.all(gtin, serial, sinceMs, limit - queued.length));
  }

  /** Writes every queued scan in one transaction. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.queue.length === 0) return;
    const rows = this.queue;
    this.queue = [];
    try {
      this.flushTx(rows);
    } catch (e) {
      // A scan is not a ledger fact: losing a batch must not take the service down, but it must be seen.
      process.stderr.write(`medtrail: ${rows.length} scans not recorded: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }

  /** Flushes what is queued and stops accepting scans (before the database closes). */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.db.close();
  }
}
