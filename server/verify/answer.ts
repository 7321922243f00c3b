// The pieces of an answer about a pack: the product, the pack, its journey (coarse for the public, with who
// and the ledger index for a participant in the chain), and inclusion proofs against a signed checkpoint, so
// a client holding the log key checks them without trusting this server.
//
// Privacy: the public sees steps and dates only; who supplied whom (party names, GLNs) and scan locations
// are for participants in the pack's chain and regulators (docs/architecture.md, Signed requests). The shapes
// are core/api/answers.ts's.
import { toHex } from '../../core/bytes.js';
import { gs1DateToIso } from '../../core/gs1/identifiers.js';
import type { CustodyState, LotRow, PackEvent, PackRow, ProductRow } from '../custody/state.js';
import type { KeyBook } from '../log/keybook.js';
import type { LogService } from '../log/log-service.js';
import type { InclusionAnswer, JourneyStep, JourneyStepName, PackAnswer, PartyRef, ProductAnswer } from '../../core/api/answers.js';

export type { InclusionAnswer, JourneyStep } from '../../core/api/answers.js';

export interface ChainEvent extends PackEvent {
  leafHash: string;
  proof: string[];
}

const MAX_PROOF_CACHE = 10_000;
const CHECKPOINT_REUSE_MS = 500;

/** Every ledger event of a pack in order, the lot's recall included where it falls. */
export function packTimeline(state: CustodyState, pack: PackRow, lot: LotRow | undefined, signerAt: (index: number) => string | undefined): PackEvent[] {
  const events = state.eventsOf(pack);
  if (lot?.recalledIndex !== null && lot?.recalledIndex !== undefined) {
    const r: PackEvent = { index: lot.recalledIndex, kind: 'recall', at: lot.recalledAt ?? '', signer: signerAt(lot.recalledIndex) ?? '', counterparty: null };
    const at = events.findIndex((e) => e.index > r.index);
    events.splice(at === -1 ? events.length : at, 0, r);
  }
  return events;
}

function stepOf(e: PackEvent, keys: KeyBook): JourneyStepName {
  switch (e.kind) {
    case 'batch':
      return 'made';
    case 'ship':
      return 'in_transit';
    case 'receive':
      return keys.get(e.signer)?.role === 'pharmacy' ? 'at_pharmacy' : 'distributed';
    case 'dispense':
      return 'dispensed';
    case 'undo':
      return 'returned';
    case 'recall':
      return 'recalled';
    default:
      return 'decommissioned';
  }
}

function party(keys: KeyBook, gln: string): PartyRef {
  return { gln, name: keys.get(gln)?.name ?? gln };
}

/** The journey: dates only for the public; who, with whom and the ledger index for a participant. */
export function journey(events: readonly PackEvent[], keys: KeyBook, full: boolean, pack?: PackRow): JourneyStep[] {
  return events.map((e) => {
    // A receive that reported this pack missing did not bring it anywhere: the journey ends there, missing.
    const step = pack?.state === 'missing' && e.kind === 'receive' && e.index === pack.lastIndex ? 'missing' : stepOf(e, keys);
    if (!full) return { step, at: e.at.slice(0, 10) };
    const s: JourneyStep = { step, at: e.at, index: e.index };
    if (e.signer !== '') s.who = party(keys, e.signer);
    s.with = e.counterparty === null ? null : party(keys, e.counterparty);
    return s;
  });
}

export function productAnswer(p: ProductRow, keys: KeyBook, state: CustodyState): ProductAnswer {
  // The maker is printed on the box: naming it is no supply-chain secret. Its participant entry's index lets a
  // client fetch the leaf and prove the maker's key itself.
  const maker = state.participant(p.manufacturer);
  return {
    gtin: p.gtin,
    name: p.name,
    form: p.form,
    strength: p.strength,
    packSize: p.packSize,
    manufacturer: { gln: p.manufacturer, name: keys.get(p.manufacturer)?.name ?? p.manufacturer, ...(maker !== undefined ? { index: maker.index } : {}) },
  };
}

