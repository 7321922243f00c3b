// The custody state: what the log says about every participant, product, lot and pack, as of the newest
// leaf. Read by the custody rules, the verify routes and the console; written only by CustodyWriter
// (writer.ts) inside the append's transaction. See schema.ts for the tables.
import type Database from 'better-sqlite3';
import { toHex } from '../../core/bytes.js';
import { MedtrailError } from '../../core/errors.js';
import type { ProductMasterAnswer, ShipmentAnswer } from '../../core/api/answers.js';
import type { EntryKind } from '../../core/entry/entry.js';
import { ROLES, type Medicine, type Role } from '../../core/entry/bodies.js';
import type { RxCellCounts } from '../../core/rx/report.js';
import { CUSTODY_SCHEMA } from './schema.js';

export const PACK_STATES = ['active', 'in_transit', 'dispensed', 'missing', 'destroyed', 'stolen', 'sample', 'free_sample', 'exported', 'locked'] as const;
export type PackState = (typeof PACK_STATES)[number];
const PARTICIPANT_ROLES = ROLES;

// The custody tables hold only what the writer put there (CHECK-free TEXT columns): a value outside the set is
// a table edited behind the server's back, STORE_CORRUPT rather than a wrong type passed on.
export function packStateOf(s: string): PackState {
  const hit = PACK_STATES.find((x) => x === s);
  if (hit === undefined) throw new MedtrailError('STORE_CORRUPT', `custody_packs holds an unknown state ${s}`);
  return hit;
}

function roleOf(s: string): ParticipantRow['role'] {
  const hit = PARTICIPANT_ROLES.find((x) => x === s);
  if (hit === undefined) throw new MedtrailError('STORE_CORRUPT', `custody_participants holds an unknown role ${s}`);
  return hit;
}

function stringListOf(json: string): string[] {
  const v: unknown = JSON.parse(json);
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new MedtrailError('STORE_CORRUPT', 'custody_participants holds malformed prefixes');
  return v;
}

export interface PackRow {
  gtin: string;
  serial: string;
  lot: string;
  expiry: string;
  state: PackState;
  /** GLN of the party with custody; while in transit, still the shipper. */
  holder: string;
  inTransitTo: string | null;
  lastIndex: number;
  /** Hex leaf hash of the newest entry that touched the pack. */
  lastHash: string;
  batchIndex: number;
  dispensedBy: string | null;
  dispensedAt: string | null;
}

export interface LotRow {
  gtin: string;
  lot: string;
  expiry: string;
  manufacturer: string;
  batchIndex: number;
  packCount: number;
  recalledIndex: number | null;
  recallReason: string | null;
  recalledAt: string | null;
}

/** A product's master data as the tables hold it: exactly what GET /products/:gtin answers. */
export type ProductRow = ProductMasterAnswer;

export interface ParticipantRow {
  gln: string;
  name: string;
  role: Role;
  /** base64 of the 32-byte Ed25519 public key. */
  publicKey: string;
  prefixes: string[];
  revoked: boolean;
  /** Index of the newest participant entry about this GLN. */
  index: number;
}

/** A prescription as custody_rx holds it (issue 16; docs/architecture.md, Prescriptions). */
export interface RxRow {
  id: string;
  index: number;
  /** Hex leaf hash of the prescribe entry. */
  hash: string;
  prescriber: string;
  /** The salted patient commitment (hex). */
  patient: string;
  medicine: Medicine;
  quantity: number;
  repeats: number;
  dosage: string;
  validFrom: string;
  validUntil: string;
  /** base64 token key. */
  token: string;
  at: string;
  region: string;
  ptype: string;
  /** The report's substance key: ATC code, else substance name, else `gtin:<GTIN>`. */
  substance: string;
  dispensed: number;
  claimedBy: string | null;
  claimedIndex: number | null;
  cancelledIndex: number | null;
  cancelReason: string | null;
}

export interface RxDispenseRow {
  id: string;
  index: number;
  gtin: string;
  serial: string;
  pharmacy: string;
  at: string;
  undoneIndex: number | null;
}

