// dispense: the pharmacy holding an active pack hands it to a patient (the EU system's "supplied" state).
// Refused for a recalled lot or an expired pack. prev names the entry that gave the pharmacy the pack.
// Against a prescription (body.rx, issue 16): the pharmacy must hold its claim, the prescription must be live
// with packs left, and the pack must be the medicine it names; all in the append's transaction, so two
// dispenses (two pharmacies, or a reader's offline queue arriving late) can never take the same last pack.
import type { DispenseBody } from '../../../core/entry/bodies.js';
import { MedtrailError } from '../../../core/errors.js';
import { medicineMatches, totalPacks } from '../../../core/rx/rx.js';
import type { PackRow } from '../state.js';
import type { Change } from '../writer.js';
import { expectPrev, expiredNow, lotOf, packOrThrow, requireHeldActive, requireRole, type RuleContext } from './context.js';
import { cellOf, requireLive, rxOrThrow } from './rx.js';

function againstPrescription(ctx: RuleContext, id: string, p: PackRow): Change {
  const r = rxOrThrow(ctx, id);
  requireLive(ctx, r);
  if (r.claimedBy !== ctx.entry.signer) {
    if (r.claimedBy === null) throw new MedtrailError('RX_NOT_CLAIMED', `claim prescription ${id} with the patient's token before dispensing against it`);
    throw new MedtrailError('RX_CLAIMED', `prescription ${id} is claimed by another pharmacy`);
  }
  const product = ctx.state.product(p.gtin);
  const sub = ctx.state.substanceOf(p.gtin);
  const facts = { gtin: p.gtin, form: product?.form ?? '', strength: product?.strength ?? '', substance: sub?.substance ?? null };
  if (!medicineMatches(r.medicine, facts)) {
    throw new MedtrailError('RX_MEDICINE_MISMATCH', `pack ${p.gtin} / ${p.serial} is not the medicine prescription ${id} names`, {
      fields: [{ path: 'body.gtin', code: 'RX_MEDICINE_MISMATCH', message: 'not the prescribed medicine' }],
    });
  }
  const done = r.dispensed + 1;
  if (done > totalPacks(r)) throw new MedtrailError('RX_COMPLETED', `every pack of prescription ${id} has been dispensed`);
  return { op: 'rxDispense', id, gtin: p.gtin, serial: p.serial, fillEnds: done % r.quantity === 0, cell: cellOf(r, ctx.entry.at) };
}

export function dispenseRule(ctx: RuleContext, b: DispenseBody): Change[] {
  requireRole(ctx, ['pharmacy']);
  const p = packOrThrow(ctx, b.gtin, b.serial, 'body');
  requireHeldActive(ctx, p, 'body');
  const lot = lotOf(ctx, p);
  if (lot.recalledIndex !== null) throw new MedtrailError('LOT_RECALLED', `lot ${p.lot} of ${p.gtin} is recalled: ${lot.recallReason ?? ''}`);
  if (expiredNow(ctx, p.expiry)) throw new MedtrailError('EXPIRED_PACK', `pack ${p.gtin} / ${p.serial} expired (${p.expiry})`);
  expectPrev(ctx, new Set([p.lastHash]));
  const rx = b.rx === undefined ? [] : [againstPrescription(ctx, b.rx, p)];
  return [
    ...rx,
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
