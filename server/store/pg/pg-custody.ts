// The custody tables in PostgreSQL (issue 15): the same tables, columns and rows as the SQLite ones
// (server/custody/schema.ts), written in the append's PostgreSQL transaction from the same list of changes the
// rules returned in the dry run (server/custody/writer.ts Change; server/pg/replica.ts), so that an entry and its
// custody rows commit together or not at all, whichever server took it. They are an index of the log like the
// SQLite ones: every server answers from its own copy (rebuilt by replaying the leaves), and `medtrail audit`
// and the running guard hold these rows to that replay, so a row edited in PostgreSQL is found.
//
// The rules already judged every change against the state at the locked head (the dry run), so nothing here
// refuses: a statement that would not match (a shipment already closed) cannot happen under the head lock.
// A batch's packs go in as multi-row inserts of up to 10,000 rows (unnest of arrays: one round trip each).
import { canonicalJson } from '../../../core/entry/jcs.js';
import type { Change, EntryRef, RxCell } from '../../custody/writer.js';

export const PG_CUSTODY_SCHEMA = (s: string): string => `
CREATE TABLE IF NOT EXISTS ${s}.custody_participants (
  gln TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, public_key TEXT NOT NULL, prefixes TEXT NOT NULL,
  revoked INT NOT NULL CHECK (revoked IN (0, 1)), idx BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.custody_products (
  gtin TEXT PRIMARY KEY, name TEXT NOT NULL, form TEXT NOT NULL, strength TEXT NOT NULL, pack_size BIGINT NOT NULL,
  manufacturer TEXT NOT NULL, idx BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.custody_lots (
  gtin TEXT NOT NULL, lot TEXT NOT NULL, expiry TEXT NOT NULL, manufacturer TEXT NOT NULL, batch_idx BIGINT NOT NULL,
  pack_count BIGINT NOT NULL, recalled_idx BIGINT, recall_reason TEXT, recalled_at TEXT, PRIMARY KEY (gtin, lot));
CREATE TABLE IF NOT EXISTS ${s}.custody_packs (
  gtin TEXT NOT NULL, serial TEXT NOT NULL, lot TEXT NOT NULL, expiry TEXT NOT NULL, state TEXT NOT NULL,
  holder TEXT NOT NULL, in_transit_to TEXT, last_idx BIGINT NOT NULL, last_hash BYTEA NOT NULL CHECK (length(last_hash) = 32),
  batch_idx BIGINT NOT NULL, dispensed_by TEXT, dispensed_at TEXT, PRIMARY KEY (gtin, serial));
CREATE INDEX IF NOT EXISTS custody_packs_by_holder ON ${s}.custody_packs (holder, state, gtin, lot);
CREATE TABLE IF NOT EXISTS ${s}.custody_events (
  gtin TEXT NOT NULL, serial TEXT NOT NULL, idx BIGINT NOT NULL, kind TEXT NOT NULL, at TEXT NOT NULL,
  signer TEXT NOT NULL, counterparty TEXT, PRIMARY KEY (gtin, serial, idx));
CREATE TABLE IF NOT EXISTS ${s}.custody_shipments (
  idx BIGINT PRIMARY KEY, hash BYTEA NOT NULL CHECK (length(hash) = 32), sender TEXT NOT NULL, recipient TEXT NOT NULL,
  at TEXT NOT NULL, count BIGINT NOT NULL, received_idx BIGINT);
CREATE TABLE IF NOT EXISTS ${s}.custody_shipment_packs (
  ship_idx BIGINT NOT NULL, gtin TEXT NOT NULL, serial TEXT NOT NULL, sscc TEXT, outcome TEXT, PRIMARY KEY (ship_idx, gtin, serial));
CREATE TABLE IF NOT EXISTS ${s}.custody_discrepancies (
  receive_idx BIGINT NOT NULL, gtin TEXT NOT NULL, serial TEXT NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (receive_idx, gtin, serial));
CREATE TABLE IF NOT EXISTS ${s}.custody_prescribers (gln TEXT PRIMARY KEY, region TEXT NOT NULL, type TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ${s}.custody_substances (gtin TEXT PRIMARY KEY, substance TEXT, atc TEXT);
CREATE TABLE IF NOT EXISTS ${s}.custody_rx (
  id TEXT PRIMARY KEY, idx BIGINT NOT NULL, hash BYTEA NOT NULL CHECK (length(hash) = 32), prescriber TEXT NOT NULL,
  patient TEXT NOT NULL, medicine TEXT NOT NULL, quantity BIGINT NOT NULL, repeats BIGINT NOT NULL, dosage TEXT NOT NULL,
  valid_from TEXT NOT NULL, valid_until TEXT NOT NULL, token TEXT NOT NULL, at TEXT NOT NULL, region TEXT NOT NULL,
  ptype TEXT NOT NULL, substance TEXT NOT NULL, dispensed BIGINT NOT NULL, claimed_by TEXT, claimed_idx BIGINT,
  cancelled_idx BIGINT, cancel_reason TEXT);
CREATE TABLE IF NOT EXISTS ${s}.custody_rx_dispenses (
  id TEXT NOT NULL, idx BIGINT NOT NULL, gtin TEXT NOT NULL, serial TEXT NOT NULL, pharmacy TEXT NOT NULL, at TEXT NOT NULL,
  undone_idx BIGINT, PRIMARY KEY (id, idx));
CREATE TABLE IF NOT EXISTS ${s}.custody_rx_stats (
  month TEXT NOT NULL, region TEXT NOT NULL, substance TEXT NOT NULL, ptype TEXT NOT NULL, prescriptions BIGINT NOT NULL,
  packs_prescribed BIGINT NOT NULL, packs_dispensed BIGINT NOT NULL, PRIMARY KEY (month, region, substance, ptype));
CREATE TABLE IF NOT EXISTS ${s}.custody_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
`;