/** One cell of custody_rx_stats: the counts of core/rx/report.ts. */
export type RxStatRow = RxCellCounts;

interface RawRx {
  id: string;
  idx: number;
  hash: Buffer;
  prescriber: string;
  patient: string;
  medicine: string;
  quantity: number;
  repeats: number;
  dosage: string;
  valid_from: string;
  valid_until: string;
  token: string;
  at: string;
  region: string;
  ptype: string;
  substance: string;
  dispensed: number;
  claimed_by: string | null;
  claimed_idx: number | null;
  cancelled_idx: number | null;
  cancel_reason: string | null;
}

function medicineOf(json: string): Medicine {
  const v: unknown = JSON.parse(json);
  const str = (o: object, k: string): string | undefined => {
    const x: unknown = Object.getOwnPropertyDescriptor(o, k)?.value;
    return typeof x === 'string' ? x : undefined;
  };
  if (typeof v === 'object' && v !== null) {
    const gtin = str(v, 'gtin');
    if (gtin !== undefined) return { gtin };
    const substance = str(v, 'substance');
    const strength = str(v, 'strength');
    const form = str(v, 'form');
    const atc = str(v, 'atc');
    if (substance !== undefined && strength !== undefined && form !== undefined) return { substance, strength, form, ...(atc !== undefined ? { atc } : {}) };
  }
  throw new MedtrailError('STORE_CORRUPT', 'custody_rx holds a malformed medicine');
}

function rxRow(r: RawRx): RxRow {
  return {
    id: r.id,
    index: r.idx,
    hash: r.hash.toString('hex'),
    prescriber: r.prescriber,
    patient: r.patient,
    medicine: medicineOf(r.medicine),
    quantity: r.quantity,
    repeats: r.repeats,
    dosage: r.dosage,
    validFrom: r.valid_from,
    validUntil: r.valid_until,
    token: r.token,
    at: r.at,
    region: r.region,
    ptype: r.ptype,
    substance: r.substance,
    dispensed: r.dispensed,
    claimedBy: r.claimed_by,
    claimedIndex: r.claimed_idx,
    cancelledIndex: r.cancelled_idx,
    cancelReason: r.cancel_reason,
  };
}

export interface PackEvent {
  index: number;
  kind: EntryKind;
  at: string;
  signer: string;
  counterparty: string | null;
}

/** A ship entry as the custody tables index it (GET /shipments answers part of it: ShipmentAnswer). */
export interface ShipmentRow extends ShipmentAnswer {
  to: string;
  receivedIndex: number | null;
}

interface RawPack {
  gtin: string;
  serial: string;
  lot: string;
  expiry: string;
  state: string;
  holder: string;
  in_transit_to: string | null;
  last_idx: number;
  last_hash: Buffer;
  batch_idx: number;
  dispensed_by: string | null;
  dispensed_at: string | null;
}

const PACK_COLS = 'gtin, serial, lot, expiry, state, holder, in_transit_to, last_idx, last_hash, batch_idx, dispensed_by, dispensed_at';

export function packRow(r: RawPack): PackRow {
  return {
    gtin: r.gtin,
    serial: r.serial,
    lot: r.lot,
    expiry: r.expiry,
    state: packStateOf(r.state),
    holder: r.holder,
    inTransitTo: r.in_transit_to,
    lastIndex: r.last_idx,
    lastHash: r.last_hash.toString('hex'),
    batchIndex: r.batch_idx,
    dispensedBy: r.dispensed_by,
    dispensedAt: r.dispensed_at,
  };
}

/** Most lots and participants kept in memory (a bound against unbounded growth; cleared when reached). */
const MAX_CACHED_ROWS = 10_000;

/** Every column of custody_packs in table order (the PostgreSQL guard compares whole rows: server/pg/replica.ts). */
export const PACK_ROW_COLS = 'gtin, serial, lot, expiry, state, holder, in_transit_to, last_idx, last_hash, batch_idx, dispensed_by, dispensed_at';

