// The only code that writes the custody tables. A rule returns a list of Changes; CustodyWriter applies them
// for one accepted entry, inside the append's transaction (apply.ts). Every pack a change touches gets the
// entry as its newest link (last_idx, last_hash) and an event row, which is what packEvents() reads.
import type Database from 'better-sqlite3';
import { MedtrailError, codeOf } from '../../core/errors.js';
import type { EntryKind } from '../../core/entry/entry.js';
import { CUSTODY_SCHEMA } from './schema.js';
import { canonicalJson } from '../../core/entry/jcs.js';
import type { LotRow, PackState, ParticipantRow, ProductRow, RxRow } from './state.js';

/** Where a prescription's counts go in custody_rx_stats: the month, and the row's region, substance, prescriber type. */
export interface RxCell {
  month: string;
  region: string;
  substance: string;
  ptype: string;
}

/** The accepted entry a change belongs to. */
export interface EntryRef {
  index: number;
  hash: Uint8Array;
  kind: EntryKind;
  at: string;
  signer: string;
}

export interface PackKey {
  gtin: string;
  serial: string;
}

export type Change =
  | { op: 'participant'; row: ParticipantRow }
  | { op: 'product'; row: ProductRow }
  /** A new lot and its packs: active, held by the manufacturer, linked to the batch entry. */
  | { op: 'batch'; lot: LotRow; serials: readonly string[] }
  /** Packs change state/holder; each gets the entry as its newest link and an event. */
  | {
      op: 'move';
      packs: readonly PackKey[];
      state: PackState;
      holder: string;
      inTransitTo: string | null;
      dispensed: { by: string; at: string } | null;
      counterparty: string | null;
    }
  | { op: 'shipment'; to: string; packs: readonly (PackKey & { sscc: string | null })[] }
  | { op: 'received'; shipIndex: number; missing: readonly PackKey[]; extra: readonly PackKey[] }
  | { op: 'recall'; gtin: string; lot: string; reason: string }
  | { op: 'prescriber'; gln: string; region: string; type: string }
  | { op: 'substance'; gtin: string; substance: string | null; atc: string | null }
  /** A new prescription, counted in its month's cell. */
  | { op: 'rx'; row: RxRow; cell: RxCell; packs: number }
  /** A pharmacy claims (by) or hands back (null) a prescription. */
  | { op: 'rxClaim'; id: string; by: string | null }
  /** A pack dispensed against a prescription; at the end of a fill the claim ends. */
  | { op: 'rxDispense'; id: string; gtin: string; serial: string; fillEnds: boolean; cell: RxCell }
  /** An undo reversed the dispense at `dispenseIndex`. */
  | { op: 'rxUndo'; id: string; dispenseIndex: number; cell: RxCell }
  | { op: 'rxCancel'; id: string; reason: string };

