// `medtrail witness`: runs a c2sp.org/tlog-witness witness until SIGINT/SIGTERM (server/witness). It cosigns the
// checkpoints of the logs it is given, never two that are inconsistent, and keeps its state in its own
// database. Its key is a `medtrail keygen` key file; the line to put in a client's policy is printed at start.
import type { Command } from 'commander';
import { parseVerifierKey } from '../../core/log/checkpoint.js';
import { startWitness } from '../../server/witness/server.js';
import { action, emit, parsePort } from '../io.js';

export interface WitnessCliOptions {
  db: string;
  port: string;
  host: string;
  key: string;
  name?: string;
  log: string[];
  json?: boolean;
}

export async function witnessForever(opts: WitnessCliOptions): Promise<void> {
  // A bad --log is a usage error before anything opens (VKEY_MALFORMED names what is wrong with it).
  const logs = opts.log.map((vkey) => ({ vkey, origin: parseVerifierKey(vkey).name }));
  const w = await startWitness({
    db: opts.db,
    port: parsePort(opts.port),
    host: opts.host,
    keyFile: opts.key,
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    logs,
  });
  emit(
    opts,
    { url: w.url, port: w.port, name: w.witness.name, vkey: w.vkey, logs: logs.map((l) => l.origin) },
    [
      `medtrail witness ${w.witness.name} at ${w.url} (Ctrl-C to stop)`,
      `witnessing ${logs.map((l) => l.origin).join(', ')}`,
      `policy line: witness ${w.witness.name} ${w.vkey} ${w.url}`,
    ].join('\n'),
  );
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      void w.close().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function registerWitness(program: Command): void {
  program
    .command('witness')
    .description('run a witness (c2sp.org/tlog-witness): cosign consistent checkpoints of the given logs')
    .option('--db <path>', 'witness database file', 'witness.db')
    .option('--port <port>', 'TCP port (0 picks a free one)', '8090')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .requiredOption('--key <path>', 'the witness key file (medtrail keygen)')
    .option('--name <name>', 'cosigner name, e.g. witness.example/w1 (default: the key file name)')
    .requiredOption('--log <vkey>', "a log's verifier key (repeatable)", (v: string, acc: string[] = []) => [...acc, v])
    .option('--json', 'print the listening address and key as JSON')
    .action(action((opts: WitnessCliOptions) => witnessForever(opts)));
}
