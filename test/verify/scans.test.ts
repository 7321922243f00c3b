// The scan store answers recent scans from memory on the hot path; these hold it to the table's answers:
// across a restart (the window is preloaded), past the memory bound (it starts afresh and older queries read
// the table), and for queries reaching back beyond the window.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ScanStore, scanRetentionMs, scansPathFor, type Scan } from '../../server/verify/scans.js';
import { tempDir } from '../support/tmp.js';

const G = '04000001000018';
const scan = (serial: string, at: number, location: string | null = null): Scan => ({ gtin: G, serial, at, scanner: null, location, verdict: 'GENUINE' });

describe('ScanStore recent scans', () => {
  let t: ReturnType<typeof tempDir>;
  let db: string;
  beforeEach(() => {
    t = tempDir();
    db = join(t.dir, 'ledger.db');
  });
  afterEach(() => t.cleanup());

  it('answers from memory what the table answers, newest first, within the window', () => {
    const now = Date.now();
    const s = new ScanStore(db, { memoryWindowMs: 60_000 });
    for (let i = 0; i < 50; i++) s.record(scan(`S${i % 5}`, now - 50_000 + i * 1000, `place ${i}`));
    const fromMemory = s.recent(G, 'S3', now - 40_000);
    s.close();
    const reopened = new ScanStore(db, { memoryWindowMs: 1 }); // nothing preloaded: every query reads the table
    const fromTable = reopened.recent(G, 'S3', now - 40_000);
    reopened.close();
    expect(fromMemory.length).toBeGreaterThan(0);
    expect(fromMemory).toEqual(fromTable);
    expect(fromMemory.map((x) => x.at)).toEqual([...fromMemory.map((x) => x.at)].sort((a, b) => b - a));
  });

  it('preloads the window after a restart, and reads the table for queries reaching further back', () => {
    const now = Date.now();
    const a = new ScanStore(db, { memoryWindowMs: 10_000 });
    a.record(scan('P', now - 60_000, 'old place'));
    a.record(scan('P', now - 5_000, 'new place'));
    a.close();
    const b = new ScanStore(db, { memoryWindowMs: 10_000 });
    expect(b.recent(G, 'P', now - 10_000).map((x) => x.location)).toEqual(['new place']);
    expect(b.recent(G, 'P', now - 120_000).map((x) => x.location)).toEqual(['new place', 'old place']);
    b.close();
  });

  it('past its bound starts afresh without losing what an older query needs', () => {
    const now = Date.now();
    const s = new ScanStore(db, { memoryWindowMs: 60_000, maxMemory: 10 });
    for (let i = 0; i < 25; i++) s.record(scan(i === 3 || i === 24 ? 'X' : `F${i}`, now - 30_000 + i));
    expect(s.recent(G, 'X', now - 60_000).map((x) => x.at)).toEqual([now - 30_000 + 24, now - 30_000 + 3]);
    s.close();
  });
});

describe('ScanStore retention (issue 12 #6: scans must not fill the disk)', () => {
  it('the writer deletes scans older than the retention window, and keeps the rest', async () => {
    const t = tempDir();
    try {
      const db = join(t.dir, 'ledger.db');
      const now = Date.now();
      const s = new ScanStore(db, { retentionMs: 60_000, pruneEveryMs: 0 });
      for (let i = 0; i < 20; i++) s.record(scan(`OLD${i}`, now - 3_600_000));
      for (let i = 0; i < 5; i++) s.record(scan(`NEW${i}`, now));
      s.close(); // waits for the writer, which pruned after its writes
      const { default: Database } = await import('better-sqlite3');
      const d = new Database(scansPathFor(db), { readonly: true });
      const serials = d.prepare<[], string>('SELECT serial FROM verify_scans ORDER BY serial').pluck().all();
      d.close();
      expect(serials).toEqual(['NEW0', 'NEW1', 'NEW2', 'NEW3', 'NEW4']);
    } finally {
      t.cleanup();
    }
  });

  it('takes its window from MEDTRAIL_SCAN_RETENTION_DAYS, refusing nonsense with a coded error', () => {
    expect(scanRetentionMs('7')).toBe(7 * 86_400_000);
    expect(scanRetentionMs(undefined)).toBe(90 * 86_400_000);
    expect(() => scanRetentionMs('0')).toThrow(/MEDTRAIL_SCAN_RETENTION_DAYS/);
  });
});
