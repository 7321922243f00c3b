// What the verify path and the scans writer thread (scan-writer.ts) exchange: the scan row and the messages
// of the writer's protocol. Its own file so that neither side imports the other.
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

export interface ScanWriterInit {
  path: string;
  /** One Int32: 0 while running, 1 once the database is closed. */
  done: SharedArrayBuffer;
  /** Scans older than this are deleted (retention; scans are observations, not ledger facts). */
  retentionMs: number;
  /** How often the writer deletes what is past retention. */
  pruneEveryMs: number;
}

export type ScanWriterRequest = { id: number; rows: Scan[] } | { close: true };
export type ScanWriterReply = { id: number; error?: string };
