// What the prescription rules share (issue 16; docs/architecture.md, Prescriptions): the prescription looked up,
// and the refusal of one that can no longer be claimed or dispensed. Time is the server's (ctx.now; on replay
// the entry's own time), judged in UTC days against validFrom and validUntil, both inclusive.
import { dayOf, rxStatus } from '../../../core/rx/rx.js';
import { MedtrailError } from '../../../core/errors.js';
import type { RxRow } from '../state.js';
import type { RxCell } from '../writer.js';
import type { RuleContext } from './context.js';

export function rxOrThrow(ctx: RuleContext, id: string): RxRow {
  const r = ctx.state.rx(id);
  if (r === undefined) {
    throw new MedtrailError('RX_UNKNOWN', `no prescription ${id} is on the ledger`, { fields: [{ path: 'body.id', code: 'RX_UNKNOWN', message: 'no such prescription' }] });
  }
  return r;
}

/** Refuses a prescription that is cancelled, fully dispensed, expired or not valid yet. */
export function requireLive(ctx: RuleContext, r: RxRow): void {
  const s = rxStatus({ ...r, cancelled: r.cancelledIndex !== null }, ctx.now);
  if (s === 'cancelled') throw new MedtrailError('RX_CANCELLED', `prescription ${r.id} was cancelled: ${r.cancelReason ?? ''}`);
  if (s === 'completed') throw new MedtrailError('RX_COMPLETED', `every pack of prescription ${r.id} has been dispensed (${r.dispensed})`);
  if (s === 'expired') throw new MedtrailError('RX_EXPIRED', `prescription ${r.id} was valid until ${r.validUntil}`);
  if (s === 'not_yet_valid') throw new MedtrailError('RX_NOT_YET_VALID', `prescription ${r.id} is valid from ${r.validFrom}`);
}

/** The report cell of a prescription for an event at `at` (its month). */
export function cellOf(r: Pick<RxRow, 'region' | 'substance' | 'ptype'>, at: string): RxCell {
  return { month: at.slice(0, 7), region: r.region, substance: r.substance, ptype: r.ptype };
}

export function today(ctx: RuleContext): string {
  return dayOf(ctx.now);
}
