// Runs the custody rules over entries that appendSigned has just placed in the log, inside the same
// transaction: for each entry in order, its rule checks it against the state left by the entries before it
// (so a batch and its ship may arrive in one request), then the writer applies its changes. A refusal throws,
// and appendSigned's transaction rolls back the leaves and every change together.
import type { BodyOf } from '../../core/entry/bodies.js';
import type { Entry, EntryKind } from '../../core/entry/entry.js';
import { MedtrailError } from '../../core/errors.js';
import type { Appended } from '../log/log-service.js';
import type { LedgerStore } from '../store/ledger-store.js';
import { batchRule } from './rules/batch.js';
import { indexOfLeaf, type RuleContext } from './rules/context.js';
import { decommissionRule } from './rules/decommission.js';
import { dispenseRule } from './rules/dispense.js';
import { participantRule } from './rules/participant.js';
import { productRule } from './rules/product.js';
import { receiveRule } from './rules/receive.js';
import { recallRule } from './rules/recall.js';
import { shipRule } from './rules/ship.js';
import { undoRule } from './rules/undo.js';
import { prescribeRule } from './rules/prescribe.js';
import { rxCancelRule } from './rules/rx_cancel.js';
import { rxClaimRule } from './rules/rx_claim.js';
import { rxReleaseRule } from './rules/rx_release.js';
import type { CustodyState } from './state.js';
import type { Change, CustodyWriter } from './writer.js';

type Rule<K extends EntryKind> = (ctx: RuleContext, body: BodyOf[K]) => Change[];

export const RULES: { [K in EntryKind]: Rule<K> } = {
  participant: participantRule,
  product: productRule,
  batch: batchRule,
  ship: shipRule,
  receive: receiveRule,
  dispense: dispenseRule,
  undo: undoRule,
  recall: recallRule,
  decommission: decommissionRule,
  prescribe: prescribeRule,
  rx_claim: rxClaimRule,
  rx_release: rxReleaseRule,
  rx_cancel: rxCancelRule,
};

export interface ApplyContext {
  state: CustodyState;
  writer: CustodyWriter;
  store: LedgerStore;
  authority: string;
  now: number;
}

/** Checks one appended entry (body already validated) and applies its changes. */
export function applyOne(c: ApplyContext, entry: Entry, appended: Appended, now = c.now): void {
  const ctx: RuleContext = {
    state: c.state,
    store: c.store,
    authority: c.authority,
    now,
    entry,
    ref: { index: appended.index, hash: appended.leafHash, kind: entry.kind, at: entry.at, signer: entry.signer },
  };
  // Every prev must name an earlier leaf: a link to nothing (or to the entry itself) is no link. And an entry
  // is never dated before an entry it continues: a hand-off cannot happen before the one that made it possible.
  const at = Date.parse(entry.at);
  entry.prev.forEach((h, i) => {
    const idx = indexOfLeaf(ctx, h);
    if (idx === undefined || idx >= appended.index) {
      throw new MedtrailError('PREV_MISMATCH', `prev[${i}] names no earlier entry of the log`, {
        fields: [{ path: `prev[${i}]`, code: 'PREV_MISMATCH', message: 'no earlier entry has this leaf hash' }],
      });
    }
    const before = c.store.leafInfo(idx)?.at;
    if (before !== undefined && at < Date.parse(before)) {
      throw new MedtrailError('DATE_BEFORE_PREV', `this ${entry.kind} is dated ${entry.at}, before the entry it continues (prev[${i}], dated ${before})`, {
        fields: [{ path: 'at', code: 'DATE_BEFORE_PREV', message: `before ${before}` }],
      });
    }
  });
  const rule = RULES[entry.kind] as Rule<EntryKind>;
  c.writer.apply(ctx.ref, rule(ctx, entry.body as unknown as BodyOf[EntryKind]));
}

/** Applies appendSigned's result: every entry in order, then records how far the tables reach. */
export function applyAppended(c: ApplyContext, entries: readonly Entry[], appended: readonly Appended[]): void {
  entries.forEach((e, i) => applyOne(c, e, appended[i]!));
  const last = appended[appended.length - 1];
  if (last !== undefined) c.writer.markApplied(last.index + 1);
}
