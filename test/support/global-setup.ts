// vitest globalSetup: one pcscd for the whole run (reused when .ci/run or the system already runs one),
// stopped at the end only if this run started it. Test files still call ensurePcscd(), which is cheap when
// it is up and restarts it if it auto-exited while other files ran.
import { ensurePcscd, type PcscdHandle } from './pcscd.js';

let handle: PcscdHandle | undefined;

export async function setup(): Promise<void> {
  try {
    handle = await ensurePcscd();
  } catch (e) {
    // No pcscd on this machine: the non-NFC tests still run; the NFC files fail in their own beforeAll.
    console.warn(`pcscd not started: ${(e as Error).message}`);
  }
}

export async function teardown(): Promise<void> {
  await handle?.stop();
}
