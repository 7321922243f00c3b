// receive: the named recipient takes custody of what a ship entry sent it. Packs it reports missing become
// `missing` (an alert; custody stays with the shipper); packs it reports extra (present but not shipped) are
// recorded as a discrepancy and change nothing. prev names the ship entry.
import type { ReceiveBody } from '../../../core/entry/bodies.js';
import { MedtrailError } from '../../../core/errors.js';
import type { Change, PackKey } from '../writer.js';
import { expectPrev, indexOfLeaf, signerRole, type RuleContext } from './context.js';

export function receiveRule(ctx: RuleContext, b: ReceiveBody): Change[] {
  const role = signerRole(ctx);
  if (role === 'authority' || role === 'mirror' || role === 'prescriber') throw new MedtrailError('ROLE_NOT_ALLOWED', `the ${role} does not receive goods`);
  const idx = indexOfLeaf(ctx, b.ship);
  const ship = idx === undefined ? undefined : ctx.state.shipment(idx);
  if (ship === undefined) throw new MedtrailError('SHIPMENT_UNKNOWN', `${b.ship} is not the leaf hash of a ship entry`);
  if (ship.to !== ctx.entry.signer) throw new MedtrailError('NOT_RECIPIENT', `shipment ${ship.index} is addressed to ${ship.to}, not ${ctx.entry.signer}`);
  if (ship.receivedIndex !== null) throw new MedtrailError('SHIPMENT_CLOSED', `shipment ${ship.index} was received at index ${ship.receivedIndex}`);
  expectPrev(ctx, new Set([b.ship]));

  const shipped = new Map<string, PackKey>();
  for (const p of ctx.state.shipmentPacks(ship.index)) shipped.set(`${p.gtin}\u0000${p.serial}`, { gtin: p.gtin, serial: p.serial });
  const missing = new Set<string>();
  b.missing.forEach((p, i) => {
    const k = `${p.gtin}\u0000${p.serial}`;
    if (!shipped.has(k)) {
      throw new MedtrailError('BAD_INPUT', `missing pack ${p.gtin} / ${p.serial} was not in this shipment`, {
        fields: [{ path: `body.missing[${i}]`, code: 'BAD_INPUT', message: 'not in this shipment' }],
      });
    }
    missing.add(k);
  });
  b.extra.forEach((p, i) => {
    if (shipped.has(`${p.gtin}\u0000${p.serial}`)) {
      throw new MedtrailError('BAD_INPUT', `extra pack ${p.gtin} / ${p.serial} was in this shipment`, {
        fields: [{ path: `body.extra[${i}]`, code: 'BAD_INPUT', message: 'was shipped: not extra' }],
      });
    }
  });
  const arrived = [...shipped].filter(([k]) => !missing.has(k)).map(([, p]) => p);
  const lost = [...shipped].filter(([k]) => missing.has(k)).map(([, p]) => p);
  const changes: Change[] = [
    { op: 'move', packs: arrived, state: 'active', holder: ctx.entry.signer, inTransitTo: null, dispensed: null, counterparty: ship.from },
  ];
  if (lost.length > 0) {
    changes.push({ op: 'move', packs: lost, state: 'missing', holder: ship.from, inTransitTo: null, dispensed: null, counterparty: ship.from });
  }
  changes.push({ op: 'received', shipIndex: ship.index, missing: lost, extra: b.extra });
  return changes;
}
