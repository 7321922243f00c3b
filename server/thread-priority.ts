// The server's worker threads (the ledger writer, the entry checker, the scans writer) run at a lower CPU
// priority than the event loop. On a machine with fewer free cores than busy threads, the kernel otherwise
// shares a core evenly between the event loop and a thread appending a 100,000-pack batch or parsing a 14 MB
// body, and every request waits its turn for the core: the event loop's holds measured by bench:loop were
// mostly that wait, not work of ours. Background work at nice BACKGROUND_NICE still gets every idle cycle.
//
// Linux: setpriority() on a thread id changes that thread alone, and a thread's own id is in /proc/thread-self.
// Anywhere else (or without /proc) the call does nothing. MEDTRAIL_THREAD_NICE=0 turns it off (the baseline).
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** Nice value of the server's worker threads: CFS gives a nice-5 thread about a third of a nice-0 one's share. */
export const BACKGROUND_NICE = 5;

/** Lowers the calling thread's CPU priority; true when it did. Called first thing in each worker thread. */
export function runInBackground(): boolean {
  const env = process.env['MEDTRAIL_THREAD_NICE'];
  const nice = env === undefined ? BACKGROUND_NICE : Number(env);
  if (!Number.isInteger(nice) || nice <= 0 || nice > 19) return false;
  try {
    const m = /\/task\/(\d+)$/.exec(readlinkSync('/proc/thread-self'));
    if (m === null) return false;
    setPriority(Number(m[1]), nice);
    return true;
  } catch {
    return false;
  }
}
