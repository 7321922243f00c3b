// `medtrail audit`: re-derives the whole ledger from its leaves and says exactly where it was altered.
//
// One streaming pass over the leaves in index order, O(log n) memory:
// - each leaf's bytes must decode as a canonical entry whose hash is the stored leaf hash, signed by the key
//   the log itself had admitted for that signer at that point (KeyBook replay), with no (signer, nonce) reused;
// - every stored interior node must equal the one recomputed from the leaves (pinpoints the leaf range);
// - every stored checkpoint must carry a valid log signature and commit to the recomputed root at its size;
// - the head must commit to the recomputed root, and no leaf index may be missing.
// Editing a row, deleting one, reordering rows or swapping in an older copy of the file each breaks one of these.
import { openCheckpoint } from '../../core/log/checkpoint.js';
import { toHex, equalBytes, fromBase64 } from '../../core/bytes.js';
import { decodeEntry, verifyEntry, type Entry } from '../../core/entry/entry.js';
import { isMedtrailError } from '../../core/errors.js';
import { completedSubtrees, emptyRoot, leafHash, rootAt } from '../../core/log/merkle.js';
import type { LedgerStore } from '../store/ledger-store.js';
import { KeyBook } from './keybook.js';

export type FindingCode =
  | 'LEAF_MISSING'
  | 'LEAF_HASH_MISMATCH'
  | 'ENTRY_UNDECODABLE'
  | 'ENTRY_UNKNOWN_SIGNER'
  | 'ENTRY_BAD_SIGNATURE'
  | 'ENTRY_REPLAYED'
  | 'NODE_MISMATCH'
  | 'NODE_MISSING'
  | 'CHECKPOINT_BAD_SIGNATURE'
  | 'CHECKPOINT_ROOT_MISMATCH'
  | 'CHECKPOINT_BEYOND_HEAD'
  | 'HEAD_ROOT_MISMATCH'
  | 'META_MISSING'
  | 'TRUSTED_CHECKPOINT_BAD'
  | 'TRUSTED_CHECKPOINT_MISMATCH'
  | 'TREE_SHRANK';

export interface Finding {
  code: FindingCode;
  /** The leaf index where the ledger was altered, where one can be named. */
  index?: number;
  /** For nodes: the leaf range [from, to) the altered node covers. */
  range?: [number, number];
  message: string;
}

export interface AuditReport {
  ok: boolean;
  size: number;
  leaves: number;
  signatures: number;
  nodes: number;
  checkpoints: number;
  root: string;
  findings: Finding[];
}

export interface AuditOptions {
  /** Stop collecting after this many findings (a wholesale rewrite would otherwise list every leaf). */
  maxFindings?: number;
  onProgress?: (done: number, total: number) => void;
  /**
   * Checkpoint notes the auditor holds from elsewhere (its own copy, a client's, the server's witness file):
   * each must carry the log's signature and be a prefix of this ledger. An older copy of the database is
   * self-consistent; only a checkpoint kept outside it shows that the tree shrank.
   */
  trusted?: string[];
}

