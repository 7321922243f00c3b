// What the patient page checks for itself, so that a patient need not trust the server (issue 5):
//
//   1. checkpoint     the checkpoint note in the verify answer is signed by the log key pinned into the page;
//   2. maker key      the manufacturer's participant entry (leaf bytes fetched from the log) is in that tree,
//                     admits/rotates the manufacturer's GLN, and owns the GTIN's company prefix;
//   3. pack in log    the pack's leaf hash is in that tree (the verify answer's inclusion proof);
//   4. pack signature the tag's `s=` is the manufacturer's Ed25519 signature over the pack identity
//                     (core/tag/pack.ts), with the key proven in 2;
//   5. pack state     the verify answer's map proofs hold under the checkpoint's `medtrail-map` roots for THIS
//                     pack's key (core/map/state-proof.ts): the pack's state, lot, expiry, maker and newest
//                     entry as the log committed to them, or that the log holds no such pack. The leaf proven
//                     in 3 must be that newest entry, and both proofs must stand on one checkpoint: a proof
//                     borrowed from another pack (issue 12 #3) fails here.
//
// Pure: the page fetches the pieces and hands them here; a test in Node runs the same code. Every failure
// becomes a check with `ok: false` and the error code, never an exception.
import { fromBase64, fromBase64Url, fromHex } from '../../core/bytes.js';
import { openCheckpoint, type Checkpoint } from '../../core/log/checkpoint.js';
import { verify } from '../../core/crypto/ed25519.js';
import { isMedtrailError } from '../../core/errors.js';
import { verifyInclusion } from '../../core/log/merkle.js';
import { packIdentityBytes } from '../../core/tag/pack.js';
import { provenMakerKey } from '../../core/tag/maker-key.js';
import { checkPackState, type ProvenState } from '../../core/map/state-proof.js';
import type { MapAnswer } from '../../core/api/answers.js';
import { checkQuorum, type QuorumCheck, type TlogPolicy } from '../../core/log/policy.js';

export type CheckId = 'checkpoint' | 'witnesses' | 'maker_key' | 'pack_in_log' | 'pack_signature' | 'pack_state';
/** ok: passed; failed: the evidence is wrong (treat as not genuine); missing: nothing to check. */
export type CheckStatus = 'ok' | 'failed' | 'missing';

export interface Check {
  id: CheckId;
  status: CheckStatus;
  /** Error code or short reason when not ok. */
  code?: string;
}

export interface InclusionEvidence {
  index: number;
  size: number;
  leafHash: string;
  proof: string[];
}

export interface EvidenceInput {
  /** The log's verifier key pinned into the page at serve time. */
  vkey: string;
  /** The verify answer's `proof` (pack leaf + checkpoint note), or null. */
  packProof: (InclusionEvidence & { checkpoint: string }) | null;
  /** The pack as the URI and the server describe it; lot and expiry may come from the server. */
  pack: { gtin: string; serial: string; lot: string; expiry: string } | null;
  /** base64url signature from the URI's `s=`, when the code carried one. */
  sig: string | null;
  /** GLN the verify answer names as manufacturer (must match the key entry when given). */
  makerGln: string | null;
  /**
   * The manufacturer's participant leaf (base64 bytes) with its inclusion proof, against `checkpoint` (a note
   * of its own, as server/web/maker-evidence.ts answers) or else against the pack's checkpoint.
   */
  makerLeaf: { leaf: string; inclusion: InclusionEvidence; checkpoint?: string } | null;
  /** The verify answer's `map` (the pack's state proven), or null when the server gave none. */
  map?: MapAnswer | null;
  /** The pack's key as the page knows it (from the URI), for the map proof; null when it has no serial. */
  key?: { gtin: string; serial: string } | null;
  /**
   * The witness policy pinned into the page (c2sp.org/tlog-policy), when the deployment has one: the
   * checkpoint must then carry cosignatures that make its quorum (check `witnesses`), or nothing is confirmed:
   * a log that shows this page a history of its own cannot get a quorum of witnesses to cosign it.
   */
  policy?: TlogPolicy | null;
  /** POSIX seconds: witness cosignatures older than this do not count (an old answer replayed). */
  notBefore?: number;
}

export interface EvidenceResult {
  checks: Check[];
  /** Some evidence was present and wrong: the page must say NOT GENUINE whatever the server claimed. */
  broken: boolean;
  /** Every check passed: the pack is in the signed log and its tag was signed by its proven manufacturer. */
  complete: boolean;
  checkpoint: Checkpoint | null;
  /** The pack's state as the log committed to it (check 5), or null when not proven. */
  proven: ProvenState | null;
}

// Opening a checkpoint costs an Ed25519 verification (slow in pure JavaScript); the same note with the same
// key always gives the same answer, so the page may open it early, while it still waits on the network.
const opened = new Map<string, Checkpoint>();

export function openCheckpointCached(note: string, vkey: string): Checkpoint {
  const key = `${vkey}\n${note}`;
  let cp = opened.get(key);
  if (cp === undefined) {
    cp = openCheckpoint(note, vkey);
    opened.set(key, cp);
  }
  return cp;
}

