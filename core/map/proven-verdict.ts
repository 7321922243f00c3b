// A verify answer held to a witness policy (issue 13), for `medtrail verify --policy` and the reader's
// `--policy`: the answer's checkpoint must carry a quorum of the policy's witnesses, the pack's state must be
// proven under that checkpoint's map roots (core/map/state-proof.ts), and the leaf the answer proves must be
// the pack's newest entry. The verdict then follows the witnessed state for what the state decides (unknown,
// recalled, dispensed, in transit); for an active pack the server's own checks (tag signature, expiry, scans)
// stand, unless the server claims a state the witnessed ledger does not hold: then it is lying, and the
// verdict is SUSPICIOUS. Pure; coded errors when the evidence is missing or does not hold.
import type { VerifyAnswer } from '../api/answers.js';
import { fromBase64Url } from '../bytes.js';
import { verify } from '../crypto/ed25519.js';
import { MedtrailError } from '../errors.js';
import type { ScannedCode } from '../gs1/scanned-code.js';
import { provenMakerKey, type MakerKeyEvidence } from '../tag/maker-key.js';
import { packIdentityBytes } from '../tag/pack.js';
import { requireQuorum, type QuorumCheck, type QuorumOptions, type TlogPolicy } from '../log/policy.js';
import type { Verdict } from '../verdict.js';
import { checkPackState, type ProvenState } from './state-proof.js';

export interface ProvenVerdict {
  verdict: Verdict;
  /** What the server answered. */
  server: Verdict;
  proven: ProvenState;
  quorum: QuorumCheck;
  /** Set when the verdict differs from the server's: why. */
  overridden?: string;
}

const STATE_VERDICTS: ReadonlySet<Verdict> = new Set<Verdict>(['UNKNOWN', 'RECALLED', 'DISPENSED', 'IN_TRANSIT']);

/** What the proven state says by itself, or undefined for an active pack (the server's checks decide). */
function stateVerdict(p: ProvenState): Verdict | undefined {
  if (!p.present) return 'UNKNOWN';
  if (p.recalled) return 'RECALLED';
  if (p.state === 'dispensed') return 'DISPENSED';
  if (p.state === 'in_transit') return 'IN_TRANSIT';
  if (p.state === 'active') return undefined;
  return 'COUNTERFEIT'; // destroyed, stolen, exported, ...: no longer a pack anyone should hold
}

/**
 * CHECKPOINT_QUORUM when the witnesses do not make the quorum (a view shown to this client alone, or one not
 * cosigned yet), CHECKPOINT_STALE when only cosignatures older than `opts.notBefore` would, MAP_PROOF_INVALID (and the proof codes) when the state is not proven for this pack.
 */
export function provenVerdict(policy: TlogPolicy, answer: VerifyAnswer, gtin: string, serial: string, opts: QuorumOptions = {}): ProvenVerdict {
  const map = answer.map;
  if (map === undefined) throw new MedtrailError('MAP_PROOF_INVALID', 'the answer carries no proof of the pack’s state');
  const quorum = requireQuorum(policy, map.checkpoint, opts);
  const proven = checkPackState(quorum.log, gtin, serial, map);
  if (proven.present && (answer.proof === null || answer.proof.leafHash !== proven.lastEntry || answer.proof.checkpoint !== map.checkpoint)) {
    throw new MedtrailError('MAP_PROOF_INVALID', 'the leaf the answer proves is not the pack’s newest entry on that checkpoint');
  }
  const server = answer.verdict;
  const byState = stateVerdict(proven);
  if (byState !== undefined) {
    return byState === server ? { verdict: server, server, proven, quorum } : { verdict: byState, server, proven, quorum, overridden: `the server said ${server}; the witnessed ledger says ${byState}` };
  }
  if (STATE_VERDICTS.has(server)) {
    return { verdict: 'SUSPICIOUS', server, proven, quorum, overridden: `the server said ${server}, but the witnessed ledger holds the pack as active` };
  }
  return { verdict: server, server, proven, quorum };
}

/** Whether the proven state leaves the verdict to the tag (an active pack of a lot not recalled). */
export function tagDecides(pv: ProvenVerdict): boolean {
  return pv.proven.present && pv.proven.state === 'active' && !pv.proven.recalled;
}

/**
 * The tag held to the witnessed ledger, for an active pack (tagDecides): the server's word on the tag's signature
 * is not taken. A signed code must carry the Ed25519 signature, over the pack's identity, of its maker's key as
 * the log proves it under the same witnessed checkpoint (`maker`: core/tag/maker-key.ts), with the lot and expiry
 * the ledger holds: otherwise COUNTERFEIT, whatever the server said. An unsigned code proves nothing to an
 * anonymous lookup (SECURITY.md): a server calling it GENUINE is overruled to SUSPICIOUS; a participant's signed
 * scan of a printed code stands on the pack's state, as in the EU system.
 */
export function provenTagVerdict(pv: ProvenVerdict, code: ScannedCode, signedRequest: boolean, maker: MakerKeyEvidence | undefined): ProvenVerdict {
  if (!tagDecides(pv) || !pv.proven.present) return pv;
  const p = pv.proven;
  const overrule = (verdict: Verdict, why: string): ProvenVerdict => (verdict === pv.verdict ? pv : { ...pv, verdict, overridden: `the server said ${pv.server}; ${why}` });
  if (code.sig === undefined) {
    return !signedRequest && pv.verdict === 'GENUINE' ? overrule('SUSPICIOUS', 'an unsigned code cannot confirm a pack to an anonymous lookup') : pv;
  }
  if (maker === undefined) throw new MedtrailError('MAP_PROOF_INVALID', 'no proven key of the maker to check the tag’s signature with');
  const key = provenMakerKey(maker, pv.quorum.checkpoint, p.maker, code.gtin);
  if ((code.lot !== undefined && code.lot !== p.lot) || (code.expiry !== undefined && code.expiry !== p.expiry)) {
    return overrule('COUNTERFEIT', `the code names lot ${code.lot ?? '-'} expiring ${code.expiry ?? '-'}, the witnessed ledger lot ${p.lot} expiring ${p.expiry}`);
  }
  let sig: Uint8Array;
  try {
    sig = fromBase64Url(code.sig, 64);
  } catch {
    return overrule('COUNTERFEIT', 'the tag’s signature is malformed');
  }
  if (!verify(packIdentityBytes({ gtin: code.gtin, lot: p.lot, expiry: p.expiry, serial: code.serial }), sig, key)) {
    return overrule('COUNTERFEIT', 'the tag is not signed by the pack’s maker, whose key the witnessed ledger proves');
  }
  return pv;
}
