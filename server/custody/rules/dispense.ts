// dispense: the pharmacy holding an active pack hands it to a patient (the EU system's "supplied" state).
// Refused for a recalled lot or an expired pack. prev names the entry that gave the pharmacy the pack.
import type { DispenseBody } from '../../../core/entry/bodies.js';
import { MedtrailError } from '../../../core/errors.js';
import type { Change } from '../writer.js';
import { expectPrev, expiredNow, lotOf, packOrThrow, requireHeldActive, requireRole, type RuleContext } from './context.js';

export function dispenseRule(ctx: RuleContext, b: DispenseBody): Change[] {
  requireRole(ctx, ['pharmacy']);
  const p = packOrThrow(ctx, b.gtin, b.serial, 'body');
  requireHeldActive(ctx, p, 'body');
  const lot = lotOf(ctx, p);
  if (lot.recalledIndex !== null) throw new MedtrailError('LOT_RECALLED', `lot ${p.lot} of ${p.gtin} is recalled: ${lot.recallReason ?? ''}`);
  if (expiredNow(ctx, p.expiry)) throw new MedtrailError('EXPIRED_PACK', `pack ${p.gtin} / ${p.serial} expired (${p.expiry})`);
  expectPrev(ctx, new Set([p.lastHash]));
  return [
    {
      op: 'move',
      packs: [{ gtin: p.gtin, serial: p.serial }],
      state: 'dispensed',
      holder: ctx.entry.signer,
      inTransitTo: null,
      dispensed: { by: ctx.entry.signer, at: ctx.entry.at },
      counterparty: null,
    },
  ];
}
