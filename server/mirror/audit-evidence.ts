// `medtrail audit --evidence` (docs/architecture.md, Mirrors: Divergence is evidence): confirms a mirror's
// evidence file independently, from what the log itself signed, without taking the mirror's word for anything.
//
//   - every note in it must open under the log key it names (else EVIDENCE_BAD: anyone can write a JSON file,
//     only the log can sign its checkpoints);
//   - a fork is confirmed by the two notes alone: two checkpoints of the same size, both signed by the log, with
//     different roots;
//   - anything else is REPLAYED: a copy of the mirror's database (its verified log up to where it was refused;
//     the log's own leaves, checked against the held checkpoint's root) is made to follow the evidence's own data
//     (the shown checkpoint, the page of leaves at issue, the operator's proofs) with the follower's code
//     (server/mirror/follower.ts), i.e. every signature checked, every custody rule replayed, the maps recomputed.
//     The replay must be refused with the code the evidence names, at the entry it names. A replay that holds, or
//     is refused for something else, is EVIDENCE_NOT_CONFIRMED. The mirror's database itself is only read.
//   - only what the log SIGNED counts, never what the file or the operator's unsigned answers say: the page's
//     leaves must first be shown to be in the signed shown checkpoint (the database's leaves and the page's give
//     a root at the page's end that is the checkpoint's, or that a consistency proof connects to it: a proof
//     cannot be forged for other leaves), else a fabricated leaf could frame an honest operator; and a
//     consistency proof that fails between two sizes proves nothing by itself (anyone can write a bad proof into
//     a file), so the operator is asked for one afresh (`proofFrom`, the CLI's --server): one that holds clears
//     it, one it cannot give confirms it.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { equalBytes, fromBase64, fromHex } from '../../core/bytes.js';
import { leafHash, rootFromLeafHashes, verifyConsistency } from '../../core/log/merkle.js';
import type { MirrorEvidence } from '../../core/api/evidence.js';
import { isMedtrailError, MedtrailError, messageOf, type ErrorCode } from '../../core/errors.js';
import { openCheckpoint, type Checkpoint } from '../../core/log/checkpoint.js';
import { custodyServices } from '../custody/services.js';
import { Follower, type MirrorSource } from './follower.js';
import { openMirrorLedger } from './ledger.js';
import { auditLedger } from '../log/audit.js';
import { CUSTODY_TABLES } from '../custody/schema.js';
import { MAP_TABLES } from '../map/map-service.js';

export interface EvidenceVerdict {
  verdict: 'CONFIRMED';
  /** The code the evidence names, confirmed. */
  code: ErrorCode;
  /**
   * fork: two signed notes of one size; replayed: the refusal replayed from the mirror's copy and the evidence;
   * operator-proof: two signed checkpoints the operator, asked now, cannot prove consistent.
   */
  how: 'fork' | 'replayed' | 'operator-proof';
  reason: string;
  shown: { size: number };
  held: { size: number } | null;
  entry?: number;
}

const notConfirmed = (why: string): MedtrailError => new MedtrailError('EVIDENCE_NOT_CONFIRMED', why);

function open(note: string, vkey: string, what: string): Checkpoint {
  try {
    return openCheckpoint(note, vkey);
  } catch (e) {
    throw new MedtrailError('EVIDENCE_BAD', `the ${what} checkpoint in the evidence is not signed by the log key it names (${isMedtrailError(e) ? e.code : 'INTERNAL'}: ${messageOf(e)})`, { cause: e });
  }
}

/** The evidence's data as the operator served it: the follower reads nothing else. */
function evidenceSource(ev: MirrorEvidence, shown: string): MirrorSource {
  const proofs = [...(ev.proofs ?? []), ...(ev.proof !== undefined ? [ev.proof] : [])];
  return {
    checkpoint: () => Promise.resolve(shown),
    consistency: (from, to) => {
      const p = proofs.find((x) => x.from === from && x.to === to);
      if (p === undefined) return Promise.reject(notConfirmed(`replayed, the follower needs a consistency proof from ${from} to ${to}, which the evidence does not hold`));
      return Promise.resolve(p.hashes.map((h) => fromHex(h)));
    },
    leafPages: async (start, end, page) => {
      const p = ev.page;
      if (p === undefined || p.start !== start || p.leaves.length === 0) throw notConfirmed(`replayed, the follower needs the leaves from ${start}, which the evidence does not hold`);
      const leaves = p.leaves.slice(0, end - start).map((l, i) => ({ index: start + i, bytes: fromBase64(l) }));
      await page(leaves);
      if (start + leaves.length < end) throw notConfirmed(`replayed, the ${leaves.length} leaves of the evidence from ${start} hold (checked and replayed), and it has no more up to ${end}`);
    },
  };
}