export function packAnswer(pack: PackRow, lot: LotRow | undefined, full: boolean): PackAnswer {
  let expiryDate: string | undefined;
  try {
    expiryDate = gs1DateToIso(pack.expiry);
  } catch {
    expiryDate = undefined;
  }
  const out: PackAnswer = { gtin: pack.gtin, serial: pack.serial, lot: pack.lot, expiry: pack.expiry, ...(expiryDate !== undefined ? { expiryDate } : {}), state: pack.state };
  if (lot?.recalledIndex !== null && lot?.recalledIndex !== undefined) out.recall = { at: lot.recalledAt, reason: lot.recallReason };
  if (!full) return out;
  return { ...out, holder: pack.holder, inTransitTo: pack.inTransitTo, lastIndex: pack.lastIndex, lastHash: pack.lastHash, dispensedBy: pack.dispensedBy, dispensedAt: pack.dispensedAt };
}

/**
 * Inclusion proofs against a signed checkpoint. A proof of (index, size) never changes, and many packs share
 * their latest entry (a 100,000-pack batch is one leaf), so proofs are cached per (index, size).
 */
export class Proofs {
  private readonly cache = new Map<string, { leafHash: string; proof: string[] }>();
  // The newest checkpoint, reused for CHECKPOINT_REUSE_MS when it covers the leaf asked for: any signed
  // checkpoint that covers a leaf proves it, and this saves two queries per verification.
  private cp: { size: number; note: string; until: number } | undefined;

  constructor(private readonly log: LogService) {}

  private checkpoint(mustCover: number): { size: number; note: string } {
    const now = Date.now();
    if (this.cp !== undefined && this.cp.size >= mustCover && now < this.cp.until) return this.cp;
    const c = this.log.served(mustCover);
    this.cp = { size: c.size, note: c.note, until: now + CHECKPOINT_REUSE_MS };
    return this.cp;
  }

  /**
   * The newest signed checkpoint, signing one first when it does not cover `mustCover` leaves: what a verify
   * answer stands on, since the state maps are always those of the newest checkpoint (server/map).
   */
  latest(mustCover: number, mapSize?: number): { size: number; note: string } {
    // The reused checkpoint serves only while the maps still stand at its size (a signing moves both).
    const now = Date.now();
    if (this.cp !== undefined && this.cp.size >= mustCover && now < this.cp.until && (mapSize === undefined || mapSize === this.cp.size)) return this.cp;
    const c = this.log.served(mustCover);
    this.cp = { size: c.size, note: c.note, until: now + CHECKPOINT_REUSE_MS };
    return this.cp;
  }

  /**
   * Resolves once the served checkpoint (and the state maps with it) covers `mustCover` leaves, undefined when
   * it does already: a log that signs in rounds (server/log/log-service.ts) is waited for here, off the event
   * loop, so that the answer built afterwards finds its checkpoint without signing one.
   */
  covered(mustCover: number, mapSize: number): Promise<void> | undefined {
    if (mapSize >= mustCover || !this.log.signsInRounds) return undefined;
    return this.log.covering(mustCover).then(() => undefined);
  }

  /** The proof of `index` against a given checkpoint. */
  inclusionIn(index: number, cp: { size: number; note: string }): InclusionAnswer {
    return { index, size: cp.size, ...this.at(index, cp.size), checkpoint: cp.note };
  }

  /** A checkpoint covering `index`, and the proof of `index` against it. */
  inclusion(index: number): InclusionAnswer {
    const cp = this.checkpoint(index + 1);
    return { index, size: cp.size, ...this.at(index, cp.size), checkpoint: cp.note };
  }

  /** Proofs of several leaves against one checkpoint covering them all. */
  chain(events: readonly PackEvent[]): { checkpoint: { size: number; note: string }; events: ChainEvent[] } {
    const max = events.reduce((m, e) => Math.max(m, e.index), -1);
    const cp = this.checkpoint(max + 1);
    return { checkpoint: { size: cp.size, note: cp.note }, events: events.map((e) => ({ ...e, ...this.at(e.index, cp.size) })) };
  }

  private at(index: number, size: number): { leafHash: string; proof: string[] } {
    const key = `${index}/${size}`;
    let hit = this.cache.get(key);
    if (hit === undefined) {
      const p = this.log.inclusion(index, size);
      hit = { leafHash: toHex(p.leafHash), proof: p.proof.map(toHex) };
      if (this.cache.size >= MAX_PROOF_CACHE) this.cache.clear();
      this.cache.set(key, hit);
    }
    return hit;
  }
}
