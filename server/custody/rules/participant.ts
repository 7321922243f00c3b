// participant: the authority admits an organisation, rotates its key or revokes it. Nobody else may, and
// the authority itself is not a participant (its key is fixed at `medtrail init`).
import type { ParticipantBody } from '../../../core/entry/bodies.js';
import { MedtrailError } from '../../../core/errors.js';
import type { ParticipantRow } from '../state.js';
import type { Change } from '../writer.js';
import { type RuleContext } from './context.js';

export function participantRule(ctx: RuleContext, b: ParticipantBody): Change[] {
  if (ctx.entry.signer !== ctx.authority) {
    throw new MedtrailError('ROLE_NOT_ALLOWED', 'only the authority may sign participant entries');
  }
  if (b.gln === ctx.authority) throw new MedtrailError('ROLE_NOT_ALLOWED', 'the authority is not a participant: its key is fixed at init');
  const old = ctx.state.participant(b.gln);
  let row: ParticipantRow;
  if (b.action === 'admit') {
    if (old !== undefined) throw new MedtrailError('PARTICIPANT_EXISTS', `${b.gln} is already enrolled (rotate its key instead)`);
    row = { gln: b.gln, name: b.name!, role: b.role!, publicKey: b.publicKey!, prefixes: b.prefixes!, revoked: false, index: ctx.ref.index };
  } else {
    if (old === undefined) throw new MedtrailError('PARTICIPANT_UNKNOWN', `${b.gln} is not enrolled`);
    if (b.action === 'revoke') {
      if (old.revoked) throw new MedtrailError('KEY_REVOKED', `the key of ${b.gln} is already revoked`);
      row = { ...old, revoked: true };
    } else {
      // rotate: a new key (also the way back after a revocation); other members change only when given.
      if (b.publicKey === old.publicKey && !old.revoked) throw new MedtrailError('BAD_INPUT', 'rotate must carry a new public key');
      row = {
        ...old,
        publicKey: b.publicKey!,
        name: b.name ?? old.name,
        role: b.role ?? old.role,
        prefixes: b.prefixes ?? old.prefixes,
        revoked: false,
      };
    }
  }
  if (row.role !== 'manufacturer' && row.prefixes.length > 0) {
    throw new MedtrailError('BAD_INPUT', 'only a manufacturer has GS1 company prefixes', {
      fields: [{ path: 'body.prefixes', code: 'BAD_INPUT', message: 'only a manufacturer has GS1 company prefixes' }],
    });
  }
  // A prescriber's region and type place its prescriptions in the reports (issue 16).
  const extra: Change[] = [];
  if (row.role === 'prescriber' && (b.action === 'admit' || b.region !== undefined || b.prescriberType !== undefined)) {
    const was = ctx.state.prescriber(b.gln);
    extra.push({ op: 'prescriber', gln: b.gln, region: b.region ?? was?.region ?? 'ZZ', type: b.prescriberType ?? was?.type ?? 'other' });
  }
  return [{ op: 'participant', row }, ...extra];
}
