// undo: reverses a dispense, under the EU rule (Delegated Regulation 2016/161, art. 13): by the same
// pharmacy, within 10 days of the dispense, and only while the pack is not expired, its lot not recalled,
// and it has not since been reported stolen or destroyed (a dispensed pack cannot be: it is the newest
// state). The 10 days run on the server's clock from the dispense's own timestamp.
import type { UndoBody } from '../../../core/entry/bodies.js';
import { MedtrailError } from '../../../core/errors.js';
import type { Change } from '../writer.js';
import { expectPrev, expiredNow, lotOf, packOrThrow, requireRole, type RuleContext } from './context.js';
import { cellOf, rxOrThrow } from './rx.js';

export const UNDO_WINDOW_MS = 10 * 24 * 60 * 60 * 1000;

function refuse(reason: string): never {
  throw new MedtrailError('UNDO_NOT_ALLOWED', `the dispense cannot be undone: ${reason}`);
}

export function undoRule(ctx: RuleContext, b: UndoBody): Change[] {
  requireRole(ctx, ['pharmacy']);
  const p = packOrThrow(ctx, b.gtin, b.serial, 'body');
  if (p.state !== 'dispensed' || p.lastHash !== b.of) refuse(`${b.of} is not the newest entry of this pack, or not a dispense (the pack is ${p.state})`);
  if (p.dispensedBy !== ctx.entry.signer) refuse(`it was dispensed by ${p.dispensedBy ?? 'nobody'}, not ${ctx.entry.signer} (same pharmacy only)`);
  if (p.dispensedAt === null || ctx.now - Date.parse(p.dispensedAt) > UNDO_WINDOW_MS) refuse(`it was dispensed more than 10 days ago (${p.dispensedAt ?? '?'})`);
  if (expiredNow(ctx, p.expiry)) refuse(`the pack expired (${p.expiry})`);
  if (lotOf(ctx, p).recalledIndex !== null) refuse(`lot ${p.lot} is recalled`);
  expectPrev(ctx, new Set([b.of]));
  // A dispense against a prescription gives the pack back to the prescription's count too (issue 16).
  const rxId = ctx.state.rxOfDispense(p.gtin, p.serial, p.lastIndex);
  const rx: Change[] = rxId === undefined ? [] : [{ op: 'rxUndo', id: rxId, dispenseIndex: p.lastIndex, cell: cellOf(rxOrThrow(ctx, rxId), p.dispensedAt ?? ctx.entry.at) }];
  return [
    ...rx,
    {
      op: 'move',
      packs: [{ gtin: p.gtin, serial: p.serial }],
      state: 'active',
      holder: ctx.entry.signer,
      inTransitTo: null,
      dispensed: null,
      counterparty: null,
    },
  ];
}
