// A real `medtrail witness` in its own process (the built bin), as an independent party runs it: for tests
// where a log publishes its checkpoints to witnesses over HTTP on loopback.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { cli } from './cli.js';
import { CLI } from './tmp.js';

export interface WitnessProcess {
  url: string;
  /** Its cosigner verifier key. */
  vkey: string;
  name: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts a witness named `name` that witnesses the log `logVkey`, with its key and database in `dir`. */
export async function startWitnessProcess(dir: string, name: string, logVkey: string): Promise<WitnessProcess> {
  const key = join(dir, `${name.replace(/[^a-z0-9]/gi, '_')}.key.json`);
  const k = cli(['keygen', '--out', key, '--name', name]);
  if (k.status !== 0) throw new Error(`keygen failed: ${k.stderr}`);
  const child = spawn(process.execPath, [CLI, 'witness', '--db', `${key}.db`, '--port', '0', '--key', key, '--name', name, '--log', logVkey, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for await (const line of createInterface({ input: child.stdout! })) {
    const info = JSON.parse(line) as { url: string; vkey: string; name: string };
    return {
      ...info,
      child,
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      },
    };
  }
  throw new Error(`medtrail witness ${name} printed nothing`);
}
