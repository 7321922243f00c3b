// rx_cancel: the prescriber who signed a prescription cancels what is left of it (issue 16); a claim ends with it.
import type { RxCancelBody } from '../../../core/entry/bodies.js';
import { MedtrailError } from '../../../core/errors.js';
import { totalPacks } from '../../../core/rx/rx.js';
import type { Change } from '../writer.js';
import { expectPrev, requireRole, type RuleContext } from './context.js';
import { rxOrThrow } from './rx.js';

export function rxCancelRule(ctx: RuleContext, b: RxCancelBody): Change[] {
  requireRole(ctx, ['prescriber']);
  expectPrev(ctx, new Set());
  const r = rxOrThrow(ctx, b.id);
  if (r.prescriber !== ctx.entry.signer) throw new MedtrailError('RX_NOT_PRESCRIBER', `prescription ${b.id} was signed by another prescriber`);
  if (r.cancelledIndex !== null) throw new MedtrailError('RX_CANCELLED', `prescription ${b.id} is already cancelled`);
  if (r.dispensed >= totalPacks(r)) throw new MedtrailError('RX_COMPLETED', `prescription ${b.id} is fully dispensed`);
  return [{ op: 'rxCancel', id: b.id, reason: b.reason }];
}
