// `medtrail ship`: the holder hands items to another participant: single packs, whole lots (every pack of
// the lot the sender holds) or a case (SSCC) with its packs. `prev` names the entries that gave the sender
// those items; the server computes that list with the ship rule's own code (custody-reads.ts).
import type { Command } from 'commander';
import { MedtrailError } from '../../core/errors.js';
import { isValidGln, normalizeSscc } from '../../core/gs1/identifiers.js';
import { ApiClient, clientOptions, loadKey, makeEntry, type Appended, type SignerKey } from '../api-client.js';
import { shipPrev, type ShipItem } from '../custody-reads.js';
import { action, emit } from '../io.js';
import { collect, parseLotRef, parsePackRef, readPackRefs } from '../pack-refs.js';

export async function ship(c: ApiClient, key: SignerKey, to: string, items: ShipItem[]): Promise<Appended & { packs: number }> {
  if (!isValidGln(to)) throw new MedtrailError('GS1_BAD_GLN', `--to must be a GLN, got ${to}`);
  if (items.length === 0) throw new MedtrailError('CLI_USAGE', 'nothing to ship: give --pack, --packs-file, --lot or --case');
  const { prev, packs } = await shipPrev(c, key.gln, items);
  const r = await c.submit(await makeEntry(c, 'ship', key, { to, items }, prev));
  return { ...r, packs };
}

interface ShipOptions {
  server: string;
  key?: string;
  to: string;
  pack?: string[];
  packsFile?: string;
  lot?: string[];
  case?: string;
  casePacks?: string;
  json?: boolean;
}

export function shipItems(o: Omit<ShipOptions, 'server' | 'to'>): ShipItem[] {
  const items: ShipItem[] = [];
  for (const p of o.pack ?? []) items.push({ type: 'pack', ...parsePackRef(p) });
  if (o.packsFile !== undefined) for (const p of readPackRefs(o.packsFile)) items.push({ type: 'pack', ...p });
  for (const l of o.lot ?? []) items.push({ type: 'lot', ...parseLotRef(l) });
  if ((o.case === undefined) !== (o.casePacks === undefined)) throw new MedtrailError('CLI_USAGE', '--case SSCC and --case-packs FILE come together');
  if (o.case !== undefined && o.casePacks !== undefined) items.push({ type: 'case', sscc: normalizeSscc(o.case), packs: readPackRefs(o.casePacks) });
  return items;
}

export function registerShip(program: Command): void {
  clientOptions(
    program
      .command('ship')
      .description('as the holder, ship packs, whole lots or a case to another participant')
      .requiredOption('--to <gln>', 'GLN of the recipient')
      .option('--pack <GTIN:SERIAL>', 'a pack (or its Digital Link URI); repeatable', collect)
      .option('--packs-file <file>', 'packs, one per line (GTIN:SERIAL, URIs, or a tags file)')
      .option('--lot <GTIN:LOT>', 'every pack of this lot you hold; repeatable', collect)
      .option('--case <sscc>', 'a case (SSCC) ...')
      .option('--case-packs <file>', '... and the packs in it, one per line'),
  ).action(
    action(async (o: ShipOptions) => {
      const key = loadKey(o.key);
      const r = await ship(new ApiClient(o.server, key), key, o.to, shipItems(o));
      emit(o, { ...r, to: o.to }, `shipped ${r.packs} pack(s) to ${o.to}: entry ${r.index} ${r.leafHash}\n(the recipient receives it with --shipment ${r.leafHash})`);
    }),
  );
}
