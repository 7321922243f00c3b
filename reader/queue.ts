// The reader's durable offline queue: scans and dispenses made while the server was unreachable, sent in order
// when it is back.
//
// File and API (kept small on purpose; other tools and tests open it directly):
//   <state dir>/queue.db, SQLite, WAL, synchronous = FULL (an item is on disk when push() returns).
//   TABLE queue  (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT 'verify'|'dispense', payload TEXT (JSON),
//                 enqueued_at TEXT (RFC 3339), attempts INTEGER, last_error TEXT NULL)
//   TABLE alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT, code TEXT, message TEXT, item TEXT (JSON))
//   payload of 'verify':   {"code": <scanned text>, "source": "nfc"|"scanner"|"image", "scannedAt": RFC 3339}
//   payload of 'dispense': {"entry": <the signed dispense entry, nonce included>, "gtin", "serial", "scannedAt"}
//
//   push(kind, payload) -> id     durable on return
//   head() -> item | undefined    the oldest item (delivery is strictly in id order)
//   ack(id)                       the server acknowledged the item: it is removed
//   retry(id, error)              a transient failure: attempts + 1, the item stays first
//   conflict(id, code, message)   the server refused the item on the merits: the item is removed AND an alert
//                                 row written in the same transaction, so nothing is ever lost silently
//   size(), items(), alerts(), close()
//
// Crash safety: each method is one transaction; an item is removed only by ack() (after the server's answer)
// or conflict() (with its alert). A crash between the server's answer and ack() resends the item: a dispense
// entry carries its nonce, so the resend is refused as ENTRY_REPLAYED, which the sender counts as done once it
// has checked the entry is in the pack's chain; a resent verify is simply one more scan.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type QueueKind = 'verify' | 'dispense';

export interface QueueItem {
  id: number;
  kind: QueueKind;
  payload: Record<string, unknown>;
  enqueuedAt: string;
  attempts: number;
  lastError: string | null;
}

export interface QueueAlert {
  id: number;
  at: string;
  code: string;
  message: string;
  item: Record<string, unknown>;
}

interface Row {
  id: number;
  kind: QueueKind;
  payload: string;
  enqueued_at: string;
  attempts: number;
  last_error: string | null;
}

export class OfflineQueue {
  private readonly db: Database.Database;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL CHECK (kind IN ('verify','dispense')),
        payload TEXT NOT NULL, enqueued_at TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT) STRICT;
      CREATE TABLE IF NOT EXISTS alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, code TEXT NOT NULL,
        message TEXT NOT NULL, item TEXT NOT NULL) STRICT;`);
  }

  push(kind: QueueKind, payload: Record<string, unknown>): number {
    const r = this.db.prepare('INSERT INTO queue (kind, payload, enqueued_at) VALUES (?, ?, ?)').run(kind, JSON.stringify(payload), new Date().toISOString());
    return Number(r.lastInsertRowid);
  }

  head(): QueueItem | undefined {
    const r = this.db.prepare<[], Row>('SELECT * FROM queue ORDER BY id LIMIT 1').get();
    return r === undefined ? undefined : item(r);
  }

  ack(id: number): void {
    this.db.prepare('DELETE FROM queue WHERE id = ?').run(id);
  }

  retry(id: number, error: string): void {
    this.db.prepare('UPDATE queue SET attempts = attempts + 1, last_error = ? WHERE id = ?').run(error, id);
  }

  conflict(id: number, code: string, message: string): QueueAlert | undefined {
    return this.db.transaction(() => {
      const r = this.db.prepare<[number], Row>('SELECT * FROM queue WHERE id = ?').get(id);
      if (r === undefined) return undefined;
      const at = new Date().toISOString();
      const a = this.db.prepare('INSERT INTO alerts (at, code, message, item) VALUES (?, ?, ?, ?)').run(at, code, message, JSON.stringify(item(r)));
      this.db.prepare('DELETE FROM queue WHERE id = ?').run(id);
      return { id: Number(a.lastInsertRowid), at, code, message, item: item(r) as unknown as Record<string, unknown> };
    })();
  }

  /** When a dispense of this pack is waiting in the queue: the time it was scanned (else undefined). */
  pendingDispense(gtin: string, serial: string): string | undefined {
    const r = this.db
      .prepare<[string, string], { at: string | null }>(
        "SELECT json_extract(payload, '$.scannedAt') AS at FROM queue WHERE kind = 'dispense' AND json_extract(payload, '$.gtin') = ? AND json_extract(payload, '$.serial') = ? ORDER BY id LIMIT 1",
      )
      .get(gtin, serial);
    return r === undefined ? undefined : (r.at ?? '');
  }

  size(): number {
    return this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM queue').get()!.n;
  }

  items(): QueueItem[] {
    return this.db.prepare<[], Row>('SELECT * FROM queue ORDER BY id').all().map(item);
  }

  alerts(): QueueAlert[] {
    return this.db
      .prepare<[], { id: number; at: string; code: string; message: string; item: string }>('SELECT * FROM alerts ORDER BY id')
      .all()
      .map((a) => ({ ...a, item: JSON.parse(a.item) as Record<string, unknown> }));
  }

  close(): void {
    this.db.close();
  }
}

function item(r: Row): QueueItem {
  return { id: r.id, kind: r.kind, payload: JSON.parse(r.payload) as Record<string, unknown>, enqueuedAt: r.enqueued_at, attempts: r.attempts, lastError: r.last_error };
}
