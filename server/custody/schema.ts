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
  'custody_meta',
] as const;
