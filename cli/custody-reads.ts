// What the client commands ask the server before they sign (custody routes and the verify helper's pack read): a pack's
// newest entry (for dispense and undo), the entries that gave the sender the items of a ship, and the
// product entry a batch continues. The CLI signs only what it has checked the shape of.
import { MedtrailError } from '../core/errors.js';
import type { ApiClient } from './api-client.js';
import type { PackRef, ShipItem } from '../core/entry/bodies.js';

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

export type { ShipItem };

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
 * The `prev` of a ship: the leaf hashes of the entries that gave `gln` the items, from the server's index of
 * what each party holds (GET /api/v1/held: a lot at once, single packs one by one, a few in flight). A pack
 * the sender does not hold simply adds nothing: the ship entry is still signed and sent, so that the refusal
 * the person sees is the server's own code (NOT_HOLDER, PACK_UNKNOWN, ALREADY_SHIPPED, ...).
 */
export async function shipPrev(c: ApiClient, gln: string, items: ShipItem[]): Promise<{ prev: string[]; packs: number }> {
  const queries: string[] = [];
  for (const it of items) {
    if (it.type === 'lot') queries.push(`gtin=${it.gtin}&lot=${encodeURIComponent(it.lot)}`);
    else for (const p of it.type === 'pack' ? [it] : it.packs) queries.push(`gtin=${p.gtin}&serial=${encodeURIComponent(p.serial)}`);
  }
  const prev = new Set<string>();
  let packs = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < queries.length) {
      const q = queries[next++]!;
      const r = await c.json<{ packs?: unknown[]; prev?: unknown[] }>('GET', `/api/v1/held?gln=${gln}&${q}`, undefined, true);
      if (!Array.isArray(r.packs) || !Array.isArray(r.prev)) throw new MedtrailError('INTERNAL', 'GET /api/v1/held answered an unexpected shape');
      packs += r.packs.length;
      for (const h of r.prev) {
        if (typeof h !== 'string' || !HEX64.test(h)) throw new MedtrailError('INTERNAL', 'GET /api/v1/held answered a malformed leaf hash');
        prev.add(h);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, queries.length) }, worker));
  return { prev: [...prev].sort(), packs };
}

/** The leaf hash of the product entry of `gtin` (its index from the server, the hash computed here). */
export async function productEntryHash(c: ApiClient, gtin: string): Promise<string> {
  const r = await c.json<{ index?: unknown; product?: { index?: unknown } }>('GET', `/api/v1/products/${gtin}`);
  const index = r.product?.index ?? r.index;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) throw new MedtrailError('PRODUCT_UNKNOWN', `no product ${gtin} in the ledger`);
  const { entry, leafHash } = await c.entryAt(index);
  if (entry.kind !== 'product' || (entry.body as { gtin?: unknown }).gtin !== gtin) {
    throw new MedtrailError('LOG_INTEGRITY', `entry ${index} is not the product entry of ${gtin}`);
  }
  return leafHash;
}
