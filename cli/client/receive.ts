// `medtrail receive`: the named recipient takes custody of a shipment, recording discrepancies: packs shipped
// but not there (--missing) and packs there but not shipped (--extra).
import type { Command } from 'commander';
import { parseShipments, type ShipmentAnswer } from '../../core/api/answers.js';
import { MedtrailError } from '../../core/errors.js';
import { ApiClient, clientOptions, loadKey, makeEntry, type Appended, type SignerKey } from '../api-client.js';
import { action, emit } from '../io.js';
import { collect, parsePackRef, type PackRef } from '../pack-refs.js';

/**
 * The shipment to receive: by its leaf hash, by its log index, or by its sender (`from`), among the open
 * shipments addressed to this party (GET /shipments, signed); with neither, the only one waiting.
 */
export async function pickShipment(c: ApiClient, me: string, ref: string | undefined, from: string | undefined): Promise<string> {
  if (ref !== undefined && /^[0-9a-f]{64}$/.test(ref)) return ref;
  if (ref !== undefined && !/^(0|[1-9][0-9]{0,15})$/.test(ref)) throw new MedtrailError('CLI_USAGE', `--shipment must be a leaf hash (64 hex) or a log index, got ${ref}`);
  const open = await openShipments(c, me);
  const list = open.map((s) => `  ${s.index}  from ${s.from}  ${s.count} pack(s)  ${s.at}`).join('\n');
  const hint = open.length === 0 ? 'no shipment is waiting for you (`medtrail shipments` lists them)' : `waiting for you:\n${list}`;
  let hits = open;
  if (ref !== undefined) hits = open.filter((s) => s.index === Number(ref));
  else if (from !== undefined) hits = open.filter((s) => s.from === from);
  if (hits.length === 1) return hits[0]!.hash;
  if (ref !== undefined) throw new MedtrailError('SHIPMENT_UNKNOWN', `no open shipment to ${me} at log index ${ref}; ${hint}`);
  if (hits.length === 0) throw new MedtrailError('SHIPMENT_UNKNOWN', from !== undefined ? `no open shipment to ${me} from ${from}; ${hint}` : hint);
  throw new MedtrailError('CLI_USAGE', `${hits.length} shipments are waiting: say which with --shipment <index> (or --from <GLN>)\n${list}`);
}

/** Shipments addressed to `me` and not yet received (a signed read). */
export async function openShipments(c: ApiClient, me: string): Promise<ShipmentAnswer[]> {
  return c.get(`/api/v1/shipments?to=${me}&open=1`, parseShipments, true);
}

export async function receive(c: ApiClient, key: SignerKey, ship: string, missing: PackRef[] = [], extra: PackRef[] = []): Promise<Appended> {
  return c.submit(await makeEntry(c, 'receive', key, { ship, missing, extra }, [ship]));
}

interface ReceiveOptions {
  server: string;
  key?: string;
  shipment?: string;
  from?: string;
  missing?: string[];
  extra?: string[];
  json?: boolean;
}

export function registerReceive(program: Command): void {
  clientOptions(
    program
      .command('receive')
      .description('as the recipient, take custody of a shipment (with --missing / --extra discrepancies)')
      .option('--shipment <hash|index>', 'the ship entry: its leaf hash or its log index (default: the only shipment waiting)')
      .option('--from <gln>', 'the open shipment from this sender')
      .option('--missing <GTIN:SERIAL>', 'shipped but not there; repeatable', collect)
      .option('--extra <GTIN:SERIAL>', 'there but not shipped; repeatable', collect),
  ).action(
    action(async (o: ReceiveOptions) => {
      const key = loadKey(o.key);
      const c = new ApiClient(o.server, key);
      const ship = await pickShipment(c, key.gln, o.shipment, o.from);
      const missing = (o.missing ?? []).map(parsePackRef);
      const extra = (o.extra ?? []).map(parsePackRef);
      const r = await receive(c, key, ship, missing, extra);
      emit(o, { ...r, ship, missing: missing.length, extra: extra.length }, `received shipment ${ship}: entry ${r.index} ${r.leafHash}` + (missing.length + extra.length > 0 ? ` (${missing.length} missing, ${extra.length} extra recorded)` : ''));
    }),
  );
}