/**
 * Confirms `ev` (see the top of this file). `db`: the mirror's database (read only; copied to `workDir`).
 * Resolves with the verdict; EVIDENCE_BAD or EVIDENCE_NOT_CONFIRMED otherwise.
 */
export async function confirmEvidence(
  ev: MirrorEvidence,
  o: { db?: string; workDir: string; proofFrom?: (from: number, to: number) => Promise<Uint8Array[]> },
): Promise<EvidenceVerdict> {
  if (ev.shown === null) throw new MedtrailError('EVIDENCE_BAD', 'the evidence holds no checkpoint shown by the log');
  const shown = open(ev.shown, ev.log, 'shown');
  const held = ev.held === null ? undefined : open(ev.held, ev.log, 'held');
  const base = { code: ev.code, shown: { size: shown.size }, held: held === undefined ? null : { size: held.size } };
  if (held !== undefined && held.size === shown.size) {
    if (equalBytes(held.root, shown.root)) {
      if (ev.code === 'PROOF_MISMATCH') throw notConfirmed(`the two checkpoints of size ${shown.size} have the same root: no fork`);
    } else {
      if (ev.code !== 'PROOF_MISMATCH') throw notConfirmed(`the two checkpoints are a fork (PROOF_MISMATCH), not ${ev.code}`);
      return { verdict: 'CONFIRMED', how: 'fork', reason: `two checkpoints of size ${shown.size}, both signed by the log, with different roots`, ...base };
    }
  }
  if (o.db === undefined || !existsSync(o.db)) throw notConfirmed(`to replay this evidence, give the mirror's database (--db): ${o.db ?? 'none given'}`);
  // A copy to replay in: the mirror's own file is never written.
  const copy = join(o.workDir, 'replay.db');
  const src = new Database(o.db, { readonly: true, fileMustExist: true });
  let meta: { vkey?: string; gln?: string; pk?: string };
  try {
    await src.backup(copy);
    const get = src.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck();
    meta = { vkey: get.get('log_vkey'), gln: get.get('authority_gln'), pk: get.get('authority_public_key') };
  } finally {
    src.close();
  }
  if (meta.vkey !== ev.log) throw new MedtrailError('EVIDENCE_BAD', `the database ${o.db} holds the log ${String(meta.vkey)}, the evidence names ${ev.log}`);
  if (meta.gln === undefined || meta.pk === undefined) throw new MedtrailError('MIRROR_MISMATCH', `${o.db} names no authority: not a medtrail mirror database`);
  // The copy's custody state and maps are dropped, to be replayed from its leaves (custodyServices catches the
  // custody rules up; the maps are rebuilt when the replay compares them): the mirror's tables are not taken on
  // trust, nor its interior hashes (auditLedger below recomputes every hash from the leaves).
  const w = new Database(copy);
  try {
    w.prepare("DELETE FROM meta WHERE key = 'mirror_diverged'").run();
    for (const t of [...CUSTODY_TABLES, ...MAP_TABLES, 'custody_meta']) w.exec(`DROP TABLE IF EXISTS ${t}`);
  } finally {
    w.close();
  }
  const ledger = openMirrorLedger(copy, { vkey: ev.log, authority: { gln: meta.gln, publicKey: fromBase64(meta.pk, 32) }, from: ev.operator });
  try {
    const audited = auditLedger(ledger.store, { maxFindings: 5 });
    if (!audited.ok) throw notConfirmed(`the database ${o.db} fails its own audit (${audited.findings.map((f) => f.code).join(', ')}): it is no copy to replay from`);
    // The copy must hold what the evidence says the mirror held: the log's leaves up to that signed checkpoint.
    if (held !== undefined) {
      const kept = ledger.store.checkpointAt(held.size);
      if (kept === undefined || !equalBytes(kept.root, held.root) || held.size > ledger.store.head().size || !equalBytes(rootFromLeafHashes(ledger.store.leaves(0, held.size).map((l) => leafHash(l.bytes))), held.root)) {
        throw notConfirmed(`the database ${o.db} does not hold the checkpoint of size ${held.size} the evidence says the mirror held`);
      }
    }
    // The page must be the log's: in the signed shown checkpoint, with the database's leaves before it.
    const head = ledger.store.head().size;
    if (ev.page !== undefined) {
      const p = ev.page;
      const end = p.start + p.leaves.length;
      if (p.start !== head || p.leaves.length === 0 || end > shown.size) throw notConfirmed(`the page at issue (from ${p.start}, ${p.leaves.length} leaves) does not follow the database's ${head} leaves within the checkpoint of size ${shown.size}`);
      const root = rootFromLeafHashes([...ledger.store.leaves(0, head).map((l) => leafHash(l.bytes)), ...p.leaves.map((l) => leafHash(fromBase64(l)))]);
      const proof = [...(ev.proofs ?? []), ...(ev.proof !== undefined ? [ev.proof] : [])].find((x) => x.from === end && x.to === shown.size);
      let included = end === shown.size && equalBytes(root, shown.root);
      if (end < shown.size && proof !== undefined) {
        try {
          verifyConsistency(end, shown.size, proof.hashes.map((h) => fromHex(h)), root, shown.root);
          included = true;
        } catch (e) {
          if (!isMedtrailError(e)) throw e;
        }
      }
      if (!included) {
        throw notConfirmed(`the page's leaves are not shown to be in the signed checkpoint of size ${shown.size}: what an operator serves is not signed, only its checkpoints are, so this is not evidence anyone can check`);
      }
    }
    const follower = new Follower(ledger, custodyServices(ledger), evidenceSource(ev, ev.shown), { from: ev.operator, evidenceFile: join(o.workDir, 'replay.evidence.json') });
    try {
      await follower.round();
    } catch (e) {
      if (!isMedtrailError(e, 'MIRROR_DIVERGED')) {
        if (isMedtrailError(e, 'EVIDENCE_NOT_CONFIRMED')) throw e;
        throw notConfirmed(`replayed, the evidence is refused for another reason than a divergence (${isMedtrailError(e) ? e.code : 'INTERNAL'}: ${messageOf(e)})`);
      }
      const re = follower.diverged!;
      if (re.code !== ev.code) throw notConfirmed(`replayed, the log data in the evidence gives ${re.code} (${re.reason}), not the ${ev.code} it names`);
      // Another root at a size the database holds: its leaves count only up to the checkpoint the log signed for it.
      if (re.code === 'PROOF_MISMATCH' && re.proof === undefined && ev.page === undefined && (held === undefined || shown.size > held.size)) {
        throw notConfirmed(`the database's leaves past the held checkpoint (size ${held?.size ?? 0}) are bound to no signed checkpoint: they cannot show the one of size ${shown.size} wrong`);
      }
      // A consistency proof from the file failed: only the operator, asked now, can show it has none.
      if (re.code === 'PROOF_MISMATCH' && re.proof !== undefined) {
        const { from, to } = re.proof;
        if (o.proofFrom === undefined) throw notConfirmed(`a failing consistency proof from ${from} to ${to} in a file proves nothing by itself: ask the operator (--server)`);
        let fresh: Uint8Array[];
        try {
          fresh = await o.proofFrom(from, to);
        } catch (e) {
          if (isMedtrailError(e) && ['SERVER_UNREACHABLE', 'OVERLOADED', 'RATE_LIMITED', 'INTERNAL', 'BAD_JSON', 'BAD_ANSWER'].includes(e.code)) {
            throw notConfirmed(`the operator could not be asked for a consistency proof from ${from} to ${to} (${e.code}: ${e.message}); try again`);
          }
          return { verdict: 'CONFIRMED', how: 'operator-proof', reason: `asked for a consistency proof from ${from} to ${to} between its signed checkpoints, the operator refuses (${isMedtrailError(e) ? e.code : 'INTERNAL'}: ${messageOf(e)})`, ...base };
        }
        try {
          verifyConsistency(from, to, fresh, ledger.log.rootAt(from), shown.root);
        } catch (e) {
          if (!isMedtrailError(e)) throw e;
          return { verdict: 'CONFIRMED', how: 'operator-proof', reason: `the operator's own consistency proof from ${from} to ${to}, asked now, does not hold (${e.code}): its checkpoints contradict each other`, ...base };
        }
        throw notConfirmed(`the operator, asked now, proves the checkpoints of sizes ${from} and ${to} consistent: the failing proof in the file is not its`);
      }
      if (ev.entry !== undefined && (re.entry?.index !== ev.entry.index || re.entry.leaf !== ev.entry.leaf)) {
        throw notConfirmed(`replayed, the entry refused is ${re.entry === undefined ? 'none' : `the one at ${re.entry.index}`}, not the entry the evidence names (at ${ev.entry.index})`);
      }
      return { verdict: 'CONFIRMED', how: 'replayed', reason: re.reason, ...base, ...(re.entry !== undefined ? { entry: re.entry.index } : {}) };
    }
    throw notConfirmed(`replayed, the log data in the evidence holds: the checkpoint of size ${shown.size} verifies (every signature, custody rule, tree root and map root)`);
  } finally {
    ledger.close();
  }
}
