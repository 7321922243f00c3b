// A pcscd for the NFC tests: reuse the one running (system service or .ci/run), else start Debian's pcscd in
// the foreground. Its vpcd driver (/etc/reader.conf.d/vpcd) offers two virtual readers whose card slots are
// TCP ports a virtual card connects to. Only one pcscd can run per machine (fixed /run/pcscd socket and pid
// file), so tests share it; each test file takes one virtual reader for itself with acquireVirtualReader.
import { spawn, execFile } from 'node:child_process';
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const VIRTUAL_READERS = ['Virtual PCD 00 00', 'Virtual PCD 00 01'] as const;
export const VPCD_PORTS = [35963, 35964] as const;

const START_LOCK = join(tmpdir(), 'medtrail-pcscd.lock');
const LOG_FILE = join(tmpdir(), 'medtrail-pcscd.log');

/** Reader names pcscd lists now ([] when no pcscd answers). Uses pcsc_scan (Debian pcsc-tools). */
export function listReaders(): Promise<string[]> {
  return new Promise((resolve) => {
    execFile('pcsc_scan', ['-r'], { timeout: 3000 }, (err, stdout) => {
      if (err) return resolve([]);
      resolve(stdout.split('\n').flatMap((l) => /^\d+: (.+)$/.exec(l.trim())?.[1] ?? []));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function virtualReadersListed(): Promise<boolean> {
  const names = await listReaders();
  return VIRTUAL_READERS.every((n) => names.includes(n));
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Exclusive lock file holding our pid; a lock whose owner died is taken over. */
async function withLock<T>(path: string, timeoutMs: number, f: () => Promise<T>): Promise<T> {
  const release = await lockFile(path, timeoutMs);
  try {
    return await f();
  } finally {
    release();
  }
}

export async function lockFile(path: string, timeoutMs: number): Promise<() => void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => {
        try {
          unlinkSync(path);
        } catch {
          /* already gone */
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(safeRead(path));
      if (Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) {
        try {
          unlinkSync(path);
        } catch {
          /* someone else took it over first */
        }
        continue;
      }
      if (Date.now() > deadline) throw new Error(`lock ${path} still held by pid ${owner} after ${timeoutMs} ms`);
      await sleep(50);
    }
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export interface PcscdHandle {
  /** True when this call started pcscd (then stop() ends it). */
  readonly started: boolean;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Makes sure a pcscd with both virtual readers answers. Idempotent and safe from parallel workers: the start
 * is serialised by a lock file and re-checked under it. A pcscd started here runs with --auto-exit, so one
 * started by a test worker (no globalSetup) still goes away 60 s after its last client.
 */
export async function ensurePcscd(timeoutMs = 15_000, opts: { autoExit?: boolean } = {}): Promise<PcscdHandle> {
  const reuse: PcscdHandle = { started: false, pid: undefined, stop: async () => {} };
  if (await virtualReadersListed()) return reuse;
  return withLock(START_LOCK, timeoutMs, async () => {
    if (await virtualReadersListed()) return reuse;
    const log = openSync(LOG_FILE, 'a');
    // The run's globalSetup starts it without --auto-exit and stops it at the end: with auto-exit, a pause of a
    // minute between NFC test files let pcscd quit just as the next file had found it alive (a client then
    // got "Access denied" from a daemon on its way out).
    const args = opts.autoExit === false ? ['--foreground'] : ['--foreground', '--auto-exit'];
    const child = spawn('pcscd', args, { detached: true, stdio: ['ignore', log, log] });
    closeSync(log);
    child.unref();
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    child.once('error', () => {});
    const deadline = Date.now() + timeoutMs;
    while (!(await virtualReadersListed())) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGTERM');
        throw new Error(`pcscd did not list the virtual readers (exit ${child.exitCode}); see ${LOG_FILE}`);
      }
      await sleep(100);
    }
    return {
      started: true,
      pid: child.pid,
      stop: async () => {
        if (child.exitCode !== null) return;
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(5000)]);
      },
    };
  });
}

/**
 * Takes virtual reader `index` for the calling test file until the returned release is called, so that
 * two files never drive the same slot at once (waits while another file holds it).
 */
export function acquireVirtualReader(index: 0 | 1, timeoutMs = 120_000): Promise<() => void> {
  return lockFile(join(tmpdir(), `medtrail-vpcd-${index}.lock`), timeoutMs);
}
