// vitest globalSetup: one pcscd for the whole run (reused when .ci/run or the system already runs one),
// stopped at the end only if this run started it. Test files still call ensurePcscd(), which is cheap when
// it is up and restarts it if it auto-exited while other files ran.
import { spawnSync } from 'node:child_process';
import { ensurePcscd, pidAlive, type PcscdHandle } from './pcscd.js';

let handle: PcscdHandle | undefined;

/** A pcscd left by an earlier run's test worker (started with --auto-exit) may quit mid-run: replace it. */
function stopLeftoverAutoExitPcscd(): void {
  const r = spawnSync('pgrep', ['-f', '^pcscd --foreground --auto-exit$'], { encoding: 'utf8' });
  const pids = r.stdout.split('\n').filter((x) => /^[0-9]+$/.test(x)).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + 5000;
  while (pids.some(pidAlive) && Date.now() < deadline) spawnSync('sleep', ['0.1']);
}


export async function setup(): Promise<void> {
  stopLeftoverAutoExitPcscd();
  try {
    handle = await ensurePcscd(15_000, { autoExit: false });
  } catch (e) {
    // No pcscd on this machine: the non-NFC tests still run; the NFC files fail in their own beforeAll.
    console.warn(`pcscd not started: ${(e as Error).message}`);
  }
}

export async function teardown(): Promise<void> {
  await handle?.stop();
}
