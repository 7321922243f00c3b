// prescribe: a prescriber signs a prescription (issue 16). The id is new; a medicine named by GTIN must be a
// registered product; the validity must not be over already. The patient is only the salted commitment, and
// the region and type of the prescriber (its participant entry) place the prescription in the reports.
import type { PrescribeBody } from '../../../core/entry/bodies.js';
import { MedtrailError } from '../../../core/errors.js';
import { totalPacks } from '../../../core/rx/rx.js';
import type { Change } from '../writer.js';
import { expectPrev, requireRole, type RuleContext } from './context.js';
import { cellOf, today } from './rx.js';

/** The report's substance key of a medicine: its ATC code, else its substance, else the product's, else its GTIN. */
function substanceKey(ctx: RuleContext, b: PrescribeBody): string {
  const m = b.medicine;
  if (!('gtin' in m)) return m.atc ?? m.substance.toLowerCase();
  const s = ctx.state.substanceOf(m.gtin);
  return s?.atc ?? s?.substance?.toLowerCase() ?? `gtin:${m.gtin}`;
}

export function prescribeRule(ctx: RuleContext, b: PrescribeBody): Change[] {
  requireRole(ctx, ['prescriber']);
  expectPrev(ctx, new Set());
  if (ctx.state.rx(b.id) !== undefined) throw new MedtrailError('RX_EXISTS', `prescription ${b.id} is already on the ledger`);
  if ('gtin' in b.medicine && ctx.state.product(b.medicine.gtin) === undefined) {
    throw new MedtrailError('PRODUCT_UNKNOWN', `GTIN ${b.medicine.gtin} is not registered`, {
      fields: [{ path: 'body.medicine.gtin', code: 'PRODUCT_UNKNOWN', message: 'not registered' }],
    });
  }
  if (today(ctx) > b.validUntil) throw new MedtrailError('RX_EXPIRED', `validUntil ${b.validUntil} is already past`);
  const who = ctx.state.prescriber(ctx.entry.signer);
  const row = {
    id: b.id,
    index: ctx.ref.index,
    hash: '',
    prescriber: ctx.entry.signer,
    patient: b.patient,
    medicine: b.medicine,
    quantity: b.quantity,
    repeats: b.repeats,
    dosage: b.dosage,
    validFrom: b.validFrom,
    validUntil: b.validUntil,
    token: b.token,
    at: ctx.entry.at,
    region: who?.region ?? 'ZZ',
    ptype: who?.type ?? 'other',
    substance: substanceKey(ctx, b),
    dispensed: 0,
    claimedBy: null,
    claimedIndex: null,
    cancelledIndex: null,
    cancelReason: null,
  };
  return [{ op: 'rx', row, cell: cellOf(row, ctx.entry.at), packs: totalPacks(b) }];
}
