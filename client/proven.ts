// A verify answer held to a witness policy, trusting no server (docs/architecture.md, Trust without a centre):
// the pack's state proven under a checkpoint with the policy's quorum (core/map/proven-verdict.ts), and for an
// active pack its tag checked here against the maker's key as the log proves it under that same checkpoint
// (core/tag/maker-key.ts), so a lying server can vouch neither for a state nor for a tag. Used by
// `medtrail verify --policy` and `medtrail-reader --policy`.
import type { VerifyAnswer } from '../core/api/answers.js';
import type { ScannedCode } from '../core/gs1/scanned-code.js';
import type { QuorumOptions, TlogPolicy } from '../core/log/policy.js';
import { provenTagVerdict, provenVerdict, tagDecides, type ProvenVerdict } from '../core/map/proven-verdict.js';
import type { LedgerClient } from './ledger-client.js';

export async function holdToPolicy(client: LedgerClient, policy: TlogPolicy, answer: VerifyAnswer, code: ScannedCode, signedRequest: boolean, opts: QuorumOptions): Promise<ProvenVerdict> {
  const pv = provenVerdict(policy, answer, code.gtin, code.serial, opts);
  const maker = tagDecides(pv) && code.sig !== undefined ? await client.makerKeyAt(code.gtin, code.serial, pv.quorum.checkpoint.size) : undefined;
  return provenTagVerdict(pv, code, signedRequest, maker);
}
