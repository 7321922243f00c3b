// The scans writer: a worker thread that owns the write connection of the scans database (scans.ts). The
// verify hot path only queues a scan; the INSERTs, their commits and above all SQLite's WAL checkpoints
// (which fsync) happen here, off the server's event loop. On the event loop they stalled it for 4-8 ms every
// fraction of a second under load, which is what a verification's p99 was made of.
//
// Protocol (messages from the server thread):
//   { id, rows }  write these scans in one transaction, then answer { id } (or { id, error }).
//   { close }     finish, close the database, set `done` to 1 and notify (the server waits on it).
import Database from 'better-sqlite3';
import { parentPort, workerData } from 'node:worker_threads';
import { runInBackground } from '../thread-priority.js';
import type { Scan, ScanWriterInit, ScanWriterReply, ScanWriterRequest } from './scan-protocol.js';

function run(port: NonNullable<typeof parentPort>, init: ScanWriterInit): void {
  const done = new Int32Array(init.done);
  const db = new Database(init.path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  const insert = db.prepare<[string, string, number, string | null, string | null, string]>(
    'INSERT INTO verify_scans (gtin, serial, at, scanner, location, verdict) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const write = db.transaction((rows: Scan[]) => {
    for (const r of rows) insert.run(r.gtin, r.serial, r.at, r.scanner, r.location, r.verdict);
  });
  // Retention: rows past the window go, a bounded slice at a time, so that the file cannot grow without end
  // and no single delete holds the writer long.
  const prune = db.prepare<[number]>('DELETE FROM verify_scans WHERE id IN (SELECT id FROM verify_scans WHERE at < ? LIMIT 10000)');
  let prunedAt = 0;
  const pruneIfDue = (): void => {
    const now = Date.now();
    if (now - prunedAt < init.pruneEveryMs) return;
    prunedAt = now;
    while (prune.run(now - init.retentionMs).changes === 10_000) {
      /* the next slice */
    }
  };
  pruneIfDue();
  port.on('message', (m: ScanWriterRequest) => {
    if ('close' in m) {
      db.close();
      Atomics.store(done, 0, 1);
      Atomics.notify(done, 0);
      port.close();
      return;
    }
    let reply: ScanWriterReply;
    try {
      write(m.rows);
      pruneIfDue();
      reply = { id: m.id };
    } catch (e) {
      reply = { id: m.id, error: e instanceof Error ? e.message : String(e) };
    }
    port.postMessage(reply);
  });
}

if (parentPort !== null) {
  runInBackground();
  run(parentPort, workerData as ScanWriterInit);
}
