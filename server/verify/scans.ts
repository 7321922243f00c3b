// Scans: every verification is remembered (outside the log: a scan is an observation, not a signed custody
// fact), so that the same serial seen in two places within a short time, or a pack scanned again after it was
// dispensed, raises an alert on the next scan.
//
// A write per verification must not cost a synchronous commit each, so rows wait in a small in-memory queue
// and every few milliseconds go, as one transaction, to a worker thread that owns the write connection
// (scan-writer.ts), with synchronous=NORMAL: in WAL mode that commit does not wait for fsync. Neither the
// inserts nor SQLite's WAL checkpoints (which do fsync) run on the server's event loop. The contract is weaker
// than the ledger's on purpose: a crash loses at most the last few milliseconds of scans, never a ledger
// entry. Reads see the queue and the rows handed to the writer too, so the very next scan of the same pack is
// compared with this one before it is written.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { MedtrailError } from '../../core/errors.js';
import type { Scan, ScanWriterInit, ScanWriterReply, ScanWriterRequest } from './scan-protocol.js';

export type { Scan } from './scan-protocol.js';

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
CREATE INDEX IF NOT EXISTS verify_scans_by_time ON verify_scans (at);
`;

/** Scans are kept this long (MEDTRAIL_SCAN_RETENTION_DAYS, default 90 days), then deleted by the writer. */
export function scanRetentionMs(env: string | undefined = process.env['MEDTRAIL_SCAN_RETENTION_DAYS']): number {
  if (env === undefined || env.trim() === '') return 90 * 86_400_000;
  if (!/^[1-9][0-9]{0,4}$/.test(env.trim())) throw new MedtrailError('CLI_USAGE', `MEDTRAIL_SCAN_RETENTION_DAYS must be a whole number of days from 1, got ${env}`);
  return Number(env.trim()) * 86_400_000;
}

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
  /** Scans older than this are deleted (default scanRetentionMs()). */
  retentionMs?: number;
  /** How often the retention runs (default once a minute). */
  pruneEveryMs?: number;
}

const packKey = (gtin: string, serial: string): string => `${gtin}\u001d${serial}`;

/** How long close() waits for the writer to finish what it was handed. */
const CLOSE_WAIT_MS = 5_000;

/** The built scan-writer.js: beside this file, or (running from the TypeScript sources, as the tests do) in dist. */
function writerUrl(): URL {
  const here = new URL('./scan-writer.js', import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  return new URL('../../dist/server/verify/scan-writer.js', import.meta.url);
}

export class ScanStore {
  private queue: Scan[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly flushMs: number;
  private readonly maxQueue: number;
  private readonly since: Database.Statement<[string, string, number, number], Scan>;
  private readonly anonymous: Database.Statement<[number, number], Scan>;
  private closed = false;
  private readonly db: Database.Database;
  // In memory (':memory:') there is no file for a writer thread to open: rows are written here.
  private readonly insertHere: ((rows: Scan[]) => void) | undefined;
  private readonly writer: Worker | undefined;
  private readonly writerDone = new Int32Array(new SharedArrayBuffer(4));
  // Batches handed to the writer and not yet confirmed written, by batch id.
  private readonly inflight = new Map<number, Scan[]>();
  private nextBatch = 0;
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
    this.since = db.prepare(
      'SELECT gtin, serial, at, scanner, location, verdict FROM verify_scans WHERE gtin = ? AND serial = ? AND at >= ? ORDER BY at DESC LIMIT ?',
    );
    this.anonymous = db.prepare(
      'SELECT gtin, serial, at, scanner, location, verdict FROM verify_scans WHERE scanner IS NULL AND at >= ? ORDER BY at LIMIT ?',
    );
    if (db.memory) {
      const insert = db.prepare<[string, string, number, string | null, string | null, string]>(
        'INSERT INTO verify_scans (gtin, serial, at, scanner, location, verdict) VALUES (?, ?, ?, ?, ?, ?)',
      );
      this.insertHere = db.transaction((rows: Scan[]) => {
        for (const r of rows) insert.run(r.gtin, r.serial, r.at, r.scanner, r.location, r.verdict);
      });
    } else {
      const init: ScanWriterInit = {
        path: db.name,
        done: this.writerDone.buffer as SharedArrayBuffer,
        retentionMs: opts.retentionMs ?? scanRetentionMs(),
        pruneEveryMs: opts.pruneEveryMs ?? 60_000,
      };
      const w = new Worker(writerUrl(), { workerData: init });
      w.on('message', (r: ScanWriterReply) => {
        const rows = this.inflight.get(r.id);
        this.inflight.delete(r.id);
        // A scan is not a ledger fact: losing a batch must not take the service down, but it must be seen.
        if (r.error !== undefined) process.stderr.write(`medtrail: ${rows?.length ?? 0} scans not recorded: ${r.error}\n`);
      });
      w.on('error', (e) => {
        process.stderr.write(`medtrail: the scans writer stopped: ${e.message}; scans are kept in memory only\n`);
      });
      w.unref();
      this.writer = w;
    }
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

  /** Told of every scan this server records (server/verify/scan-share.ts passes them to the other servers). */
  onRecord: ((scan: Scan) => void) | undefined;

  /** Queues one scan; it is written within `flushMs`. */
  record(scan: Scan): void {
    if (this.closed) return;
    this.onRecord?.(scan);
    this.adopt(scan);
  }

  /** Queues a scan another server of the ledger recorded: kept and compared with like this server's own. */
  adopt(scan: Scan): void {
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
    // Not yet in the table: the queue, and what the writer holds. A row the writer has just committed is in both
    // the table and its batch until the writer's reply is read: counted once.
    const mine = (s: Scan): boolean => s.serial === serial && s.gtin === gtin && s.at >= sinceMs;
    const pending = [...[...this.inflight.values()].flatMap((b) => b.filter(mine)), ...this.queue.filter(mine)].reverse();
    if (pending.length >= limit) return pending.slice(0, limit);
    const seen = new Set(pending.map(scanKey));
    return pending.concat(this.since.all(gtin, serial, sinceMs, limit).filter((x) => !seen.has(scanKey(x)))).slice(0, limit);
  }

  /**
   * Anonymous scans (no signed scanner: patient pages, apps) at or after `sinceMs`, oldest first, at most
   * `limit`, queued ones included: what the alert feed (server/verify/alerts.ts) is built from.
   */
  anonymousSince(sinceMs: number, limit: number): Scan[] {
    const anon = (x: Scan): boolean => x.scanner === null && x.at >= sinceMs;
    const pending = [...[...this.inflight.values()].flatMap((b) => b.filter(anon)), ...this.queue.filter(anon)];
    const stored = this.anonymous.all(sinceMs, limit);
    // A row the writer has just committed may be both stored and in flight: keep one of each.
    const seen = new Set(stored.map(scanKey));
    return stored.concat(pending.filter((x) => !seen.has(scanKey(x)))).slice(0, limit);
  }

  /** Hands every queued scan to the writer, to be written in one transaction. */
  flush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.queue.length === 0) return;
    const rows = this.queue;
    this.queue = [];
    if (this.writer === undefined) {
      try {
        this.insertHere?.(rows);
      } catch (e) {
        process.stderr.write(`medtrail: ${rows.length} scans not recorded: ${e instanceof Error ? e.message : String(e)}\n`);
      }
      return;
    }
    const id = this.nextBatch++;
    this.inflight.set(id, rows);
    this.writer.postMessage({ id, rows } satisfies ScanWriterRequest);
  }

  /**
   * Hands over what is queued, waits (blocking, at most CLOSE_WAIT_MS) until the writer has written it all
   * and closed, and stops accepting scans (before the ledger's database closes).
   */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    if (this.writer !== undefined) {
      this.writer.postMessage({ close: true } satisfies ScanWriterRequest);
      if (Atomics.wait(this.writerDone, 0, 0, CLOSE_WAIT_MS) === 'timed-out') {
        process.stderr.write(`medtrail: the scans writer did not finish within ${CLOSE_WAIT_MS} ms; the last scans may be lost\n`);
      }
      void this.writer.terminate();
    }
    this.db.close();
  }
}

function scanKey(x: Scan): string {
  return `${x.gtin}\u0000${x.serial}\u0000${x.at}\u0000${x.location ?? ''}\u0000${x.verdict}`;
}
