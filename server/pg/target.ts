// Where a ledger lives, as `--db` (or MEDTRAIL_DB) names it: a path is an SQLite file (the embedded default);
// `postgres://` or `postgresql://` is a PostgreSQL database, with the ledger in the schema its `schema`
// parameter names (default `medtrail`), so one database can hold several ledgers (docs/postgres.md).
import { MedtrailError } from '../../core/errors.js';

export interface PgTarget {
  /** The connection URL as node-postgres takes it (the `schema` parameter removed). */
  url: string;
  schema: string;
  /** The URL without its password, for messages and logs. */
  shown: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function isPgUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/** The PostgreSQL target `db` names, or undefined for an SQLite path. CLI_USAGE for a malformed URL or schema. */
export function pgTarget(db: string): PgTarget | undefined {
  if (!isPgUrl(db)) return undefined;
  let u: URL;
  try {
    u = new URL(db);
  } catch (e) {
    throw new MedtrailError('CLI_USAGE', '--db is not a valid postgres:// URL', { cause: e });
  }
  const schema = u.searchParams.get('schema') ?? 'medtrail';
  if (!SCHEMA_NAME.test(schema)) throw new MedtrailError('CLI_USAGE', `the schema parameter of --db is lowercase letters, digits and _ (at most 63), got ${schema}`);
  u.searchParams.delete('schema');
  const url = u.toString();
  const hidden = new URL(url);
  if (hidden.password !== '') hidden.password = '***';
  return { url, schema, shown: `${hidden.toString()}${hidden.search === '' ? '?' : '&'}schema=${schema}` };
}

/** Where `init --db postgres://...` writes the keys, and `serve` reads the log key, unless told otherwise. */
// Not ./data itself: the embedded default keeps its keys there, beside ./data/medtrail.db.
export const DEFAULT_PG_KEY_DIR = './data/pg';
export const DEFAULT_PG_LOG_KEY = `${DEFAULT_PG_KEY_DIR}/log.key.json`;

/** The ledger `--db` names when none is given: MEDTRAIL_DB, else the SQLite default. */
export function defaultDb(fallback: string): string {
  const v = process.env['MEDTRAIL_DB'];
  return v !== undefined && v.trim() !== '' ? v.trim() : fallback;
}
