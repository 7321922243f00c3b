// What the client commands ask the server before they sign (custody routes and the verify helper's pack read): a pack's
// newest entry (for dispense and undo), the entries that gave the sender the items of a ship, and the
// product entry a batch continues. The CLI signs only what it has checked the shape of.
import { MedtrailError } from '../core/errors.js';
import type { ApiClient } from './api-client.js';
import { parseHeld, parsePackRead, parseProductMaster, type PackAnswer } from '../core/api/answers.js';
import type { PackRef, ShipItem } from '../core/entry/bodies.js';

/** The part of a participant's pack read (core/api/answers.ts) the CLI relies on, every member present. */
export type PackView = Pick<PackAnswer, 'gtin' | 'serial' | 'lot' | 'expiry' | 'state'> & { holder: string; inTransitTo: string | null; lastHash: string };

export type { ShipItem };

const HEX64 = /^[0-9a-f]{64}$/;

/** GET /api/v1/packs/:gtin/:serial, signed as the client's participant. */
export async function readPack(c: ApiClient, p: PackRef): Promise<PackView> {
  const { pack } = await c.get(`/api/v1/packs/${p.gtin}/${encodeURIComponent(p.serial)}`, parsePackRead, c.signer !== undefined);
  const { lastHash, holder } = pack;
  if (lastHash === undefined || !HEX64.test(lastHash) || holder === undefined) {
    throw new MedtrailError('BAD_ANSWER', 'the pack read answered no lastHash/holder (is this a participant read?)');
  }
  return { gtin: pack.gtin, serial: pack.serial, lot: pack.lot, expiry: pack.expiry, state: pack.state, holder, inTransitTo: pack.inTransitTo ?? null, lastHash };
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
      const r = await c.get(`/api/v1/held?gln=${gln}&${q}`, parseHeld, true);
      packs += r.packs.length;
      for (const h of r.prev) {
        if (!HEX64.test(h)) throw new MedtrailError('BAD_ANSWER', 'GET /api/v1/held answered a malformed leaf hash');
        prev.add(h);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, queries.length) }, worker));
  return { prev: [...prev].sort(), packs };
}

/** The leaf hash of the product entry of `gtin` (its index from the server, the hash computed here). */
export async function productEntryHash(c: ApiClient, gtin: string): Promise<string> {
  const { index } = await c.get(`/api/v1/products/${gtin}`, parseProductMaster);
  if (index < 0) throw new MedtrailError('PRODUCT_UNKNOWN', `no product ${gtin} in the ledger`);
  const { entry, leafHash } = await c.entryAt(index);
  if (entry.kind !== 'product' || entry.body['gtin'] !== gtin) {
    throw new MedtrailError('LOG_INTEGRITY', `entry ${index} is not the product entry of ${gtin}`);
  }
  return leafHash;
}