/** A pack whose newest entry is at or after an index, and its lot's maker (null: the tables hold no such lot). */
export type TouchedPack = [gtin: string, serial: string, lot: string, expiry: string, state: string, lastHash: Buffer, maker: string | null];

/**
 * The reads the state maps take a slice at a time (server/map/map-service.ts advance()): on a read-only
 * connection of their own inside one read transaction, so every slice sees the tables as they were at one
 * tree size while appends commit on. No schema is made here (the connection may not write).
 */
export class MapSourceReader {
  private readonly touched;
  private readonly recalled;

  constructor(readonly db: Database.Database) {
    this.touched = db
      .prepare<[number], TouchedPack>(
        `SELECT p.gtin, p.serial, p.lot, p.expiry, p.state, p.last_hash, l.manufacturer FROM custody_packs p
         LEFT JOIN custody_lots l ON l.gtin = p.gtin AND l.lot = p.lot WHERE p.last_idx >= ?`,
      )
      .raw();
    this.recalled = db.prepare<[number], { gtin: string; lot: string; recalled_idx: number }>('SELECT gtin, lot, recalled_idx FROM custody_lots WHERE recalled_idx >= ?');
  }

  /** The packs touched at or after `index`, one row at a time (the connection is busy until the iterator ends). */
  packsTouchedSince(index: number): IterableIterator<TouchedPack> {
    return this.touched.iterate(index);
  }

  lotsRecalledSince(index: number): { gtin: string; lot: string; recalledIndex: number }[] {
    return this.recalled.all(index).map((r) => ({ gtin: r.gtin, lot: r.lot, recalledIndex: r.recalled_idx }));
  }
}

export class CustodyState {
  private readonly batchEvents = new Map<number, { at: string; signer: string }>();
  // Lots and participants are read on every verification and change rarely (a recall, an admission): they
  // are kept in memory. Exact, not time-bound: submit() calls invalidate() after every append, committed or
  // rolled back; inside a write transaction (the rules' checks) they are always read from the tables, which
  // hold what the entries before them changed, and what is read there is never kept (it may roll back). Packs are not cached: there are millions and each verification wants a different one.
  private readonly lots = new Map<string, LotRow>();
  private readonly parts = new Map<string, ParticipantRow>();
  private readonly st;

