// What the server thread and the ledger writer thread (writer-thread.ts) exchange. Its own file so that neither
// side imports the other (docs/architecture.md, The ledger writer).
import type { Entry } from '../../core/entry/entry.js';
import type { FieldError } from '../../core/errors.js';
import type { Appended, AppendInput } from '../log/log-service.js';

/** The ledger the thread opens: its database file and the log's origin and public key (it never signs). */
export interface WriterInit {
  path: string;
  origin: string;
  publicKey: Uint8Array;
  /**
   * Three Int32 shared with the server thread: [0] set to 1 once the thread closed the database (the server
   * thread waits on it, Atomics.wait); [1] 1 while an append's transaction is open; [2] commits made. The
   * integrity guard tells the thread's commits from another process's by them (server/log/integrity.ts).
   */
  done: SharedArrayBuffer;
}

/**
 * `id`: append these checked entries (their leaf bytes in `inputs`; an entry null is decoded from its bytes here,
 * server/custody/entry-check-protocol.ts CheckPassed.entries) and run the custody rules, all in one
 * transaction; `close`: finish what was asked before, close the database, set `done`.
 */
export type WriterRequest = { id: number; entries: (Entry | null)[]; inputs: AppendInput[]; now: number } | { close: true };

export type WriterReply =
  | { id: number; ok: true; appended: Appended[] }
  | { id: number; ok: false; code: string; message: string; fields?: FieldError[] };
