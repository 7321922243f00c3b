// `medtrail dispense`: the pharmacy holding a pack supplies it to a patient (decommissions it). `prev` is the
// entry that gave the pharmacy the pack, read from the ledger.
import type { Command } from 'commander';
import { ApiClient, clientOptions, loadKey, makeEntry, type Appended, type SignerKey } from '../api-client.js';
import { readPack } from '../custody-reads.js';
import { action, emit } from '../io.js';
import { parsePackRef, type PackRef } from '../pack-refs.js';

export async function dispense(c: ApiClient, key: SignerKey, p: PackRef): Promise<Appended> {
  const pack = await readPack(c, p);
  return c.submit(await makeEntry(c, 'dispense', key, { gtin: p.gtin, serial: p.serial }, [pack.lastHash]));
}

export function registerDispense(program: Command): void {
  clientOptions(
    program
      .command('dispense')
      .description('as the pharmacy holding it, dispense a pack')
      .requiredOption('--pack <GTIN:SERIAL>', 'the pack, or its Digital Link URI'),
  ).action(
    action(async (o: { server: string; key?: string; pack: string; json?: boolean }) => {
      const key = loadKey(o.key);
      const p = parsePackRef(o.pack);
      const r = await dispense(new ApiClient(o.server, key), key, p);
      emit(o, { ...r, ...p }, `dispensed ${p.gtin} ${p.serial}: entry ${r.index} ${r.leafHash}`);
    }),
  );
}
