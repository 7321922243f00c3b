// The reader daemon when pcscd cannot be reached (not installed, not running, its socket elsewhere): it used to
// hang at full CPU in the pcsclite binding, print nothing, ignore scanner lines and every signal but SIGKILL.
// Now it says in one line that NFC is unavailable and why, serves scanner lines meanwhile, stays idle, picks
// NFC up when pcscd appears, and stops on SIGTERM or SIGINT at once. The machine's own pcscd keeps running:
// the daemon is pointed at another socket path (PCSCLITE_CSOCK_NAME, which libpcsclite honours), where
// "pcscd appears" is a link to the real socket made mid-test.
import { spawn } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatElementString } from '../../core/gs1/element-string.js';
import { VIRTUAL_READERS, acquireVirtualReader, ensurePcscd } from '../support/pcscd.js';
import { readerWorld, spawnReader, type ReaderWorld } from '../support/reader-world.js';
import { REPO_ROOT, tempDir } from '../support/tmp.js';

const INDEX = 0;
const READER = VIRTUAL_READERS[INDEX];
const REAL_SOCKET = '/run/pcscd/pcscd.comm';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds (user + system) the process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100 Hz)
}

let w: ReaderWorld;
let release: () => void;
let tmp: { dir: string; cleanup: () => void };
beforeAll(async () => {
  // The reader lock first: a file that restarts pcscd holds every reader, and must not see pcscd come back
  // from this file's ensurePcscd meanwhile.
  release = await acquireVirtualReader(INDEX);
  await ensurePcscd();
  w = await readerWorld(4);
  tmp = tempDir();
});
afterAll(async () => {
  await w?.close();
  release?.();
  tmp?.cleanup();
});

describe('no pcscd at start', () => {
  it('says NFC is unavailable and why, verifies scanner lines, idles, then picks NFC up when pcscd appears', async () => {
    const socket = join(tmp.dir, 'pcscd.comm');
    const r = await spawnReader(['--server', w.url, '--key', w.keyFile, '--reader', READER, '--state', join(tmp.dir, 'state-a')], { env: { PCSCLITE_CSOCK_NAME: socket } });
    try {
      const why = await r.next((l) => l['info'] === 'pcsc' && l['state'] === 'unavailable');
      expect(why['socket']).toBe(socket);
      expect(String(why['message'])).toMatch(/no pcscd socket/);

      const p = w.genuine[0]!;
      r.write(formatElementString({ gtin: p.gtin, lot: p.lot, serial: p.serial, expiry: p.expiry }, { style: 'gs', symbology: ']d2' }));
      const v = await r.next((l) => 'verdict' in l && l['provisional'] !== true);
      expect(v['source']).toBe('scanner');

      // Idle while waiting for pcscd: the old binding loop burnt a whole core.
      const before = cpuSeconds(r.child.pid!);
      await sleep(2000);
      expect(cpuSeconds(r.child.pid!) - before).toBeLessThan(0.5);

      symlinkSync(REAL_SOCKET, socket);
      await r.next((l) => l['info'] === 'pcsc' && l['state'] === 'restored', 10_000);
      await r.next((l) => l['info'] === 'reader' && l['reader'] === READER && l['attached'] === true, 10_000);
    } finally {
      await r.stop();
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops on ${signal} at once while pcscd is missing`, async () => {
      const r = await spawnReader(['--server', w.url, '--key', w.keyFile, '--state', join(tmp.dir, `state-${signal}`)], { env: { PCSCLITE_CSOCK_NAME: join(tmp.dir, 'nowhere.comm') } });
      await r.next((l) => l['info'] === 'pcsc' && l['state'] === 'unavailable');
      const t0 = Date.now();
      r.child.kill(signal);
      expect(await r.exit).toBe(0);
      expect(Date.now() - t0).toBeLessThan(3000);
    });
  }

  it('says it in one plain line on a terminal run (no --json): the socket and why, then ready; SIGINT ends it', async () => {
    const socket = join(tmp.dir, 'absent', 'pcscd.comm');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/medtrail-reader.js'), '--server', w.url, '--key', w.keyFile, '--state', join(tmp.dir, 'state-plain')], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, PCSCLITE_CSOCK_NAME: socket },
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    try {
      const deadline = Date.now() + 15_000;
      while (!err.includes('ready') && Date.now() < deadline && child.exitCode === null) await sleep(100);
      const said = err.split('\n').filter((l) => l.includes('NFC unavailable'));
      expect(said, err).toHaveLength(1);
      expect(said[0]).toContain(socket);
      expect(said[0]).toMatch(/no pcscd socket there/);
      expect(said[0]).toContain('--no-nfc');
      expect(err).toContain('medtrail-reader: ready');
      // Still said once after a few retries (one probe a second).
      await sleep(2500);
      expect(err.split('\n').filter((l) => l.includes('NFC unavailable'))).toHaveLength(1);
    } finally {
      const t0 = Date.now();
      child.kill('SIGINT');
      expect(await exit).toBe(0);
      expect(Date.now() - t0).toBeLessThan(3000);
    }
  });
});
