// `medtrail start` in its own process, as a newcomer runs it: until its stdout says what the test waits for.
import { spawn } from 'node:child_process';
import { CLI } from './tmp.js';

/** Runs `medtrail start` (in `cwd`) until `until(stdout)` holds, then stops it with SIGTERM; its stdout and exit code. */
export async function startUntil(args: string[], until: (out: string) => boolean, cwd?: string): Promise<{ out: string; status: number | null }> {
  const child = spawn(process.execPath, [CLI, 'start', ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd !== undefined ? { cwd } : {}) });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  const deadline = Date.now() + 60_000;
  while (!until(out) && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const ok = until(out);
  child.kill('SIGTERM');
  const status = await exit;
  if (!ok) throw new Error(`medtrail start ${args.join(' ')}: no expected output; stdout: ${out}; stderr: ${err}`);
  return { out, status };
}
