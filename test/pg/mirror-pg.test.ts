// `medtrail mirror --db postgres://...?schema=name` (issue 15; server/mirror/pg.ts), every part a real process on
// loopback: an operator (`medtrail serve` on SQLite) runs demo chains, a mirror follows it with its ledger of
// record in a fresh schema of the test cluster. The schema ends with the operator's leaves, root, checkpoint
// and custody rows, and `medtrail audit` finds it intact. Restarted on a fresh copy, the mirror rebuilds it from
// PostgreSQL (nothing fetched again) and follows on; with --cache the copy is kept and brought up from where it
// stands, and a copy the database does not contain is refused. A page PostgreSQL does not take ends the process
// (crash-only); a restart heals it. A schema of another log is refused with nothing written.
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../core/bytes.js';
import { openCheckpoint } from '../../core/log/checkpoint.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { openDatabase, SqliteLedgerStore } from '../../server/store/ledger-store.js';
import { PgLogStore } from '../../server/store/pg/pg-log.js';
import { cli, cliAsync } from '../support/cli.js';
import { startMirrorProcess, type MirrorProcess } from '../support/mirror-process.js';
import { freshSchema, PG_URL } from '../support/pg.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../support/until.js';

const t = tempDir('medtrail-mirror-pg-');
const opDb = join(t.dir, 'op', 'medtrail.db');
const authority = join(t.dir, 'op', 'authority.key.json');
const mirrorKey = join(t.dir, 'mirror.key.json');
const schema = freshSchema('mirror');
const mirrorDb = PG_URL === undefined ? '' : `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
let srv: ServerProcess;
let vkey: string;
let pgs: PgLogStore;
const mirrors: MirrorProcess[] = [];
let demos = 0;

async function demo(): Promise<void> {
  const r = await cliAsync(['demo', '--server', srv.url, '--authority-key', authority, '--dir', join(t.dir, `demo${demos++}`), '--json']);
  expect(r.status, r.stderr).toBe(0);
}

function mirrorArgs(from = srv.url): string[] {
  return ['--from', from, '--db', mirrorDb, '--key', mirrorKey, '--authority', authority, '--interval-ms', '50'];
}

async function mirror(): Promise<MirrorProcess> {
  const m = await startMirrorProcess(mirrorArgs());
  mirrors.push(m);
  return m;
}

/** The operator's newest checkpoint, opened with its log key. */
async function opCheckpoint(): Promise<{ size: number; root: Uint8Array; note: string }> {
  const note = await (await fetch(`${srv.url}/api/v1/checkpoint`)).text();
  const cp = openCheckpoint(note, vkey);
  return { size: cp.size, root: cp.root, note };
}

/** Waits until the mirror's schema holds a checkpoint at the operator's newest size, and returns that size. */
async function mirroredUpTo(ms = 60_000): Promise<number> {
  return until(
    "the mirror's schema at the operator's checkpoint",
    async () => {
      const op = await opCheckpoint();
      const mine = await pgs.latestCheckpoint();
      const head = await pgs.head();
      return mine !== undefined && mine.size === op.size && head.size === op.size ? op.size : undefined;
    },
    ms,
  );
}

const PACK_COLS = 'gtin, serial, lot, expiry, state, holder, in_transit_to, last_idx, last_hash, batch_idx, dispensed_by, dispensed_at';

function rowText(r: Record<string, unknown>): string {
  return JSON.stringify(Object.entries(r).map(([k, v]) => [k, v instanceof Uint8Array ? toHex(v) : v === null ? null : String(v)]));
}

describe.skipIf(PG_URL === undefined)('medtrail mirror with its ledger in PostgreSQL (needs MEDTRAIL_TEST_PG_URL, which .ci/run sets)', () => {
  beforeAll(async () => {
    installNodeCrypto();
    expect(cli(['init', '--db', opDb, '--json']).status).toBe(0);
    srv = await startServerProcess(opDb);
    vkey = (await (await fetch(`${srv.url}/api/v1/log/key`)).text()).trim();
    expect(cli(['keygen', '--out', mirrorKey, '--name', 'Mirror of the regulator', '--gln', '4012345000009']).status).toBe(0);
    const en = cli(['enroll', '--server', srv.url, '--authority-key', authority, '--participant-key', mirrorKey, '--role', 'mirror', '--name', 'Mirror', '--json']);
    expect(en.status, en.stderr).toBe(0);
    for (let i = 0; i < 2; i++) await demo();
    pgs = await PgLogStore.open(PG_URL!, schema, { create: true });
  }, 300_000);

  afterAll(async () => {
    for (const m of mirrors) await m.stop();
    await srv?.stop();
    await pgs?.close();
    t.cleanup();
  });

  it("follows the operator into its schema: the same leaves, root, checkpoint and custody rows; audit finds it intact", async () => {
    const m = await mirror();
    const size = await mirroredUpTo();
    expect(size).toBeGreaterThan(10);
    const op = await opCheckpoint();
    const head = await pgs.head();
    expect(toHex(head.root)).toBe(toHex(op.root));
    expect((await pgs.latestCheckpoint())?.note).toBe(op.note);
    const meta = await pgs.allMeta();
    expect(meta['log_vkey']).toBe(vkey);
    expect(meta['mirror_of']).toBe(srv.url);
    // The operator's own SQLite ledger, read beside its server.
    const opStore = new SqliteLedgerStore(openDatabase(opDb, { readonly: true }));
    try {
      const mine = await pgs.leaves(0, size);
      const theirs = opStore.leaves(0, size);
      expect(mine.length).toBe(size);
      expect(mine.map((l) => toHex(l.hash))).toEqual(theirs.map((l) => toHex(l.hash)));
      expect(mine.map((l) => toHex(l.bytes))).toEqual(theirs.map((l) => toHex(l.bytes)));
      const opDbRaw = openDatabase(opDb, { readonly: true });
      try {
        const opPacks = opDbRaw.prepare(`SELECT ${PACK_COLS} FROM custody_packs ORDER BY gtin, serial`).all() as Record<string, unknown>[];
        const pgPacks = await pgs.rows<Record<string, unknown>>(`SELECT ${PACK_COLS} FROM $schema.custody_packs ORDER BY gtin COLLATE "C", serial COLLATE "C"`);
        expect(opPacks.length).toBeGreaterThan(0);
        expect(pgPacks.map((r) => rowText({ ...r, last_hash: new Uint8Array(r['last_hash'] as Buffer) }))).toEqual(
          opPacks.map((r) => rowText({ ...r, last_hash: new Uint8Array(r['last_hash'] as Buffer) })),
        );
        for (const table of ['custody_participants', 'custody_lots', 'custody_events', 'custody_shipments']) {
          const n = (opDbRaw.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
          const [row] = await pgs.rows<{ n: number }>(`SELECT count(*)::int AS n FROM $schema.${table}`);
          expect(row?.n, table).toBe(n);
        }
      } finally {
        opDbRaw.close();
      }
    } finally {
      opStore.close();
    }
    const status = (await (await fetch(`${m.url}/api/v1/mirror`)).json()) as { size: number };
    expect(status.size).toBe(size);
    const audit = await cliAsync(['audit', '--db', mirrorDb, '--json']);
    expect(audit.status, audit.stdout + audit.stderr).toBe(0);
    const report = JSON.parse(audit.stdout) as { ok: boolean; leaves: number; checkpoints: number };
    expect(report.ok).toBe(true);
    expect(report.leaves).toBe(size);
    expect(report.checkpoints).toBeGreaterThan(0);
  }, 180_000);

  it('restarted on a fresh copy, rebuilds it from PostgreSQL (nothing fetched again) and follows new entries', async () => {
    await mirrors.pop()!.stop();
    const before = (await pgs.head()).size;
    const m = await mirror();
    // Serving at once at the size it had: the copy came from PostgreSQL, no page from the operator.
    const status = (await (await fetch(`${m.url}/api/v1/mirror`)).json()) as { size: number };
    expect(status.size).toBe(before);
    expect(m.stderr()).not.toMatch(/leaves checked/);
    await demo();
    const after = await mirroredUpTo();
    expect(after).toBeGreaterThan(before);
    // The pages it took start where PostgreSQL was.
    const first = /medtrail mirror: (\d+) of \d+ leaves checked/.exec(m.stderr());
    expect(Number(first?.[1])).toBeGreaterThan(before);
    await until('the mirror serving the new size', async () => {
      const s = (await (await fetch(`${m.url}/api/v1/mirror`)).json()) as { size: number };
      return s.size === after ? true : undefined;
    });
    const audit = await cliAsync(['audit', '--db', mirrorDb, '--json']);
    expect(audit.status, audit.stdout + audit.stderr).toBe(0);
  }, 180_000);

  it('with --cache the copy is kept across restarts and brought up from where it stands; a copy the database does not contain is STORE_MISMATCH', async () => {
    await mirrors.pop()!.stop();
    const cache = join(t.dir, 'kept', 'mirror-copy.db');
    const first = await startMirrorProcess([...mirrorArgs(), '--cache', cache]);
    mirrors.push(first);
    const size = (await pgs.head()).size;
    expect(((await (await fetch(`${first.url}/api/v1/mirror`)).json()) as { size: number }).size).toBe(size);
    await mirrors.pop()!.stop();
    // The copy stayed, at the size the database holds.
    const kept = new SqliteLedgerStore(openDatabase(cache, { readonly: true }));
    expect(kept.head().size).toBe(size);
    kept.close();
    const again = await startMirrorProcess([...mirrorArgs(), '--cache', cache]);
    mirrors.push(again);
    expect(((await (await fetch(`${again.url}/api/v1/mirror`)).json()) as { size: number }).size).toBe(size);
    await mirrors.pop()!.stop();
    // A copy holding more than the database (a copy of the operator's own file, after entries the mirror never
    // took): refused, and nothing written.
    await demo();
    const ahead = join(t.dir, 'ahead.db');
    const op = new Database(opDb, { readonly: true });
    op.prepare('VACUUM INTO ?').run(ahead);
    op.close();
    const refused = await startMirrorProcess([...mirrorArgs(), '--cache', ahead]).then(
      async (m) => {
        mirrors.push(m);
        return m.stderr();
      },
      (e: unknown) => String(e),
    );
    expect(refused).toContain('STORE_MISMATCH');
    expect((await pgs.head()).size).toBe(size);
    mirrors.push(await mirror());
    await mirroredUpTo();
  }, 180_000);

  it('a page PostgreSQL does not take (its head moved behind the mirror) ends the process; a restart heals it', async () => {
    const m = mirrors[mirrors.length - 1]!;
    const before = await pgs.head();
    // Another writer moves the head (a row the triggers do not guard): the next page's compare-and-swap fails.
    await pgs.query('UPDATE $schema.head SET size = size + 1 WHERE id = 1');
    const exited = new Promise<number | null>((r) => m.child.once('exit', (code) => r(code)));
    await demo();
    const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000))]);
    expect(code, m.stderr()).not.toBe('timeout');
    expect(code).not.toBe(0);
    expect(m.stderr()).toMatch(/STORE_UNAVAILABLE/);
    expect(m.stderr()).toMatch(/ahead of its database/);
    mirrors.pop();
    // Nothing of the page was written: the leaves stop where the mirror's database was.
    expect((await pgs.leaves(0, before.size + 1000)).length).toBe(before.size);
    await pgs.query('UPDATE $schema.head SET size = $1, root = $2 WHERE id = 1', [before.size, Buffer.from(before.root)]);
    await mirror();
    await mirroredUpTo();
    const audit = await cliAsync(['audit', '--db', mirrorDb, '--json']);
    expect(audit.status, audit.stdout + audit.stderr).toBe(0);
  }, 180_000);

  it('refuses a schema that mirrors another log (MIRROR_MISMATCH), writing nothing', async () => {
    const otherDb = join(t.dir, 'other', 'medtrail.db');
    expect(cli(['init', '--db', otherDb, '--json']).status).toBe(0);
    const other = await startServerProcess(otherDb);
    try {
      const head = await pgs.head();
      const meta = await pgs.allMeta();
      const cps = (await pgs.checkpoints()).length;
      const r = await cliAsync(['mirror', ...mirrorArgs(other.url), '--once', '--json']);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/MIRROR_MISMATCH/);
      expect(await pgs.head()).toEqual(head);
      expect(await pgs.allMeta()).toEqual(meta);
      expect((await pgs.checkpoints()).length).toBe(cps);
    } finally {
      await other.stop();
    }
  }, 120_000);
});
