// The log on PostgreSQL (issue 15): the same leaves, interior hashes, head and checkpoints as the SQLite store
// (server/store/ledger-store.ts), with the same guarantees, held by the database for any number of medtrail
// processes at once:
//
//   - an append is one transaction that locks the head row (SELECT ... FOR UPDATE), checks it is still the
//     size the appender computed from (compare-and-swap: STORE_CONFLICT otherwise), inserts the leaves and the
//     perfect subtrees they complete, and moves the head: appends from every process are serialized by the
//     database, none lost, duplicated or reordered;
//   - a replayed (signer, nonce) is refused by a unique index, inside that transaction (ENTRY_REPLAYED);
//   - leaves, nodes and checkpoints are append-only in the database itself: triggers refuse UPDATE and DELETE,
//     whoever connects (the operator's own tools included) short of dropping them.
//
// Async (node-postgres, `pg`): chosen over postgres.js on figures measured on this machine (README,
// Dependencies). Each ledger lives in a schema of its own, so one database can hold several (and the tests
// one per test). `medtrail serve` sits on it through a working copy (server/pg/replica.ts): lockedAppend is
// its one way in, the reads here are how copies follow, the guard checks and audit copies the rows
// (docs/architecture.md, The ledger in PostgreSQL).
import pg from 'pg';
import { MedtrailError } from '../../../core/errors.js';
import { completedSubtrees, emptyRoot, leafHash, perfectSubtrees, rootAt, type PerfectHashReader } from '../../../core/log/merkle.js';
import type { Head, NewLeaf, NewNode, StoredCheckpoint, StoredLeaf } from '../ledger-store.js';
import { PG_CUSTODY_SCHEMA, type PgQuery } from './pg-custody.js';

