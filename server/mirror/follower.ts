// The mirror's follower (docs/architecture.md, Mirrors; issue 14): it reads the operator's log page by page and
// keeps the same log in the mirror's own ledger, checking everything on the way in with the code the operator
// runs, and stops with evidence at the first thing that does not hold.
//
// One round:
//   1. the operator's newest checkpoint, opened with the log key (and held to the policy's quorum, with one);
//   2. a consistency proof from the mirror's head to it: the mirror's tree must be a prefix of the signed one;
//   3. for each page of leaves up to its size, ONE transaction: every leaf decoded and its signature checked
//      against the signer's key as the log had it at that point (a KeyBook replayed to there), every body
//      validated, the leaves appended at the same indexes (server/log/log-service.ts append), every custody rule
//      replayed (server/custody/apply.ts applyOne, as server/custody/replay.ts does), and then either a
//      consistency proof from the page's end to the checkpoint (a page short of it) or, for the page that
//      reaches it, the root compared with the checkpoint's, the state maps brought to that size
//      (server/map/map-service.ts) and compared with its `medtrail-map` roots, and the checkpoint kept as
//      verified. Anything that fails rolls the page back: the leaves, custody rows and the verified checkpoint
//      stay consistent whenever the process is killed.
// What the operator cannot be blamed for (unreachable, a note not signed by the log key, a quorum not yet
// cosigned) is an error of the round; the next one tries again. What only the log could have signed and is
// inconsistent is divergence: the evidence is written to a JSON file and the follower stops for good.
import { writeFileSync, renameSync } from 'node:fs';
import { equalBytes, toBase64, toHex } from '../../core/bytes.js';
import { decodeEntry, type Entry } from '../../core/entry/entry.js';
import { validateBody } from '../../core/entry/bodies.js';
import { isMedtrailError, MedtrailError } from '../../core/errors.js';
import { openCheckpoint, type Checkpoint } from '../../core/log/checkpoint.js';
import { verifyConsistency } from '../../core/log/merkle.js';
import { requireQuorum, type TlogPolicy } from '../../core/log/policy.js';
import { readMapRoots, type MapRoots } from '../../core/map/extension.js';
import type { Ledger } from '../context.js';
import { applyOne } from '../custody/apply.js';
import type { CustodyServices } from '../custody/services.js';
import { checkSignature, loadKeyBook } from '../log/ingest.js';
import type { AppendInput } from '../log/log-service.js';
import type { NewLeaf, StoredCheckpoint } from '../store/ledger-store.js';
import type { RecordedChanges } from '../store/pg/pg-custody.js';
import { parseMirrorEvidence, type EvidenceProof, type MirrorEvidence } from '../../core/api/evidence.js';

/** What the mirror reads from the operator (cli/operator/mirror.ts gives it through client/ledger-client.ts). */
export interface MirrorSource {
  /** GET /checkpoint: the newest note, unchecked. */
  checkpoint(): Promise<string>;
  /** GET /log/entries over [start, end), page by page (a page may stop short), each handed to `page` in turn. */
  leafPages(start: number, end: number, page: (leaves: { index: number; bytes: Uint8Array }[]) => Promise<void> | void): Promise<void>;
  /** GET /log/proof/consistency. */
  consistency(from: number, to: number): Promise<Uint8Array[]>;
}

/** The evidence file (core/api/evidence.ts): everything a third party needs to see that the operator's log contradicts itself. */
export type { MirrorEvidence };

class Divergence extends Error {
  constructor(readonly evidence: Omit<MirrorEvidence, 'v' | 'log' | 'operator' | 'at' | 'page' | 'proofs'>) {
    super(evidence.reason);
  }
}

export interface FollowerOptions {
  /** The operator's URL (for the evidence and the log). */
  from: string;
  /** Where divergence evidence is written. */
  evidenceFile: string;
  /** Checkpoints must carry this policy's witness quorum. */
  policy?: TlogPolicy;
  /** One line per event (progress, divergence). */
  say?: (line: string) => void;
  /**
   * Where every committed page goes next (the mirror's ledger of record in PostgreSQL, server/mirror/pg.ts):
   * called once the page's local transaction committed, with exactly what it added. If it fails the mirror's
   * copy is ahead of the sink: the follower stops for good (STORE_UNAVAILABLE) and the process is restarted.
   */
  sink?: (page: CommittedPage) => Promise<void>;
}

