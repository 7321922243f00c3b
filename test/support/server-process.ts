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
  return spawnServing('serve', ['--db', db, '--port', '0', '--json', ...extra], timeoutMs).then(({ proc, info }) => ({ ...proc, url: String(info['url']) }));
}

/**
 * Spawns `medtrail <command> <args>` (a command that prints one JSON line once it serves) and resolves with the
 * process and that line: for `serve` here, `mirror` in mirror-process.ts.
 */
export function spawnServing(command: string, args: string[], timeoutMs: number): Promise<{ proc: Omit<ServerProcess, 'url'>; info: Record<string, unknown> }> {
  // MEDTRAIL_BENCH_NODE_ARGS: extra node flags for the child (a benchmark profiling its server: --cpu-prof).
  const nodeArgs = (process.env['MEDTRAIL_BENCH_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, CLI, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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
      reject(new Error(`medtrail ${command} printed no URL within ${timeoutMs} ms; stderr: ${err}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`medtrail ${command} exited with ${code}; stderr: ${err}`));
    });
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        const info = JSON.parse(line) as Record<string, unknown>;
        resolve({ proc: { child, stop, stderr: () => err }, info });
      } catch (e) {
        void stop();
        reject(new Error(`unexpected first line from medtrail ${command}: ${line} (${String(e)})`));
      }
    });
  });
}
