// `medtrail verify`: what a pharmacist's scanner or a patient's phone asks: the verdict on a pack, from its
// Digital Link URI or GS1 element string. With --key the request is signed, as a participant's scan.
import type { Command } from 'commander';
import type { VerifyAnswer } from '../../core/api/answers.js';
import { exitCodeOf } from '../../core/verdict.js';
import type { VerifyRequest } from '../../client/ledger-client.js';
import { ApiClient, clientOptions, loadKey } from '../api-client.js';
import { action, emit } from '../io.js';
import { exitCodeHelp } from '../../core/verdict.js';

export type { VerifyAnswer, VerifyRequest };

export function verifyCode(c: ApiClient, req: VerifyRequest): Promise<VerifyAnswer> {
  return c.verify(req);
}

export function humanVerdict(a: VerifyAnswer): string {
  const lines = [`${a.verdict}: ${a.message}`];
  if (a.product) lines.push(`  ${a.product.name}, ${a.product.strength}, ${a.product.form} (GTIN ${a.product.gtin})`);
  if (a.pack) lines.push(`  serial ${a.pack.serial}, lot ${a.pack.lot}, expiry ${a.pack.expiry}, state ${a.pack.state}`);
  for (const r of a.reasons) lines.push(`  - ${r.code}${r.emvs ? ` [EU ${r.emvs}]` : ''}${r.lmv ? ` [GS1 ${r.lmv}]` : ''}: ${r.message}`);
  if (a.journey.length > 0) lines.push(`  journey: ${a.journey.map((j) => `${j.step} ${j.at.slice(0, 10)}`).join(' -> ')}`);
  return lines.join('\n');
}

interface VerifyOptions {
  server: string;
  key?: string;
  location?: string;
  json?: boolean;
}

export function registerVerify(program: Command): void {
  clientOptions(
    program
      .command('verify')
      .description('ask the verdict on a pack: its Digital Link URI, or a GS1 element string from a scanner')
      .argument('<code>', 'Digital Link URI or GS1 element string ((01)..(21).. or raw with GS separators)')
      .option('--location <text>', 'where the scan happens (kept with the scan, not in the log)')
      .addHelpText('after', `\n${exitCodeHelp()}`),
    'your key file: sign the request as a participant (optional)',
  ).action(
    action(async (code: string, o: VerifyOptions) => {
      const key = o.key !== undefined ? loadKey(o.key) : undefined;
      const c = new ApiClient(o.server, key);
      const scanner = key !== undefined || o.location !== undefined ? { ...(key ? { gln: key.gln } : {}), ...(o.location !== undefined ? { location: o.location } : {}) } : undefined;
      const a = await verifyCode(c, { code, ...(scanner ? { scanner } : {}) });
      emit(o, a, humanVerdict(a));
      // One rule with medtrail-reader --once (core/verdict.ts exitCodeOf; README, Exit codes).
      process.exitCode = exitCodeOf(a.verdict);
    }),
  );
}
