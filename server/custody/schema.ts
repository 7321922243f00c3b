// The custody tables: an index of the log, kept in the same SQLite file and written only inside the append's
// transaction (appendSigned's `apply`), so that the log and the index never disagree. Nothing here is a
// source of truth: replaying the log through the rules rebuilds every row.
//
// Tables keyed by what they are looked up by are WITHOUT ROWID (the key is the row's address: one B-tree
// descent, no rowid indirection). STRICT everywhere, so a wrong type is an error rather than a silent cast.
//
// custody_participants  who is enrolled (mirrors the KeyBook, but transactional: a later entry in the same
//                       request sees an admission made earlier in it)
// custody_products      GTIN -> master data and its manufacturer
// custody_lots          (GTIN, lot) -> expiry, manufacturer, batch entry, recall
// custody_packs         (GTIN, serial) -> state, holder, the newest entry that touched it
// custody_events        per pack, every entry after its batch (ship, receive, dispense, undo, decommission)
// custody_shipments     ship entries; received_idx is NULL while the shipment is open
// custody_shipment_packs which packs a ship entry moved (and how each arrived)
// custody_discrepancies  packs reported extra on a receive (present but not shipped)
// custody_meta          how many leaves of the log the tables reflect
// custody_prescribers   region and type of each prescriber (issue 16: the report dimensions)
// custody_substances    GTIN -> active substance and ATC code, when the product entry named them
// custody_rx            prescriptions: the ledger's part (never a name: the patient is a salted commitment),
//                       packs dispensed so far, the pharmacy holding the claim, cancellation
// custody_rx_dispenses  each pack dispensed against a prescription (undone_idx when an undo reversed it)
// custody_rx_stats      the report's aggregates, kept as counts by month, region, substance and prescriber type,
//                       so that a report reads a few thousand rows however many prescriptions there are
export const CUSTODY_SCHEMA = `
CREATE TABLE IF NOT EXISTS custody_participants (
  gln        TEXT PRIMARY KEY,
  name       TEXT NOT NULL,
  role       TEXT NOT NULL,
  public_key TEXT NOT NULL,
  prefixes   TEXT NOT NULL,
  revoked    INTEGER NOT NULL CHECK (revoked IN (0, 1)),
  idx        INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS custody_products (
  gtin         TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  form         TEXT NOT NULL,
  strength     TEXT NOT NULL,
  pack_size    INTEGER NOT NULL,
  manufacturer TEXT NOT NULL,
  idx          INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS custody_lots (
  gtin          TEXT NOT NULL,
  lot           TEXT NOT NULL,
  expiry        TEXT NOT NULL,
  manufacturer  TEXT NOT NULL,
  batch_idx     INTEGER NOT NULL,
  pack_count    INTEGER NOT NULL,
  recalled_idx  INTEGER,
  recall_reason TEXT,
  recalled_at   TEXT,
  PRIMARY KEY (gtin, lot)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS custody_packs (
  gtin          TEXT NOT NULL,
  serial        TEXT NOT NULL,
  lot           TEXT NOT NULL,
  expiry        TEXT NOT NULL,
  state         TEXT NOT NULL,
  holder        TEXT NOT NULL,
  in_transit_to TEXT,
  last_idx      INTEGER NOT NULL,
  last_hash     BLOB NOT NULL CHECK (length(last_hash) = 32),
  batch_idx     INTEGER NOT NULL,
  dispensed_by  TEXT,
  dispensed_at  TEXT,
  PRIMARY KEY (gtin, serial)
) STRICT, WITHOUT ROWID;
-- packsHeldBy and whole-lot ships: the packs a party holds, by state and lot.
CREATE INDEX IF NOT EXISTS custody_packs_by_holder ON custody_packs (holder, state, gtin, lot);
-- The state map's catch-up (server/map): the packs whose newest entry came after the map's last update.
CREATE INDEX IF NOT EXISTS custody_packs_by_last ON custody_packs (last_idx);

CREATE TABLE IF NOT EXISTS custody_events (
  gtin         TEXT NOT NULL,
  serial       TEXT NOT NULL,
  idx          INTEGER NOT NULL,
  kind         TEXT NOT NULL,
  at           TEXT NOT NULL,
  signer       TEXT NOT NULL,
  counterparty TEXT,
  PRIMARY KEY (gtin, serial, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS custody_shipments (
  idx          INTEGER PRIMARY KEY,
  hash         BLOB NOT NULL CHECK (length(hash) = 32),
  sender       TEXT NOT NULL,
  recipient    TEXT NOT NULL,
  at           TEXT NOT NULL,
  count        INTEGER NOT NULL,
  received_idx INTEGER
) STRICT;
-- shipmentsTo: a recipient's open (or all) shipments.
CREATE INDEX IF NOT EXISTS custody_shipments_to ON custody_shipments (recipient, received_idx);

CREATE TABLE IF NOT EXISTS custody_shipment_packs (
  ship_idx INTEGER NOT NULL,
  gtin     TEXT NOT NULL,
  serial   TEXT NOT NULL,
  sscc     TEXT,
  outcome  TEXT,
  PRIMARY KEY (ship_idx, gtin, serial)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS custody_discrepancies (
  receive_idx INTEGER NOT NULL,
  gtin        TEXT NOT NULL,
  serial      TEXT NOT NULL,
  kind        TEXT NOT NULL,
  PRIMARY KEY (receive_idx, gtin, serial)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS custody_prescribers (
  gln    TEXT PRIMARY KEY,
  region TEXT NOT NULL,
  type   TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS custody_substances (
  gtin      TEXT PRIMARY KEY,
  substance TEXT,
  atc       TEXT
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS custody_rx (
  id            TEXT PRIMARY KEY,
  idx           INTEGER NOT NULL,
  hash          BLOB NOT NULL CHECK (length(hash) = 32),
  prescriber    TEXT NOT NULL,
  patient       TEXT NOT NULL,
  medicine      TEXT NOT NULL,
  quantity      INTEGER NOT NULL,
  repeats       INTEGER NOT NULL,
  dosage        TEXT NOT NULL,
  valid_from    TEXT NOT NULL,
  valid_until   TEXT NOT NULL,
  token         TEXT NOT NULL,
  at            TEXT NOT NULL,
  region        TEXT NOT NULL,
  ptype         TEXT NOT NULL,
  substance     TEXT NOT NULL,
  dispensed     INTEGER NOT NULL,
  claimed_by    TEXT,
  claimed_idx   INTEGER,
  cancelled_idx INTEGER,
  cancel_reason TEXT
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS custody_rx_by_prescriber ON custody_rx (prescriber, idx);
CREATE INDEX IF NOT EXISTS custody_rx_by_claimant ON custody_rx (claimed_by) WHERE claimed_by IS NOT NULL;

CREATE TABLE IF NOT EXISTS custody_rx_dispenses (
  id         TEXT NOT NULL,
  idx        INTEGER NOT NULL,
  gtin       TEXT NOT NULL,
  serial     TEXT NOT NULL,
  pharmacy   TEXT NOT NULL,
  at         TEXT NOT NULL,
  undone_idx INTEGER,
  PRIMARY KEY (id, idx)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS custody_rx_dispenses_by_pack ON custody_rx_dispenses (gtin, serial, idx);

CREATE TABLE IF NOT EXISTS custody_rx_stats (
  month            TEXT NOT NULL,
  region           TEXT NOT NULL,
  substance        TEXT NOT NULL,
  ptype            TEXT NOT NULL,
  prescriptions    INTEGER NOT NULL,
  packs_prescribed INTEGER NOT NULL,
  packs_dispensed  INTEGER NOT NULL,
  PRIMARY KEY (month, region, substance, ptype)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS custody_meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
`;

/** Every custody table, in a fixed order (tests dump them to show a refused entry changed nothing). */
export const CUSTODY_TABLES = [
  'custody_participants',
  'custody_products',
  'custody_lots',
  'custody_packs',
  'custody_events',
  'custody_shipments',
  'custody_shipment_packs',
  'custody_discrepancies',
  'custody_prescribers',
  'custody_substances',
  'custody_rx',
  'custody_rx_dispenses',
  'custody_rx_stats',
  'custody_meta',
] as const;