/** What one committed page added to the mirror's ledger (FollowerOptions.sink). */
export interface CommittedPage {
  /** The size of the log before the page. */
  start: number;
  /** The leaves it appended (none for a checkpoint kept at the size the mirror already held). */
  leaves: NewLeaf[];
  /** The root of the mirror's tree after the page. */
  root: Uint8Array;
  /** The custody rows the rules wrote for its leaves, in order. */
  custody: RecordedChanges[];
  /** The checkpoint it kept as verified, if any. */
  checkpoint?: StoredCheckpoint;
}

export interface RoundResult {
  /** Tree size of the newest verified checkpoint after the round. */
  size: number;
  /** Leaves appended in this round. */
  appended: number;
}

function rootsText(r: MapRoots): { packs: string; lots: string } {
  return { packs: toBase64(r.packs), lots: toBase64(r.lots) };
}

export class Follower {
  private diverged_: MirrorEvidence | undefined;
  private halted_: MedtrailError | undefined;
  private busy: Promise<void> = Promise.resolve();
  /** What the operator served in the round under way, for the evidence: the page at issue and the proofs since its start. */
  private served: { page?: { start: number; leaves: string[] }; proofs: EvidenceProof[] } = { proofs: [] };

  constructor(
    private readonly ledger: Ledger,
    private readonly custody: CustodyServices,
    private readonly source: MirrorSource,
    private readonly opts: FollowerOptions,
  ) {
    const stopped = ledger.store.getMeta('mirror_diverged');
    if (stopped !== undefined) this.diverged_ = parseMirrorEvidence(JSON.parse(stopped));
  }

  /** The evidence, once the operator was caught contradicting itself (the follower then never goes on). */
  get diverged(): MirrorEvidence | undefined {
    return this.diverged_;
  }

  /** Set once a page could not be handed to the sink: the follower never goes on (the process is restarted). */
  get halted(): MedtrailError | undefined {
    return this.halted_;
  }

  /** The newest checkpoint the mirror verified, and its size, or undefined before the first. */
  verified(): { size: number; note: string } | undefined {
    const cp = this.ledger.store.latestCheckpoint();
    return cp === undefined ? undefined : { size: cp.size, note: cp.note };
  }

  /**
   * One round (see the top of this file). MIRROR_DIVERGED when the operator was caught (the evidence is
   * written first); other errors leave the mirror as it was, to try again.
   */
  async round(note?: string): Promise<RoundResult> {
    // One round at a time: the follow loop and a witness request (server/mirror/witness.ts) take turns.
    const run = this.busy.then(async () => {
      if (this.diverged_ !== undefined) throw this.divergedError();
      if (this.halted_ !== undefined) throw this.halted_;
      try {
        return await this.roundInner(note);
      } catch (e) {
        if (e instanceof Divergence) throw this.diverge(e);
        throw e;
      }
    });
    this.busy = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /**
   * Whether the mirror has verified exactly this checkpoint: a checkpoint it kept at that size (so every
   * entry up to it was checked and replayed, and the state maps gave its `medtrail-map` roots) with the same
   * tree root and map roots, and its own tree's root at that size the same.
   */
  hasVerified(cp: Checkpoint): boolean {
    const kept = this.ledger.store.checkpointAt(cp.size);
    if (kept === undefined || !equalBytes(kept.root, cp.root)) return false;
    if (cp.size > this.ledger.store.head().size || !equalBytes(this.ledger.log.rootAt(cp.size), cp.root)) return false;
    let shown: MapRoots | undefined;
    try {
      shown = readMapRoots(cp);
    } catch (e) {
      if (!isMedtrailError(e)) throw e;
      return false;
    }
    const mine = readMapRoots(openCheckpoint(kept.note, this.ledger.log.verifierKey));
    return shown !== undefined && mine !== undefined && equalBytes(shown.packs, mine.packs) && equalBytes(shown.lots, mine.lots);
  }

  private divergedError(): MedtrailError {
    const d = this.diverged_!;
    return new MedtrailError('MIRROR_DIVERGED', `the operator diverged (${d.code}: ${d.reason}); evidence in ${this.opts.evidenceFile}`);
  }

  private diverge(d: Divergence): MedtrailError {
    // The page at issue and the proofs from its start on: with the mirror's database (at the page's start) anyone
    // can replay the refusal (`medtrail audit --evidence`, server/mirror/audit-evidence.ts).
    const { page, proofs } = this.served;
    const from = page?.start ?? this.ledger.store.head().size;
    const kept = proofs.filter((p) => p.from >= from);
    const ev: MirrorEvidence = {
      v: 1,
      log: this.ledger.log.verifierKey,
      operator: this.opts.from,
      at: new Date().toISOString(),
      ...d.evidence,
      ...(page !== undefined ? { page } : {}),
      ...(kept.length > 0 ? { proofs: kept } : {}),
    };
    const tmp = `${this.opts.evidenceFile}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(ev, null, 2)}\n`);
    renameSync(tmp, this.opts.evidenceFile);
    this.ledger.store.setMeta('mirror_diverged', JSON.stringify(ev));
    this.diverged_ = ev;
    this.opts.say?.(`medtrail mirror: DIVERGED: ${ev.code}: ${ev.reason}; evidence written to ${this.opts.evidenceFile}; following stopped`);
    return this.divergedError();
  }

