// A verify answer held to a witness policy (issue 13), for `medtrail verify --policy` and the reader's
// `--policy`: the answer's checkpoint must carry a quorum of the policy's witnesses, the pack's state must be
// proven under that checkpoint's map roots (core/map/state-proof.ts), and the leaf the answer proves must be
// the pack's newest entry. The verdict then follows the witnessed state for what the state decides (unknown,
// recalled, dispensed, in transit); for an active pack the server's own checks (tag signature, expiry, scans)
// stand, unless the server claims a state the witnessed ledger does not hold: then it is lying, and the
// verdict is SUSPICIOUS. Pure; coded errors when the evidence is missing or does not hold.
import type { VerifyAnswer } from '../api/answers.js';
import { MedtrailError } from '../errors.js';
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
