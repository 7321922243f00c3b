// What every custody rule sees: the state as of the previous entry, the entry itself, and "now". A rule
// checks the entry and returns the changes to make (writer.ts), or throws a coded refusal; it never writes.
import { fromHex, toHex } from '../../../core/bytes.js';
import type { Role } from '../../../core/entry/bodies.js';
import type { Entry } from '../../../core/entry/entry.js';
import { MedtrailError } from '../../../core/errors.js';
import { isExpired } from '../../../core/gs1/identifiers.js';
import type { LedgerStore } from '../../store/ledger-store.js';
import type { CustodyState, LotRow, PackRow } from '../state.js';
import type { EntryRef } from '../writer.js';

export interface RuleContext {
  state: CustodyState;
  store: LedgerStore;
  /** GLN of the authority (fixed at `medtrail init`): the only signer of participant entries. */
  authority: string;
  /** Server time in ms: the 10-day undo window and expiry are judged against it, not the signer's clock. */
  now: number;
  entry: Entry;
  ref: EntryRef;
}

/** The signer's role; KEY_REVOKED when an earlier entry of the same request revoked it. */
export function signerRole(ctx: RuleContext): Role | 'authority' {
  const s = ctx.entry.signer;
  if (s === ctx.authority) return 'authority';
  const p = ctx.state.participant(s);
  if (p === undefined) throw new MedtrailError('SIGNER_UNKNOWN', `signer ${s} is not enrolled`);
  if (p.revoked) throw new MedtrailError('KEY_REVOKED', `the key of ${s} is revoked`);
  return p.role;
}

export function requireRole(ctx: RuleContext, allowed: readonly Role[]): Role {
  const role = signerRole(ctx);
  if (role === 'authority' || !allowed.includes(role)) {
    throw new MedtrailError('ROLE_NOT_ALLOWED', `a ${role} may not sign a ${ctx.entry.kind} entry (only ${allowed.join(' or ')})`);
  }
  return role;
}

/**
 * `prev` must name exactly these leaf hashes: the entries that gave the signer what it now hands on. That is
 * what makes each pack's history a hash chain that anyone can walk back to its batch.
 */
export function expectPrev(ctx: RuleContext, expected: ReadonlySet<string>): void {
  const prev = ctx.entry.prev;
  const same = prev.length === expected.size && prev.every((h) => expected.has(h));
  if (!same) {
    const want = [...expected];
    throw new MedtrailError('PREV_MISMATCH', `prev must name exactly ${want.length === 0 ? 'nothing' : want.join(', ')}`, {
      fields: [{ path: 'prev', code: 'PREV_MISMATCH', message: `expected [${want.join(', ')}]` }],
    });
  }
}

/** Hex leaf hash of the entry at `index`. */
export function leafHashAt(ctx: RuleContext, index: number): string {
  return toHex(ctx.store.perfectHash(0, index));
}

/** Index of the leaf whose hash is `hex`, if any. */
export function indexOfLeaf(ctx: RuleContext, hex: string): number | undefined {
  return ctx.store.leafIndexByHash(fromHex(hex, 32));
}

export function packOrThrow(ctx: RuleContext, gtin: string, serial: string, path: string): PackRow {
  const p = ctx.state.pack(gtin, serial);
  if (p === undefined) {
    throw new MedtrailError('PACK_UNKNOWN', `no pack ${gtin} / ${serial} is registered`, {
      fields: [{ path, code: 'PACK_UNKNOWN', message: 'not registered' }],
    });
  }
  return p;
}

export function lotOf(ctx: RuleContext, p: PackRow): LotRow {
  const l = ctx.state.lot(p.gtin, p.lot);
  if (l === undefined) throw new MedtrailError('STORE_CORRUPT', `pack ${p.gtin} / ${p.serial} has no lot row`);
  return l;
}

export function expiredNow(ctx: RuleContext, expiry: string): boolean {
  return isExpired(expiry, new Date(ctx.now));
}

/** The pack must be held by the signer and active (on its shelf, not in transit, not decommissioned). */
export function requireHeldActive(ctx: RuleContext, p: PackRow, path: string): void {
  if (p.holder !== ctx.entry.signer) {
    throw new MedtrailError('NOT_HOLDER', `${ctx.entry.signer} does not hold pack ${p.gtin} / ${p.serial}`, {
      fields: [{ path, code: 'NOT_HOLDER', message: 'not held by the signer' }],
    });
  }
  if (p.state !== 'active') {
    throw new MedtrailError('PACK_NOT_ACTIVE', `pack ${p.gtin} / ${p.serial} is ${p.state}`, {
      fields: [{ path, code: 'PACK_NOT_ACTIVE', message: `the pack is ${p.state}` }],
    });
  }
}
