// The ledger's SQLite schema. STRICT tables; WAL with synchronous=FULL so that a committed append survives
// power loss (an entry is acknowledged only after its transaction committed: docs/architecture.md, The ledger).
//
// leaves:      the append-only log; `entry` holds the exact leaf bytes (canonical JSON), `hash` their RFC 9162
//              leaf hash. Nothing is ever updated or deleted (triggers below refuse it, so a bug cannot do it;
//              a person editing the file behind our back is caught by `medtrail audit`).
// nodes:       interior hashes of every complete perfect subtree, level >= 1 (level 0 is leaves.hash): any
//              proof or root then costs O(log n) reads.
// head:        one row: the tree size and root; moved by compare-and-swap in the append's transaction.
// checkpoints: every signed checkpoint ever served, so old ones stay provable.
// meta:        schema version, log origin, public keys.
export const SCHEMA_VERSION = 1;

export const PRAGMAS = [
  'PRAGMA journal_mode = WAL',
  'PRAGMA synchronous = FULL',
  'PRAGMA foreign_keys = ON',
  'PRAGMA busy_timeout = 5000',
  // Proof reads touch a few pages scattered across a large file: a bigger page cache keeps them in memory.
  'PRAGMA cache_size = -65536',
];

export const LEDGER_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS head (
  id   INTEGER PRIMARY KEY CHECK (id = 0),
  size INTEGER NOT NULL CHECK (size >= 0),
  root BLOB NOT NULL CHECK (length(root) = 32)
) STRICT;

CREATE TABLE IF NOT EXISTS leaves (
  idx    INTEGER PRIMARY KEY CHECK (idx >= 0),
  hash   BLOB NOT NULL CHECK (length(hash) = 32),
  kind   TEXT NOT NULL,
  signer TEXT NOT NULL,
  nonce  TEXT NOT NULL,
  at     TEXT NOT NULL,
  -- Last on purpose: a batch entry is megabytes of overflow pages, and SQLite reaches a column stored after
  -- it only by walking that chain. Columns before it are read without touching the entry.
  entry  BLOB NOT NULL
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS leaves_by_hash ON leaves (hash);
CREATE UNIQUE INDEX IF NOT EXISTS leaves_by_nonce ON leaves (signer, nonce);

CREATE TABLE IF NOT EXISTS nodes (
  level INTEGER NOT NULL CHECK (level >= 1),
  idx   INTEGER NOT NULL CHECK (idx >= 0),
  hash  BLOB NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS checkpoints (
  size      INTEGER PRIMARY KEY CHECK (size >= 0),
  root      BLOB NOT NULL CHECK (length(root) = 32),
  note      TEXT NOT NULL,
  signed_at TEXT NOT NULL
) STRICT;

CREATE TRIGGER IF NOT EXISTS leaves_no_update BEFORE UPDATE ON leaves
BEGIN SELECT RAISE(ABORT, 'leaves are append-only'); END;
CREATE TRIGGER IF NOT EXISTS leaves_no_delete BEFORE DELETE ON leaves
BEGIN SELECT RAISE(ABORT, 'leaves are append-only'); END;
CREATE TRIGGER IF NOT EXISTS nodes_no_update BEFORE UPDATE ON nodes
BEGIN SELECT RAISE(ABORT, 'nodes are append-only'); END;
CREATE TRIGGER IF NOT EXISTS nodes_no_delete BEFORE DELETE ON nodes
BEGIN SELECT RAISE(ABORT, 'nodes are append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END;
`;
