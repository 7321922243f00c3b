// The witness's memory: per log, the newest checkpoint it cosigned (docs/architecture.md, Trust without a
// centre). Its own SQLite file, apart from any ledger. c2sp.org/tlog-witness asks that the check of the old
// size and the write of the new checkpoint be one atomic step and that the state be persisted before the
// cosignature leaves; `update` runs check, sign and write in one IMMEDIATE transaction (a second process on
// the same file waits), and with synchronous=FULL a commit has reached the disk before the answer is sent.
// So a crash at any point leaves either the old state (and no cosignature was sent) or the new one.
//
//   witness_logs      origin -> size, root, note text, the log's signed note with our cosignature, its time
//   witness_evidence  signed checkpoints refused as inconsistent: proof of a log showing two histories
import Database from 'better-sqlite3';
import { MedtrailError } from '../../core/errors.js';

export interface WitnessState {
  origin: string;
  size: number;
  root: Uint8Array;
  /** The checkpoint's note text. */
  body: string;
  /** The log's signed note with this witness's cosignature line: what GET <origin hash>/checkpoint serves. */
  note: string;
  /** POSIX seconds of the cosignature. */
  timestamp: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS witness_logs (
  origin     TEXT PRIMARY KEY,
  size       INTEGER NOT NULL CHECK (size >= 0),
  root       BLOB NOT NULL CHECK (length(root) = 32),
  body       TEXT NOT NULL,
  note       TEXT NOT NULL,
  timestamp  INTEGER NOT NULL,
  updated_at TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS witness_evidence (
  origin      TEXT NOT NULL,
  note        TEXT NOT NULL,
  reason      TEXT NOT NULL,
  received_at TEXT NOT NULL,
  PRIMARY KEY (origin, note)
) STRICT;
`;

interface Row {
  origin: string;
  size: number;
  root: Buffer;
  body: string;
  note: string;
  timestamp: number;
}

export class WitnessStore {
  private readonly db: Database.Database;
  private readonly getStmt: Database.Statement<[string], Row>;
  private readonly putStmt: Database.Statement<[string, number, Buffer, string, string, number, string]>;
  private readonly evidenceStmt: Database.Statement<[string, string, string, string]>;

  constructor(path: string) {
    try {
      this.db = new Database(path);
    } catch (e) {
      throw new MedtrailError('CLI_IO', `cannot open the witness database ${path}`, { cause: e });
    }
    this.db.pragma('journal_mode = WAL');
    // FULL: the WAL is synced at every commit, so a cosignature is never sent for a state that a power cut
    // could still take back (NORMAL would survive a process crash but not that).
    this.db.pragma('synchronous = FULL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.getStmt = this.db.prepare('SELECT origin, size, root, body, note, timestamp FROM witness_logs WHERE origin = ?');
    this.putStmt = this.db.prepare(
      `INSERT INTO witness_logs (origin, size, root, body, note, timestamp, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, body = excluded.body,
         note = excluded.note, timestamp = excluded.timestamp, updated_at = excluded.updated_at`,
    );
    this.evidenceStmt = this.db.prepare('INSERT OR IGNORE INTO witness_evidence (origin, note, reason, received_at) VALUES (?, ?, ?, ?)');
  }

  get(origin: string): WitnessState | undefined {
    const r = this.getStmt.get(origin);
    return r === undefined ? undefined : { origin: r.origin, size: r.size, root: new Uint8Array(r.root), body: r.body, note: r.note, timestamp: r.timestamp };
  }

  /**
   * Runs `decide` on the current state of `origin` inside one IMMEDIATE transaction and writes the state it
   * returns (none: nothing written) before the transaction commits. Whatever `decide` returns besides leaves
   * only after the commit. A throw rolls everything back.
   */
  update<T>(origin: string, decide: (current: WitnessState | undefined) => { next?: WitnessState; result: T }): T {
    const tx = this.db.transaction((): T => {
      const { next, result } = decide(this.get(origin));
      if (next !== undefined) {
        if (next.origin !== origin) throw new MedtrailError('INTERNAL', 'a witness update must keep its origin');
        this.putStmt.run(origin, next.size, Buffer.from(next.root), next.body, next.note, next.timestamp, new Date().toISOString());
      }
      return result;
    });
    return tx.immediate();
  }

  /** Keeps a signed checkpoint that was refused as inconsistent (once per note). */
  recordEvidence(origin: string, note: string, reason: string): void {
    this.evidenceStmt.run(origin, note, reason, new Date().toISOString());
  }

  evidence(): { origin: string; note: string; reason: string }[] {
    return this.db.prepare('SELECT origin, note, reason FROM witness_evidence ORDER BY rowid').all() as { origin: string; note: string; reason: string }[];
  }

  close(): void {
    this.db.close();
  }
}