/** A query runner inside the append's transaction. */
export type PgQuery = (sql: string, params?: unknown[]) => Promise<unknown>;

const CHUNK = 10_000;

/** The changes of the entries of one append, in order, as the dry run recorded them. */
export interface RecordedChanges {
  ref: EntryRef;
  changes: readonly Change[];
}

/** Writes the recorded changes of one append into schema `s`, and how many leaves the tables now reflect. */
export async function writeCustody(q: PgQuery, s: string, recorded: readonly RecordedChanges[], applied: number): Promise<void> {
  for (const r of recorded) for (const c of r.changes) await one(q, s, r.ref, c);
  await q(`INSERT INTO ${s}.custody_meta (key, value) VALUES ('applied', $1) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [applied]);
}

async function one(q: PgQuery, s: string, ref: EntryRef, c: Change): Promise<void> {
  const hash = Buffer.from(ref.hash);
  switch (c.op) {
    case 'participant': {
      const r = c.row;
      await q(
        `INSERT INTO ${s}.custody_participants (gln, name, role, public_key, prefixes, revoked, idx) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (gln) DO UPDATE SET name = excluded.name, role = excluded.role, public_key = excluded.public_key,
           prefixes = excluded.prefixes, revoked = excluded.revoked, idx = excluded.idx`,
        [r.gln, r.name, r.role, r.publicKey, JSON.stringify(r.prefixes), r.revoked ? 1 : 0, ref.index],
      );
      return;
    }
    case 'product': {
      const r = c.row;
      await q(`INSERT INTO ${s}.custody_products (gtin, name, form, strength, pack_size, manufacturer, idx) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [r.gtin, r.name, r.form, r.strength, r.packSize, r.manufacturer, ref.index]);
      return;
    }
    case 'batch': {
      const l = c.lot;
      await q(`INSERT INTO ${s}.custody_lots (gtin, lot, expiry, manufacturer, batch_idx, pack_count) VALUES ($1, $2, $3, $4, $5, $6)`, [l.gtin, l.lot, l.expiry, l.manufacturer, ref.index, c.serials.length]);
      for (let i = 0; i < c.serials.length; i += CHUNK) {
        await q(
          `INSERT INTO ${s}.custody_packs (gtin, serial, lot, expiry, state, holder, in_transit_to, last_idx, last_hash, batch_idx)
           SELECT $1, serial, $2, $3, 'active', $4, NULL, $5, $6, $5 FROM unnest($7::text[]) AS serial`,
          [l.gtin, l.lot, l.expiry, l.manufacturer, ref.index, hash, c.serials.slice(i, i + CHUNK)],
        );
      }
      return;
    }
    case 'move': {
      for (let i = 0; i < c.packs.length; i += CHUNK) {
        const part = c.packs.slice(i, i + CHUNK);
        const gtins = part.map((p) => p.gtin);
        const serials = part.map((p) => p.serial);
        await q(
          `UPDATE ${s}.custody_packs p SET state = $1, holder = $2, in_transit_to = $3, last_idx = $4, last_hash = $5, dispensed_by = $6, dispensed_at = $7
           FROM unnest($8::text[], $9::text[]) AS k(gtin, serial) WHERE p.gtin = k.gtin AND p.serial = k.serial`,
          [c.state, c.holder, c.inTransitTo, ref.index, hash, c.dispensed?.by ?? null, c.dispensed?.at ?? null, gtins, serials],
        );
        await q(
          `INSERT INTO ${s}.custody_events (gtin, serial, idx, kind, at, signer, counterparty)
           SELECT gtin, serial, $1, $2, $3, $4, $5 FROM unnest($6::text[], $7::text[]) AS k(gtin, serial)`,
          [ref.index, ref.kind, ref.at, ref.signer, c.counterparty, gtins, serials],
        );
      }
      return;
    }
    case 'shipment': {
      await q(`INSERT INTO ${s}.custody_shipments (idx, hash, sender, recipient, at, count) VALUES ($1, $2, $3, $4, $5, $6)`, [ref.index, hash, ref.signer, c.to, ref.at, c.packs.length]);
      for (let i = 0; i < c.packs.length; i += CHUNK) {
        const part = c.packs.slice(i, i + CHUNK);
        await q(`INSERT INTO ${s}.custody_shipment_packs (ship_idx, gtin, serial, sscc) SELECT $1, gtin, serial, sscc FROM unnest($2::text[], $3::text[], $4::text[]) AS k(gtin, serial, sscc)`, [
          ref.index,
          part.map((p) => p.gtin),
          part.map((p) => p.serial),
          part.map((p) => p.sscc),
        ]);
      }
      return;
    }
    case 'received': {
      await q(`UPDATE ${s}.custody_shipments SET received_idx = $1 WHERE idx = $2 AND received_idx IS NULL`, [ref.index, c.shipIndex]);
      await q(`UPDATE ${s}.custody_shipment_packs SET outcome = 'received' WHERE ship_idx = $1`, [c.shipIndex]);
      for (const p of c.missing) await q(`UPDATE ${s}.custody_shipment_packs SET outcome = 'missing' WHERE ship_idx = $1 AND gtin = $2 AND serial = $3`, [c.shipIndex, p.gtin, p.serial]);
      for (const p of c.extra) await q(`INSERT INTO ${s}.custody_discrepancies (receive_idx, gtin, serial, kind) VALUES ($1, $2, $3, 'extra') ON CONFLICT DO NOTHING`, [ref.index, p.gtin, p.serial]);
      return;
    }
    case 'recall':
      await q(`UPDATE ${s}.custody_lots SET recalled_idx = $1, recall_reason = $2, recalled_at = $3 WHERE gtin = $4 AND lot = $5 AND recalled_idx IS NULL`, [ref.index, c.reason, ref.at, c.gtin, c.lot]);
      return;
    case 'prescriber':
      await q(`INSERT INTO ${s}.custody_prescribers (gln, region, type) VALUES ($1, $2, $3) ON CONFLICT (gln) DO UPDATE SET region = excluded.region, type = excluded.type`, [c.gln, c.region, c.type]);
      return;
    case 'substance':
      await q(`INSERT INTO ${s}.custody_substances (gtin, substance, atc) VALUES ($1, $2, $3)`, [c.gtin, c.substance, c.atc]);
      return;
    case 'rx': {
      const r = c.row;
      await q(
        `INSERT INTO ${s}.custody_rx (id, idx, hash, prescriber, patient, medicine, quantity, repeats, dosage, valid_from, valid_until, token, at,
           region, ptype, substance, dispensed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 0)`,
        [r.id, ref.index, hash, r.prescriber, r.patient, canonicalJson(r.medicine), r.quantity, r.repeats, r.dosage, r.validFrom, r.validUntil, r.token, r.at, r.region, r.ptype, r.substance],
      );
      await cell(q, s, c.cell, 1, c.packs, 0);
      return;
    }
    case 'rxClaim':
      await q(`UPDATE ${s}.custody_rx SET claimed_by = $1, claimed_idx = $2 WHERE id = $3`, [c.by, c.by === null ? null : ref.index, c.id]);
      return;
    case 'rxDispense':
      await q(`UPDATE ${s}.custody_rx SET dispensed = dispensed + 1, claimed_by = CASE WHEN $1 THEN NULL ELSE claimed_by END WHERE id = $2`, [c.fillEnds, c.id]);
      await q(`INSERT INTO ${s}.custody_rx_dispenses (id, idx, gtin, serial, pharmacy, at) VALUES ($1, $2, $3, $4, $5, $6)`, [c.id, ref.index, c.gtin, c.serial, ref.signer, ref.at]);
      await cell(q, s, c.cell, 0, 0, 1);
      return;
    case 'rxUndo':
      await q(`UPDATE ${s}.custody_rx_dispenses SET undone_idx = $1 WHERE id = $2 AND idx = $3 AND undone_idx IS NULL`, [ref.index, c.id, c.dispenseIndex]);
      await q(`UPDATE ${s}.custody_rx SET dispensed = dispensed - 1 WHERE id = $1`, [c.id]);
      await cell(q, s, c.cell, 0, 0, -1);
      return;
    case 'rxCancel':
      await q(`UPDATE ${s}.custody_rx SET cancelled_idx = $1, cancel_reason = $2, claimed_by = NULL WHERE id = $3 AND cancelled_idx IS NULL`, [ref.index, c.reason, c.id]);
      return;
  }
}

function cell(q: PgQuery, s: string, k: RxCell, prescriptions: number, packsPrescribed: number, packsDispensed: number): Promise<unknown> {
  return q(
    `INSERT INTO ${s}.custody_rx_stats (month, region, substance, ptype, prescriptions, packs_prescribed, packs_dispensed) VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (month, region, substance, ptype) DO UPDATE SET prescriptions = ${s}.custody_rx_stats.prescriptions + excluded.prescriptions,
       packs_prescribed = ${s}.custody_rx_stats.packs_prescribed + excluded.packs_prescribed, packs_dispensed = ${s}.custody_rx_stats.packs_dispensed + excluded.packs_dispensed`,
    [k.month, k.region, k.substance, k.ptype, prescriptions, packsPrescribed, packsDispensed],
  );
}
