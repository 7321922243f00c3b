// rx_release: the pharmacy holding the claim hands the prescription back, undispensed or part dispensed, so
// that the patient can take it elsewhere (issue 16).
import type { RxReleaseBody } from '../../../core/entry/bodies.js';
import { MedtrailError } from '../../../core/errors.js';
import type { Change } from '../writer.js';
import { expectPrev, requireRole, type RuleContext } from './context.js';
import { rxOrThrow } from './rx.js';

export function rxReleaseRule(ctx: RuleContext, b: RxReleaseBody): Change[] {
  requireRole(ctx, ['pharmacy']);
  expectPrev(ctx, new Set());
  const r = rxOrThrow(ctx, b.id);
  if (r.claimedBy !== ctx.entry.signer) throw new MedtrailError('RX_NOT_CLAIMED', `${ctx.entry.signer} does not hold the claim of prescription ${b.id}`);
  return [{ op: 'rxClaim', id: b.id, by: null }];
}
