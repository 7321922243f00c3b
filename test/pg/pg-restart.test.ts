// Issue 15 end to end: the database restarts under a running ledger. Two `medtrail serve` processes over a
// PostgreSQL cluster of this test's own (test/support/pg-cluster.ts; the shared cluster of .ci/run is never
// restarted) take batches from several clients at once; in the middle, `pg_ctl restart -m fast` cuts every
// connection. Clients retry what the servers say to retry (503). Afterwards: every acknowledged entry is in
// the log exactly once at the index it was acknowledged with, nothing else is missing, `medtrail audit` finds
// the ledger intact, both servers take appends again and answer the same checkpoint, and exactly one of them
// holds the signing lease (it may have moved) and every server follows commits again (LISTEN).
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../core/bytes.js';
import { parseKeyFile } from '../../core/crypto/keys.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import type { Entry } from '../../core/entry/entry.js';
import { PgLogStore } from '../../server/store/pg/pg-log.js';
import { cli, cliAsync } from '../support/cli.js';
import { gtinOf, PREFIX, sign, type Party } from '../support/custody.js';
import { participantKey, TEST_ORIGIN } from '../support/ledger.js';
import { dbUrl, privateClusterUnavailable, removeCluster, restartCluster, startCluster, type PgCluster } from '../support/pg-cluster.js';
import type { Acked } from '../support/pg.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../support/until.js';

const why = privateClusterUnavailable();
let t: { dir: string; cleanup: () => void } | undefined;
const schema = 'ledger';
let keys = '';
let logKey = '';
const servers: ServerProcess[] = [];
let cluster: PgCluster | undefined;
let db = '';
let a: ServerProcess;
let b: ServerProcess;
let pgs: PgLogStore | undefined;
const m = participantKey(10);
const gtin = gtinOf(16);
let product = '';