  constructor(readonly db: Database.Database) {
    db.exec(CUSTODY_SCHEMA);
    this.st = {
      pack: db.prepare<[string, string], RawPack>(`SELECT ${PACK_COLS} FROM custody_packs WHERE gtin = ? AND serial = ?`),
      lot: db.prepare<[string, string], LotRow>(
        `SELECT gtin, lot, expiry, manufacturer, batch_idx AS batchIndex, pack_count AS packCount, recalled_idx AS recalledIndex,
                recall_reason AS recallReason, recalled_at AS recalledAt FROM custody_lots WHERE gtin = ? AND lot = ?`,
      ),
      product: db.prepare<[string], ProductRow>(
        'SELECT gtin, name, form, strength, pack_size AS packSize, manufacturer, idx AS "index" FROM custody_products WHERE gtin = ?',
      ),
      participant: db.prepare<[string], RawParticipant>('SELECT gln, name, role, public_key, prefixes, revoked, idx FROM custody_participants WHERE gln = ?'),
      participants: db.prepare<[], RawParticipant>('SELECT gln, name, role, public_key, prefixes, revoked, idx FROM custody_participants ORDER BY gln'),
      events: db.prepare<[string, string], PackEvent>(
        'SELECT idx AS "index", kind, at, signer, counterparty FROM custody_events WHERE gtin = ? AND serial = ? ORDER BY idx',
      ),
      batchEvent: db.prepare<[number], { at: string; signer: string }>('SELECT at, signer FROM leaves WHERE idx = ?'),
      held: db.prepare<[string, number, number], RawPack>(
        `SELECT ${PACK_COLS} FROM custody_packs WHERE holder = ? AND state = 'active' ORDER BY gtin, lot, serial LIMIT ? OFFSET ?`,
      ),
      heldLot: db.prepare<[string, string, string], RawPack>(
        `SELECT ${PACK_COLS} FROM custody_packs WHERE holder = ? AND state = 'active' AND gtin = ? AND lot = ? ORDER BY serial`,
      ),
      shipOpen: db.prepare<[string], RawShipment>(
        'SELECT idx, hash, sender, recipient, at, count, received_idx FROM custody_shipments WHERE recipient = ? AND received_idx IS NULL ORDER BY idx',
      ),
      shipAll: db.prepare<[string], RawShipment>(
        'SELECT idx, hash, sender, recipient, at, count, received_idx FROM custody_shipments WHERE recipient = ? ORDER BY idx',
      ),
      shipment: db.prepare<[number], RawShipment>('SELECT idx, hash, sender, recipient, at, count, received_idx FROM custody_shipments WHERE idx = ?'),
      shipmentPacks: db.prepare<[number], { gtin: string; serial: string; sscc: string | null; outcome: string | null }>(
        'SELECT gtin, serial, sscc, outcome FROM custody_shipment_packs WHERE ship_idx = ? ORDER BY gtin, serial',
      ),
      packCount: db.prepare<[], number>('SELECT count(*) FROM custody_packs').pluck(),
      packRowsAfter: db
        .prepare<[string, string, number], unknown[]>(`SELECT ${PACK_ROW_COLS} FROM custody_packs WHERE (gtin, serial) > (?, ?) ORDER BY gtin, serial LIMIT ?`)
        .raw(),
      touched: db
        .prepare<[number], [string, string, string, string, string, Buffer]>('SELECT gtin, serial, lot, expiry, state, last_hash FROM custody_packs WHERE last_idx >= ?')
        .raw(),
      lotMaker: db.prepare<[string, string], string>('SELECT manufacturer FROM custody_lots WHERE gtin = ? AND lot = ?').pluck(),
      rx: db.prepare<[string], RawRx>('SELECT * FROM custody_rx WHERE id = ?'),
      rxBy: db.prepare<[string, number], RawRx>('SELECT * FROM custody_rx WHERE prescriber = ? ORDER BY idx DESC LIMIT ?'),
      rxClaimed: db.prepare<[string], RawRx>('SELECT * FROM custody_rx WHERE claimed_by = ? ORDER BY idx'),
      rxDispenses: db.prepare<[string], RxDispenseRow>(
        'SELECT id, idx AS "index", gtin, serial, pharmacy, at, undone_idx AS undoneIndex FROM custody_rx_dispenses WHERE id = ? ORDER BY idx',
      ),
      rxOfDispense: db.prepare<[string, string, number], string>('SELECT id FROM custody_rx_dispenses WHERE gtin = ? AND serial = ? AND idx = ?').pluck(),
      rxStats: db.prepare<[], RxStatRow>(
        'SELECT month, region, substance, ptype, prescriptions, packs_prescribed AS packsPrescribed, packs_dispensed AS packsDispensed FROM custody_rx_stats',
      ),
      substance: db.prepare<[string], { substance: string | null; atc: string | null }>('SELECT substance, atc FROM custody_substances WHERE gtin = ?'),
      prescriber: db.prepare<[string], { region: string; type: string }>('SELECT region, type FROM custody_prescribers WHERE gln = ?'),
      recalledSince: db.prepare<[number], { gtin: string; lot: string; recalled_idx: number }>(
        'SELECT gtin, lot, recalled_idx FROM custody_lots WHERE recalled_idx >= ?',
      ),
    };
  }

