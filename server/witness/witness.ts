// The witness's rule (docs/architecture.md, Trust without a centre; c2sp.org/tlog-witness): cosign a log's
// checkpoint only if it is consistent with the newest one cosigned before, and remember it. Then no two
// checkpoints it ever cosigned are inconsistent, and a log that shows one history to one client and another
// to the next cannot have both cosigned by the same witness.
//
// Checks, in the order the spec gives them: the request's syntax (400), a known origin (404), a valid
// signature by the log's known key (403), old size at most the checkpoint's (400), the empty tree's root at
// size 0 (422); then, atomically with the write: the old size is the size held (else 409 with it), no proof
// from 0, equal sizes with equal roots, or a consistency proof from the held root (else 422).
//
// One rule goes beyond the spec: at the size it holds, the witness cosigns only the very same note text, not
// another text with the same root. The spec's cosigner vouches for the first three lines only; medtrail's
// checkpoints carry the map roots in an extension line (core/map/extension.ts), and a log must not get two
// map roots of one tree cosigned.
import { equalBytes } from '../../core/bytes.js';
import { MedtrailError, isMedtrailError } from '../../core/errors.js';
import { openCheckpoint, parseNote, parseVerifierKey, type Checkpoint } from '../../core/log/checkpoint.js';
import { addSignatureLines, cosignatureLine, cosignerVerifierKey, signatureLine } from '../../core/log/cosignature.js';
import { emptyRoot, verifyConsistency } from '../../core/log/merkle.js';
import { parseAddCheckpoint } from '../../core/log/witness-protocol.js';
import { publicKeyFromSeed } from '../../core/crypto/ed25519.js';
import { WitnessStore, type WitnessState } from './store.js';

export interface WitnessedLog {
  /** The log's checkpoint origin; by default its key's name (c2sp.org/tlog-policy: they are the same). */
  origin?: string;
  /** The log's verifier key (Ed25519, type 0x01). */
  vkey: string;
}

export interface WitnessOptions {
  store: WitnessStore;
  /** Cosigner name: a note key name, e.g. `witness.example/w1`. */
  name: string;
  /** Ed25519 seed of the witness key. */
  seed: Uint8Array;
  logs: readonly WitnessedLog[];
  /** POSIX seconds now (tests pin it). */
  now?: () => number;
}

/** 200 with the cosignature line(s), or 409 with the size the witness holds. Other refusals are thrown. */
export type AddCheckpointResult = { status: 200; lines: string; checkpoint: Checkpoint } | { status: 409; size: number };

export class Witness {
  readonly name: string;
  /** The witness's cosigner verifier key (type 0x04), the form a tlog-policy `witness` line takes. */
  readonly vkey: string;
  private readonly store: WitnessStore;
  private readonly seed: Uint8Array;
  private readonly logs = new Map<string, string[]>();
  private readonly now: () => number;

  constructor(o: WitnessOptions) {
    this.store = o.store;
    this.name = o.name;
    this.seed = o.seed;
    this.vkey = cosignerVerifierKey(o.name, publicKeyFromSeed(o.seed));
    this.now = o.now ?? (() => Math.floor(Date.now() / 1000));
    for (const l of o.logs) {
      const origin = l.origin ?? parseVerifierKey(l.vkey).name;
      this.logs.set(origin, [...(this.logs.get(origin) ?? []), l.vkey]);
    }
  }

  /** The origins this witness cosigns for. */
  origins(): string[] {
    return [...this.logs.keys()];
  }

  /**
   * The checks that need no state, in the spec's order: syntax (400), a known origin (404), the log's
   * signature (403), old size at most the checkpoint's (400), the empty tree's root at size 0 (422). A witness
   * that must do more before it cosigns (a mirror: server/mirror/witness.ts) runs these first, so that nobody
   * makes it work for a note the log did not sign.
   */
  inspect(text: string): { checkpoint: Checkpoint; note: string; origin: string; vkey: string } {
    const req = parseAddCheckpoint(text);
    const { body } = parseNote(req.checkpoint);
    const origin = body.slice(0, body.indexOf('\n'));
    const vkeys = this.logs.get(origin);
    if (vkeys === undefined) throw new MedtrailError('WITNESS_UNKNOWN_LOG', `this witness does not witness ${JSON.stringify(origin)}`);
    const { checkpoint: cp, vkey } = this.open(req.checkpoint, origin, vkeys);
    if (req.oldSize > cp.size) throw new MedtrailError('WITNESS_REQUEST_MALFORMED', `old size ${req.oldSize} is past the checkpoint's size ${cp.size}`);
    if (cp.size === 0 && !equalBytes(cp.root, emptyRoot())) {
      throw this.refuse(origin, req.checkpoint, 'a checkpoint of size 0 must carry the root of the empty tree');
    }
    return { checkpoint: cp, note: req.checkpoint, origin, vkey };
  }

