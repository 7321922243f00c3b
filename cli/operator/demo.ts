// `medtrail demo`: sets up a demo supply chain on a server and prints one pack URI per verdict
// (`--json`: exactly {"packs":{"GENUINE":uri,...}}, docs/architecture.md, The wire). Needs the authority's key, which
// `medtrail init` wrote beside the database.
import { messageOf } from '../../core/errors.js';
import type { Command } from 'commander';
import { authorityKeyPath, DEFAULT_DB } from '../../server/context.js';
import { DEFAULT_SERVER } from '../api-client.js';
import { DEMO_VERDICTS, runDemo, type DemoResult } from '../demo-chain.js';
import { action, emit } from '../io.js';
import { humanVerdict, verifyCode } from '../client/verify.js';
import { ApiClient } from '../api-client.js';

export const DEFAULT_DEMO_DIR = './data/demo';

/** The human listing: each verdict, its URI, and what the server answers for it now. */
export async function describeDemo(server: string, r: Pick<DemoResult, 'participants'> & { packs: Partial<Record<string, string>> }): Promise<string> {
  const c = new ApiClient(server);
  const lines = ['One pack for each verdict (open a URI in a browser, or run `medtrail verify <URI>`):', ''];
  for (const v of DEMO_VERDICTS) {
    const uri = r.packs[v];
    if (uri === undefined) continue;
    lines.push(`${v.padEnd(12)} ${uri}`);
    try {
      const a = await verifyCode(c, { code: uri });
      if (a.verdict !== v) lines.push(`             (the server answers ${a.verdict} now: ${humanVerdict(a).split('\n')[0]})`);
    } catch (e) {
      lines.push(`             (could not verify: ${messageOf(e)})`);
    }
  }
  if (r.participants.length > 0) lines.push('', `participants: ${r.participants.map((p) => `${p.role} ${p.gln} (${p.keyFile})`).join(', ')}`);
  return lines.join('\n');
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('enroll a demo manufacturer, distributor and pharmacy, move packs along, print one pack URI per verdict')
    .option('--server <url>', 'ledger server', DEFAULT_SERVER)
    .option('--authority-key <path>', "the authority's key file", authorityKeyPath(DEFAULT_DB))
    .option('--dir <dir>', 'where the demo participants keys and tags files go', DEFAULT_DEMO_DIR)
    .option('--json', 'print exactly {"packs":{...}}')
    .action(
      action(async (o: { server: string; authorityKey: string; dir: string; json?: boolean }) => {
        const r = await runDemo({ server: o.server, authorityKey: o.authorityKey, dir: o.dir, log: o.json ? undefined : (l) => process.stderr.write(`${l}\n`) });
        emit(o, { packs: r.packs }, o.json ? '' : await describeDemo(o.server, r));
      }),
    );
}
