// What the client commands ask the server before they sign (custody contract, CHANGES 3, 4 and 6): a pack's
// newest entry (for dispense and undo), the entries that gave the sender the items of a ship, and the
// product entry a batch continues. The CLI signs only what it has checked the shape of.
import { MedtrailError, isMedtrailError } from '../../core/errors.js';
import type { ApiClient } from './client.js';
import type { PackRef } from './pack-refs.js';

/** The part of the server's PackRow the CLI relies on. */
export interface PackView {
  gtin: string;
  serial: string;
  lot: string;
  expiry: string;
  state: string;
  holder: string;
  inTransitTo: string | null;
  lastHash: string;
}

export type ShipItem =
  | { type: 'pack'; gtin: string; serial: string }
  | { type: 'lot'; gtin: string; lot: string }
  | { type: 'case'; sscc: string; packs: PackRef[] };

const HEX64 = /^[0-9a-f]{64}$/;

/** GET /api/v1/packs/:gtin/:serial, signed as the client's participant. */
export async function readPack(c: ApiClient, p: PackRef): Promise<PackView> {
  const r = await c.json<{ pack?: Partial<PackView> | null }>('GET', `/api/v1/packs/${p.gtin}/${encodeURIComponent(p.serial)}`, undefined, c.signer !== undefined);
  const pack = r.pack;
  if (pack === undefined || pack === null) throw new MedtrailError('PACK_UNKNOWN', `no pack ${p.gtin} ${p.serial} in the ledger`);
  if (typeof pack.lastHash !== 'string' || !HEX64.test(pack.lastHash) || typeof pack.state !== 'string') {
    throw new MedtrailError('INTERNAL', 'the pack read answered no lastHash/state (is this a participant read?)');
  }
  return pack as PackView;
}

/**
 * The `prev` of a ship: the leaf hashes of the entries that gave `gln` the items. Asks the server to compute
 * it with the ship rule's own code (POST /api/v1/held/prev); a server without that route is asked pack by pack.
 */
export async function shipPrev(c: ApiClient, gln: string, items: ShipItem[]): Promise<{ prev: string[]; packs: number }> {
  try {
    const r = await c.json<{ prev?: unknown; packs?: unknown }>('POST', '/api/v1/held/prev', { gln, items }, c.signer !== undefined);
    if (!Array.isArray(r.prev) || !r.prev.every((h) => typeof h === 'string' && HEX64.test(h)) || typeof r.packs !== 'number') {
      throw new MedtrailError('INTERNAL', 'POST /api/v1/held/prev answered an unexpected shape');
    }
    return { prev: r.prev as string[], packs: r.packs };
  } catch (e) {
    if (!isMedtrailError(e, 'NOT_FOUND')) throw e;
  }
  const packs: PackRef[] = [];
  for (const it of items) {
    if (it.type === 'lot') throw new MedtrailError('NOT_FOUND', 'this server cannot name the packs of a lot (no /api/v1/held/prev)');
    if (it.type === 'pack') packs.push({ gtin: it.gtin, serial: it.serial });
    else packs.push(...it.packs);
  }
  const prev = new Set<string>();
  for (const p of packs) prev.add((await readPack(c, p)).lastHash);
  return { prev: [...prev].sort(), packs: packs.length };
}

/** The leaf hash of the product entry of `gtin` (its index from the server, the hash computed here). */
export async function productEntryHash(c: ApiClient, gtin: string): Promise<string> {
  const r = await c.json<{ product?: { index?: unknown } | null }>('GET', `/api/v1/products/${gtin}`);
  const index = r.product?.index;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) throw new MedtrailError('PRODUCT_UNKNOWN', `no product ${gtin} in the ledger`);
  const { entry, leafHash } = await c.entryAt(index);
  if (entry.kind !== 'product' || (entry.body as { gtin?: unknown }).gtin !== gtin) {
    throw new MedtrailError('LOG_INTEGRITY', `entry ${index} is not the product entry of ${gtin}`);
  }
  return leafHash;
}
