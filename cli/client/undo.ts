// `medtrail undo`: the pharmacy that dispensed a pack takes the dispense back (EU rule: same pharmacy, within
// 10 days, pack not expired, recalled, stolen or destroyed; the server says which rule refused it).
import type { Command } from 'commander';
import { MedtrailError } from '../../core/errors.js';
import { ApiClient, clientOptions, loadKey, makeEntry, type Appended, type SignerKey } from '../api-client.js';
import { readPack } from '../custody-reads.js';
import { action, emit } from '../io.js';
import { parsePackRef, type PackRef } from '../pack-refs.js';

export async function undoDispense(c: ApiClient, key: SignerKey, p: PackRef): Promise<Appended> {
  const pack = await readPack(c, p);
  // The newest entry of a dispensed pack is its dispense: that is what the undo names.
  if (pack.state !== 'dispensed') throw new MedtrailError('UNDO_NOT_ALLOWED', `pack ${p.gtin} ${p.serial} is ${pack.state}, not dispensed`);
  return c.submit(await makeEntry(c, 'undo', key, { of: pack.lastHash, gtin: p.gtin, serial: p.serial }, [pack.lastHash]));
}

export function registerUndo(program: Command): void {
  clientOptions(
    program
      .command('undo')
      .description('as the pharmacy that dispensed it, undo the dispense of a pack (within 10 days)')
      .requiredOption('--pack <GTIN:SERIAL>', 'the pack, or its Digital Link URI'),
  ).action(
    action(async (o: { server: string; key?: string; pack: string; json?: boolean }) => {
      const key = loadKey(o.key);
      const p = parsePackRef(o.pack);
      const r = await undoDispense(new ApiClient(o.server, key), key, p);
      emit(o, { ...r, ...p }, `dispense of ${p.gtin} ${p.serial} undone: entry ${r.index} ${r.leafHash}`);
    }),
  );
}
