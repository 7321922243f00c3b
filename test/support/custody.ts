// A running custody service on a temporary ledger, with an enrolled chain (manufacturer, distributor,
// pharmacy, regulator), and helpers to post entries and to snapshot everything a refusal must leave alone.
import { toHex } from '../../core/bytes.js';
import { checkDigit } from '../../core/gs1/identifiers.js';
import type { Entry, EntryKind } from '../../core/entry/entry.js';
import { keyFileSeed, type KeyFile } from '../../core/crypto/keys.js';
import { signRequest } from '../../core/api/request-auth.js';
import { CUSTODY_TABLES } from '../../server/custody/schema.js';
import { serviceModules } from '../../server/modules.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { entry, makeLedger, participantKey, type TestLedger, TEST_ORIGIN } from './ledger.js';
import { logKeyPath } from '../../server/context.js';
import { LEDGER_META_KEYS, initPgLedger } from '../../server/pg/ledger.js';
import { pgTarget } from '../../server/pg/target.js';
import { openDatabase, SqliteLedgerStore } from '../../server/store/ledger-store.js';
import { PgLogStore } from '../../server/store/pg/pg-log.js';
import { freshSchema, PG_URL } from './pg.js';

export type Party = KeyFile & { gln: string };

export const PREFIX = '4012345';

/** A GTIN-14 under PREFIX (indicator 0), item reference `item`. */
export function gtinOf(item: number): string {
  const body = `0${PREFIX}${String(item).padStart(5, '0')}`;
  return body + String(checkDigit(body));
}

/** An SSCC under PREFIX (extension 0), serial reference `n`. */
export function ssccOf(n: number): string {
  const body = `0${PREFIX}${String(n).padStart(9, '0')}`;
  return body + String(checkDigit(body));
}

export interface Posted {
  status: number;
  json: Record<string, unknown>;
}

export interface Chain {
  t: TestLedger;
  srv: RunningServer;
  authority: Party;
  m: Party;
  d: Party;
  p: Party;
  reg: Party;
  post(body: unknown): Promise<Posted>;
  /** GET under /api/v1; with `as`, a request signed by that party (core/api/request-auth.ts). */
  get(path: string, as?: Party): Promise<Posted>;
  /** Posts entries that must be accepted; returns their leaf hashes. */
  ok(...es: Entry[]): Promise<string[]>;
  participant(who: Party, role: string, prefixes?: string[]): Entry;
  close(): Promise<void>;
}

/**
 * The backend the chain's ledger lives on: SQLite (the embedded default), or PostgreSQL when the suite runs as
 * the `postgres` project (vitest.config.ts sets MEDTRAIL_TEST_BACKEND): the same ledger identity (origin, keys)
 * made in a fresh schema of the test cluster, served with the SQLite file's log key.
 */
async function serveChainLedger(t: TestLedger): Promise<{ srv: RunningServer; drop: () => Promise<void> }> {
  if (process.env['MEDTRAIL_TEST_BACKEND'] !== 'postgres') return { srv: await startServer({ db: t.db, port: 0, modules: serviceModules() }), drop: async () => undefined };
  const pgUrl = PG_URL;
  if (pgUrl === undefined) throw new Error('MEDTRAIL_TEST_BACKEND=postgres needs MEDTRAIL_TEST_PG_URL');
  const schema = freshSchema('chain');
  const url = `${pgUrl}${pgUrl.includes('?') ? '&' : '?'}schema=${schema}`;
  const file = new SqliteLedgerStore(openDatabase(t.db));
  const meta = Object.fromEntries(LEDGER_META_KEYS.map((k) => [k, file.getMeta(k) ?? '']));
  file.close();
  await initPgLedger(pgTarget(url)!, meta);
  const srv = await startServer({ db: url, logKey: logKeyPath(t.db), port: 0, modules: serviceModules(), pgRoundMs: 200 });
  return {
    srv,
    drop: async () => {
      const pg = await PgLogStore.open(pgUrl, schema, { create: false });
      await pg.query('DROP SCHEMA $schema CASCADE').catch(() => undefined);
      await pg.close();
    },
  };
}

export async function startChain(): Promise<Chain> {
  const t = makeLedger();
  const { srv, drop } = await serveChainLedger(t);
  const authority = t.authority as Party;
  const post = async (body: unknown): Promise<Posted> => {
    const r = await fetch(`${srv.url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
  const get = async (path: string, as?: Party): Promise<Posted> => {
    const headers = as === undefined ? {} : { ...signRequest({ log: TEST_ORIGIN, method: 'GET', path: `/api/v1${path}` }, as.gln, keyFileSeed(as)) };
    const r = await fetch(`${srv.url}/api/v1${path}`, { headers });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };
  const ok = async (...es: Entry[]): Promise<string[]> => {
    const r = await post(es.length === 1 ? es[0] : { entries: es });
    if (r.status !== 201) throw new Error(`expected 201, got ${r.status} ${JSON.stringify(r.json)}`);
    const list = es.length === 1 ? [r.json] : (r.json['entries'] as Record<string, unknown>[]);
    return list.map((x) => x['leafHash'] as string);
  };
  const participant = (who: Party, role: string, prefixes: string[] = []): Entry =>
    entry('participant', authority, { action: 'admit', gln: who.gln, name: who.name, role, publicKey: who.publicKey, prefixes });
  const m = participantKey(10);
  const d = participantKey(20);
  const p = participantKey(30);
  const reg = participantKey(40);
  await ok(participant(m, 'manufacturer', [PREFIX]), participant(d, 'distributor'), participant(p, 'pharmacy'), participant(reg, 'regulator'));
  return {
    t,
    srv,
    authority,
    m,
    d,
    p,
    reg,
    post,
    get,
    ok,
    participant,
    close: async () => {
      await srv.close();
      await drop();
      t.cleanup();
    },
  };
}

/** Signs an entry of `kind` by `who` (test/support/ledger entry(), re-exported for one import). */
export function sign(kind: EntryKind, who: Party, body: Record<string, unknown>, prev: string[] = []): Entry {
  return entry(kind, who, body, prev);
}

/** Everything a refused entry must leave as it was: tree size and root, and every custody table's rows. */
export function snapshot(srv: RunningServer): string {
  const db = srv.ledger.store.connectionFor('custody');
  const head = srv.ledger.store.head();
  const tables = CUSTODY_TABLES.map((t) => {
    const rows = db.prepare(`SELECT * FROM ${t}`).raw().all() as unknown[][];
    const text = rows.map((r) => JSON.stringify(r.map((v) => (Buffer.isBuffer(v) ? toHex(v) : v)))).sort();
    return `${t}\n${text.join('\n')}`;
  });
  return `size ${head.size} root ${toHex(head.root)}\n${tables.join('\n')}`;
}
