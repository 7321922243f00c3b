// A real `medtrail mirror` in its own process (the built bin), serving, as a participant runs it: for tests where a
// mirror follows an operator over HTTP on loopback, serves its copy, and (with --witness-key) cosigns what it verified.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI } from './tmp.js';

export interface MirrorProcess {
  url: string;
  /** With --witness-key: its cosigner name, verifier key and submission URL (`<url>/witness`). */
  witness?: { name: string; vkey: string; url: string };
  child: ChildProcess;
  stop(signal?: NodeJS.Signals): Promise<void>;
  stderr(): string;
}

/** Starts `medtrail mirror <args> --port 0 --json` and resolves once it serves (it first catches up to the operator). */
export function startMirrorProcess(args: string[], timeoutMs = 120_000): Promise<MirrorProcess> {
  const child = spawn(process.execPath, [CLI, 'mirror', ...args, '--port', '0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`medtrail mirror printed no URL within ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`medtrail mirror exited with ${code}; stderr: ${err}`));
    });
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        const info = JSON.parse(line) as { url: string; witness?: { name: string; vkey: string; url: string } };
        resolve({ url: info.url, ...(info.witness !== undefined ? { witness: info.witness } : {}), child, stop, stderr: () => err });
      } catch (e) {
        void stop();
        reject(new Error(`unexpected first line from medtrail mirror: ${line} (${String(e)})`));
      }
    });
  });
}
