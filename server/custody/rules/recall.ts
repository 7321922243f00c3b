// recall: the manufacturer of the GTIN, or a regulator, recalls a whole lot, once. Packs keep their custody
// state; the lot's recall is what dispense, undo and ship (except back to the manufacturer) refuse on, and
// what the verdict reports. prev may name the batch entry, nothing else.
import type { RecallBody } from '../../../core/entry/bodies.js';
import { MedtrailError } from '../../../core/errors.js';
import type { Change } from '../writer.js';
import { leafHashAt, requireRole, type RuleContext } from './context.js';

export function recallRule(ctx: RuleContext, b: RecallBody): Change[] {
  const role = requireRole(ctx, ['manufacturer', 'regulator']);
  const lot = ctx.state.lot(b.gtin, b.lot);
  if (lot === undefined) throw new MedtrailError('LOT_UNKNOWN', `lot ${b.lot} of ${b.gtin} is not registered`);
  if (role === 'manufacturer' && lot.manufacturer !== ctx.entry.signer) {
    throw new MedtrailError('PREFIX_NOT_OWNED', `lot ${b.lot} of ${b.gtin} was made by ${lot.manufacturer}, not ${ctx.entry.signer}`);
  }
  if (lot.recalledIndex !== null) throw new MedtrailError('LOT_RECALLED', `lot ${b.lot} of ${b.gtin} was already recalled at index ${lot.recalledIndex}`);
  const batch = leafHashAt(ctx, lot.batchIndex);
  if (!ctx.entry.prev.every((h) => h === batch)) {
    throw new MedtrailError('PREV_MISMATCH', `prev of a recall may only name the batch entry ${batch}`, {
      fields: [{ path: 'prev', code: 'PREV_MISMATCH', message: `expected [] or [${batch}]` }],
    });
  }
  return [{ op: 'recall', gtin: b.gtin, lot: b.lot, reason: b.reason }];
}
