// The server's worker threads run below the event loop's CPU priority (server/thread-priority.ts): a thread that
// calls runInBackground() has nice BACKGROUND_NICE, the thread that started it keeps its own.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { BACKGROUND_NICE, runInBackground } from '../../server/thread-priority.js';
import { isMedtrailError } from '../../core/errors.js';
import { startServer } from '../../server/server.js';
import { makeLedger } from '../support/ledger.js';

/** The nice value of a thread of this process (/proc/<pid>/task/<tid>/stat, field 19). */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

describe('worker threads in the background', () => {
  it.runIf(process.platform === 'linux')('lowers the calling thread alone to nice 5 (Linux only: a thread id from /proc/thread-self)', async () => {
    const before = niceOf(process.pid);
    // A thread of its own that calls it and reports its id (the module is loaded from the built tree, as the
    // server's threads load it).
    const src = `
      const { parentPort } = require('node:worker_threads');
      const { readlinkSync } = require('node:fs');
      import(${JSON.stringify(new URL('../../dist/server/thread-priority.js', import.meta.url).href)}).then((m) => {
        const ok = m.runInBackground();
        const tid = Number(/task\\/(\\d+)$/.exec(readlinkSync('/proc/thread-self'))[1]);
        parentPort.postMessage({ ok, tid });
        setTimeout(() => {}, 300);
      });`;
    const w = new Worker(src, { eval: true });
    const got = await new Promise<{ ok: boolean; tid: number }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    try {
      expect(got.ok).toBe(true);
      expect(niceOf(got.tid)).toBe(BACKGROUND_NICE);
      expect(niceOf(process.pid)).toBe(before);
    } finally {
      await w.terminate();
    }
  });

  it('does nothing when MEDTRAIL_THREAD_NICE=0 (the baseline) or out of range', () => {
    for (const v of ['0', '-3', '25', 'x']) {
      process.env['MEDTRAIL_THREAD_NICE'] = v;
      try {
        expect(runInBackground()).toBe(false);
      } finally {
        delete process.env['MEDTRAIL_THREAD_NICE'];
      }
    }
  });

  it('a bad MEDTRAIL_THREAD_NICE stops medtrail serve with CLI_USAGE before the ledger is opened', async () => {
    const l = makeLedger();
    try {
      for (const v of ['ten', '-3', '25']) {
        process.env['MEDTRAIL_THREAD_NICE'] = v;
        try {
          const e: unknown = await startServer({ db: l.db, port: 0 }).then(
            async (s) => {
              await s.close();
              return undefined;
            },
            (err: unknown) => err,
          );
          expect(isMedtrailError(e, 'CLI_USAGE')).toBe(true);
        } finally {
          delete process.env['MEDTRAIL_THREAD_NICE'];
        }
      }
    } finally {
      l.cleanup();
    }
  });
});
