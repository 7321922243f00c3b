// product: a manufacturer registers a GTIN allocated under one of its own GS1 company prefixes, once.
import type { ProductBody } from '../../../core/entry/bodies.js';
import { MedtrailError } from '../../../core/errors.js';
import { gtinHasCompanyPrefix } from '../../../core/gs1/identifiers.js';
import type { Change } from '../writer.js';
import { expectPrev, requireRole, type RuleContext } from './context.js';

export function productRule(ctx: RuleContext, b: ProductBody): Change[] {
  requireRole(ctx, ['manufacturer']);
  const me = ctx.state.participant(ctx.entry.signer)!;
  if (!me.prefixes.some((p) => gtinHasCompanyPrefix(b.gtin, p))) {
    throw new MedtrailError('PREFIX_NOT_OWNED', `GTIN ${b.gtin} is under none of the company prefixes of ${me.gln}`);
  }
  if (ctx.state.product(b.gtin) !== undefined) throw new MedtrailError('PRODUCT_EXISTS', `GTIN ${b.gtin} is already registered`);
  expectPrev(ctx, new Set());
  return [
    {
      op: 'product',
      row: { gtin: b.gtin, name: b.name, form: b.form, strength: b.strength, packSize: b.packSize, manufacturer: me.gln, index: ctx.ref.index },
    },
    // What a prescription by substance is matched against (issue 16).
    ...(b.substance !== undefined || b.atc !== undefined ? [{ op: 'substance' as const, gtin: b.gtin, substance: b.substance ?? null, atc: b.atc ?? null }] : []),
  ];
}