  private held(): { note: string | null; size: number; root: Uint8Array } {
    const head = this.ledger.store.head();
    return { note: this.ledger.store.latestCheckpoint()?.note ?? null, size: head.size, root: head.root };
  }

  private mine(): MirrorEvidence['mirror'] {
    const h = this.held();
    return { size: h.size, root: toBase64(h.root), mapRoots: rootsText(this.custody.map.roots()) };
  }

  /**
   * `given`: a note submitted to the mirror as a witness, followed to instead of the operator's newest. It is
   * not held to the policy's quorum (it comes to be cosigned; the mirror's own checks stand for it).
   */
  private async roundInner(given?: string): Promise<RoundResult> {
    const log = this.ledger.log;
    const store = this.ledger.store;
    const map = this.custody.map;
    this.served = { proofs: [] };
    const consistency = async (from: number, to: number): Promise<Uint8Array[]> => {
      const proof = await this.source.consistency(from, to);
      this.served.proofs.push({ from, to, hashes: proof.map(toHex) });
      return proof;
    };
    const note = given ?? (await this.source.checkpoint());
    // Not signed by the log key, or not (yet) cosigned: nothing the log vouched for, so no evidence; try again.
    const cp = openCheckpoint(note, log.verifierKey);
    if (this.opts.policy !== undefined && given === undefined) requireQuorum(this.opts.policy, note, { log: log.verifierKey });
    const head = store.head();
    const heldNote = store.latestCheckpoint()?.note ?? null;
    const shownRoots = this.mapRootsOf(cp, note, heldNote);

    if (cp.size <= head.size) {
      // An older or equal size: it must be a prefix of what the mirror holds, with the same root.
      const mine = log.rootAt(cp.size);
      if (!equalBytes(mine, cp.root)) {
        throw new Divergence({
          code: 'PROOF_MISMATCH',
          reason: cp.size === head.size ? `two checkpoints of size ${cp.size} with different roots` : `the checkpoint of size ${cp.size} is not a prefix of the verified log of size ${head.size}`,
          held: heldNote,
          shown: note,
          mirror: { size: cp.size, root: toBase64(mine) },
        });
      }
      if (cp.size === head.size) {
        let kept: StoredCheckpoint | undefined;
        try {
          kept = this.checkMapsAndKeep(cp, note, shownRoots, heldNote);
        } catch (e) {
          map.reload();
          throw e;
        }
        if (kept !== undefined) await this.push({ start: head.size, leaves: [], root: head.root, custody: [], checkpoint: kept });
      }
      return { size: store.latestCheckpoint()?.size ?? 0, appended: 0 };
    }

    if (head.size > 0) {
      const proof = await consistency(head.size, cp.size);
      try {
        verifyConsistency(head.size, cp.size, proof, head.root, cp.root);
      } catch (e) {
        if (!isMedtrailError(e)) throw e;
        throw new Divergence({
          code: 'PROOF_MISMATCH',
          reason: `the checkpoint of size ${cp.size} is not consistent with the mirror's log of size ${head.size} (${e.code}: ${e.message})`,
          held: heldNote,
          shown: note,
          mirror: { size: head.size, root: toBase64(head.root) },
          proof: { from: head.size, to: cp.size, hashes: proof.map(toHex) },
        });
      }
    }
    let appended = 0;
    await this.source.leafPages(head.size, cp.size, async (leaves) => {
      const end = leaves[leaves.length - 1]!.index + 1;
      this.served.page = { start: leaves[0]!.index, leaves: leaves.map((l) => toBase64(l.bytes)) };
      this.served.proofs = this.served.proofs.filter((p) => p.from >= leaves[0]!.index);
      const proof = end < cp.size ? await consistency(end, cp.size) : [];
      const page = this.applyPage(leaves, cp, note, shownRoots, proof, heldNote);
      await this.push(page);
      appended += leaves.length;
      this.opts.say?.(`medtrail mirror: ${end} of ${cp.size} leaves checked`);
    });
    return { size: store.latestCheckpoint()?.size ?? 0, appended };
  }