export function auditLedger(store: LedgerStore, opts: AuditOptions = {}): AuditReport {
  const max = opts.maxFindings ?? 100;
  const findings: Finding[] = [];
  const add = (f: Finding): void => {
    if (findings.length < max) findings.push(f);
  };
  const origin = store.getMeta('origin');
  const logVkey = store.getMeta('log_vkey');
  const authGln = store.getMeta('authority_gln');
  const authKey = store.getMeta('authority_public_key');
  if (origin === undefined || logVkey === undefined || authGln === undefined || authKey === undefined) {
    add({ code: 'META_MISSING', message: 'the database lacks its origin or public keys (was it made by medtrail init?)' });
    return { ok: false, size: 0, leaves: 0, signatures: 0, nodes: 0, checkpoints: 0, root: toHex(emptyRoot()), findings };
  }
  const keys = new KeyBook({ gln: authGln, publicKey: fromBase64(authKey, 32) }, origin);
  const head = store.head();
  const cps = store.checkpoints();
  let cpAt = 0;

  // frontier[level] = hash of the newest complete perfect subtree at that level (all a streaming root needs).
  const frontier: Uint8Array[] = [];
  const read = (level: number, _index: number): Uint8Array => frontier[level] ?? emptyRoot();
  const nonces = new Set<string>();
  let expected = 0;
  let signatures = 0;
  let nodes = 0;

  const checkCheckpointsAt = (size: number): void => {
    while (cpAt < cps.length && cps[cpAt]!.size === size) {
      const cp = cps[cpAt++]!;
      const root = size === 0 ? emptyRoot() : rootAt(size, read);
      try {
        const opened = openCheckpoint(cp.note, logVkey);
        if (opened.size !== cp.size || !equalBytes(opened.root, cp.root) || opened.origin !== origin) {
          add({ code: 'CHECKPOINT_BAD_SIGNATURE', message: `checkpoint at size ${size}: the signed note does not match its row` });
        }
      } catch (e) {
        add({ code: 'CHECKPOINT_BAD_SIGNATURE', message: `checkpoint at size ${size}: ${isMedtrailError(e) ? e.code : String(e)}` });
      }
      if (!equalBytes(root, cp.root)) {
        add({ code: 'CHECKPOINT_ROOT_MISMATCH', message: `the leaves no longer produce the root signed at size ${size}: the ledger was rewritten before index ${size}` });
      }
    }
  };

  // Checkpoints held outside the database, by size; each is checked when the pass reaches its size.
  const trusted: { size: number; root: Uint8Array }[] = [];
  for (const note of opts.trusted ?? []) {
    try {
      const cp = openCheckpoint(note, logVkey);
      if (cp.origin !== origin) throw new Error('origin');
      trusted.push({ size: cp.size, root: cp.root });
    } catch (e) {
      add({ code: 'TRUSTED_CHECKPOINT_BAD', message: `a checkpoint given to audit is not signed by this log's key (${isMedtrailError(e) ? e.code : 'other origin'})` });
    }
  }
  trusted.sort((a, b) => a.size - b.size);
  let trustedAt = 0;
  const checkTrustedAt = (size: number): void => {
    for (; trustedAt < trusted.length && trusted[trustedAt]!.size === size; trustedAt++) {
      const root = size === 0 ? emptyRoot() : rootAt(size, read);
      if (!equalBytes(root, trusted[trustedAt]!.root)) {
        add({ code: 'TRUSTED_CHECKPOINT_MISMATCH', message: `the leaves no longer produce the root of the checkpoint held at size ${size}: the ledger was rewritten before index ${size}` });
      }
    }
  };
  checkTrustedAt(0);
  checkCheckpointsAt(0);
  for (const leaf of store.iterateLeaves()) {
    if (leaf.index !== expected) {
      add({ code: 'LEAF_MISSING', index: expected, message: `leaves ${expected}..${leaf.index - 1} are missing` });
      break; // the tree past a gap cannot be recomputed meaningfully
    }
    expected++;
    const recomputed = leafHash(leaf.bytes);
    if (!equalBytes(recomputed, leaf.hash)) {
      add({ code: 'LEAF_HASH_MISMATCH', index: leaf.index, message: `leaf ${leaf.index}: its bytes do not hash to its stored leaf hash` });
    }
    let entry: Entry | undefined;
    try {
      entry = decodeEntry(leaf.bytes);
    } catch (e) {
      add({ code: 'ENTRY_UNDECODABLE', index: leaf.index, message: `leaf ${leaf.index}: ${isMedtrailError(e) ? e.code : 'undecodable'}` });
    }
    if (entry !== undefined) {
      const key = keys.activeKey(entry.signer);
      if (key === undefined) {
        add({ code: 'ENTRY_UNKNOWN_SIGNER', index: leaf.index, message: `leaf ${leaf.index}: signer ${entry.signer} was not enrolled (or was revoked) at that point` });
      } else {
        signatures++;
        let ok = false;
        try {
          ok = verifyEntry(entry, key, origin);
        } catch {
          ok = false;
        }
        if (!ok) add({ code: 'ENTRY_BAD_SIGNATURE', index: leaf.index, message: `leaf ${leaf.index}: the ${entry.kind} entry's signature by ${entry.signer} does not verify` });
      }
      const n = `${entry.signer}/${entry.nonce}`;
      if (nonces.has(n)) add({ code: 'ENTRY_REPLAYED', index: leaf.index, message: `leaf ${leaf.index}: replays nonce ${entry.nonce} of ${entry.signer}` });
      nonces.add(n);
      keys.observe(entry);
    }
    for (const sub of completedSubtrees(leaf.index, recomputed, read)) {
      frontier[sub.level] = sub.hash;
      if (sub.level === 0) continue;
      nodes++;
      const stored = store.storedNode(sub.level, sub.index);
      const span = 2 ** sub.level;
      const range: [number, number] = [sub.index * span, (sub.index + 1) * span];
      if (stored === undefined) {
        add({ code: 'NODE_MISSING', range, message: `interior node ${sub.level}/${sub.index} (leaves ${range[0]}..${range[1] - 1}) is missing` });
      } else if (!equalBytes(stored, sub.hash)) {
        add({ code: 'NODE_MISMATCH', range, message: `interior node ${sub.level}/${sub.index} does not match leaves ${range[0]}..${range[1] - 1}` });
      }
    }
    checkCheckpointsAt(expected);
    checkTrustedAt(expected);
    if (opts.onProgress !== undefined && expected % 10000 === 0) opts.onProgress(expected, head.size);
  }
  if (expected < head.size) add({ code: 'LEAF_MISSING', index: expected, message: `the head says ${head.size} leaves but only ${expected} are present` });
  const root = expected === 0 ? emptyRoot() : rootAt(expected, read);
  if (!equalBytes(root, head.root) || expected !== head.size) {
    add({ code: 'HEAD_ROOT_MISMATCH', message: `the head (size ${head.size}) does not commit to the leaves' root` });
  }
  for (; trustedAt < trusted.length; trustedAt++) {
    add({ code: 'TREE_SHRANK', message: `a checkpoint held outside the database is at size ${trusted[trustedAt]!.size}, beyond the ${expected} leaves present: an older copy of the database was restored, or leaves were removed` });
  }
  for (; cpAt < cps.length; cpAt++) {
    add({ code: 'CHECKPOINT_BEYOND_HEAD', message: `a checkpoint was signed at size ${cps[cpAt]!.size}, beyond the ${expected} leaves present: leaves were removed or an older copy of the database was restored` });
  }
  return {
    ok: findings.length === 0,
    size: head.size,
    leaves: expected,
    signatures,
    nodes,
    checkpoints: cps.length,
    root: toHex(root),
    findings,
  };
}