const SCHEMA = (s: string): string => `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.leaves (
  idx    BIGINT PRIMARY KEY,
  hash   BYTEA NOT NULL CHECK (length(hash) = 32),
  entry  BYTEA NOT NULL,
  kind   TEXT NOT NULL,
  signer TEXT NOT NULL,
  nonce  TEXT NOT NULL,
  at     TEXT NOT NULL,
  UNIQUE (signer, nonce)
);
CREATE TABLE IF NOT EXISTS ${s}.nodes (
  level INT NOT NULL,
  idx   BIGINT NOT NULL,
  hash  BYTEA NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS ${s}.head (
  id   INT PRIMARY KEY CHECK (id = 1),
  size BIGINT NOT NULL,
  root BYTEA NOT NULL CHECK (length(root) = 32)
);
CREATE TABLE IF NOT EXISTS ${s}.checkpoints (
  size      BIGINT PRIMARY KEY,
  root      BYTEA NOT NULL CHECK (length(root) = 32),
  note      TEXT NOT NULL,
  signed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ${s}.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE OR REPLACE FUNCTION ${s}.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'medtrail: % is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'raise_exception';
END $$;
DO $$ BEGIN
  CREATE TRIGGER leaves_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ${s}.leaves FOR EACH STATEMENT EXECUTE FUNCTION ${s}.append_only();
  CREATE TRIGGER nodes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ${s}.nodes FOR EACH STATEMENT EXECUTE FUNCTION ${s}.append_only();
  CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ${s}.checkpoints FOR EACH STATEMENT EXECUTE FUNCTION ${s}.append_only();
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
INSERT INTO ${s}.head (id, size, root) VALUES (1, 0, $empty$) ON CONFLICT (id) DO NOTHING;
`;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function u8(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * BIGINT (int8) columns as numbers, not node-postgres's default text: leaf indexes and counts stay below 2^53
 * (a tree of 9 quadrillion leaves), and rows copied into SQLite keep SQLite's types (pg/snapshot.ts).
 */
const bigintAsNumber = new pg.TypeOverrides();
bigintAsNumber.setTypeParser(20, 'text', Number);

/**
 * A client out of the pool, with an 'error' listener for as long as it is out: a connection cut while checked
 * out (PostgreSQL restarting) emits 'error' on the client, which would otherwise end the process; the query
 * under way fails on its own and the caller answers STORE_UNAVAILABLE.
 */
async function checkout(pool: pg.Pool): Promise<pg.PoolClient> {
  const c = await pool.connect();
  const ignore = (): void => undefined;
  c.on('error', ignore);
  const release = c.release.bind(c);
  c.release = (err?: Error | boolean) => {
    c.off('error', ignore);
    release(err);
  };
  return c;
}

/** A failure to reach or use the database that says nothing about the ledger: transient, retried by clients. */
function unavailable(e: unknown): MedtrailError {
  return new MedtrailError('STORE_UNAVAILABLE', `the ledger database cannot be used now: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

function pgCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string' ? e.code : undefined;
}

/** The leaves and nodes an append of `bytes` after a tree of `size` leaves writes, and the new head. */
export interface PreparedAppend {
  expectedSize: number;
  leaves: NewLeaf[];
  nodes: NewNode[];
  head: Head;
}

/** Runs one statement on the ledger's schema and gives its rows (PgLogStore.rows). */
export type PgRows = <T>(sql: string, params?: unknown[]) => Promise<T[]>;

/** The ledger's rows at one instant (PgLogStore.snapshot). */
export interface PgSnapshot {
  meta(): Promise<Record<string, string>>;
  head(): Promise<Head>;
  leafRows(start: number, end: number): Promise<NewLeaf[]>;
  nodes(): Promise<NewNode[]>;
  checkpoints(): Promise<StoredCheckpoint[]>;
  /** Every row of one of the ledger's other tables (a name from a fixed list: the custody tables). */
  rows(table: string): Promise<Record<string, unknown>[]>;
}

export class PgLogStore {
  private constructor(
    private readonly pool: pg.Pool,
    private readonly s: string,
    private readonly url: string,
  ) {}

  /**
   * Opens the ledger in schema `schema` of the database at `url`. With `create` the tables are made when
   * missing (`medtrail init`); without it a schema `medtrail init` did not make is STORE_MISSING.
   */
  static async open(url: string, schema = 'medtrail', opts: { create?: boolean; max?: number } = { create: true }): Promise<PgLogStore> {
    if (!SCHEMA_NAME.test(schema)) throw new MedtrailError('CLI_USAGE', `a ledger schema name is lowercase letters, digits and _, got ${schema}`);
    const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 8, types: bigintAsNumber });
    // An idle client whose server went away (a PostgreSQL restart) must not take the process down.
    pool.on('error', () => undefined);
    try {
      const c = await checkout(pool);
      try {
        if (opts.create === true) {
          const empty = `'\\x${Buffer.from(emptyRoot()).toString('hex')}'::bytea`;
          // One ledger set up at a time, whichever process gets there first.
          await c.query('SELECT pg_advisory_lock(hashtext($1))', [`medtrail:${schema}`]);
          await c.query(SCHEMA(schema).replace('$empty$', empty));
          await c.query(PG_CUSTODY_SCHEMA(schema));
          await c.query('SELECT pg_advisory_unlock(hashtext($1))', [`medtrail:${schema}`]);
        } else {
          const r = await c.query<{ n: string }>("SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'meta'", [schema]);
          if (Number(r.rows[0]?.n ?? 0) === 0) throw new MedtrailError('STORE_MISSING', `no medtrail ledger in schema ${schema}; run \`medtrail init --db <url>\``);
        }
      } finally {
        c.release();
      }
    } catch (e) {
      await pool.end();
      if (e instanceof MedtrailError) throw e;
      throw new MedtrailError('STORE_UNAVAILABLE', `cannot open the ledger on PostgreSQL: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    return new PgLogStore(pool, schema, url);
  }

  /** The schema this ledger lives in. */
  get schema(): string {
    return this.s;
  }

  /** The channel every commit of this ledger notifies (LISTEN on it to follow the ledger). */
  get channel(): string {
    return `medtrail_${this.s}`;
  }

  /** Wakes the other servers' follow rounds (LISTEN on `channel`). */
  async notify(payload: string): Promise<void> {
    await this.pool.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
  }

  /** A connection of its own (LISTEN, a session advisory lock): the caller ends it. */
  async dedicatedClient(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: this.url });
    c.on('error', () => undefined);
    await c.connect();
    return c;
  }

  async getMeta(key: string): Promise<string | undefined> {
    const r = await this.pool.query<{ value: string }>(`SELECT value FROM ${this.s}.meta WHERE key = $1`, [key]);
    return r.rows[0]?.value;
  }

  async allMeta(): Promise<Record<string, string>> {
    const r = await this.pool.query<{ key: string; value: string }>(`SELECT key, value FROM ${this.s}.meta ORDER BY key`);
    return Object.fromEntries(r.rows.map((x) => [x.key, x.value]));
  }

  /** Writes a new ledger's meta rows in one transaction: STORE_EXISTS when the schema already holds a ledger. */
  async initMeta(values: Record<string, string>): Promise<void> {
    const c = await checkout(this.pool);
    try {
      await c.query('BEGIN');
      await c.query(`LOCK TABLE ${this.s}.meta IN EXCLUSIVE MODE`);
      const had = await c.query(`SELECT 1 FROM ${this.s}.meta WHERE key = 'origin'`);
      if (had.rowCount !== 0) throw new MedtrailError('STORE_EXISTS', `schema ${this.s} already holds a ledger; refusing to overwrite`);
      for (const [k, v] of Object.entries(values)) await c.query(`INSERT INTO ${this.s}.meta (key, value) VALUES ($1, $2)`, [k, v]);
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  async head(): Promise<Head> {
    const r = await this.pool.query<{ size: string; root: Buffer }>(`SELECT size, root FROM ${this.s}.head WHERE id = 1`);
    const row = r.rows[0];
    if (row === undefined) throw new MedtrailError('STORE_CORRUPT', 'the ledger has no head row');
    return { size: Number(row.size), root: u8(row.root) };
  }

  async leaves(start: number, end: number): Promise<StoredLeaf[]> {
    const r = await this.pool.query<{ idx: string; hash: Buffer; entry: Buffer }>(`SELECT idx, hash, entry FROM ${this.s}.leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx`, [start, end]);
    return r.rows.map((x) => ({ index: Number(x.idx), hash: u8(x.hash), bytes: u8(x.entry) }));
  }

  /**
   * Leaves [start, end) with what the store keeps beside their bytes (what a copy of the log appends); with
   * `maxBytes`, it stops once their bytes reach it (at least one leaf): a copy pages through a log of large batch
   * leaves without holding gigabytes at once.
   */
  async leafRows(start: number, end: number, maxBytes = Number.MAX_SAFE_INTEGER): Promise<NewLeaf[]> {
    const r = await this.pool.query<{ idx: number; hash: Buffer; entry: Buffer; kind: string; signer: string; nonce: string; at: string }>(
      `SELECT idx, hash, entry, kind, signer, nonce, at FROM (
         SELECT *, sum(octet_length(entry)) OVER (ORDER BY idx) - octet_length(entry) AS before
         FROM (SELECT idx, hash, entry, kind, signer, nonce, at FROM ${this.s}.leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx) w
       ) t WHERE before < $3 ORDER BY idx`,
      [start, end, maxBytes],
    );
    return r.rows.map((x) => ({ index: Number(x.idx), hash: u8(x.hash), bytes: u8(x.entry), kind: x.kind, signer: x.signer, nonce: x.nonce, at: x.at }));
  }

  /**
   * Leaves from `start`, at most `maxCount` of them and no more once their bytes reach `maxBytes` (at least one):
   * the running guard's window, bounded in bytes so that a round never holds the event loop long (one leaf of a
   * 100,000-pack batch is about 1.5 MB).
   */
  async leafWindow(start: number, maxCount: number, maxBytes: number): Promise<{ index: number; hash: Uint8Array; bytes: Uint8Array }[]> {
    const r = await this.pool.query<{ idx: number; hash: Buffer; entry: Buffer }>(
      `SELECT idx, hash, entry FROM (
         SELECT idx, hash, entry, sum(octet_length(entry)) OVER (ORDER BY idx) - octet_length(entry) AS before
         FROM (SELECT idx, hash, entry FROM ${this.s}.leaves WHERE idx >= $1 ORDER BY idx LIMIT $2) w
       ) t WHERE before < $3 ORDER BY idx`,
      [start, maxCount, maxBytes],
    );
    return r.rows.map((x) => ({ index: Number(x.idx), hash: u8(x.hash), bytes: u8(x.entry) }));
  }

  /** Every stored interior hash (level >= 1), for a copy that audit checks. */
  async nodes(): Promise<NewNode[]> {
    const r = await this.pool.query<{ level: number; idx: string; hash: Buffer }>(`SELECT level, idx, hash FROM ${this.s}.nodes ORDER BY level, idx`);
    return r.rows.map((x) => ({ level: x.level, index: Number(x.idx), hash: u8(x.hash) }));
  }

  /** The custody_packs rows of these packs, each as an array of `cols` (the running guard's window). */
  async packRows(cols: string, keys: readonly (readonly [string, string])[]): Promise<unknown[][]> {
    const r = await this.pool.query<unknown[]>({
      text: `SELECT ${cols} FROM ${this.s}.custody_packs p JOIN unnest($1::text[], $2::text[]) AS k(gtin, serial) USING (gtin, serial)`,
      values: [keys.map((k) => k[0]), keys.map((k) => k[1])],
      rowMode: 'array',
    });
    return r.rows;
  }

  /** Up to `limit` interior hashes in (level, index) order from the `offset`th (the running guard's window). */
  async nodesPage(offset: number, limit: number): Promise<NewNode[]> {
    const r = await this.pool.query<{ level: number; idx: string; hash: Buffer }>(`SELECT level, idx, hash FROM ${this.s}.nodes ORDER BY level, idx OFFSET $1 LIMIT $2`, [offset, limit]);
    return r.rows.map((x) => ({ level: x.level, index: Number(x.idx), hash: u8(x.hash) }));
  }

  /** The root of the tree of the first `size` leaves, from the stored perfect subtrees (RFC 9162 2.1.1). */
  async rootAt(size: number): Promise<Uint8Array> {
    if (size === 0) return emptyRoot();
    const c = await checkout(this.pool);
    try {
      const known = await this.frontier(size, c);
      return rootAt(size, (level, index) => {
        const h = known.get(`${level}/${index}`);
        if (h === undefined) throw new MedtrailError('STORE_CORRUPT', `no hash of subtree ${level}/${index}`);
        return h;
      });
    } finally {
      c.release();
    }
  }

  /** The perfect subtree hashes a tree of `size` leaves splits into, keyed "level/index" (what prepareAppend needs). */
  async frontierOf(size: number): Promise<Map<string, Uint8Array>> {
    const c = await checkout(this.pool);
    try {
      return await this.frontier(size, c);
    } finally {
      c.release();
    }
  }

  /**
   * The perfect subtree hashes an append after `size` leaves reads (the decomposition of the tree of that
   * size: one per set bit), fetched at once so the hashing that follows is synchronous.
   */
  private async frontier(size: number, q: pg.PoolClient): Promise<Map<string, Uint8Array>> {
    const want = perfectSubtrees(size);
    const out = new Map<string, Uint8Array>();
    if (want.length === 0) return out;
    const leafIdx = want.filter(([l]) => l === 0).map(([, i]) => i);
    const nodeWant = want.filter(([l]) => l > 0);
    if (leafIdx.length > 0) {
      const r = await q.query<{ idx: string; hash: Buffer }>(`SELECT idx, hash FROM ${this.s}.leaves WHERE idx = ANY($1::bigint[])`, [leafIdx]);
      for (const x of r.rows) out.set(`0/${x.idx}`, u8(x.hash));
    }
    if (nodeWant.length > 0) {
      const r = await q.query<{ level: number; idx: string; hash: Buffer }>(
        `SELECT n.level, n.idx, n.hash FROM ${this.s}.nodes n JOIN unnest($1::int[], $2::bigint[]) AS w(level, idx) ON n.level = w.level AND n.idx = w.idx`,
        [nodeWant.map(([l]) => l), nodeWant.map(([, i]) => i)],
      );
      for (const x of r.rows) out.set(`${x.level}/${x.idx}`, u8(x.hash));
    }
    if (out.size !== want.length) throw new MedtrailError('STORE_CORRUPT', `the ledger lacks interior hashes of its tree of ${size} leaves`);
    return out;
  }

  /**
   * Appends leaves atomically after the head the database holds now (any process may append at the same
   * time: the head row is locked for the transaction). ENTRY_REPLAYED for a (signer, nonce) seen before.
   */
  async append(inputs: readonly { bytes: Uint8Array; kind: string; signer: string; nonce: string; at: string }[]): Promise<{ index: number; leafHash: Uint8Array }[]> {
    const c = await checkout(this.pool);
    try {
      await c.query('BEGIN');
      const h = await c.query<{ size: string }>(`SELECT size FROM ${this.s}.head WHERE id = 1 FOR UPDATE`);
      const size = Number(h.rows[0]!.size);
      const known = await this.frontier(size, c);
      const prepared = prepareAppend(size, inputs, known);
      await this.write(c, prepared);
      await c.query('COMMIT');
      return prepared.leaves.map((l) => ({ index: l.index, leafHash: l.hash }));
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      if (pgCode(e) === '23505') throw new MedtrailError('ENTRY_REPLAYED', 'an entry of this request reuses a (signer, nonce) already in the log', { cause: e });
      throw e;
    } finally {
      c.release();
    }
  }

  /**
   * One append from a server over this ledger (server/pg/replica.ts): locks the head row for the transaction
   * (every process's appends queue here), lets `prepare` see the locked head and return what to write (or
   * nothing), writes it with the compare-and-swap, notifies the followers and commits. Returns what was
   * committed; throws with nothing written otherwise.
   */
  async lockedAppend(prepare: (head: Head) => Promise<(PreparedAppend & { also?: (q: PgQuery) => Promise<void> }) | undefined>): Promise<PreparedAppend | undefined> {
    let c: pg.PoolClient;
    try {
      c = await checkout(this.pool);
    } catch (e) {
      throw unavailable(e);
    }
    try {
      await c.query('BEGIN');
      const h = await c.query<{ size: string; root: Buffer }>(`SELECT size, root FROM ${this.s}.head WHERE id = 1 FOR UPDATE`);
      const row = h.rows[0];
      if (row === undefined) throw new MedtrailError('STORE_CORRUPT', 'the ledger has no head row');
      const p = await prepare({ size: Number(row.size), root: u8(row.root) });
      if (p === undefined) {
        await c.query('ROLLBACK');
        return undefined;
      }
      await this.write(c, p);
      // What else the append writes, in the same transaction (the custody rows: pg-custody.ts).
      await p.also?.((sql, params) => c.query(sql, params));
      await c.query('SELECT pg_notify($1, $2)', [this.channel, String(p.head.size)]);
      await c.query('COMMIT');
      return p;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      if (pgCode(e) === '23505') throw new MedtrailError('ENTRY_REPLAYED', 'an entry of this request reuses a (signer, nonce) already in the log', { cause: e });
      throw e instanceof MedtrailError ? e : unavailable(e);
    } finally {
      c.release();
    }
  }

  /** Writes a prepared append if the head is still at its expected size (STORE_CONFLICT otherwise). */
  private async write(c: pg.PoolClient, p: PreparedAppend): Promise<void> {
    const moved = await c.query(`UPDATE ${this.s}.head SET size = $1, root = $2 WHERE id = 1 AND size = $3`, [p.head.size, Buffer.from(p.head.root), p.expectedSize]);
    if (moved.rowCount !== 1) throw new MedtrailError('STORE_CONFLICT', `the head moved from ${p.expectedSize} during the append`);
    if (p.leaves.length > 0) {
      await c.query(
        `INSERT INTO ${this.s}.leaves (idx, hash, entry, kind, signer, nonce, at)
         SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::text[], $5::text[], $6::text[], $7::text[])`,
        [
          p.leaves.map((l) => l.index),
          p.leaves.map((l) => Buffer.from(l.hash)),
          p.leaves.map((l) => Buffer.from(l.bytes)),
          p.leaves.map((l) => l.kind),
          p.leaves.map((l) => l.signer),
          p.leaves.map((l) => l.nonce),
          p.leaves.map((l) => l.at),
        ],
      );
    }
    if (p.nodes.length > 0) {
      await c.query(`INSERT INTO ${this.s}.nodes (level, idx, hash) SELECT * FROM unnest($1::int[], $2::bigint[], $3::bytea[])`, [
        p.nodes.map((n) => n.level),
        p.nodes.map((n) => n.index),
        p.nodes.map((n) => Buffer.from(n.hash)),
      ]);
    }
  }

  /**
   * Stores a checkpoint (at a size already held: kept as it was). With `q`, inside that transaction (a
   * lockedAppend's `also`, which notifies at its commit); otherwise on its own, and notified.
   */
  async saveCheckpoint(cp: StoredCheckpoint, q?: PgQuery): Promise<void> {
    const sql = `INSERT INTO ${this.s}.checkpoints (size, root, note, signed_at) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING`;
    const params = [cp.size, Buffer.from(cp.root), cp.note, cp.signedAt];
    if (q !== undefined) {
      await q(sql, params);
      return;
    }
    await this.pool.query(sql, params);
    await this.pool.query('SELECT pg_notify($1, $2)', [this.channel, `cp ${cp.size}`]);
  }

  async checkpoints(): Promise<StoredCheckpoint[]> {
    const r = await this.pool.query<{ size: string; root: Buffer; note: string; signed_at: string }>(`SELECT size, root, note, signed_at FROM ${this.s}.checkpoints ORDER BY size`);
    return r.rows.map((x) => ({ size: Number(x.size), root: u8(x.root), note: x.note, signedAt: x.signed_at }));
  }

  /** Runs `fn` over one consistent instant of the ledger (a REPEATABLE READ, read-only transaction). */
  async snapshot<T>(fn: (r: PgSnapshot) => Promise<T>): Promise<T> {
    const c = await checkout(this.pool);
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const q = <R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> => c.query<R>(sql.replaceAll('$schema', this.s), params);
      const out = await fn({
        meta: async () => Object.fromEntries((await q<{ key: string; value: string }>('SELECT key, value FROM $schema.meta')).rows.map((x) => [x.key, x.value])),
        head: async () => {
          const row = (await q<{ size: string; root: Buffer }>('SELECT size, root FROM $schema.head WHERE id = 1')).rows[0];
          if (row === undefined) throw new MedtrailError('STORE_CORRUPT', 'the ledger has no head row');
          return { size: Number(row.size), root: u8(row.root) };
        },
        leafRows: async (start, end) =>
          (await q<{ idx: string; hash: Buffer; entry: Buffer; kind: string; signer: string; nonce: string; at: string }>('SELECT idx, hash, entry, kind, signer, nonce, at FROM $schema.leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx', [start, end])).rows.map((x) => ({
            index: Number(x.idx),
            hash: u8(x.hash),
            bytes: u8(x.entry),
            kind: x.kind,
            signer: x.signer,
            nonce: x.nonce,
            at: x.at,
          })),
        nodes: async () => (await q<{ level: number; idx: string; hash: Buffer }>('SELECT level, idx, hash FROM $schema.nodes ORDER BY level, idx')).rows.map((x) => ({ level: x.level, index: Number(x.idx), hash: u8(x.hash) })),
        rows: async (table) => (await q<Record<string, unknown>>(`SELECT * FROM $schema.${table}`)).rows,
        checkpoints: async () =>
          (await q<{ size: string; root: Buffer; note: string; signed_at: string }>('SELECT size, root, note, signed_at FROM $schema.checkpoints ORDER BY size')).rows.map((x) => ({ size: Number(x.size), root: u8(x.root), note: x.note, signedAt: x.signed_at })),
      });
      await c.query('COMMIT');
      return out;
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  /**
   * Whether the append-only triggers are all still there and enabled: an operator who wants to edit a leaf
   * under the server first has to disable or drop one (the running guard checks this every round).
   */
  async appendOnlyHeld(): Promise<boolean> {
    const r = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND t.tgname IN ('leaves_append_only', 'nodes_append_only', 'checkpoints_append_only') AND t.tgenabled = 'O'`,
      [this.s],
    );
    return Number(r.rows[0]?.n ?? 0) === 3;
  }

  async latestCheckpoint(): Promise<StoredCheckpoint | undefined> {
    const r = await this.pool.query<{ size: string; root: Buffer; note: string; signed_at: string }>(`SELECT size, root, note, signed_at FROM ${this.s}.checkpoints ORDER BY size DESC LIMIT 1`);
    const x = r.rows[0];
    return x === undefined ? undefined : { size: Number(x.size), root: u8(x.root), note: x.note, signedAt: x.signed_at };
  }

  /**
   * The rows of one statement on the ledger's schema (`$schema` in the SQL), for the modules that keep tables of
   * their own beside the log's (reports, tag keys): each owns its tables there as on SQLite.
   */
  readonly rows: PgRows = async <T>(sql: string, params: unknown[] = []): Promise<T[]> => {
    try {
      return (await this.pool.query<T & pg.QueryResultRow>(sql.replaceAll('$schema', this.s), params)).rows;
    } catch (e) {
      throw e instanceof MedtrailError || pgCode(e) !== undefined ? e : unavailable(e);
    }
  };

  /** Runs raw SQL on the ledger's schema (the tests use it to play the operator who edits tables). */
  async query(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
    return this.pool.query(sql.replaceAll('$schema', this.s), params);
  }
}

