// `medtrail serve`: runs the ledger service until SIGINT/SIGTERM.
import type { Command } from 'commander';
import { DEFAULT_DB } from '../../server/context.js';
import { defaultDb, pgTarget } from '../../server/pg/target.js';
import { DEFAULT_MAX_LAG_MS } from '../../server/http/shedder.js';
import { startServer, type RunningServer, type ServiceModule } from '../../server/server.js';
import { action, emit, parsePort } from '../io.js';
import { readFileSync } from 'node:fs';
import { MedtrailError } from '../../core/errors.js';

function seconds(v: string, what: string): number {
  if (!/^[1-9][0-9]{0,6}$/.test(v)) throw new MedtrailError('CLI_USAGE', `${what} must be a whole number of seconds from 1, got ${v}`);
  return Number(v);
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read ${what} ${path}`, { cause: e });
  }
}

export interface ServeCliOptions {
  db: string;
  port: string;
  host: string;
  logKey?: string;
  cache?: string;
  dbReplica?: string;
  policy?: string;
  witnessMaxAge?: string;
  json?: boolean;
}

/** Serves until SIGINT/SIGTERM; `onListening` runs once the port is open (start's first-run demo). */
export async function serveForever(opts: ServeCliOptions, modules: ServiceModule[], onListening?: (s: RunningServer) => Promise<void>): Promise<void> {
  const s = await startServer({
    db: opts.db,
    port: parsePort(opts.port),
    host: opts.host,
    modules,
    maxLagMs: DEFAULT_MAX_LAG_MS,
    ...(opts.logKey !== undefined ? { logKey: opts.logKey } : {}),
    ...(opts.cache !== undefined ? { cache: opts.cache } : {}),
    ...(opts.dbReplica !== undefined ? { dbReplica: opts.dbReplica } : {}),
    ...(opts.policy !== undefined ? { policy: readText(opts.policy, '--policy') } : {}),
    ...(opts.witnessMaxAge !== undefined ? { witnessMaxAgeS: seconds(opts.witnessMaxAge, '--witness-max-age') } : {}),
  });
  // The stop signals are taken from the moment the port is open: a Ctrl-C while start's demo runs (or just after
  // it printed) closes the server cleanly instead of killing the process mid-write.
  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      void s.close().then(resolve);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const shown = pgTarget(opts.db)?.shown ?? opts.db;
  const role = s.ledger.pg === undefined ? '' : s.ledger.pg.signer ? ' (this server signs checkpoints)' : ' (following the signing server)';
  emit(opts, { url: s.url, port: s.port, db: shown }, `medtrail serving ${shown} at ${s.url}${role} (Ctrl-C to stop)`);
  if (onListening !== undefined) {
    try {
      await Promise.race([onListening(s), stopped]);
    } catch (e) {
      await s.close();
      throw e;
    }
  }
  await stopped;
}

/** The options of every command that serves a ledger (serve, start). */
export function servingOptions(cmd: Command): Command {
  return cmd
    .option('--db <path>', 'database: an SQLite file, or postgres://user@host:port/db?schema=name (default: MEDTRAIL_DB, else ./data/medtrail.db)', defaultDb(DEFAULT_DB))
    .option('--port <port>', 'TCP port (0 picks a free one)', '8080')
    .option('--host <host>', 'address to listen on', '127.0.0.1');
}

export function registerServe(program: Command, modules: () => ServiceModule[]): void {
  servingOptions(program.command('serve').description('run the ledger service (HTTP API, checkpoints, proofs)'))
    .option('--log-key <path>', 'log key file (default: log.key.json beside the database; ./data/pg/log.key.json for PostgreSQL)')
    .option('--cache <file>', "with a postgres:// --db: this server's working copy of the ledger, kept across restarts (default: a temporary file)")
    .option('--db-replica <url>', 'with a postgres:// --db: a streaming replica to answer from (reads); writes still go to --db (default: MEDTRAIL_DB_REPLICA)')
    .option('--policy <file>', 'witness policy (c2sp.org/tlog-policy): every checkpoint goes to its witnesses; the pages pin it')
    .option('--witness-max-age <seconds>', 'oldest witness cosignature the pages accept (default 600); the log has them refreshed at a quarter of it')
    .option('--json', 'print the listening address as JSON')
    .action(action((opts: ServeCliOptions) => serveForever(opts, modules())));
}
