// ship: the holder hands packs, whole lots or cases (SSCC) to an enrolled party. Each pack must be held by
// the signer and active; a pack already in transit is ALREADY_SHIPPED (nothing ships twice). A recalled lot
// may only go back to its manufacturer. prev names exactly the entries that gave the signer these packs.
import type { ShipBody } from '../../../core/entry/bodies.js';
import { MedtrailError } from '../../../core/errors.js';
import type { LotRow, PackRow } from '../state.js';
import type { Change, PackKey } from '../writer.js';
import { expectPrev, packOrThrow, requireRole, type RuleContext } from './context.js';

type Shipped = PackKey & { sscc: string | null };

export function shipRule(ctx: RuleContext, b: ShipBody): Change[] {
  requireRole(ctx, ['manufacturer', 'distributor', 'pharmacy']);
  const me = ctx.entry.signer;
  const to = ctx.state.participant(b.to);
  if (to === undefined || to.revoked) throw new MedtrailError('RECIPIENT_UNKNOWN', `${b.to} is not an enrolled participant with a valid key`);
  if (b.to === me) throw new MedtrailError('RECIPIENT_UNKNOWN', 'a party cannot ship to itself');
  if (to.role === 'mirror') throw new MedtrailError('RECIPIENT_UNKNOWN', `${b.to} is a mirror: it holds a copy of the ledger, never goods`);
  if (to.role === 'prescriber') throw new MedtrailError('RECIPIENT_UNKNOWN', `${b.to} is a prescriber: it writes prescriptions, it holds no goods`);

  const lots = new Map<string, LotRow | undefined>();
  const lotRow = (gtin: string, lot: string): LotRow | undefined => {
    const k = `${gtin}\u0000${lot}`;
    if (!lots.has(k)) lots.set(k, ctx.state.lot(gtin, lot));
    return lots.get(k);
  };
  const packs = new Map<string, Shipped>();
  const prev = new Set<string>();
  const take = (p: PackRow, sscc: string | null, path: string): void => {
    const k = `${p.gtin}\u0000${p.serial}`;
    if (packs.has(k)) throw new MedtrailError('ALREADY_SHIPPED', `pack ${p.gtin} / ${p.serial} is named twice in this shipment`);
    if (p.holder !== me) {
      throw new MedtrailError('NOT_HOLDER', `${me} does not hold pack ${p.gtin} / ${p.serial}`, {
        fields: [{ path, code: 'NOT_HOLDER', message: 'not held by the signer' }],
      });
    }
    if (p.state === 'in_transit') throw new MedtrailError('ALREADY_SHIPPED', `pack ${p.gtin} / ${p.serial} is already in transit to ${p.inTransitTo}`);
    if (p.state !== 'active') throw new MedtrailError('PACK_NOT_ACTIVE', `pack ${p.gtin} / ${p.serial} is ${p.state}`);
    const lot = lotRow(p.gtin, p.lot);
    if (lot?.recalledIndex != null && b.to !== lot.manufacturer) {
      throw new MedtrailError('LOT_RECALLED', `lot ${p.lot} of ${p.gtin} is recalled: it may only go back to its manufacturer`);
    }
    packs.set(k, { gtin: p.gtin, serial: p.serial, sscc });
    prev.add(p.lastHash);
  };

  b.items.forEach((it, i) => {
    const path = `body.items[${i}]`;
    if (it.type === 'pack') take(packOrThrow(ctx, it.gtin, it.serial, path), null, path);
    else if (it.type === 'case') it.packs.forEach((p, j) => take(packOrThrow(ctx, p.gtin, p.serial, `${path}.packs[${j}]`), it.sscc, `${path}.packs[${j}]`));
    else {
      if (lotRow(it.gtin, it.lot) === undefined) throw new MedtrailError('LOT_UNKNOWN', `lot ${it.lot} of ${it.gtin} is not registered`);
      const held = ctx.state.lotPacksHeldBy(me, it.gtin, it.lot);
      if (held.length === 0) throw new MedtrailError('NOT_HOLDER', `${me} holds no active pack of lot ${it.lot} of ${it.gtin}`);
      for (const p of held) take(p, null, path);
    }
  });
  expectPrev(ctx, prev);
  const list = [...packs.values()];
  return [
    { op: 'move', packs: list, state: 'in_transit', holder: me, inTransitTo: b.to, dispensed: null, counterparty: b.to },
    { op: 'shipment', to: b.to, packs: list },
  ];
}
