// Scans shared by the servers of one ledger in PostgreSQL (issue 15): a pack scanned by a participant through
// one server and by another participant through a second must meet, or a cloned code read at two pharmacies
// whose counters talk to different servers would never look cloned (server/verify/engine.ts: SEEN_FAR_APART,
// SEEN_AFTER_DISPENSE). Each server keeps its own scans as on SQLite (scans.ts) and also:
//   - sends what it records to the ledger's `scans` table in PostgreSQL, a multi-row insert every FLUSH_MS (50 ms)
//     (the same weaker contract as the scans file: a crash loses the last few milliseconds, never an entry);
//   - takes the other servers' participant scans (signed: the only ones that change a verdict) from it every
//     round of server/pg/replica.ts (a NOTIFY after each insert starts one at once), into its own store, where
//     the next verification compares with them;
//   - answers the alert feed (patients' anonymous scans, server/verify/alerts.ts) from the table, so that a
//     regulator asking any server sees the scans every server took.
// Rows older than the retention are deleted there as here (MEDTRAIL_SCAN_RETENTION_DAYS).
import { randomBytes } from 'node:crypto';
import type { PgRows } from '../store/pg/pg-log.js';
import { scanRetentionMs, type Scan, type ScanStore } from './scans.js';

const FLUSH_MS = 50;
const PAGE = 5000;

export class ScanShare {
  /** This server's mark on the rows it sends, so that it does not take them back. */
  private readonly origin = randomBytes(8).toString('hex');
  private outbox: Scan[] = [];
  private timer: NodeJS.Timeout | undefined;
  private cursor: number | undefined;
  private pruned = 0;
  private readonly made: Promise<unknown>;

  constructor(
    private readonly store: ScanStore,
    private readonly rows: PgRows,
    private readonly notify: () => Promise<void>,
    private readonly windowMs: number,
  ) {
    this.made = rows(`CREATE TABLE IF NOT EXISTS $schema.scans (seq BIGSERIAL PRIMARY KEY, origin TEXT NOT NULL, gtin TEXT NOT NULL, serial TEXT NOT NULL,
      at BIGINT NOT NULL, scanner TEXT, location TEXT, verdict TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS scans_by_time ON $schema.scans (at)`);
    this.made.catch(() => undefined);
    store.onRecord = (scan) => {
      this.outbox.push(scan);
      if (this.timer === undefined) {
        this.timer = setTimeout(() => void this.send(), FLUSH_MS);
        this.timer.unref();
      }
    };
  }

  private async send(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.outbox;
    this.outbox = [];
    if (batch.length === 0) return;
    try {
      await this.made;
      await this.rows(
        `INSERT INTO $schema.scans (origin, gtin, serial, at, scanner, location, verdict)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[])`,
        [this.origin, batch.map((x) => x.gtin), batch.map((x) => x.serial), batch.map((x) => x.at), batch.map((x) => x.scanner), batch.map((x) => x.location), batch.map((x) => x.verdict)],
      );
      await this.notify();
    } catch (e) {
      process.stderr.write(`medtrail: ${batch.length} scans not shared with the other servers: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }

  /** Takes the rows other servers sent since the last pull (at the first, those of the last window). */
  async pull(): Promise<void> {
    await this.made;
    if (this.cursor === undefined) {
      const [top] = await this.rows<{ seq: number | null }>('SELECT max(seq) AS seq FROM $schema.scans');
      const since = Date.now() - this.windowMs;
      for (const r of await this.rows<Row>('SELECT seq, gtin, serial, at, scanner, location, verdict FROM $schema.scans WHERE at >= $1 AND origin <> $2 AND scanner IS NOT NULL ORDER BY seq', [since, this.origin])) this.take(r);
      this.cursor = top?.seq ?? 0;
    }
    for (;;) {
      const got: Row[] = await this.rows<Row>('SELECT seq, gtin, serial, at, scanner, location, verdict FROM $schema.scans WHERE seq > $1 AND origin <> $2 AND scanner IS NOT NULL ORDER BY seq LIMIT $3', [this.cursor, this.origin, PAGE]);
      for (const r of got) this.take(r);
      const last = got[got.length - 1];
      if (last !== undefined) this.cursor = last.seq;
      if (got.length < PAGE) break;
    }
    if (Date.now() - this.pruned > 60_000) {
      this.pruned = Date.now();
      await this.rows('DELETE FROM $schema.scans WHERE at < $1', [Date.now() - scanRetentionMs()]);
    }
  }

  /** Anonymous scans at or after `sinceMs` taken by any server of the ledger, oldest first (the alert feed). */
  async anonymousSince(sinceMs: number, limit: number): Promise<Scan[]> {
    await this.made;
    await this.send();
    const rows = await this.rows<Row>('SELECT seq, gtin, serial, at, scanner, location, verdict FROM $schema.scans WHERE scanner IS NULL AND at >= $1 ORDER BY at LIMIT $2', [sinceMs, limit]);
    return rows.map(({ seq: _seq, ...scan }) => scan);
  }

  private take(r: Row): void {
    const { seq: _seq, ...scan } = r;
    this.store.adopt(scan);
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    void this.send();
  }
}

/** A row of the shared table: a scan and where it is in the table's order. */
type Row = Scan & { seq: number };
