// `medtrail start` (what `npm start` runs): the newcomer's one command. Creates the ledger on first run
// (./data/medtrail.db, keys beside it), serves it, and on that first run sets up the demo supply chain against
// itself and prints one pack URI per verdict, so every verdict can be seen within a minute; later starts print
// them again (saved in demo/packs.json beside the database).
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { authorityKeyPath } from '../../server/context.js';
import type { ServiceModule } from '../../server/server.js';
import { runDemo } from '../demo-chain.js';
import { action, writeNewFile } from '../io.js';
import { isJsonObject } from '../../core/api/wire.js';
import { readFileSync } from 'node:fs';
import { describeDemo } from './demo.js';
import { DEFAULT_AUTHORITY_GLN, initAny } from './init.js';
import { pgLedgerExists } from '../../server/pg/ledger.js';
import { DEFAULT_PG_KEY_DIR, pgTarget } from '../../server/pg/target.js';
import { serveForever, servingOptions } from './serve.js';

/** The demo packs a first start saved ({"packs":{verdict: uri}}), or undefined when there are none. */
function readSavedPacks(path: string): Record<string, string> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const j: unknown = JSON.parse(readFileSync(path, 'utf8'));
    const packs = isJsonObject(j) ? j['packs'] : undefined;
    if (!isJsonObject(packs)) return undefined;
    return Object.fromEntries(Object.entries(packs).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    return undefined;
  }
}

/**
 * A saved demo URI as served by this start: the first start may have listened elsewhere (another --port), and
 * the tag signature covers the pack's identity only, not the resolver's host (docs/architecture.md, Tag payload).
 */
function atServer(uri: string, url: string): string {
  const m = /^https?:\/\/[^/?#]+(\/01\/.*)$/.exec(uri);
  return m === null ? uri : `${url}${m[1]}`;
}

export function registerStart(program: Command, modules: () => ServiceModule[]): void {
  servingOptions(program.command('start').description('create the ledger if there is none yet (./data/medtrail.db), serve it, and on first run print demo packs'))
    .option('--cache <file>', "with a postgres:// --db: this server's working copy of the ledger, kept across restarts (default: a temporary file)")
    .option('--no-demo', 'do not set up the demo chain on a new ledger')
    .option('--json', 'print JSON')
    .action(
      action(async (opts: { db: string; port: string; host: string; demo: boolean; json?: boolean; cache?: string }) => {
        // On PostgreSQL the keys (and the demo's files) live in ./data/pg; on SQLite beside the database file.
        const pgAt = pgTarget(opts.db);
        const home = pgAt !== undefined ? DEFAULT_PG_KEY_DIR : dirname(opts.db);
        const fresh = pgAt !== undefined ? !(await pgLedgerExists(pgAt)) : !existsSync(opts.db);
        if (fresh) {
          const r = await initAny({ db: opts.db, authorityGln: DEFAULT_AUTHORITY_GLN, authorityName: 'medtrail authority', keys: home });
          if (!opts.json) process.stdout.write(`created a new ledger at ${r.db} (keys in ${home})\n`);
        }
        const demoDir = join(home, 'demo');
        const packsFile = join(demoDir, 'packs.json');
        await serveForever({ ...opts, ...(pgAt !== undefined ? { logKey: join(home, 'log.key.json') } : {}) }, modules(), async (s) => {
          if (!opts.demo) return;
          if (fresh) {
            const demo = await runDemo({ server: s.url, authorityKey: pgAt !== undefined ? join(home, 'authority.key.json') : authorityKeyPath(opts.db), dir: demoDir });
            writeNewFile(packsFile, `${JSON.stringify({ packs: demo.packs }, null, 2)}\n`);
            process.stdout.write(opts.json ? `${JSON.stringify({ packs: demo.packs })}\n` : `\n${await describeDemo(s.url, demo)}\n`);
            return;
          }
          // Later starts show the demo packs again (verified afresh: the answers may have changed since).
          const packs = readSavedPacks(packsFile);
          if (packs !== undefined) {
            const saved = Object.fromEntries(Object.entries(packs).map(([v, uri]) => [v, atServer(uri, s.url)]));
            process.stdout.write(opts.json ? `${JSON.stringify({ packs: saved })}\n` : `\n${await describeDemo(s.url, { packs: saved, participants: [] })}\n`);
          } else if (!opts.json) {
            process.stdout.write(`\nno demo packs saved beside this ledger; \`npx medtrail demo --server ${s.url}\` sets up a new demo chain and prints one pack per verdict\n`);
          }
        });
      }),
    );
}