/** The leaves and completed perfect subtrees of an append after `size` leaves, hashed here (pure). */
export function prepareAppend(
  size: number,
  inputs: readonly { bytes: Uint8Array; kind: string; signer: string; nonce: string; at: string; leafHash?: Uint8Array }[],
  known: Map<string, Uint8Array>,
): PreparedAppend {
  const overlay = new Map(known);
  const read: PerfectHashReader = (level, index) => {
    const h = overlay.get(`${level}/${index}`);
    if (h === undefined) throw new MedtrailError('STORE_CORRUPT', `no hash of subtree ${level}/${index}`);
    return h;
  };
  const leaves: NewLeaf[] = [];
  const nodes: NewNode[] = [];
  const seen = new Set<string>();
  let n = size;
  for (const input of inputs) {
    const key = `${input.signer}/${input.nonce}`;
    if (seen.has(key)) throw new MedtrailError('ENTRY_REPLAYED', `signer ${input.signer} used nonce ${input.nonce} twice`);
    seen.add(key);
    const index = n++;
    const hash = input.leafHash ?? leafHash(input.bytes);
    for (const sub of completedSubtrees(index, hash, read)) {
      overlay.set(`${sub.level}/${sub.index}`, sub.hash);
      if (sub.level > 0) nodes.push(sub);
    }
    leaves.push({ index, hash, bytes: input.bytes, kind: input.kind, signer: input.signer, nonce: input.nonce, at: input.at });
  }
  return { expectedSize: size, leaves, nodes, head: { size: n, root: rootAt(n, read) } };
}
