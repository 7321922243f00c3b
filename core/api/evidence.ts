// The mirror's divergence evidence file (`<db>.evidence.json`; docs/architecture.md, Mirrors: Divergence is
// evidence): written by server/mirror/follower.ts, read back by the follower at start and by `medtrail audit
// --evidence` (server/mirror/audit-evidence.ts), which confirms it independently. Read with this parser, never
// cast: a file is input like any other.
import { isErrorCode, MedtrailError, type ErrorCode } from '../errors.js';
import { WireReader, type Json } from './wire.js';

export interface EvidenceProof {
  from: number;
  to: number;
  /** The proof's hashes, hex. */
  hashes: string[];
}

export interface MirrorEvidence {
  v: 1;
  /** What failed: PROOF_MISMATCH (the log contradicts a checkpoint), MAP_ROOT_MISMATCH, or the entry's own code. */
  code: ErrorCode;
  reason: string;
  /** The log's verifier key: every note below is signed by it. */
  log: string;
  operator: string;
  at: string;
  /** The newest checkpoint the mirror had verified (signed by the log), if any. */
  held: string | null;
  /** The checkpoint the operator showed, signed by the log. */
  shown: string | null;
  /** The mirror's own tree at the size it held and at the shown checkpoint's size, where it could compute them. */
  mirror: { size: number; root: string; mapRoots?: { packs: string; lots: string } };
  /** A consistency proof the operator gave (hex), from `from` to `to`, that does not hold. */
  proof?: EvidenceProof;
  /** The leaf at issue (base64 of its exact bytes), as the operator served it. */
  entry?: { index: number; leaf: string };
  /**
   * The page of leaves at issue, as the operator served it (base64, from index `start`, the mirror's head when it
   * was refused): with the mirror's database up to `start`, the refusal can be replayed.
   */
  page?: { start: number; leaves: string[] };
  /** The consistency proofs the operator gave in that round from the page's start on (to replay it). */
  proofs?: EvidenceProof[];
}

function proofOf(r: WireReader, v: unknown, path: string): EvidenceProof | undefined {
  const o = r.obj(v, path);
  const from = r.int(o, 'from', path);
  const to = r.int(o, 'to', path);
  const hashes = r.strings(o, 'hashes', path);
  if (hashes.some((h) => !/^[0-9a-f]{64}$/.test(h))) throw new MedtrailError('EVIDENCE_BAD', `${path}.hashes: every hash is 64 hex digits`);
  return from !== undefined && to !== undefined ? { from, to, hashes } : undefined;
}

/** The evidence file's JSON, checked for shape: EVIDENCE_BAD with every bad member otherwise. */
export function parseMirrorEvidence(v: unknown): MirrorEvidence {
  const r = new WireReader('the evidence file');
  const o = r.obj(v, '');
  if (o !== undefined && o['v'] !== 1) throw new MedtrailError('EVIDENCE_BAD', `the evidence file is not version 1 (v: ${JSON.stringify(o['v'])})`);
  const code = r.str(o, 'code', '');
  const reason = r.str(o, 'reason', '');
  const log = r.str(o, 'log', '');
  const operator = r.str(o, 'operator', '');
  const at = r.str(o, 'at', '');
  const held = r.strOrNull(o, 'held', '');
  const shown = r.strOrNull(o, 'shown', '');
  const m: Json | undefined = r.obj(o?.['mirror'], '.mirror');
  const size = r.int(m, 'size', '.mirror');
  const root = r.str(m, 'root', '.mirror');
  const mr = m?.['mapRoots'] === undefined ? undefined : r.obj(m['mapRoots'], '.mirror.mapRoots');
  const packs = mr === undefined ? undefined : r.str(mr, 'packs', '.mirror.mapRoots');
  const lots = mr === undefined ? undefined : r.str(mr, 'lots', '.mirror.mapRoots');
  const proof = o?.['proof'] === undefined ? undefined : proofOf(r, o['proof'], '.proof');
  let entry: MirrorEvidence['entry'];
  if (o?.['entry'] !== undefined) {
    const e = r.obj(o['entry'], '.entry');
    const index = r.int(e, 'index', '.entry');
    const leaf = r.str(e, 'leaf', '.entry');
    entry = index !== undefined && leaf !== undefined ? { index, leaf } : undefined;
  }
  let page: MirrorEvidence['page'];
  if (o?.['page'] !== undefined) {
    const p = r.obj(o['page'], '.page');
    const start = r.int(p, 'start', '.page');
    const leaves = r.strings(p, 'leaves', '.page');
    page = start !== undefined ? { start, leaves } : undefined;
  }
  const proofs = o?.['proofs'] === undefined ? undefined : r.list(o, 'proofs', '', (x, p) => proofOf(r, x, p));
  let value: MirrorEvidence | undefined;
  if (code !== undefined && reason !== undefined && log !== undefined && operator !== undefined && at !== undefined && size !== undefined && root !== undefined) {
    if (!isErrorCode(code)) throw new MedtrailError('EVIDENCE_BAD', `the evidence names an unknown code ${JSON.stringify(code)}`);
    value = {
      v: 1,
      code,
      reason,
      log,
      operator,
      at,
      held,
      shown,
      mirror: { size, root, ...(packs !== undefined && lots !== undefined ? { mapRoots: { packs, lots } } : {}) },
      ...(proof !== undefined ? { proof } : {}),
      ...(entry !== undefined ? { entry } : {}),
      ...(page !== undefined ? { page } : {}),
      ...(proofs !== undefined ? { proofs } : {}),
    };
  }
  try {
    return r.done(value);
  } catch (e) {
    throw new MedtrailError('EVIDENCE_BAD', e instanceof MedtrailError ? e.message : 'the evidence file does not have the documented shape', { cause: e });
  }
}
