// What the patient's prescription page checks itself (issue 16; docs/architecture.md, Prescriptions), as the pack
// page does (web/common/evidence.ts), so that the patient need not trust the server:
//
//   1. checkpoint      the checkpoint note is signed by the log key pinned into the page;
//   2. rx_in_log       the prescribe leaf is in that tree (its inclusion proof);
//   3. rx_token        the leaf is a prescribe entry of THIS id whose token is the public key of the access code
//                      the patient holds: the server cannot show another prescription as this one;
//   4. prescriber_key  the prescriber's participant entry (admit or rotate, role prescriber) is in the tree too;
//   5. rx_signature    the prescribe entry verifies under that key for the pinned log's origin.
// And the server's answer (medicine, quantities, validity, prescriber) must say what the proven leaf says.
// Pure: the page fetches, this judges; a test in Node runs the same code.
import { fromBase64, fromHex, toBase64 } from '../../core/bytes.js';
import { decodeEntry, entryLeafHash, verifyEntry, type Entry } from '../../core/entry/entry.js';
import { canonicalJson } from '../../core/entry/jcs.js';
import { isMedtrailError } from '../../core/errors.js';
import { verifyInclusion } from '../../core/log/merkle.js';
import { splitVerifierKey } from '../../core/log/checkpoint.js';
import { tokenKeyOf } from '../../core/rx/rx.js';
import type { RxInclusion, RxViewAnswer } from '../../core/api/rx.js';
import { openCheckpointCached } from './evidence.js';

export type RxCheckId = 'checkpoint' | 'rx_in_log' | 'rx_token' | 'prescriber_key' | 'rx_signature';

export interface RxCheck {
  id: RxCheckId;
  ok: boolean;
  code?: string;
}

export interface RxEvidenceResult {
  checks: RxCheck[];
  /** Every check passed: the page may show the prescription as proven. */
  proven: boolean;
}

class Failed extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

function included(inc: RxInclusion, leaf: Uint8Array, size: number, root: Uint8Array): void {
  if (inc.size !== size) throw new Failed('PROOF_BAD_SIZE');
  verifyInclusion(leaf, inc.index, inc.size, inc.proof.map((h) => fromHex(h, 32)), root);
}

export function checkRxEvidence(vkey: string, id: string, code: string, a: RxViewAnswer): RxEvidenceResult {
  const checks: RxCheck[] = [];
  const run = (cid: RxCheckId, f: () => void): boolean => {
    try {
      f();
      checks.push({ id: cid, ok: true });
      return true;
    } catch (e) {
      checks.push({ id: cid, ok: false, code: e instanceof Failed ? e.code : isMedtrailError(e) ? e.code : 'ERROR' });
      return false;
    }
  };
  let size = 0;
  let root: Uint8Array = new Uint8Array(32);
  let entry: Entry | undefined;
  let presKey: Uint8Array | undefined;
  const ev = a.evidence;
  run('checkpoint', () => {
    const cp = openCheckpointCached(ev.checkpoint, vkey);
    size = cp.size;
    root = cp.root;
  });
  run('rx_in_log', () => {
    const e = decodeEntry(fromBase64(ev.leaf));
    included(ev.inclusion, entryLeafHash(e), size, root);
    entry = e;
  });
  run('rx_token', () => {
    const b = entry?.body;
    if (entry === undefined || b === undefined || entry.kind !== 'prescribe' || b['id'] !== id) throw new Failed('RX_ENTRY_MISMATCH');
    if (b['token'] !== toBase64(tokenKeyOf(code))) throw new Failed('RX_ACCESS_DENIED');
    // What the server says must be what the proven entry says.
    const p = a.prescription;
    const same =
      p.id === id &&
      canonicalJson(p.medicine) === canonicalJson(b['medicine']) &&
      p.quantity === b['quantity'] &&
      p.repeats === b['repeats'] &&
      p.dosage === b['dosage'] &&
      p.validFrom === b['validFrom'] &&
      p.validUntil === b['validUntil'] &&
      p.prescriber.gln === entry.signer;
    if (!same) throw new Failed('RX_ANSWER_MISMATCH');
  });
  run('prescriber_key', () => {
    if (ev.prescriberLeaf === null || ev.prescriberInclusion === null || entry === undefined) throw new Failed('MISSING');
    const pe = decodeEntry(fromBase64(ev.prescriberLeaf));
    included(ev.prescriberInclusion, entryLeafHash(pe), size, root);
    const b = pe.body;
    if (pe.kind !== 'participant' || b['gln'] !== entry.signer || (b['action'] !== 'admit' && b['action'] !== 'rotate')) throw new Failed('PRESCRIBER_ENTRY_MISMATCH');
    if (b['action'] === 'admit' && b['role'] !== 'prescriber') throw new Failed('NOT_A_PRESCRIBER');
    presKey = fromBase64(String(b['publicKey']), 32);
  });
  run('rx_signature', () => {
    if (entry === undefined || presKey === undefined) throw new Failed('MISSING');
    if (!verifyEntry(entry, presKey, splitVerifierKey(vkey).name)) throw new Failed('ENTRY_BAD_SIGNATURE');
  });
  return { checks, proven: checks.every((c) => c.ok) };
}
