// batch: the product's manufacturer commissions a lot: every listed serial becomes an active pack that it
// holds. prev names the product entry, so every pack's chain ends at its product.
import type { BatchBody } from '../../../core/entry/bodies.js';
import { MedtrailError } from '../../../core/errors.js';
import type { Change } from '../writer.js';
import { expectPrev, leafHashAt, requireRole, type RuleContext } from './context.js';

export function batchRule(ctx: RuleContext, b: BatchBody): Change[] {
  requireRole(ctx, ['manufacturer']);
  const product = ctx.state.product(b.gtin);
  if (product === undefined) throw new MedtrailError('PRODUCT_UNKNOWN', `GTIN ${b.gtin} is not registered`);
  if (product.manufacturer !== ctx.entry.signer) {
    throw new MedtrailError('PREFIX_NOT_OWNED', `GTIN ${b.gtin} belongs to ${product.manufacturer}, not ${ctx.entry.signer}`);
  }
  if (ctx.state.lot(b.gtin, b.lot) !== undefined) throw new MedtrailError('BATCH_EXISTS', `lot ${b.lot} of ${b.gtin} is already registered`);
  expectPrev(ctx, new Set([leafHashAt(ctx, product.index)]));
  // A serial already registered under this GTIN (in another lot) is refused by the writer's primary key,
  // which costs nothing extra on the 100,000-row insert: SERIAL_DUPLICATE.
  return [
    {
      op: 'batch',
      lot: {
        gtin: b.gtin,
        lot: b.lot,
        expiry: b.expiry,
        manufacturer: ctx.entry.signer,
        batchIndex: ctx.ref.index,
        packCount: b.serials.length,
        recalledIndex: null,
        recallReason: null,
        recalledAt: null,
      },
      serials: b.serials,
    },
  ];
}
