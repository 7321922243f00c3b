// A pack proof to keep (issue 13, docs/architecture.md "Trust without a centre"): what a verify answer proves
// about a pack, written as a c2sp.org/tlog-proof@v1 file that anyone can check later, offline, with nothing
// but the log's key or a witness policy: the pack's state as the ledger committed to it, under a checkpoint
// the log signed (and its witnesses cosigned), with the pack's newest entry proven in that checkpoint's tree.
//
//   c2sp.org/tlog-proof@v1
//   extra <base64 of the pack record, below>
//   index <the pack's newest entry: its leaf index>
//   <the RFC 9162 inclusion proof of that leaf, one base64 hash a line, the leaf's sibling first>
//   <blank line>
//   <the checkpoint, verbatim, with its cosignatures>
//
// The format's "application-specific" leaf hash is the pack record's `lastEntry`. The record travels in the
// `extra` line as JSON (RFC 8785 canonical): {"gtin", "serial"} and the members of a verify answer's `map`
// but its checkpoint (core/api/answers.ts MapAnswer: "pack" and "lot", the compact map proofs; "value", the
// pack's record; "lotValue", the lot's, or null).
// Extra data is not authenticated by the format, and nothing here trusts it: the map proofs must take the
// pack's key (a hash of its GTIN and serial) to the checkpoint's medtrail-map roots with exactly that record,
// and the inclusion proof must take `lastEntry` at `index` to the checkpoint's root. A proof of absence has no
// leaf to name, so only a pack the ledger holds gets a file.
//
// Pure, no node:* import: the patient page writes these files and the CLI checks them.
import { parseMapAnswer, type InclusionAnswer, type MapAnswer } from '../api/answers.js';
import { isJsonObject, parseJsonText } from '../api/wire.js';
import { fromBase64, fromHex, fromUtf8, toBase64, utf8 } from '../bytes.js';
import { canonicalJson } from '../entry/jcs.js';
import { MedtrailError } from '../errors.js';
import { openCheckpoint, type Checkpoint } from '../log/checkpoint.js';
import { verifyInclusion } from '../log/merkle.js';
import { requireQuorum, type QuorumCheck, type QuorumOptions, type TlogPolicy } from '../log/policy.js';
import { checkPackState, type ProvenState } from './state-proof.js';

export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';
/** A proof file is a few kilobytes; a checkpoint note is at most 1 MiB (signed-note). */
const MAX_PROOF_TEXT = 1 << 20;

/** The parts of any c2sp.org/tlog-proof@v1 text. */
export interface TlogProof {
  extra: Uint8Array | undefined;
  index: number;
  hashes: Uint8Array[];
  /** The checkpoint note, verbatim. */
  checkpoint: string;
}

function malformed(message: string): MedtrailError {
  return new MedtrailError('TLOG_PROOF_MALFORMED', `tlog-proof: ${message}`);
}

/** Standard base64 (RFC 4648 section 4), canonical: what toBase64 would write for the bytes. */
function strictBase64(text: string, what: string, bytes?: number): Uint8Array {
  let out: Uint8Array;
  try {
    out = fromBase64(text, bytes);
  } catch {
    throw malformed(`${what} is not base64${bytes !== undefined ? ` of ${bytes} bytes` : ''}`);
  }
  if (toBase64(out) !== text) throw malformed(`${what} is not canonical base64`);
  return out;
}

/** Writes the text of a c2sp.org/tlog-proof@v1 (the checkpoint note ends in a newline, as every note does). */
export function formatTlogProof(p: TlogProof): string {
  if (!Number.isSafeInteger(p.index) || p.index < 0) throw malformed('index must be a non-negative safe integer');
  if (!p.checkpoint.endsWith('\n')) throw malformed('the checkpoint note must end in a newline');
  const lines = [TLOG_PROOF_HEADER];
  if (p.extra !== undefined) lines.push(`extra ${toBase64(p.extra)}`);
  lines.push(`index ${p.index}`, ...p.hashes.map((h) => toBase64(h)));
  return `${lines.join('\n')}\n\n${p.checkpoint}`;
}

/** Strict parse of a c2sp.org/tlog-proof@v1 text (TLOG_PROOF_MALFORMED): the checkpoint is not opened here. */
export function parseTlogProof(text: string): TlogProof {
  if (typeof text !== 'string') throw new MedtrailError('BAD_TYPE', 'a tlog-proof must be text');
  if (text.length > MAX_PROOF_TEXT) throw malformed('longer than any proof');
  const blank = text.indexOf('\n\n');
  if (blank === -1) throw malformed('no blank line before the checkpoint');
  const head = text.slice(0, blank).split('\n');
  const checkpoint = text.slice(blank + 2);
  if (head[0] !== TLOG_PROOF_HEADER) throw malformed(`the first line must be ${TLOG_PROOF_HEADER}`);
  let at = 1;
  let extra: Uint8Array | undefined;
  if (head[at]?.startsWith('extra ') === true) {
    extra = strictBase64(head[at]!.slice(6), 'the extra line');
    at++;
  }
  const indexLine = head[at] ?? '';
  if (!/^index (0|[1-9][0-9]{0,15})$/.test(indexLine)) throw malformed('the line after the header (and extra) must be "index <decimal, no leading zeros>"');
  const index = Number(indexLine.slice(6));
  if (!Number.isSafeInteger(index)) throw malformed('index out of range');
  const hashes = head.slice(at + 1).map((l, i) => strictBase64(l, `inclusion hash ${i + 1}`, 32));
  if (checkpoint === '' || !checkpoint.endsWith('\n')) throw malformed('the checkpoint must follow the blank line, ending in a newline');
  return { extra, index, hashes, checkpoint };
}

