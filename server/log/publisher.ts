// Checkpoint publication to witnesses (docs/architecture.md, Trust without a centre): every checkpoint the log
// signs is submitted to the witnesses its policy names (c2sp.org/tlog-witness, core/log/witness-client.ts);
// their verified cosignature lines are kept beside the checkpoint, and every answer that carries the checkpoint
// (GET /checkpoint, the verify answer) carries them too, so that a client can hold it to its tlog-policy.
//
//   log_cosignatures (size, witness) -> line      one witness's cosignature line(s) of the checkpoint of that size
//
// One submission at a time, always of the newest checkpoint: a witness that missed one is brought up to the
// next with a consistency proof from the size it holds (learnt from its 409). A witness that fails is retried
// with the next checkpoint; the log never waits for it (the policy's quorum decides what a client accepts).
import type Database from 'better-sqlite3';
import { submitCheckpoint, type WitnessFetch, type WitnessTarget } from '../../core/log/witness-client.js';
import type { TlogPolicy } from '../../core/log/policy.js';
import { addSignatureLines } from '../../core/log/cosignature.js';
import { isMedtrailError, messageOf } from '../../core/errors.js';
import type { LogService } from './log-service.js';
import type { PgRows } from '../store/pg/pg-log.js';
import { writeSoon } from '../store/ledger-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS log_cosignatures (
  size    INTEGER NOT NULL,
  witness TEXT NOT NULL,
  line    TEXT NOT NULL,
  PRIMARY KEY (size, witness)
) STRICT, WITHOUT ROWID;
`;

export interface PublisherOptions {
  /** HTTP for the witnesses (default: globalThis.fetch). */
  fetch?: WitnessFetch;
  /** Per request (default 5 s). */
  timeoutMs?: number;
  /** Told about a witness that failed (coded error), for the server's log. */
  onError?: (witness: string, code: string, message: string) => void;
  /**
   * The newest checkpoint is submitted again this often (default 60 s) even when nothing changed, for a fresh
   * cosignature time: clients refuse cosignatures older than their max age (an old checkpoint replayed).
   */
  refreshMs?: number;
  /**
   * A witness that answered MIRROR_BEHIND (a mirror still catching up to the checkpoint) is submitted to again
   * after this long (default 1 s), doubling each time it answers so, up to refreshMs.
   */
  behindRetryMs?: number;
  /**
   * Several servers over one ledger in PostgreSQL (server/pg/replica.ts): only the one that may sign submits,
   * every cosignature it gets is kept in the ledger's schema too, and the others take them from there each
   * round (pull), so that every server's checkpoints carry the witnesses' cosignatures.
   */
  shared?: { rows: PgRows; maySubmit: () => boolean };
}

export class Publisher {
  private readonly targets: (WitnessTarget & { name: string })[];
  private readonly put: Database.Statement<[number, string, string]>;
  private readonly lines: Database.Statement<[number], string>;
  private running: Promise<void> | undefined;
  private again = false;
  private refresh = false;
  private closed = false;
  private readonly timer: ReturnType<typeof setInterval> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private behindDelayMs = 0;
  private pulled = 0;
  private readonly made: Promise<unknown> | undefined;

  constructor(
    private readonly db: Database.Database,
    private readonly log: LogService,
    policy: TlogPolicy,
    private readonly o: PublisherOptions = {},
  ) {
    db.exec(SCHEMA);
    this.put = db.prepare('INSERT OR REPLACE INTO log_cosignatures (size, witness, line) VALUES (?, ?, ?)');
    this.lines = db.prepare<[number], string>('SELECT line FROM log_cosignatures WHERE size = ? ORDER BY witness').pluck();
    const shared = o.shared;
    if (shared !== undefined) {
      this.made = shared.rows(`CREATE SEQUENCE IF NOT EXISTS $schema.cosignatures_seq;
        CREATE TABLE IF NOT EXISTS $schema.cosignatures (size BIGINT NOT NULL, witness TEXT NOT NULL, line TEXT NOT NULL,
          seq BIGINT NOT NULL DEFAULT nextval('$schema.cosignatures_seq'), PRIMARY KEY (size, witness))`);
      this.made.catch(() => undefined);
    }
    this.targets = policy.witnesses.filter((w) => w.url !== undefined).map((w) => ({ name: w.name, url: w.url!, key: w.key, oldSize: 0 }));
    if (this.targets.length > 0) {
      this.timer = setInterval(() => {
        this.refresh = true;
        void this.publish();
      }, o.refreshMs ?? 60_000);
      this.timer.unref();
    }
  }

  get witnesses(): number {
    return this.targets.length;
  }

  /** The note of a checkpoint of `size` with every cosignature line kept for it. */
  withCosignatures(note: string, size: number): string {
    const lines = this.lines.all(size);
    return lines.length === 0 ? note : addSignatureLines(note, lines.map((l) => (l.endsWith('\n') ? l : `${l}\n`)).join(''));
  }

  /** Submits the newest checkpoint (now, or after the submission under way). Resolves when that is done. */
  publish(): Promise<void> {
    if (this.closed || this.targets.length === 0) return Promise.resolve();
    if (this.running !== undefined) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.round();
      } while (this.again && !this.closed);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** The cosignatures the signing server got since the last pull (a server over PostgreSQL that does not sign). */
  async pull(): Promise<void> {
    const shared = this.o.shared;
    if (shared === undefined || this.closed) return;
    await this.made;
    const rows = await shared.rows<{ size: number; witness: string; line: string; seq: number }>(
      'SELECT size, witness, line, seq FROM $schema.cosignatures WHERE seq > $1 ORDER BY seq',
      [this.pulled],
    );
    for (const r of rows) {
      this.put.run(r.size, r.witness, r.line);
      this.pulled = Math.max(this.pulled, r.seq);
    }
  }

  private async round(): Promise<void> {
    if (this.o.shared !== undefined && !this.o.shared.maySubmit()) return;
    let cp;
    try {
      cp = this.log.checkpoint();
    } catch {
      return; // a frozen log signs and publishes nothing
    }
    const fetchFn: WitnessFetch = this.o.fetch ?? ((url, init) => fetch(url, init));
    const refresh = this.refresh;
    this.refresh = false;
    let behind = false;
    await Promise.all(
      this.targets.map(async (t) => {
        if (t.oldSize === cp.size && !refresh) return;
        try {
          const r = await submitCheckpoint(t, {
            note: cp.note,
            proofFrom: (size) => (size === cp.size ? [] : this.log.consistency(size, cp.size)),
            fetch: fetchFn,
            timeoutMs: this.o.timeoutMs ?? 5000,
          });
          if (this.closed) return;
          await writeSoon(this.db, () => this.put.run(cp.size, t.name, r.lines));
          if (this.o.shared !== undefined) {
            await this.made;
            await this.o.shared.rows(
              `INSERT INTO $schema.cosignatures (size, witness, line) VALUES ($1, $2, $3)
               ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line, seq = nextval('$schema.cosignatures_seq')`,
              [cp.size, t.name, r.lines],
            );
          }
          t.oldSize = r.size;
        } catch (e) {
          // A 409 taught submitCheckpoint nothing it keeps; the next round starts from "unknown" again.
          t.oldSize = 0;
          if (isMedtrailError(e, 'MIRROR_BEHIND')) behind = true;
          this.o.onError?.(t.name, isMedtrailError(e) ? e.code : 'WITNESS_BAD_RESPONSE', messageOf(e));
        }
      }),
    );
    // A mirror catching up: submitted to again soon (it follows the log up to the checkpoint meanwhile), the
    // pause doubling while it stays behind, rather than at the next signing or refresh (up to a minute).
    if (behind && !this.closed) {
      const refreshMs = this.o.refreshMs ?? 60_000;
      this.behindDelayMs = Math.min(refreshMs, this.behindDelayMs === 0 ? (this.o.behindRetryMs ?? 1000) : this.behindDelayMs * 2);
      if (this.retryTimer === undefined) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          void this.publish();
        }, this.behindDelayMs);
        this.retryTimer.unref();
      }
    } else if (!behind) this.behindDelayMs = 0;
  }

  /** Waits for the submission under way; nothing is submitted after. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    await this.running;
  }
}
