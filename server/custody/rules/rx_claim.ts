// rx_claim: a pharmacy claims a prescription with the patient's token (issue 16). Its tokenSig is the access
// code's signature over the id, the pharmacy's GLN and the entry's time (core/rx/rx.ts rxClaimMessage): only a
// holder of the code can make it, it names the pharmacy, so no other pharmacy can reuse it, and the ledger
// keeps only the code's public key. While claimed, nobody else may claim or dispense the prescription.
import type { RxClaimBody } from '../../../core/entry/bodies.js';
import { fromBase64 } from '../../../core/bytes.js';
import { MedtrailError } from '../../../core/errors.js';
import { rxClaimMessage, verifyWithToken } from '../../../core/rx/rx.js';
import type { Change } from '../writer.js';
import { expectPrev, requireRole, type RuleContext } from './context.js';
import { requireLive, rxOrThrow } from './rx.js';

export function rxClaimRule(ctx: RuleContext, b: RxClaimBody): Change[] {
  requireRole(ctx, ['pharmacy']);
  expectPrev(ctx, new Set());
  const r = rxOrThrow(ctx, b.id);
  requireLive(ctx, r);
  if (r.claimedBy !== null) throw new MedtrailError('RX_CLAIMED', `prescription ${b.id} is claimed by ${r.claimedBy === ctx.entry.signer ? 'this pharmacy already' : 'another pharmacy'}`);
  const origin = ctx.store.getMeta('origin') ?? '';
  const ok = verifyWithToken(fromBase64(r.token, 32), rxClaimMessage(origin, b.id, ctx.entry.signer, ctx.entry.at), fromBase64(b.tokenSig));
  if (!ok) {
    throw new MedtrailError('RX_ACCESS_DENIED', 'the claim is not signed with the access code of this prescription', {
      fields: [{ path: 'body.tokenSig', code: 'RX_ACCESS_DENIED', message: 'does not verify with the prescription token' }],
    });
  }
  return [{ op: 'rxClaim', id: b.id, by: ctx.entry.signer }];
}
