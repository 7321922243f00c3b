// vitest globalSetup: one pcscd for the whole run (reused when .ci/run or the system already runs one),
// stopped at the end only if this run started it. Test files still call ensurePcscd(), which is cheap when
// it is up and restarts it if it auto-exited while other files ran.
import { ensurePcscd, type PcscdHandle } from './pcscd.js';

let handle: PcscdHandle | undefined;

export async function setup(): Promise<void> {
  handle = await ensurePcscd();
}

export async function teardown(): Promise<void> {
  await handle?.stop();
}