function included(ev: InclusionEvidence, leafHash: Uint8Array, cp: Checkpoint): void {
  if (ev.size !== cp.size) throw Object.assign(new Error('size'), { code: 'PROOF_BAD_SIZE' });
  verifyInclusion(leafHash, ev.index, ev.size, ev.proof.map((h) => fromHex(h, 32)), cp.root);
}

function provenMakerKeyOf(input: EvidenceInput, packTree: Checkpoint | null): Uint8Array {
  const m = input.makerLeaf!;
  const cp = m.checkpoint !== undefined ? openCheckpointCached(m.checkpoint, input.vkey) : packTree;
  if (cp === null) throw Object.assign(new Error('no checkpoint'), { code: 'NO_CHECKPOINT' });
  if (m.inclusion.size !== cp.size) throw Object.assign(new Error('size'), { code: 'PROOF_BAD_SIZE' });
  return provenMakerKey({ index: m.inclusion.index, leaf: fromBase64(m.leaf), proof: m.inclusion.proof.map((h) => fromHex(h, 32)) }, cp, input.makerGln, input.pack?.gtin);
}

function run(checks: Check[], id: CheckId, f: () => void): boolean {
  try {
    f();
    checks.push({ id, status: 'ok' });
    return true;
  } catch (e) {
    const code = isMedtrailError(e) ? e.code : ((e as { code?: string }).code ?? 'ERROR');
    checks.push({ id, status: 'failed', code });
    return false;
  }
}

export function checkEvidence(input: EvidenceInput): EvidenceResult {
  const checks: Check[] = [];
  let cp: Checkpoint | null = null;
  const missing = (id: CheckId, code: string): void => {
    checks.push({ id, status: 'missing', code });
  };

  if (input.packProof === null) missing('checkpoint', 'NO_PROOF');
  else run(checks, 'checkpoint', () => (cp = openCheckpointCached(input.packProof!.checkpoint, input.vkey)));
  const tree = cp as Checkpoint | null;

  if (input.policy !== undefined && input.policy !== null) {
    const policy = input.policy;
    const note = input.map?.checkpoint ?? input.packProof?.checkpoint;
    if (note === undefined) missing('witnesses', 'NO_PROOF');
    else {
      let q: QuorumCheck | undefined;
      // A cosignature line that does not verify is evidence that is wrong: failed. Too few: not (yet) witnessed.
      const opts = { log: input.vkey, ...(input.notBefore !== undefined ? { notBefore: input.notBefore } : {}) };
      if (run(checks, 'witnesses', () => (q = checkQuorum(policy, note, opts)))) {
        const quorum = q as QuorumCheck | undefined;
        if (quorum !== undefined && !quorum.satisfied) {
          checks.pop();
          missing('witnesses', quorum.stale ? 'CHECKPOINT_STALE' : 'CHECKPOINT_QUORUM');
        }
      }
    }
  }

  let makerKey: Uint8Array | null = null;
  if (input.makerLeaf === null) missing('maker_key', 'NO_MAKER_ENTRY');
  else run(checks, 'maker_key', () => (makerKey = provenMakerKeyOf(input, tree)));

  if (tree === null || input.packProof === null) missing('pack_in_log', 'NO_PROOF');
  else run(checks, 'pack_in_log', () => included(input.packProof!, fromHex(input.packProof!.leafHash, 32), tree));

  let proven: ProvenState | null = null;
  const map = input.map ?? null;
  if (map === null || input.key === undefined || input.key === null) missing('pack_state', 'NO_STATE_PROOF');
  else {
    // Timed where it runs (the browser, for the patient page): npm run bench:web prints this measure.
    const stateStart = performance.now();
    run(checks, 'pack_state', () => {
      const p = checkPackState(input.vkey, input.key!.gtin, input.key!.serial, map, openCheckpointCached);
      if (p.present) {
        // The leaf proven in the log must be this pack's newest entry, on the same checkpoint.
        const pp = input.packProof;
        if (pp === null || pp.leafHash !== p.lastEntry || pp.checkpoint !== map.checkpoint) {
          throw Object.assign(new Error('leaf'), { code: 'LEAF_NOT_THIS_PACK' });
        }
      }
      proven = p;
    });
    performance.measure('medtrail:pack-state', { start: stateStart, end: performance.now() });
  }

  const key = makerKey as Uint8Array | null;
  if (input.sig === null) missing('pack_signature', 'NO_SIGNATURE');
  else if (input.pack === null) missing('pack_signature', 'NO_PACK');
  else if (key === null) missing('pack_signature', 'NO_MAKER_KEY');
  else {
    run(checks, 'pack_signature', () => {
      const sig = fromBase64Url(input.sig!);
      if (sig.length !== 64 || !verify(packIdentityBytes(input.pack!), sig, key)) {
        throw Object.assign(new Error('sig'), { code: 'SIG_INVALID' });
      }
    });
  }
  return {
    checks,
    broken: checks.some((c) => c.status === 'failed'),
    complete: checks.every((c) => c.status === 'ok'),
    checkpoint: cp,
    proven,
  };
}
