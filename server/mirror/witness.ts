// The mirror as a witness (docs/architecture.md, Mirrors; issue 14 "it cosigns only what it has checked"): it
// answers c2sp.org/tlog-witness POST /add-checkpoint exactly as `medtrail witness` does (server/witness/: the
// same request parsing, statuses, cosignature lines and durable newest-cosigned state, so it never cosigns two
// inconsistent checkpoints), but before the witness's own checks it must have verified the checkpoint the way
// it verifies what it follows (server/mirror/follower.ts): the tree root its own copy's, the map roots its own
// replayed maps', every entry up to it checked. A plain witness checks consistency only, so a log that signs a
// wrong `medtrail-map` line over a consistent tree gets its cosignature; the mirror refuses it (422) and writes
// the evidence.
//
//   a checkpoint it has verified                    -> the witness's rules (200, 409, 422)
//   one past what it holds                          -> it follows the operator up to that checkpoint first
//   one it cannot verify (map roots, fork, entries) -> 422 WITNESS_INCONSISTENT, the evidence file written
//   after a divergence, anything                    -> 422: it no longer vouches for this operator
//   an older one it passed over, or no catch-up yet -> 503 MIRROR_BEHIND: the log submits its newest again
import { Router } from 'express';
import { isMedtrailError, MedtrailError, messageOf } from '../../core/errors.js';
import { parseVerifierKey } from '../../core/log/checkpoint.js';
import { readWitnessKey, witnessHandler, type WitnessGate } from '../witness/server.js';
import { WitnessStore } from '../witness/store.js';
import { Witness } from '../witness/witness.js';
import type { Follower } from './follower.js';

/** Where the mirror's witness answers, under the mirror's own address (the policy's witness URL is `<mirror>/witness`). */
export const MIRROR_WITNESS_PREFIX = '/witness';

export interface MirrorWitness {
  witness: Witness;
  /** The express router that mounts the witness at MIRROR_WITNESS_PREFIX. */
  router: Router;
  close(): void;
}

/** The gate: the checkpoint must be one the mirror verified, after following the operator up to it if needed. */
/** How long a submission waits for the mirror to follow the log up to its checkpoint (under the log's 5 s timeout). */
export const CATCH_UP_IN_REQUEST_MS = 3000;

export function mirrorGate(follower: Follower, witness: Witness, catchUpMs = CATCH_UP_IN_REQUEST_MS): WitnessGate {
  return async ({ checkpoint, note, origin }) => {
    const refuse = (why: string): MedtrailError => witness.refuseFor(origin, note, why);
    if (follower.diverged !== undefined) throw refuse(`this mirror caught the log contradicting itself (${follower.diverged.code}) and vouches for none of its checkpoints`);
    if (!follower.hasVerified(checkpoint)) {
      // Followed within the request for a bounded time (catchUpMs): a longer catch-up goes on after the answer,
      // MIRROR_BEHIND says to submit again, and the log does so soon (server/log/publisher.ts).
      const round = follower.round(note);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), catchUpMs);
      });
      try {
        const r = await Promise.race([round, late]);
        if (r === 'late') {
          round.catch(() => undefined);
          throw new MedtrailError('MIRROR_BEHIND', `the mirror is following the log up to this checkpoint (it holds ${follower.verified()?.size ?? 0} of ${checkpoint.size}); submit again shortly`);
        }
      } catch (e) {
        if (isMedtrailError(e, 'MIRROR_BEHIND')) throw e;
        if (isMedtrailError(e, 'MIRROR_DIVERGED')) throw refuse(`the mirror's own replay does not give this checkpoint: ${messageOf(e)}`);
        throw new MedtrailError('MIRROR_BEHIND', `the mirror could not follow the log up to this checkpoint yet (${isMedtrailError(e) ? e.code : 'INTERNAL'}: ${messageOf(e)})`, { cause: e });
      } finally {
        clearTimeout(timer);
      }
    }
    // Nothing awaits between this check and the cosignature (server/witness/server.ts witnessHandler).
    if (!follower.hasVerified(checkpoint)) {
      throw new MedtrailError('MIRROR_BEHIND', `the mirror has not verified the checkpoint of size ${checkpoint.size} (it holds ${follower.verified()?.size ?? 0}; a checkpoint it passed over is not one it checked): submit the newest`);
    }
  };
}

/** Opens the mirror's witness: its key, its own state file, cosigning for the mirrored log only. */
export function openMirrorWitness(o: { follower: Follower; logVkey: string; keyFile: string; name?: string; db: string; catchUpMs?: number }): MirrorWitness {
  const { seed, name } = readWitnessKey(o.keyFile, o.name, '--witness-name', 'mirror.example/m1');
  const store = new WitnessStore(o.db);
  try {
    const witness = new Witness({ store, name, seed, logs: [{ vkey: o.logVkey, origin: parseVerifierKey(o.logVkey).name }] });
    const handle = witnessHandler(witness, mirrorGate(o.follower, witness, o.catchUpMs));
    const router = Router();
    router.use(MIRROR_WITNESS_PREFIX, (req, res) => handle(req, res));
    return { witness, router, close: () => store.close() };
  } catch (e) {
    store.close();
    throw e;
  }
}
