// `medtrail recall`: the manufacturer of the GTIN, or a regulator, recalls a lot.
import type { Command } from 'commander';
import { MedtrailError } from '../../core/errors.js';
import { normalizeGtin, validateLot } from '../../core/gs1/identifiers.js';
import { ApiClient, clientOptions, loadKey, makeEntry, type Appended, type SignerKey } from '../api-client.js';
import { action, emit } from '../io.js';

export async function recall(c: ApiClient, key: SignerKey, gtin: string, lot: string, reason: string): Promise<Appended> {
  return c.submit(await makeEntry(c, 'recall', key, { gtin: normalizeGtin(gtin), lot: validateLot(lot), reason }));
}

export function registerRecall(program: Command): void {
  clientOptions(
    program
      .command('recall')
      .description('as the manufacturer or a regulator, recall a lot')
      .requiredOption('--gtin <gtin>', 'GTIN')
      .requiredOption('--lot <lot>', 'lot')
      .requiredOption('--reason <text>', 'why, in a sentence'),
  ).action(
    action(async (o: { server: string; key?: string; gtin: string; lot: string; reason: string; json?: boolean }) => {
      const key = loadKey(o.key);
      if (o.reason.trim() === '') throw new MedtrailError('CLI_USAGE', '--reason must say why');
      const r = await recall(new ApiClient(o.server, key), key, o.gtin, o.lot, o.reason);
      emit(o, { ...r, gtin: normalizeGtin(o.gtin), lot: o.lot }, `lot ${o.lot} of ${normalizeGtin(o.gtin)} recalled: entry ${r.index} ${r.leafHash}`);
    }),
  );
}