  /**
   * Hands a committed page to the sink. A failure leaves the copy ahead of it: the follower halts (the copy is
   * rebuilt from the sink when the process starts again), so nothing it holds is ever missing there for good.
   */
  private async push(page: CommittedPage): Promise<void> {
    const sink = this.opts.sink;
    if (sink === undefined) return;
    try {
      await sink(page);
    } catch (e) {
      const end = page.start + page.leaves.length;
      this.halted_ = new MedtrailError(
        'STORE_UNAVAILABLE',
        `the mirror's copy (${end} leaves) is ahead of its database, which did not take the page from ${page.start} (${isMedtrailError(e) ? `${e.code}: ` : ''}${e instanceof Error ? e.message : String(e)}); following stopped: restart the mirror to rebuild its copy from the database`,
        { cause: e },
      );
      this.opts.say?.(`medtrail mirror: ${this.halted_.code}: ${this.halted_.message}`);
      throw this.halted_;
    }
  }

  /** The map roots the checkpoint signed; a note without them, or with a bad line, is the log's own doing. */
  private mapRootsOf(cp: Checkpoint, note: string, heldNote: string | null): MapRoots {
    let roots: MapRoots | undefined;
    try {
      roots = readMapRoots(cp);
    } catch (e) {
      if (!isMedtrailError(e)) throw e;
    }
    if (roots === undefined) {
      throw new Divergence({ code: 'MAP_ROOT_MISMATCH', reason: 'the signed checkpoint carries no valid medtrail-map line', held: heldNote, shown: note, mirror: this.mine() });
    }
    return roots;
  }

  /** At the mirror's own size: the maps must give the signed roots; then the checkpoint is kept as verified. */
  private checkMapsAndKeep(cp: Checkpoint, note: string, shown: MapRoots, heldNote: string | null): StoredCheckpoint | undefined {
    const store = this.ledger.store;
    const map = this.custody.map;
    // Runs in the page's transaction when there is one; the caller rebuilds the maps if it does not commit.
    return store.transaction(() => {
        const roots = map.catchUp(cp.size);
        if (!equalBytes(roots.packs, shown.packs) || !equalBytes(roots.lots, shown.lots)) {
          throw new Divergence({
            code: 'MAP_ROOT_MISMATCH',
            reason: `the checkpoint of size ${cp.size} signs map roots that are not those of the state its entries give (${[...(equalBytes(roots.packs, shown.packs) ? [] : ['pack map']), ...(equalBytes(roots.lots, shown.lots) ? [] : ['lot map'])].join(', ')})`,
            held: heldNote,
            shown: note,
            mirror: { size: cp.size, root: toBase64(cp.root), mapRoots: rootsText(roots) },
          });
        }
        const latest = store.latestCheckpoint();
        // At a size already held the first verified note stays (the same root and map roots: nothing new to keep).
        if (latest !== undefined && latest.size >= cp.size) return undefined;
        const kept: StoredCheckpoint = { size: cp.size, root: cp.root, note, signedAt: new Date().toISOString() };
        store.saveCheckpoint(kept);
        return kept;
    });
  }