function isPrimaryKeyConflict(e: unknown): boolean {
  return codeOf(e) === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

export class CustodyWriter {
  private readonly st;

  constructor(db: Database.Database) {
    db.exec(CUSTODY_SCHEMA);
    this.st = {
      participant: db.prepare(
        `INSERT INTO custody_participants (gln, name, role, public_key, prefixes, revoked, idx) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (gln) DO UPDATE SET name = excluded.name, role = excluded.role, public_key = excluded.public_key,
           prefixes = excluded.prefixes, revoked = excluded.revoked, idx = excluded.idx`,
      ),
      product: db.prepare('INSERT INTO custody_products (gtin, name, form, strength, pack_size, manufacturer, idx) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      lot: db.prepare('INSERT INTO custody_lots (gtin, lot, expiry, manufacturer, batch_idx, pack_count) VALUES (?, ?, ?, ?, ?, ?)'),
      pack: db.prepare(
        `INSERT INTO custody_packs (gtin, serial, lot, expiry, state, holder, in_transit_to, last_idx, last_hash, batch_idx)
         VALUES (?, ?, ?, ?, 'active', ?, NULL, ?, ?, ?)`,
      ),
      move: db.prepare(
        `UPDATE custody_packs SET state = ?, holder = ?, in_transit_to = ?, last_idx = ?, last_hash = ?, dispensed_by = ?, dispensed_at = ?
         WHERE gtin = ? AND serial = ?`,
      ),
      event: db.prepare('INSERT INTO custody_events (gtin, serial, idx, kind, at, signer, counterparty) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      shipment: db.prepare('INSERT INTO custody_shipments (idx, hash, sender, recipient, at, count) VALUES (?, ?, ?, ?, ?, ?)'),
      shipmentPack: db.prepare('INSERT INTO custody_shipment_packs (ship_idx, gtin, serial, sscc) VALUES (?, ?, ?, ?)'),
      close: db.prepare('UPDATE custody_shipments SET received_idx = ? WHERE idx = ? AND received_idx IS NULL'),
      outcome: db.prepare("UPDATE custody_shipment_packs SET outcome = 'received' WHERE ship_idx = ?"),
      missing: db.prepare("UPDATE custody_shipment_packs SET outcome = 'missing' WHERE ship_idx = ? AND gtin = ? AND serial = ?"),
      extra: db.prepare("INSERT OR IGNORE INTO custody_discrepancies (receive_idx, gtin, serial, kind) VALUES (?, ?, ?, 'extra')"),
      recall: db.prepare('UPDATE custody_lots SET recalled_idx = ?, recall_reason = ?, recalled_at = ? WHERE gtin = ? AND lot = ? AND recalled_idx IS NULL'),
      prescriber: db.prepare(
        'INSERT INTO custody_prescribers (gln, region, type) VALUES (?, ?, ?) ON CONFLICT (gln) DO UPDATE SET region = excluded.region, type = excluded.type',
      ),
      substance: db.prepare('INSERT INTO custody_substances (gtin, substance, atc) VALUES (?, ?, ?)'),
      rx: db.prepare(
        `INSERT INTO custody_rx (id, idx, hash, prescriber, patient, medicine, quantity, repeats, dosage, valid_from, valid_until, token, at,
           region, ptype, substance, dispensed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
      ),
      rxClaim: db.prepare('UPDATE custody_rx SET claimed_by = ?, claimed_idx = ? WHERE id = ?'),
      rxDispensed: db.prepare(
        'UPDATE custody_rx SET dispensed = dispensed + ?, claimed_by = CASE WHEN ? THEN NULL ELSE claimed_by END WHERE id = ?',
      ),
      rxDispense: db.prepare('INSERT INTO custody_rx_dispenses (id, idx, gtin, serial, pharmacy, at) VALUES (?, ?, ?, ?, ?, ?)'),
      rxUndo: db.prepare('UPDATE custody_rx_dispenses SET undone_idx = ? WHERE id = ? AND idx = ? AND undone_idx IS NULL'),
      rxCancel: db.prepare('UPDATE custody_rx SET cancelled_idx = ?, cancel_reason = ?, claimed_by = NULL WHERE id = ? AND cancelled_idx IS NULL'),
      stats: db.prepare(
        `INSERT INTO custody_rx_stats (month, region, substance, ptype, prescriptions, packs_prescribed, packs_dispensed) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (month, region, substance, ptype) DO UPDATE SET prescriptions = prescriptions + excluded.prescriptions,
           packs_prescribed = packs_prescribed + excluded.packs_prescribed, packs_dispensed = packs_dispensed + excluded.packs_dispensed`,
      ),
      appliedNow: db.prepare<[], number>("SELECT value FROM custody_meta WHERE key = 'applied'").pluck(),
      applied: db.prepare("INSERT INTO custody_meta (key, value) VALUES ('applied', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
    };
  }

  /** Records that the tables reflect the log up to `size` leaves. */
  /** How many leaves of the log the tables reflect (0 for new tables). */
  applied(): number {
    return this.st.appliedNow.get() ?? 0;
  }

  markApplied(size: number): void {
    this.st.applied.run(size);
  }

  /**
   * Told of every applied entry's changes while set: the dry run of an append to a ledger in PostgreSQL records
   * them here to write the same rows there (server/pg/replica.ts, server/store/pg/pg-custody.ts).
   */
  recorder: ((ref: EntryRef, changes: readonly Change[]) => void) | undefined;

  apply(ref: EntryRef, changes: readonly Change[]): void {
    for (const c of changes) this.one(ref, c);
    this.recorder?.(ref, changes);
  }

  private one(ref: EntryRef, c: Change): void {
    const hash = Buffer.from(ref.hash);
    switch (c.op) {
      case 'participant': {
        const r = c.row;
        this.st.participant.run(r.gln, r.name, r.role, r.publicKey, JSON.stringify(r.prefixes), r.revoked ? 1 : 0, ref.index);
        return;
      }
      case 'product': {
        const r = c.row;
        this.st.product.run(r.gtin, r.name, r.form, r.strength, r.packSize, r.manufacturer, ref.index);
        return;
      }
      case 'batch': {
        const l = c.lot;
        this.st.lot.run(l.gtin, l.lot, l.expiry, l.manufacturer, ref.index, c.serials.length);
        // Sorted, the rows arrive in key order: both B-trees (the table and the holder index) are then filled
        // by appending to their right edge instead of splitting pages all over: about twice as fast at 100k.
        const serials = [...c.serials].sort();
        let s = '';
        try {
          for (s of serials) this.st.pack.run(l.gtin, s, l.lot, l.expiry, l.manufacturer, ref.index, hash, ref.index);
        } catch (e) {
          if (isPrimaryKeyConflict(e)) {
            throw new MedtrailError('SERIAL_DUPLICATE', `serial ${s} of GTIN ${l.gtin} is already registered`, {
              fields: [{ path: `body.serials[${c.serials.indexOf(s)}]`, code: 'SERIAL_DUPLICATE', message: 'already registered for this GTIN' }],
            });
          }
          throw e;
        }
        return;
      }
      case 'move': {
        for (const p of c.packs) {
          this.st.move.run(c.state, c.holder, c.inTransitTo, ref.index, hash, c.dispensed?.by ?? null, c.dispensed?.at ?? null, p.gtin, p.serial);
          this.st.event.run(p.gtin, p.serial, ref.index, ref.kind, ref.at, ref.signer, c.counterparty);
        }
        return;
      }
      case 'shipment': {
        this.st.shipment.run(ref.index, hash, ref.signer, c.to, ref.at, c.packs.length);
        for (const p of c.packs) this.st.shipmentPack.run(ref.index, p.gtin, p.serial, p.sscc);
        return;
      }
      case 'received': {
        if (this.st.close.run(ref.index, c.shipIndex).changes !== 1) {
          throw new MedtrailError('SHIPMENT_CLOSED', `shipment ${c.shipIndex} was already received`);
        }
        this.st.outcome.run(c.shipIndex);
        for (const p of c.missing) this.st.missing.run(c.shipIndex, p.gtin, p.serial);
        for (const p of c.extra) this.st.extra.run(ref.index, p.gtin, p.serial);
        return;
      }
      case 'recall': {
        if (this.st.recall.run(ref.index, c.reason, ref.at, c.gtin, c.lot).changes !== 1) {
          throw new MedtrailError('LOT_RECALLED', `lot ${c.lot} of ${c.gtin} is already recalled`);
        }
        return;
      }
      case 'prescriber':
        this.st.prescriber.run(c.gln, c.region, c.type);
        return;
      case 'substance':
        this.st.substance.run(c.gtin, c.substance, c.atc);
        return;
      case 'rx': {
        const r = c.row;
        try {
          this.st.rx.run(r.id, ref.index, hash, r.prescriber, r.patient, canonicalJson(r.medicine), r.quantity, r.repeats, r.dosage, r.validFrom, r.validUntil, r.token, r.at, r.region, r.ptype, r.substance);
        } catch (e) {
          if (isPrimaryKeyConflict(e)) throw new MedtrailError('RX_EXISTS', `prescription ${r.id} is already on the ledger`);
          throw e;
        }
        this.cell(c.cell, 1, c.packs, 0);
        return;
      }
      case 'rxClaim':
        this.st.rxClaim.run(c.by, c.by === null ? null : ref.index, c.id);
        return;
      case 'rxDispense':
        this.st.rxDispensed.run(1, c.fillEnds ? 1 : 0, c.id);
        this.st.rxDispense.run(c.id, ref.index, c.gtin, c.serial, ref.signer, ref.at);
        this.cell(c.cell, 0, 0, 1);
        return;
      case 'rxUndo':
        if (this.st.rxUndo.run(ref.index, c.id, c.dispenseIndex).changes !== 1) throw new MedtrailError('UNDO_NOT_ALLOWED', 'that dispense was already undone');
        this.st.rxDispensed.run(-1, 0, c.id);
        this.cell(c.cell, 0, 0, -1);
        return;
      case 'rxCancel':
        if (this.st.rxCancel.run(ref.index, c.reason, c.id).changes !== 1) throw new MedtrailError('RX_CANCELLED', `prescription ${c.id} is already cancelled`);
        return;
    }
  }

  private cell(k: RxCell, prescriptions: number, packsPrescribed: number, packsDispensed: number): void {
    this.st.stats.run(k.month, k.region, k.substance, k.ptype, prescriptions, packsPrescribed, packsDispensed);
  }
}
