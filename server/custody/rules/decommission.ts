// decommission: the holder takes an active pack out of the supply chain in one of the EU system's states
// (destroyed, stolen, sample, free sample, exported, locked). prev names the entry that gave it the pack.
import type { DecommissionBody } from '../../../core/entry/bodies.js';
import type { Change } from '../writer.js';
import { expectPrev, packOrThrow, requireHeldActive, requireRole, type RuleContext } from './context.js';

export function decommissionRule(ctx: RuleContext, b: DecommissionBody): Change[] {
  requireRole(ctx, ['manufacturer', 'distributor', 'pharmacy']);
  const p = packOrThrow(ctx, b.gtin, b.serial, 'body');
  requireHeldActive(ctx, p, 'body');
  expectPrev(ctx, new Set([p.lastHash]));
  return [
    {
      op: 'move',
      packs: [{ gtin: p.gtin, serial: p.serial }],
      state: b.state,
      holder: ctx.entry.signer,
      inTransitTo: null,
      dispensed: null,
      counterparty: null,
    },
  ];
}
