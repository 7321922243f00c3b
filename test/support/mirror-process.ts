// A real `medtrail mirror` in its own process (the built bin), serving, as a participant runs it: for tests where a
// mirror follows an operator over HTTP on loopback, serves its copy, and (with --witness-key) cosigns what it verified.
import type { ChildProcess } from 'node:child_process';
import { spawnServing } from './server-process.js';

export interface MirrorProcess {
  url: string;
  /** With --witness-key: its cosigner name, verifier key and submission URL (`<url>/witness`). */
  witness?: { name: string; vkey: string; url: string };
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
  stderr(): string;
}

/** Starts `medtrail mirror <args> --port 0 --json` and resolves once it serves (it first catches up to the operator). */
export async function startMirrorProcess(args: string[], timeoutMs = 120_000): Promise<MirrorProcess> {
  const { proc, info } = await spawnServing('mirror', [...args, '--port', '0', '--json'], timeoutMs);
  const w = info['witness'] as MirrorProcess['witness'];
  return { ...proc, url: String(info['url']), ...(w !== undefined ? { witness: w } : {}) };
}
