// `medtrail start` (what `npm start` runs): the newcomer's one command. Creates the ledger on first run
// (./data/medtrail.db, keys beside it), then serves it. Later modules add their first-run setup here.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { DEFAULT_DB } from '../../context.js';
import type { ServiceModule } from '../../server.js';
import { action } from '../io.js';
import { DEFAULT_AUTHORITY_GLN, DEFAULT_ORIGIN, initLedger } from './init.js';
import { serveForever } from './serve.js';

export function registerStart(program: Command, modules: () => ServiceModule[]): void {
  program
    .command('start')
    .description('create the ledger if there is none yet (./data/medtrail.db), then serve it')
    .option('--db <path>', 'database file', DEFAULT_DB)
    .option('--port <port>', 'TCP port', '8080')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { db: string; port: string; host: string; json?: boolean }) => {
        if (!existsSync(opts.db)) {
          const r = initLedger({ db: opts.db, origin: DEFAULT_ORIGIN, authorityGln: DEFAULT_AUTHORITY_GLN, authorityName: 'medtrail authority' });
          if (!opts.json) process.stdout.write(`created a new ledger at ${r.db} (keys beside it)\n`);
        }
        await serveForever(opts, modules());
      }),
    );
}
