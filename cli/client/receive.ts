// `medtrail receive`: the named recipient takes custody of a shipment, recording discrepancies: packs shipped
// but not there (--missing) and packs there but not shipped (--extra).
import type { Command } from 'commander';
import { MedtrailError } from '../../core/errors.js';
import { ApiClient, clientOptions, loadKey, makeEntry, type Appended, type SignerKey } from '../api-client.js';
import { action, emit } from '../io.js';
import { collect, parsePackRef, type PackRef } from '../pack-refs.js';

/** A shipment named by its leaf hash, or by its log index (the hash is then computed from the leaf). */
export async function shipmentHash(c: ApiClient, ref: string): Promise<string> {
  if (/^[0-9a-f]{64}$/.test(ref)) return ref;
  if (!/^(0|[1-9][0-9]{0,15})$/.test(ref)) throw new MedtrailError('CLI_USAGE', `--shipment must be a leaf hash (64 hex) or a log index, got ${ref}`);
  const { entry, leafHash } = await c.entryAt(Number(ref));
  if (entry.kind !== 'ship') throw new MedtrailError('SHIPMENT_UNKNOWN', `entry ${ref} is a ${entry.kind}, not a ship`);
  return leafHash;
}

export function receive(c: ApiClient, key: SignerKey, ship: string, missing: PackRef[] = [], extra: PackRef[] = []): Promise<Appended> {
  return c.submit(makeEntry('receive', key, { ship, missing, extra }, [ship]));
}

interface ReceiveOptions {
  server: string;
  key?: string;
  shipment: string;
  missing?: string[];
  extra?: string[];
  json?: boolean;
}

export function registerReceive(program: Command): void {
  clientOptions(
    program
      .command('receive')
      .description('as the recipient, take custody of a shipment (with --missing / --extra discrepancies)')
      .requiredOption('--shipment <hash|index>', 'the ship entry: its leaf hash or its log index')
      .option('--missing <GTIN:SERIAL>', 'shipped but not there; repeatable', collect)
      .option('--extra <GTIN:SERIAL>', 'there but not shipped; repeatable', collect),
  ).action(
    action(async (o: ReceiveOptions) => {
      const key = loadKey(o.key);
      const c = new ApiClient(o.server, key);
      const ship = await shipmentHash(c, o.shipment);
      const missing = (o.missing ?? []).map(parsePackRef);
      const extra = (o.extra ?? []).map(parsePackRef);
      const r = await receive(c, key, ship, missing, extra);
      emit(o, { ...r, ship, missing: missing.length, extra: extra.length }, `received shipment ${ship}: entry ${r.index} ${r.leafHash}` + (missing.length + extra.length > 0 ? ` (${missing.length} missing, ${extra.length} extra recorded)` : ''));
    }),
  );
}