/** What became of one entry sent: acknowledged, or sent again after a 503 and refused as already in the log. */
type Outcome = { acked: Acked; nonce: string } | { replayedAfter503: true; nonce: string };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function post(url: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  let r: Response;
  try {
    r = await fetch(`${url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(20_000) });
  } catch (e) {
    // A server that died answers nothing: say how it ended, with the end of what it wrote.
    const s = servers.find((x) => x.url === url);
    const ended = s === undefined ? '' : ` (exit code ${String(s.child.exitCode)}, signal ${String(s.child.signalCode)}; stderr: ${s.stderr().slice(-1500)})`;
    throw new Error(`POST to ${url} failed: ${String(e)}${ended}`);
  }
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

const codeOf = (json: Record<string, unknown>): string | undefined => (json['error'] as { code?: string } | undefined)?.code;
const nonceOf = (e: Entry): string => e.nonce;

/**
 * Sends one entry until it is acknowledged, retrying 503s (STORE_UNAVAILABLE, OVERLOADED, ...) at most 150
 * times. An entry sent again after a 503 may have been committed by the attempt that failed (the connection
 * cut between COMMIT and its answer): then ENTRY_REPLAYED is its outcome, and the log must hold it once.
 */
async function send(url: string, e: Entry, seen503: string[]): Promise<Outcome> {
  let had503 = false;
  for (let attempt = 0; ; attempt++) {
    const r = await post(url, e);
    if (r.status === 201) return { acked: r.json as unknown as Acked, nonce: nonceOf(e) };
    if (had503 && r.status === 409 && codeOf(r.json) === 'ENTRY_REPLAYED') return { replayedAfter503: true, nonce: nonceOf(e) };
    if (r.status !== 503 || attempt >= 150) throw new Error(`expected 201, got ${r.status} ${JSON.stringify(r.json)} (attempt ${attempt})`);
    had503 = true;
    seen503.push(codeOf(r.json) ?? '?');
    await sleep(100);
  }
}

async function ok(url: string, e: Entry): Promise<Acked> {
  const o = await send(url, e, []);
  if (!('acked' in o)) throw new Error('expected an acknowledgement');
  return o.acked;
}

const checkpoint = async (url: string): Promise<string> => (await fetch(`${url}/api/v1/checkpoint`, { signal: AbortSignal.timeout(5000) })).text();
const sizeOf = (note: string): number => Number(note.split('\n')[1]);
/** Whether a server's stderr says it holds the lease now (its last lease line is "taken"). */
const holdsLease = (s: ServerProcess): boolean => {
  const lines = s.stderr().split('\n').filter((l) => l.includes('signing lease'));
  return lines.at(-1)?.includes('signing lease taken') === true;
};

async function listeners(): Promise<number> {
  const r = await pgs!.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1', [`LISTEN medtrail_${schema}`]);
  return (r.rows[0] as { n: number }).n;
}

async function serve(): Promise<ServerProcess> {
  const s = await startServerProcess(db, ['--log-key', logKey]);
  servers.push(s);
  return s;
}

describe.skipIf(why !== undefined)(`medtrail serve across a PostgreSQL restart (a private cluster${why === undefined ? '' : `; skipped: ${why}`})`, () => {
  beforeAll(async () => {
    installNodeCrypto();
    t = tempDir('medtrail-pg-restart-');
    keys = join(t.dir, 'keys');
    logKey = join(keys, 'log.key.json');
    cluster = await startCluster();
    db = dbUrl(cluster, schema);
    const init = cli(['init', '--db', db, '--keys', keys, '--origin', TEST_ORIGIN, '--json']);
    expect(init.status, init.stderr).toBe(0);
    const authority = parseKeyFile(readFileSync(join(keys, 'authority.key.json'), 'utf8')) as Party;
    a = await serve();
    b = await serve();
    pgs = await PgLogStore.open(cluster.url, schema, { create: false });
    await ok(a.url, sign('participant', authority, { action: 'admit', gln: m.gln, name: m.name, role: 'manufacturer', publicKey: m.publicKey, prefixes: [PREFIX] }));
    ({ leafHash: product } = await ok(b.url, sign('product', m, { gtin, name: 'Restartol', form: 'tablets', strength: '5 mg', packSize: 30 })));
    // Both follow commits before the restart: the check after it means something.
    await until('both servers to LISTEN', async () => ((await listeners()) === 2 ? true : undefined), 10_000);
  }, 90_000);

  afterAll(async () => {
    if (process.env['MEDTRAIL_TEST_DEBUG'] !== undefined) for (const s of servers) process.stderr.write(`--- server ${s.url}\n${s.stderr()}\n`);
    for (const s of servers) await s.stop('SIGKILL');
    await pgs?.close().catch(() => undefined);
    await removeCluster(cluster);
    t?.cleanup();
  }, 60_000);

  it('takes batches from 4 clients through both servers while the cluster restarts: every acknowledged entry once, at its index; nothing lost; audit intact; both take appends again and agree', async () => {
    const outcomes: Outcome[] = [];
    const seen503: string[] = [];
    const CLIENTS = 4;
    const BATCHES = 8;
    const total = CLIENTS * BATCHES;
    let doneAtRestart = -1;
    let doneAfterRestart = -1;
    let clientsEnded = false;
    const clients = Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; i < BATCHES; i++) {
          const lot = `R${c}L${i}`;
          const serials = Array.from({ length: 400 }, (_, k) => `${lot}S${k}`);
          outcomes.push(await send((c + i) % 2 === 0 ? a.url : b.url, sign('batch', m, { gtin, lot, expiry: '301231', serials }, [product]), seen503));
        }
      }),
    ).finally(() => {
      clientsEnded = true;
    });
    // In the middle: a quarter of the batches acknowledged, the rest still to come.
    const restart = (async () => {
      await until('a few batches acknowledged', async () => (outcomes.length >= total / 4 || clientsEnded ? true : undefined), 30_000);
      doneAtRestart = outcomes.length;
      await restartCluster(cluster!);
      doneAfterRestart = outcomes.length;
    })();
    // Both to their end (the restart too when a client failed), then the first failure.
    const settled = await Promise.allSettled([clients, restart]);
    for (const x of settled) if (x.status === 'rejected') throw x.reason;
    expect(outcomes.length).toBe(total);
    // The restart did fall in the middle: batches were still being sent when the cluster was back.
    expect(doneAtRestart).toBeLessThan(total);
    expect(doneAfterRestart).toBeLessThan(total);

    const head = await pgs!.head();
    const rows = await pgs!.leafRows(0, head.size);
    expect(rows.length).toBe(head.size);
    // 1 admission + 1 product + the batches, and nothing else: none lost, none written twice.
    expect(head.size, `503s seen: ${seen503.join(',')}`).toBe(2 + total);
    const acked = outcomes.flatMap((o) => ('acked' in o ? [o.acked] : []));
    for (const x of acked) expect(toHex(rows[x.index]!.hash), `entry acknowledged at ${x.index}`).toBe(x.leafHash);
    expect(new Set(acked.map((x) => x.index)).size).toBe(acked.length);
    const nonces = rows.filter((r) => r.kind === 'batch').map((r) => r.nonce);
    expect(new Set(nonces).size).toBe(total);
    expect([...nonces].sort()).toEqual(outcomes.map((o) => o.nonce).sort());

    // Both servers take appends again (each through its own pool, after the restart).
    const after = [await ok(a.url, sign('batch', m, { gtin, lot: 'AFTER_A', expiry: '301231', serials: ['AA1', 'AA2'] }, [product])), await ok(b.url, sign('batch', m, { gtin, lot: 'AFTER_B', expiry: '301231', serials: ['AB1', 'AB2'] }, [product]))];
    expect(after.map((x) => x.index).sort()).toEqual([2 + total, 3 + total]);

    // One server signs again (the lease may have moved) and both come to the same signed checkpoint.
    await until(
      'both servers at the head with the same checkpoint',
      async () => {
        const [na, nb] = [await checkpoint(a.url), await checkpoint(b.url)];
        return sizeOf(na) === 4 + total && na === nb ? true : undefined;
      },
      20_000,
    );
    const stored = await pgs!.latestCheckpoint();
    expect(stored?.size).toBe(4 + total);
    expect(await checkpoint(a.url)).toBe(stored?.note);
    expect([a, b].filter(holdsLease).length, `${a.stderr()}\n---\n${b.stderr()}`).toBe(1);
    const locks = await pgs!.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted");
    expect((locks.rows[0] as { n: number }).n).toBe(1);

    const audit = await cliAsync(['audit', '--db', db, '--json']);
    expect(audit.status, audit.stdout + audit.stderr).toBe(0);
    const report = JSON.parse(audit.stdout) as { ok: boolean; leaves: number };
    expect(report.ok).toBe(true);
    expect(report.leaves).toBe(4 + total);
    if (process.env['MEDTRAIL_TEST_DEBUG'] !== undefined) process.stderr.write(`restart after ${doneAtRestart}, back after ${doneAfterRestart} of ${total}; 503s: ${seen503.join(',')}\n`);
  }, 60_000);

  it('each server follows commits again after the restart (its LISTEN connection is made anew)', async () => {
    // Without it a follower only learns of a commit at its next timed round, and says nothing about it.
    await until('both servers to LISTEN again', async () => ((await listeners()) === 2 ? true : undefined), 10_000).catch(async () => {
      const dead = servers.filter((x) => x.child.exitCode !== null || x.child.signalCode !== null).length;
      throw new Error(`${await listeners()} LISTEN connections to PostgreSQL after the restart, not 2 (one per server)${dead > 0 ? `; ${dead} server(s) exited` : ''}`);
    });
  }, 20_000);
});