/** What a verify answer gives for a pack the ledger holds: the records, the proofs, one checkpoint. */
export interface PackEvidence {
  gtin: string;
  serial: string;
  map: MapAnswer;
  proof: InclusionAnswer;
}

/** The proof file of a pack from a verify answer's evidence (PROOF_NOTHING_TO_KEEP for an unknown pack). */
export function formatPackProof(e: PackEvidence): string {
  const v = e.map.value;
  if (v === null) throw new MedtrailError('PROOF_NOTHING_TO_KEEP', 'the ledger holds no such pack: a proof of absence names no entry to keep');
  if (e.proof.checkpoint !== e.map.checkpoint) throw new MedtrailError('MAP_PROOF_INVALID', 'the inclusion proof and the state proofs stand on different checkpoints');
  if (e.proof.leafHash !== v.lastEntry) throw new MedtrailError('MAP_PROOF_INVALID', 'the leaf proven is not the pack’s newest entry');
  const record = { gtin: e.gtin, serial: e.serial, pack: e.map.pack, value: v, lot: e.map.lot, lotValue: e.map.lotValue };
  return formatTlogProof({ extra: utf8(canonicalJson(record)), index: e.proof.index, hashes: e.proof.proof.map((h) => fromHex(h, 32)), checkpoint: e.proof.checkpoint });
}

/** How the checkpoint is trusted: a witness policy (log key and quorum), or the log's verifier key alone. */
export type ProofTrust = { policy: TlogPolicy; opts?: QuorumOptions } | { vkey: string };

export interface CheckedPackProof {
  gtin: string;
  serial: string;
  index: number;
  proven: ProvenState & { present: true };
  /** With a policy: the witnesses that cosigned. */
  quorum: QuorumCheck | undefined;
}

/**
 * Checks a pack proof file, trusting only `trust`: the checkpoint's signature (and quorum), the pack's record
 * against the map roots it signs, and the record's newest entry in its tree at `index`. `expect` (a code the
 * user holds) must name the same pack. Returns what is proven; every failure is a coded error.
 */
export function checkPackProof(text: string, trust: ProofTrust, expect?: { gtin: string; serial: string }): CheckedPackProof {
  const p = parseTlogProof(text);
  if (p.extra === undefined) throw new MedtrailError('MAP_PROOF_INVALID', 'the proof carries no pack record (its extra line)');
  const rec = parseJsonText(fromUtf8(p.extra), 'the pack record of the proof', 'MAP_PROOF_INVALID');
  if (!isJsonObject(rec)) throw new MedtrailError('MAP_PROOF_INVALID', 'the pack record must be an object');
  const { gtin, serial, ...rest } = rec;
  if (typeof gtin !== 'string' || typeof serial !== 'string') throw new MedtrailError('MAP_PROOF_INVALID', 'the pack record must name its gtin and serial');
  if (expect !== undefined && (expect.gtin !== gtin || expect.serial !== serial)) {
    throw new MedtrailError('PROOF_OTHER_PACK', `the proof is of pack ${gtin} / ${serial}, not of ${expect.gtin} / ${expect.serial}`);
  }
  // The record's map part read as a verify answer's is, on the checkpoint of the file.
  const map = parseMapAnswer({ ...rest, checkpoint: p.checkpoint }, 'the pack record of the proof');
  let quorum: QuorumCheck | undefined;
  let vkey: string;
  let cp: Checkpoint;
  if ('policy' in trust) {
    quorum = requireQuorum(trust.policy, p.checkpoint, trust.opts);
    vkey = quorum.log;
    cp = quorum.checkpoint;
  } else {
    vkey = trust.vkey;
    cp = openCheckpoint(p.checkpoint, vkey);
  }
  // The checkpoint is opened once, above; the state proof stands on that one.
  const proven = checkPackState(vkey, gtin, serial, map, () => cp);
  if (!proven.present) throw new MedtrailError('MAP_PROOF_INVALID', 'the map proves the pack absent, yet a record was given');
  verifyInclusion(fromHex(proven.lastEntry, 32), p.index, proven.checkpoint.size, p.hashes, proven.checkpoint.root);
  return { gtin, serial, index: p.index, proven, quorum };
}

/** The file name a proof is kept under (the format asks for the .tlog-proof extension). */
export function packProofFileName(gtin: string, serial: string): string {
  return `${gtin}-${serial.replace(/[^A-Za-z0-9._-]/g, '_')}.tlog-proof`;
}
