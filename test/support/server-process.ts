// A real `medtrail serve` in its own process (the built bin), as a user starts it: for end-to-end tests and
// benchmarks that must talk to the server only over HTTP. Resolves once it printed its URL line.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CLI } from './tmp.js';

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** Stops it with SIGTERM (in-flight requests finish), or the signal given, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Everything it wrote on stderr so far (for failure messages). */
  stderr(): string;
}

export function startServerProcess(db: string, extra: string[] = [], timeoutMs = 30_000): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, 'serve', '--db', db, '--port', '0', '--json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      reject(new Error(`medtrail serve printed no URL within ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`medtrail serve exited with ${code}; stderr: ${err}`));
    });
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        const { url } = JSON.parse(line) as { url: string };
        resolve({ url, child, stop, stderr: () => err });
      } catch (e) {
        void stop();
        reject(new Error(`unexpected first line from medtrail serve: ${line} (${String(e)})`));
      }
    });
  });
}
