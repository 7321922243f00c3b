// `medtrail audit` against a real SQLite file edited behind the server's back.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { openLedger } from '../../server/context.js';
import { toAppendInput } from '../../server/log/ingest.js';
import { admit, makeLedger, participantKey, type TestLedger } from '../support/ledger.js';
import { cli } from '../support/cli.js';

interface Report {
  ok: boolean;
  leaves: number;
  findings: { code: string; index?: number; range?: [number, number] }[];
}

function audit(db: string): { status: number | null; report: Report } {
  const r = cli(['audit', '--db', db, '--json']);
  return { status: r.status, report: JSON.parse(r.stdout) as Report };
}

/** What someone with write access to the file does: drop our guard triggers, then edit. */
function tamper(db: string, sql: string, ...params: unknown[]): void {
  const d = new Database(db);
  for (const t of ['leaves_no_update', 'leaves_no_delete', 'nodes_no_update', 'nodes_no_delete']) d.exec(`DROP TRIGGER IF EXISTS ${t}`);
  d.prepare(sql).run(...params);
  d.close();
}

describe('medtrail audit', () => {
  let t: TestLedger;
  beforeEach(() => {
    t = makeLedger();
    const l = openLedger({ db: t.db });
    const people = Array.from({ length: 40 }, (_, i) => participantKey(i + 2));
    l.log.append(people.slice(0, 20).map((p) => toAppendInput(admit(t.authority, p))));
    l.log.signNow();
    l.log.append(people.slice(20).map((p) => toAppendInput(admit(t.authority, p))));
    l.log.signNow();
    l.close();
  });
  afterEach(() => t.cleanup());

  it('passes on an intact ledger', () => {
    const { status, report } = audit(t.db);
    expect(report.findings).toEqual([]);
    expect(status).toBe(0);
    expect(report.leaves).toBe(40);
  });

  it('names the leaf whose entry was edited (signature and hash no longer match)', () => {
    const d = new Database(t.db);
    const bytes = d.prepare<[], Buffer>('SELECT entry FROM leaves WHERE idx = 13').pluck().get()!;
    d.close();
    const edited = Buffer.from(bytes.toString('utf8').replace('participant 15', 'participant 99'));
    tamper(t.db, 'UPDATE leaves SET entry = ? WHERE idx = 13', edited);
    const { status, report } = audit(t.db);
    expect(status).toBe(1);
    expect(report.findings.some((f) => f.code === 'LEAF_HASH_MISMATCH' && f.index === 13)).toBe(true);
    expect(report.findings.some((f) => f.code === 'ENTRY_BAD_SIGNATURE' && f.index === 13)).toBe(true);
  });

  it('catches an edit whose leaf hash was recomputed too (interior nodes and checkpoints disagree)', () => {
    tamper(t.db, "UPDATE leaves SET hash = randomblob(32) WHERE idx = 25");
    const { status, report } = audit(t.db);
    expect(status).toBe(1);
    expect(report.findings.some((f) => f.code === 'LEAF_HASH_MISMATCH' && f.index === 25)).toBe(true);
  });

  it('catches a deleted leaf and reordered leaves', () => {
    tamper(t.db, 'DELETE FROM leaves WHERE idx = 30');
    let r = audit(t.db);
    expect(r.status).toBe(1);
    expect(r.report.findings.some((f) => f.code === 'LEAF_MISSING' && f.index === 30)).toBe(true);

    const fresh = makeLedger();
    const l = openLedger({ db: fresh.db });
    l.log.append([2, 3, 4, 5].map((n) => toAppendInput(admit(fresh.authority, participantKey(n)))));
    l.log.signNow();
    l.close();
    tamper(fresh.db, 'UPDATE leaves SET idx = CASE idx WHEN 1 THEN 1002 WHEN 2 THEN 1 ELSE idx END');
    tamper(fresh.db, 'UPDATE leaves SET idx = 2 WHERE idx = 1002');
    r = audit(fresh.db);
    fresh.cleanup();
    expect(r.status).toBe(1);
    expect(r.report.findings.some((f) => f.code === 'LEAF_HASH_MISMATCH' || f.code === 'NODE_MISMATCH' || f.code === 'CHECKPOINT_ROOT_MISMATCH')).toBe(true);
  });

  it('catches an edited interior node and names its leaf range', () => {
    tamper(t.db, 'UPDATE nodes SET hash = randomblob(32) WHERE level = 2 AND idx = 3');
    const { status, report } = audit(t.db);
    expect(status).toBe(1);
    expect(report.findings).toContainEqual(expect.objectContaining({ code: 'NODE_MISMATCH', range: [12, 16] }));
  });

  it('fails with a coded error when there is no database', () => {
    const r = cli(['audit', '--db', `${t.dir}/nope.db`, '--json']);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stderr).error.code).toBe('STORE_MISSING');
  });
});
