// What a client concludes from a verify answer's `map` (core/api/answers.ts MapAnswer), trusting no one but the
// log key it pinned: the checkpoint is the log's, its `medtrail-map` line names the roots, the proofs hold
// under them for this pack's key (and its lot's key), and the records given hash to the values the proofs
// show. The result is the pack's state as the log committed to it, or that the log holds no such pack.
//
// Used by the patient page (web/common/evidence.ts), `medtrail verify` and the reader alike. Pure.
import { fromBase64, fromHex } from '../bytes.js';
import type { MapAnswer } from '../api/answers.js';
import { openCheckpoint, type Checkpoint } from '../log/checkpoint.js';
import { MedtrailError } from '../errors.js';
import { requireMapRoots } from './extension.js';
import { lotMapKey, lotValueHash, packMapKey, packValueHash } from './pack-map.js';
import { verifyMapProof } from './smt.js';
import { equalBytes } from '../bytes.js';

export type ProvenState =
  | { present: false; checkpoint: Checkpoint }
  | { present: true; checkpoint: Checkpoint; state: string; lot: string; expiry: string; maker: string; lastEntry: string; recalled: boolean };

function bad(message: string): MedtrailError {
  return new MedtrailError('MAP_PROOF_INVALID', message);
}

/**
 * Checks `map` for the pack (gtin, serial) under the log key `vkey`. Every failure is MAP_PROOF_INVALID (or the
 * checkpoint's and the proof's own codes): a client shows "cannot confirm", or "not genuine" when evidence was
 * given and does not hold. `open` may be a cached openCheckpoint.
 */
export function checkPackState(vkey: string, gtin: string, serial: string, map: MapAnswer, open: (note: string, vkey: string) => Checkpoint = openCheckpoint): ProvenState {
  const cp = open(map.checkpoint, vkey);
  const roots = requireMapRoots(cp);
  const found = verifyMapProof(roots.packs, packMapKey(gtin, serial), fromBase64(map.pack));
  if (!found.present) {
    if (map.value !== null) throw bad('the proof shows no such pack, yet a record was given');
    return { present: false, checkpoint: cp };
  }
  const v = map.value;
  if (v === null) throw bad('the proof shows a record, yet none was given');
  const lastEntry = fromHex(v.lastEntry, 32);
  if (!equalBytes(found.value, packValueHash({ state: v.state, lot: v.lot, expiry: v.expiry, maker: v.maker, lastEntry }))) {
    throw bad('the record given is not the one the map holds for this pack');
  }
  if (map.lot === null) throw bad('no proof for the pack’s lot');
  const lot = verifyMapProof(roots.lots, lotMapKey(gtin, v.lot), fromBase64(map.lot));
  let recalled = false;
  if (lot.present) {
    const lv = map.lotValue;
    if (lv === null || !equalBytes(lot.value, lotValueHash({ state: lv.state, lastEntry: fromHex(lv.lastEntry, 32) }))) {
      throw bad('the lot record given is not the one the map holds');
    }
    recalled = lv.state === 'recalled';
  } else if (map.lotValue !== null) throw bad('the proof shows no lot-wide fact, yet one was given');
  return { present: true, checkpoint: cp, state: v.state, lot: v.lot, expiry: v.expiry, maker: v.maker, lastEntry: v.lastEntry, recalled };
}
