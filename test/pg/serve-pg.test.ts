// Issue 15 end to end: `medtrail init --db postgres://...` and several `medtrail serve` processes over one real
// PostgreSQL (the cluster .ci/run starts), each with its own working copy (server/pg/replica.ts). Appends from
// many clients through both servers at once: every acknowledged entry in the log exactly once, at the index it
// was acknowledged with; both servers answer the same state; `medtrail audit --db postgres://...` finds the
// tree, the signatures and every checkpoint intact. A refused entry leaves PostgreSQL as it was. A server
// killed (SIGKILL) in the middle of a large batch loses no acknowledged entry and leaves no part of the batch.
// Rows edited behind the servers' backs (a custody row, a leaf, an interior hash) are found by audit and by the
// running guard.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8 } from '../../core/bytes.js';
import { keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { signRequest } from '../../core/api/request-auth.js';
import { signTag } from '../../cli/client/batch.js';
import { withSun } from '../support/sun-tag.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import type { Entry } from '../../core/entry/entry.js';
import { PgLogStore } from '../../server/store/pg/pg-log.js';
import { cli, cliAsync } from '../support/cli.js';
import { gtinOf, PREFIX, sign, type Party } from '../support/custody.js';
import { participantKey, TEST_ORIGIN } from '../support/ledger.js';
import { type Acked, freshSchema, PG_URL } from '../support/pg.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../support/until.js';

const t = tempDir('medtrail-pg-serve-');
const schema = freshSchema('serve');
const db = PG_URL === undefined ? '' : `${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`;
const keys = join(t.dir, 'keys');
const logKey = join(keys, 'log.key.json');
const servers: ServerProcess[] = [];
let a: ServerProcess;
let b: ServerProcess;
let pgs: PgLogStore;
let authority: Party;
const m = participantKey(10);
const d = participantKey(20);
const reg = participantKey(40);
const gtin = gtinOf(15);
let product = '';

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

/** Posts entries that must be accepted (retrying what the server says to retry); returns where they went. */
async function ok(url: string, ...es: Entry[]): Promise<Acked[]> {
  for (let attempt = 0; ; attempt++) {
    const r = await post(url, es.length === 1 ? es[0] : { entries: es });
    if (r.status === 201) return es.length === 1 ? [r.json as unknown as Acked] : (r.json['entries'] as Acked[]);
    if (r.status !== 503 || attempt > 50) throw new Error(`expected 201, got ${r.status} ${JSON.stringify(r.json)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

const packState = async (url: string, serial: string): Promise<number> => (await fetch(`${url}/api/v1/packs/${gtin}/${serial}`)).status;
const checkpointSize = async (url: string): Promise<number> => Number((await (await fetch(`${url}/api/v1/checkpoint`)).text()).split('\n')[1]);

async function serve(): Promise<ServerProcess> {
  const s = await startServerProcess(db, ['--log-key', logKey]);
  servers.push(s);
  return s;
}

describe.skipIf(PG_URL === undefined)('medtrail serve over PostgreSQL, several processes (needs MEDTRAIL_TEST_PG_URL, which .ci/run sets)', () => {
  beforeAll(async () => {
    installNodeCrypto();
    const init = cli(['init', '--db', db, '--keys', keys, '--origin', TEST_ORIGIN, '--json']);
    expect(init.status, init.stderr).toBe(0);
    authority = parseKeyFile(readFileSync(join(keys, 'authority.key.json'), 'utf8')) as Party;
    a = await serve();
    b = await serve();
    pgs = await PgLogStore.open(PG_URL!, schema, { create: false });
    const admit = (who: Party, role: string, prefixes: string[] = []): Entry =>
      sign('participant', authority, { action: 'admit', gln: who.gln, name: who.name, role, publicKey: who.publicKey, prefixes });
    await ok(a.url, admit(m, 'manufacturer', [PREFIX]), admit(d, 'distributor'), admit(reg, 'regulator'));
    // Written through the server that does not sign: it reaches PostgreSQL all the same.
    [{ leafHash: product }] = (await ok(b.url, sign('product', m, { gtin, name: 'Pgmycin', form: 'tablets', strength: '5 mg', packSize: 30 }))) as [Acked];
  }, 60_000);

  afterAll(async () => {
    for (const s of servers) await s.stop('SIGKILL');
    await pgs?.query('DROP SCHEMA $schema CASCADE').catch(() => undefined);
    await pgs?.close();
    t.cleanup();
  });

  it('init refuses a schema that already holds a ledger, and says so with a code', () => {
    const again = cli(['init', '--db', db, '--keys', join(t.dir, 'other-keys'), '--json']);
    expect(again.status).not.toBe(0);
    expect(JSON.parse(again.stdout || again.stderr).error.code).toBe('STORE_EXISTS');
  });

  it('one server signs, the other follows; each says which', () => {
    const said = [a.stderr(), b.stderr()].filter((e) => e.includes('signing lease taken'));
    expect(said.length).toBe(1);
  });

  it('takes concurrent batches from 8 clients through both servers: every acknowledged entry once, at its index; both answer the same state; audit intact', async () => {
    const acked: Acked[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, c) => {
        for (let i = 0; i < 5; i++) {
          const lot = `C${c}L${i}`;
          const serials = Array.from({ length: 200 }, (_, k) => `${lot}S${k}`);
          acked.push(...(await ok((c + i) % 2 === 0 ? a.url : b.url, sign('batch', m, { gtin, lot, expiry: '301231', serials }, [product]))));
        }
      }),
    );
    expect(acked.length).toBe(40);
    const head = await pgs.head();
    const rows = await pgs.leafRows(0, head.size);
    expect(rows.length).toBe(head.size);
    // 3 admissions + 1 product + 40 batches, and nothing else: no entry lost, none written twice.
    expect(head.size).toBe(44);
    for (const x of acked) expect(toHex(rows[x.index]!.hash)).toBe(x.leafHash);
    expect(new Set(acked.map((x) => x.index)).size).toBe(40);
    // Both servers come to the same signed checkpoint, and each knows every pack, whoever took its batch.
    await until('both servers at the head', async () => ((await checkpointSize(a.url)) === head.size && (await checkpointSize(b.url)) === head.size ? true : undefined), 20_000);
    const noteA = await (await fetch(`${a.url}/api/v1/checkpoint`)).text();
    const noteB = await (await fetch(`${b.url}/api/v1/checkpoint`)).text();
    expect(noteB).toBe(noteA);
    for (const serial of ['C0L0S0', 'C7L4S199', 'C3L2S77']) {
      expect(await packState(a.url, serial)).toBe(200);
      expect(await packState(b.url, serial)).toBe(200);
    }
    expect(await packState(b.url, 'C9L0S0')).toBe(404);
    const audit = await cliAsync(['audit', '--db', db, '--json']);
    expect(audit.status, audit.stdout + audit.stderr).toBe(0);
    const report = JSON.parse(audit.stdout) as { ok: boolean; leaves: number; checkpoints: number };
    expect(report.ok).toBe(true);
    expect(report.leaves).toBe(44);
    expect(report.checkpoints).toBeGreaterThan(0);
  }, 120_000);

  it('a refused entry (a serial already registered) leaves PostgreSQL exactly as it was', async () => {
    const before = await pgs.head();
    const r = await post(b.url, sign('batch', m, { gtin, lot: 'DUP1', expiry: '301231', serials: ['NEW1', 'C0L0S0'] }, [product]));
    expect(r.status).toBe(409);
    expect((r.json['error'] as { code: string }).code).toBe('SERIAL_DUPLICATE');
    const after = await pgs.head();
    expect(after.size).toBe(before.size);
    expect(toHex(after.root)).toBe(toHex(before.root));
    expect(await packState(a.url, 'NEW1')).toBe(404);
  });

  it('a server killed (SIGKILL) in the middle of a 30,000-pack batch loses no acknowledged entry and leaves no part of the batch', async () => {
    const c = await serve();
    const serials = Array.from({ length: 30_000 }, (_, k) => `KILL${k}`);
    const big = sign('batch', m, { gtin, lot: 'KILL1', expiry: '301231', serials }, [product]);
    const sent = post(c.url, big).catch(() => undefined);
    // Meanwhile, entries acknowledged through the other server.
    const acked: Acked[] = [];
    const steady = (async () => {
      for (let i = 0; i < 6; i++) acked.push(...(await ok(a.url, sign('batch', m, { gtin, lot: `K${i}`, expiry: '301231', serials: [`K${i}A`, `K${i}B`] }, [product]))));
    })();
    await new Promise((r) => setTimeout(r, 150));
    await c.stop('SIGKILL');
    await sent;
    await steady;
    const head = await pgs.head();
    const rows = await pgs.leafRows(0, head.size);
    for (const x of acked) expect(toHex(rows[x.index]!.hash)).toBe(x.leafHash);
    // The batch is one leaf: in the log whole, or not at all; and a server answers for all its packs or none.
    await until('a at the head', async () => ((await checkpointSize(a.url)) === head.size ? true : undefined), 20_000);
    const first = await packState(a.url, 'KILL0');
    const last = await packState(a.url, 'KILL29999');
    expect([200, 404]).toContain(first);
    expect(last).toBe(first);
    const audit = await cliAsync(['audit', '--db', db, '--json']);
    expect(audit.status, audit.stdout + audit.stderr).toBe(0);
  }, 120_000);

  it('shares what is kept beside the log: a tag key registered through one server, its SUN counter moved through either (a replay to the other is caught), patient reports', async () => {
    const KEY = fromHex('00112233445566778899aabbccddeeff');
    const UID = fromHex('04a1b2c3d4e5f6');
    const serial = 'C1L1S5';
    const body = JSON.stringify({ gtin, serial, uid: toHex(UID), key: toHex(KEY) });
    const headers = { 'content-type': 'application/json', ...signRequest({ log: TEST_ORIGIN, method: 'POST', path: '/api/v1/tags/keys', body: utf8(body) }, m.gln, keyFileSeed(m)) };
    expect((await fetch(`${a.url}/api/v1/tags/keys`, { method: 'POST', headers, body })).status).toBe(201);
    // The other server refuses a second key for the pack: the key is the ledger's, not one server's.
    const again = { 'content-type': 'application/json', ...signRequest({ log: TEST_ORIGIN, method: 'POST', path: '/api/v1/tags/keys', body: utf8(body) }, m.gln, keyFileSeed(m)) };
    const second = await fetch(`${b.url}/api/v1/tags/keys`, { method: 'POST', headers: again, body });
    expect(second.status).toBe(409);
    expect(((await second.json()) as { error: { code: string } }).error.code).toBe('SUN_KEY_EXISTS');
    const uri = signTag(keyFileSeed(m), 'https://id.medtrail.test', { gtin, lot: 'C1L1', expiry: '301231', serial });
    const verify = async (url: string, counter: number): Promise<{ verdict: string; codes: string[] }> => {
      const r = await fetch(`${url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: withSun(uri, KEY, UID, counter) }) });
      const j = (await r.json()) as { verdict: string; reasons: { code: string }[] };
      return { verdict: j.verdict, codes: j.reasons.map((x) => x.code) };
    };
    // The second server copies the key within a round; then a reading there moves the ledger's counter.
    const first = await until('the key on the other server', async () => {
      const v = await verify(b.url, 5);
      return v.codes.includes('TAG_SUN_NOT_CHECKED') ? undefined : v;
    });
    expect(first.verdict).toBe('GENUINE');
    // The same reading replayed to the first server: caught, though that server never saw it.
    expect((await verify(a.url, 5)).codes).toContain('TAG_COUNTER_REPLAYED');
    expect((await verify(a.url, 4)).verdict).toBe('COUNTERFEIT');
    expect((await verify(a.url, 6)).verdict).toBe('GENUINE');
    expect((await verify(b.url, 6)).codes).toContain('TAG_COUNTER_REPLAYED');

    // A patient's report sent to one server is read by the regulator through the other, one sequence of ids.
    const sent = await fetch(`${a.url}/api/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: uri, note: 'odd box' }) });
    expect(sent.status).toBe(201);
    const { id } = (await sent.json()) as { id: number };
    const sent2 = await fetch(`${b.url}/api/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: uri, note: 'second' }) });
    expect(((await sent2.json()) as { id: number }).id).toBeGreaterThan(id);
    const read = await until('the regulator known to the other server', async () => {
      const r = await fetch(`${b.url}/api/v1/reports`, { headers: { ...signRequest({ log: TEST_ORIGIN, method: 'GET', path: '/api/v1/reports' }, reg.gln, keyFileSeed(reg)) } });
      return r.status === 200 ? ((await r.json()) as { reports: { id: number; note: string | null }[] }) : undefined;
    });
    expect(read.reports.map((x) => x.note)).toEqual(['odd box', 'second']);
  }, 60_000);

  it("participants' scans meet across the servers: the maker's scan through one and another party's through the other are SEEN_FAR_APART", async () => {
    const code = `(01)${gtin}(21)C2L2S9`;
    const scan = async (url: string, who: Party): Promise<string[]> => {
      const raw = JSON.stringify({ code });
      const headers = { 'content-type': 'application/json', ...signRequest({ log: TEST_ORIGIN, method: 'POST', path: '/api/v1/verify', body: utf8(raw) }, who.gln, keyFileSeed(who)) };
      const r = await fetch(`${url}/api/v1/verify`, { method: 'POST', headers, body: raw });
      expect(r.status).toBe(200);
      return ((await r.json()) as { reasons: { code: string }[] }).reasons.map((x) => x.code);
    };
    expect(await scan(a.url, m)).not.toContain('SEEN_FAR_APART');
    // The other server learns of the maker's scan from PostgreSQL within a round.
    await until('the scan to reach the other server', async () => ((await scan(b.url, d)).includes('SEEN_FAR_APART') ? true : undefined));

    // Patients' scans (anonymous: they change no verdict) of one pack in two towns, through the two servers: the
    // regulator's alert feed on either server shows the pack seen apart.
    for (const [url, location] of [[a.url, 'Berlin'], [b.url, 'Paris']] as const) {
      const r = await fetch(`${url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: `(01)${gtin}(21)C4L4S4`, scanner: { location } }) });
      expect(r.status).toBe(200);
    }
    for (const url of [a.url, b.url]) {
      const alerts = await until('the alert on every server', async () => {
        const r = await fetch(`${url}/api/v1/alerts`, { headers: { ...signRequest({ log: TEST_ORIGIN, method: 'GET', path: '/api/v1/alerts' }, reg.gln, keyFileSeed(reg)) } });
        const j = (await r.json()) as { alerts: { serial: string; signals: string[]; places: number }[] };
        return j.alerts.find((x) => x.serial === 'C4L4S4' && x.signals.includes('SEEN_APART'));
      });
      expect(alerts.places).toBe(2);
    }
  }, 30_000);

  it('a custody row edited in PostgreSQL (a pack handed to another holder) is found by audit and by the running guard', async () => {
    await pgs.query("UPDATE $schema.custody_packs SET holder = $1 WHERE gtin = $2 AND serial = 'C3L2S77'", [d.gln, gtin]);
    const audit = await cliAsync(['audit', '--db', db, '--json']);
    expect(audit.status).toBe(1);
    const report = JSON.parse(audit.stdout) as { findings: { code: string; message: string }[] };
    expect(report.findings.map((f) => f.code)).toContain('CUSTODY_ROW_MISMATCH');
    expect(report.findings.find((f) => f.code === 'CUSTODY_ROW_MISMATCH')!.message).toContain('custody_packs');
    for (const s of [a, b]) {
      await until('the guard to freeze the server', async () => (s.stderr().includes('custody_packs row in PostgreSQL differs') ? true : undefined), 15_000);
      const r = await fetch(`${s.url}/api/v1/packs/${gtin}/C0L0S0`);
      expect(r.status).toBe(500);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('LOG_INTEGRITY');
    }
  }, 60_000);

  it('a leaf and an interior hash edited in PostgreSQL behind the servers are found by audit', async () => {
    // The operator's own tools: the append-only triggers have to be switched off first, and back on after.
    await pgs.query('ALTER TABLE $schema.leaves DISABLE TRIGGER leaves_append_only');
    await pgs.query("UPDATE $schema.leaves SET entry = entry || '\\x20'::bytea WHERE idx = 2");
    await pgs.query('ALTER TABLE $schema.leaves ENABLE TRIGGER leaves_append_only');
    await pgs.query('ALTER TABLE $schema.nodes DISABLE TRIGGER nodes_append_only');
    await pgs.query("UPDATE $schema.nodes SET hash = decode(repeat('ab', 32), 'hex') WHERE level = 1 AND idx = 5");
    await pgs.query('ALTER TABLE $schema.nodes ENABLE TRIGGER nodes_append_only');
    const audit = await cliAsync(['audit', '--db', db, '--json']);
    expect(audit.status).toBe(1);
    const report = JSON.parse(audit.stdout) as { ok: boolean; findings: { code: string; index?: number; message: string }[] };
    expect(report.ok).toBe(false);
    expect(report.findings.some((f) => f.index === 2)).toBe(true);
    expect(report.findings.some((f) => /1\/5|level 1/.test(f.message))).toBe(true);
  }, 60_000);

  it('a leaf edited in PostgreSQL is found by the running guard of a server that starts afterwards, and by one running', async () => {
    // A fresh server copies the ledger from PostgreSQL: the edited leaf does not hash to its row.
    const late: ServerProcess | Error = await startServerProcess(db, ['--log-key', logKey]).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e))));
    if (late instanceof Error) expect(late.message).toMatch(/LOG_INTEGRITY|LEDGER ALTERED/);
    else {
      servers.push(late);
      await until('the new server to refuse', async () => (late.stderr().includes('LEDGER ALTERED in PostgreSQL') ? true : undefined), 15_000);
      const r = await fetch(`${late.url}/api/v1/packs/${gtin}/C0L0S0`);
      expect(r.status).toBe(500);
    }
  }, 60_000);
});