  /**
   * The packs whose newest entry is at or after `index`, with the maker of their lot: what changed in the state
   * map (server/map) since it last caught up; from 0, every pack (the maps built at start).
   */
  packsTouchedSince(index: number, each: (gtin: string, serial: string, lot: string, expiry: string, state: PackState, maker: string, lastHash: Uint8Array) => void): void {
    // Rows as arrays and the lot's maker from a small cache: a batch of 100,000 packs is a few lots.
    const makers = new Map<string, string>();
    const rows: [string, string, string, string, string, Buffer][] = this.st.touched.all(index);
    for (const [gtin, serial, lot, expiry, state, lastHash] of rows) {
      const lk = `${gtin}/${lot}`;
      let maker = makers.get(lk);
      if (maker === undefined) {
        maker = this.st.lotMaker.get(gtin, lot);
        if (maker === undefined) throw new MedtrailError('STORE_CORRUPT', `pack ${gtin} ${serial} names a lot ${lot} the tables do not hold`);
        makers.set(lk, maker);
      }
      each(gtin, serial, lot, expiry, packStateOf(state), maker, lastHash);
    }
  }

  /** Lots recalled by an entry at or after `index`. */
  lotsRecalledSince(index: number): { gtin: string; lot: string; recalledIndex: number }[] {
    return this.st.recalledSince.all(index).map((r) => ({ gtin: r.gtin, lot: r.lot, recalledIndex: r.recalled_idx }));
  }

  pack(gtin: string, serial: string): PackRow | undefined {
    const r = this.st.pack.get(gtin, serial);
    return r === undefined ? undefined : packRow(r);
  }

  lot(gtin: string, lot: string): LotRow | undefined {
    const key = `${gtin}/${lot}`;
    // Inside a write transaction the rules must see what the entries before them changed: always read.
    const hit = this.db.inTransaction ? undefined : this.lots.get(key);
    if (hit !== undefined) return hit;
    const r = this.st.lot.get(gtin, lot);
    if (r !== undefined) this.keep(this.lots, key, Object.freeze(r));
    return r;
  }

  /** Forgets the cached lots and participants: after every append (committed or not) and every replay. */
  invalidate(): void {
    this.lots.clear();
    this.parts.clear();
  }

  private keep<T>(m: Map<string, T>, key: string, row: T): void {
    // Inside a write transaction the row may be one that is about to be rolled back.
    if (this.db.inTransaction) return;
    if (m.size >= MAX_CACHED_ROWS) m.clear();
    m.set(key, row);
  }

  product(gtin: string): ProductRow | undefined {
    return this.st.product.get(gtin);
  }

  participant(gln: string): ParticipantRow | undefined {
    const hit = this.db.inTransaction ? undefined : this.parts.get(gln);
    if (hit !== undefined) return hit;
    const r = this.st.participant.get(gln);
    if (r === undefined) return undefined;
    const row = participantRow(r);
    Object.freeze(row.prefixes);
    this.keep(this.parts, gln, Object.freeze(row));
    return row;
  }

  participants(): ParticipantRow[] {
    return this.st.participants.all().map(participantRow);
  }

  /** The pack's history: its batch first, then every ship, receive, dispense, undo and decommission in order. */
  packEvents(gtin: string, serial: string): PackEvent[] {
    const p = this.st.pack.get(gtin, serial);
    return p === undefined ? [] : this.eventsOf({ gtin, serial, batchIndex: p.batch_idx, lastIndex: p.last_idx });
  }

  /** packEvents for a pack row the caller already holds (the verify path): no second lookup of the pack. */
  eventsOf(p: Pick<PackRow, 'gtin' | 'serial' | 'batchIndex' | 'lastIndex'>): PackEvent[] {
    // A batch leaf never changes, and many packs share one: its time and signer are read once.
    let b = this.batchEvents.get(p.batchIndex);
    if (b === undefined) {
      b = this.st.batchEvent.get(p.batchIndex);
      if (b !== undefined) {
        if (this.batchEvents.size >= 10_000) this.batchEvents.clear();
        this.batchEvents.set(p.batchIndex, b);
      }
    }
    const first: PackEvent[] = b === undefined ? [] : [{ index: p.batchIndex, kind: 'batch', at: b.at, signer: b.signer, counterparty: null }];
    // Every event row moves the pack's newest link (writer.ts 'move'): a pack whose newest link is still its
    // batch has none, and the range read is skipped.
    if (p.lastIndex === p.batchIndex) return first;
    return first.concat(this.st.events.all(p.gtin, p.serial));
  }