  /** Keeps a signed checkpoint refused for a reason found outside this class, and returns the 422 to throw. */
  refuseFor(origin: string, note: string, reason: string): MedtrailError {
    return this.refuse(origin, note, reason);
  }

  /** Handles one add-checkpoint request body. */
  addCheckpoint(text: string): AddCheckpointResult {
    const req = parseAddCheckpoint(text);
    const { body, signatures } = parseNote(req.checkpoint);
    const { checkpoint: cp, origin, vkey } = this.inspect(text);
    // The note this witness serves for the log: the text, the verified log key's lines, then its own line.
    const logKey = parseVerifierKey(vkey);
    const logLines = signatures.filter((s) => s.name === logKey.name && equalBytes(s.keyHash, logKey.keyHash)).map(signatureLine).join('');

    type Outcome = AddCheckpointResult | { status: 422; reason: string };
    const outcome = this.store.update(origin, (cur): { next?: WitnessState; result: Outcome } => {
      const held = cur?.size ?? 0;
      if (req.oldSize !== held) return { result: { status: 409, size: held } };
      const refuse = (reason: string) => ({ result: { status: 422 as const, reason } });
      if (req.oldSize === 0) {
        if (req.proof.length !== 0) return refuse('a consistency proof from size 0 must be empty');
      } else if (req.oldSize === cp.size) {
        if (req.proof.length !== 0) return refuse('a consistency proof between equal sizes must be empty');
        if (!equalBytes(cur!.root, cp.root)) return refuse(`another root at the size held (${held})`);
        if (cur!.body !== body) return refuse(`another checkpoint text at the size held (${held})`);
      } else {
        try {
          verifyConsistency(req.oldSize, cp.size, req.proof, cur!.root, cp.root);
        } catch (e) {
          if (!isMedtrailError(e)) throw e;
          return refuse(`the consistency proof from size ${req.oldSize} does not verify (${e.code})`);
        }
      }
      // Never older than the previous cosignature, should the clock step back.
      const timestamp = Math.max(this.now(), cur?.timestamp ?? 0, 1);
      const line = cosignatureLine(body, this.name, this.seed, timestamp);
      const note = addSignatureLines(`${body}\n${logLines}`, line);
      return { next: { origin, size: cp.size, root: cp.root, body, note, timestamp }, result: { status: 200, lines: line, checkpoint: cp } };
    });
    if (outcome.status === 422) throw this.refuse(origin, req.checkpoint, outcome.reason);
    return outcome;
  }

  /** The newest checkpoint cosigned for `origin`, with the log's and this witness's lines (monitoring). */
  latest(origin: string): WitnessState | undefined {
    return this.store.get(origin);
  }

  /** Opens the note with the first known key of the origin that signed it; a known key's bad line is 403. */
  private open(note: string, origin: string, vkeys: readonly string[]): { checkpoint: Checkpoint; vkey: string } {
    for (const vkey of vkeys) {
      try {
        return { checkpoint: openCheckpoint(note, vkey), vkey };
      } catch (e) {
        if (isMedtrailError(e, 'CHECKPOINT_UNKNOWN_KEY')) continue;
        if (isMedtrailError(e, 'CHECKPOINT_BAD_SIGNATURE')) throw new MedtrailError('WITNESS_UNTRUSTED', `a signature by the key of ${origin} does not verify`);
        throw e;
      }
    }
    throw new MedtrailError('WITNESS_UNTRUSTED', `the checkpoint carries no signature by a known key of ${origin}`);
  }

  /** 422, keeping the signed note as evidence: it is signed by the log, so it proves the log's misbehaviour. */
  private refuse(origin: string, note: string, reason: string): MedtrailError {
    this.store.recordEvidence(origin, note, reason);
    return new MedtrailError('WITNESS_INCONSISTENT', reason);
  }
}