  /** One page in one transaction (see the top of this file). */
  private applyPage(leaves: { index: number; bytes: Uint8Array }[], cp: Checkpoint, note: string, shown: MapRoots, proof: Uint8Array[], heldNote: string | null): CommittedPage {
    const { store, log } = this.ledger;
    const { state, map, keys } = this.custody;
    const rules = this.custody.rules;
    // The keys as the log had them at the page's first leaf, moved on entry by entry (a participant admitted in
    // the page signs later entries of it); the shared KeyBook observes them only once the page is committed.
    const book = loadKeyBook(store);
    const entries: Entry[] = [];
    let current: { index: number; bytes: Uint8Array } | undefined;
    const entryDivergence = (e: MedtrailError, at: { index: number; bytes: Uint8Array }): Divergence =>
      new Divergence({
        code: e.code,
        reason: `the entry at index ${at.index} does not hold: ${e.message}`,
        held: heldNote,
        shown: note,
        mirror: this.mine(),
        entry: { index: at.index, leaf: toBase64(at.bytes) },
      });
    const end = leaves[leaves.length - 1]!.index + 1;
    const page: CommittedPage = { start: leaves[0]!.index, leaves: [], root: new Uint8Array(32), custody: [] };
    // The custody rows the rules write, for the sink (the same changes as the local tables take).
    if (this.opts.sink !== undefined) rules.writer.recorder = (ref, changes) => page.custody.push({ ref, changes });
    try {
      store.transaction(() => {
        const inputs: AppendInput[] = [];
        for (const leaf of leaves) {
          current = leaf;
          const e = decodeEntry(leaf.bytes);
          checkSignature(book, e);
          validateBody(e.kind, e.body);
          book.observe(e);
          entries.push(e);
          inputs.push({ bytes: leaf.bytes, kind: e.kind, signer: e.signer, nonce: e.nonce, at: e.at });
        }
        current = undefined;
        const appended = log.append(inputs);
        if (appended[0]?.index !== leaves[0]!.index) throw new MedtrailError('STORE_CONFLICT', `the mirror's head is not at ${leaves[0]!.index}`);
        page.leaves = inputs.map((x, i) => ({ index: appended[i]!.index, hash: appended[i]!.leafHash, bytes: x.bytes, kind: x.kind, signer: x.signer, nonce: x.nonce, at: x.at }));
        entries.forEach((e, i) => {
          current = leaves[i];
          applyOne({ ...rules, now: Date.parse(e.at) }, e, appended[i]!);
        });
        current = undefined;
        rules.writer.markApplied(end);
        const root = store.head().root;
        page.root = root;
        if (end < cp.size) {
          try {
            verifyConsistency(end, cp.size, proof, root, cp.root);
          } catch (e) {
            if (!isMedtrailError(e)) throw e;
            throw new Divergence({
              code: 'PROOF_MISMATCH',
              reason: `the leaves served up to ${end} are not a prefix of the signed checkpoint of size ${cp.size} (${e.code})`,
              held: heldNote,
              shown: note,
              mirror: { size: end, root: toBase64(root) },
              proof: { from: end, to: cp.size, hashes: proof.map(toHex) },
            });
          }
        } else if (!equalBytes(root, cp.root)) {
          throw new Divergence({
            code: 'PROOF_MISMATCH',
            reason: `the leaves served do not give the root the checkpoint of size ${cp.size} signs`,
            held: heldNote,
            shown: note,
            mirror: { size: end, root: toBase64(root) },
            entry: { index: leaves[0]!.index, leaf: toBase64(leaves[0]!.bytes) },
          });
        } else {
          const kept = this.checkMapsAndKeep(cp, note, shown, heldNote);
          if (kept !== undefined) page.checkpoint = kept;
        }
      });
    } catch (e) {
      // The maps may have moved in memory with a transaction that did not commit: built again from the tables.
      map.reload();
      if (e instanceof Divergence) throw e;
      if (isMedtrailError(e) && current !== undefined && e.code !== 'STORE_CONFLICT') throw entryDivergence(e, current);
      if (isMedtrailError(e, 'ENTRY_REPLAYED')) throw entryDivergence(e, leaves[0]!);
      throw e;
    } finally {
      rules.writer.recorder = undefined;
      // Committed or rolled back, the state's cached rows may be out of date (custody/state.ts).
      state.invalidate();
    }
    for (const e of entries) keys.observe(e);
    return page;
  }
}