  /** Active packs (on the shelf, not in transit) held by `gln`, ordered by GTIN, lot, serial. */
  packsHeldBy(gln: string, limit: number, offset: number): PackRow[] {
    return this.st.held.all(gln, limit, offset).map(packRow);
  }

  /** Active packs of one lot held by `gln` (what a whole-lot ship moves). */
  lotPacksHeldBy(gln: string, gtin: string, lot: string): PackRow[] {
    return this.st.heldLot.all(gln, gtin, lot).map(packRow);
  }

  shipmentsTo(gln: string, open: boolean): ShipmentAnswer[] {
    return (open ? this.st.shipOpen : this.st.shipAll).all(gln).map((r) => {
      const s = shipmentRow(r);
      return { index: s.index, hash: s.hash, from: s.from, at: s.at, count: s.count };
    });
  }

  shipment(index: number): ShipmentRow | undefined {
    const r = this.st.shipment.get(index);
    return r === undefined ? undefined : shipmentRow(r);
  }

  /** The packs a ship entry moved; `outcome` is 'received' or 'missing' once the shipment is received. */
  shipmentPacks(index: number): { gtin: string; serial: string; sscc: string | null; outcome: string | null }[] {
    return this.st.shipmentPacks.all(index);
  }

  rx(id: string): RxRow | undefined {
    const r = this.st.rx.get(id);
    return r === undefined ? undefined : rxRow(r);
  }

  /** The newest `limit` prescriptions a prescriber signed. */
  rxBy(prescriber: string, limit: number): RxRow[] {
    return this.st.rxBy.all(prescriber, limit).map(rxRow);
  }

  /** The prescriptions a pharmacy holds the claim of. */
  rxClaimedBy(pharmacy: string): RxRow[] {
    return this.st.rxClaimed.all(pharmacy).map(rxRow);
  }

  rxDispenses(id: string): RxDispenseRow[] {
    return this.st.rxDispenses.all(id);
  }

  /** The prescription a dispense entry (at `index`) of this pack was made against, if any. */
  rxOfDispense(gtin: string, serial: string, index: number): string | undefined {
    return this.st.rxOfDispense.get(gtin, serial, index);
  }

  /** Every cell of the prescription aggregates (bounded by months x regions x substances x prescriber types). */
  rxStats(): RxStatRow[] {
    return this.st.rxStats.all();
  }

  /** The same cells one at a time: a report holds its sums, never the cells (nor, ever, the prescriptions). */
  rxStatsEach(): IterableIterator<RxStatRow> {
    return this.st.rxStats.iterate();
  }

  substanceOf(gtin: string): { substance: string | null; atc: string | null } | undefined {
    return this.st.substance.get(gtin);
  }

  prescriber(gln: string): { region: string; type: string } | undefined {
    return this.st.prescriber.get(gln);
  }

  /** Whole pack rows (PACK_ROW_COLS) after (gtin, serial) in key order: a window of the running PostgreSQL guard. */
  packRowsAfter(gtin: string, serial: string, limit: number): unknown[][] {
    return this.st.packRowsAfter.all(gtin, serial, limit);
  }

  packCount(): number {
    return this.st.packCount.get() ?? 0;
  }
}

interface RawParticipant {
  gln: string;
  name: string;
  role: string;
  public_key: string;
  prefixes: string;
  revoked: number;
  idx: number;
}

function participantRow(r: RawParticipant): ParticipantRow {
  return {
    gln: r.gln,
    name: r.name,
    role: roleOf(r.role),
    publicKey: r.public_key,
    prefixes: stringListOf(r.prefixes),
    revoked: r.revoked === 1,
    index: r.idx,
  };
}

interface RawShipment {
  idx: number;
  hash: Buffer;
  sender: string;
  recipient: string;
  at: string;
  count: number;
  received_idx: number | null;
}

function shipmentRow(r: RawShipment): ShipmentRow {
  return { index: r.idx, hash: toHex(r.hash), from: r.sender, to: r.recipient, at: r.at, count: r.count, receivedIndex: r.received_idx };
}
