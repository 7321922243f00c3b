// Issue 15 end to end: a server that reads from a streaming replica (`medtrail serve --db <primary>
// --db-replica <standby>`). A private primary and a hot standby made from it by pg_basebackup -R
// (test/support/pg-cluster.ts). One server over the primary signs; the other follows the standby for its copy
// and its checkpoints and writes to the primary. Batches registered through both: the replica-following
// server answers each pack once the checkpoint it serves covers it, only ever serves a checkpoint the signer
// stored, never signs, and never answers a state older than the checkpoint it cites (a lot recalled before
// checkpoint N is RECALLED in every answer that cites N or later).
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toHex } from '../../core/bytes.js';
import { keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { signRequest } from '../../core/api/request-auth.js';
import type { Entry } from '../../core/entry/entry.js';
import { PgLogStore } from '../../server/store/pg/pg-log.js';
import { cli, cliAsync } from '../support/cli.js';
import { gtinOf, PREFIX, sign, type Party } from '../support/custody.js';
import { participantKey, TEST_ORIGIN } from '../support/ledger.js';
import { dbUrl, privateClusterUnavailable, removeCluster, standby, startCluster, type PgCluster } from '../support/pg-cluster.js';
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
let primary: PgCluster | undefined;
let replica: PgCluster | undefined;
let signer: ServerProcess;
let reader: ServerProcess;
let pgs: PgLogStore | undefined;
const m = participantKey(10);
const gtin = gtinOf(17);
let product = '';

interface PackRead {
  verdict: string;
  pack: { state: string; lot: string };
  checkpoint?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Posts one entry that must be accepted, retrying 503s a bounded number of times. */
async function ok(url: string, e: Entry): Promise<Acked> {
  for (let attempt = 0; ; attempt++) {
    const r = await fetch(`${url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(e), signal: AbortSignal.timeout(20_000) });
    const json = (await r.json()) as Record<string, unknown>;
    if (r.status === 201) return json as unknown as Acked;
    if (r.status !== 503 || attempt >= 50) throw new Error(`expected 201, got ${r.status} ${JSON.stringify(json)}`);
    await sleep(100);
  }
}

const checkpoint = async (url: string): Promise<string> => (await fetch(`${url}/api/v1/checkpoint`, { signal: AbortSignal.timeout(5000) })).text();
const sizeOf = (note: string): number => Number(note.split('\n')[1]);

/** GET /packs/<gtin>/<serial>: anonymous, or signed by `as` (then the answer cites its checkpoint). */
async function packRead(url: string, serial: string, as?: Party): Promise<{ status: number; body: PackRead & { error?: { code: string } } }> {
  const path = `/api/v1/packs/${gtin}/${serial}`;
  const headers = as === undefined ? {} : { ...signRequest({ log: TEST_ORIGIN, method: 'GET', path }, as.gln, keyFileSeed(as)) };
  const r = await fetch(`${url}${path}`, { headers, signal: AbortSignal.timeout(5000) });
  return { status: r.status, body: (await r.json()) as PackRead & { error?: { code: string } } };
}

const batch = (lot: string, n: number): Entry => sign('batch', m, { gtin, lot, expiry: '301231', serials: Array.from({ length: n }, (_, k) => `${lot}S${k}`) }, [product]);

/** Every checkpoint note the replica-following server served, as the test saw them (checked against the signer's). */
const served = new Set<string>();

async function serve(db: string, extra: string[] = []): Promise<ServerProcess> {
  const s = await startServerProcess(db, ['--log-key', logKey, ...extra]);
  servers.push(s);
  return s;
}

describe.skipIf(why !== undefined)(`medtrail serve --db-replica over a streaming standby (private primary and standby${why === undefined ? '' : `; skipped: ${why}`})`, () => {
  beforeAll(async () => {
    installNodeCrypto();
    t = tempDir('medtrail-pg-replica-');
    keys = join(t.dir, 'keys');
    logKey = join(keys, 'log.key.json');
    primary = await startCluster();
    const db = dbUrl(primary, schema);
    const init = cli(['init', '--db', db, '--keys', keys, '--origin', TEST_ORIGIN, '--json']);
    expect(init.status, init.stderr).toBe(0);
    replica = await standby(primary);
    signer = await serve(db);
    await until('the signer to take the lease', async () => (signer.stderr().includes('signing lease taken') ? true : undefined), 10_000);
    reader = await serve(db, ['--db-replica', dbUrl(replica, schema)]);
    pgs = await PgLogStore.open(primary.url, schema, { create: false });
    const authority = parseKeyFile(readFileSync(join(keys, 'authority.key.json'), 'utf8')) as Party;
    await ok(signer.url, sign('participant', authority, { action: 'admit', gln: m.gln, name: m.name, role: 'manufacturer', publicKey: m.publicKey, prefixes: [PREFIX] }));
    // Through the reader: written to the primary, though it reads from the standby.
    ({ leafHash: product } = await ok(reader.url, sign('product', m, { gtin, name: 'Replicol', form: 'tablets', strength: '5 mg', packSize: 30 })));
  }, 90_000);

  afterAll(async () => {
    if (process.env['MEDTRAIL_TEST_DEBUG'] !== undefined) for (const s of servers) process.stderr.write(`--- server ${s.url}\n${s.stderr()}\n`);
    for (const s of servers) await s.stop('SIGKILL');
    await pgs?.close().catch(() => undefined);
    await removeCluster(replica);
    await removeCluster(primary);
    t?.cleanup();
  }, 60_000);

  it('the standby is a hot standby streaming from the primary', async () => {
    const r = await PgLogStore.open(replica!.url, schema, { create: false });
    try {
      expect((await r.query('SELECT pg_is_in_recovery() AS standby')).rows[0]).toEqual({ standby: true });
    } finally {
      await r.close();
    }
    const senders = await pgs!.query("SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'");
    expect(senders.rows[0]).toEqual({ n: 1 });
  });

  it('answers every pack registered through either server once the checkpoint it serves covers it; serves only checkpoints the signer stored; never signs', async () => {
    const acked: { lot: string; index: number; leafHash: string }[] = [];
    let sampling = true;
    // Meanwhile: the reader's checkpoint, over and over; each note it serves is kept for the check below.
    const sampler = (async () => {
      while (sampling) {
        served.add(await checkpoint(reader.url));
        await sleep(20);
      }
    })();
    await Promise.all(
      Array.from({ length: 4 }, async (_, c) => {
        for (let i = 0; i < 4; i++) {
          const lot = `P${c}L${i}`;
          const via = (c + i) % 2 === 0 ? reader : signer;
          const a = await ok(via.url, batch(lot, 250));
          acked.push({ lot, ...a });
        }
      }),
    );
    const head = await pgs!.head();
    expect(head.size).toBe(2 + 16);
    const rows = await pgs!.leafRows(0, head.size);
    for (const x of acked) expect(toHex(rows[x.index]!.hash)).toBe(x.leafHash);

    // Each pack answered by the reader once its served checkpoint covers the batch (first, middle and last pack).
    for (const x of acked) {
      await until(`the reader's checkpoint to cover ${x.lot} (index ${x.index})`, async () => (sizeOf(await checkpoint(reader.url)) > x.index ? true : undefined), 20_000);
      for (const k of [0, 125, 249]) {
        const r = await packRead(reader.url, `${x.lot}S${k}`);
        expect(r.status, `${x.lot}S${k}: ${JSON.stringify(r.body)}`).toBe(200);
        expect(r.body.verdict).toBe('GENUINE');
      }
    }
    await until('the reader at the head', async () => (sizeOf(await checkpoint(reader.url)) === head.size ? true : undefined), 20_000);
    sampling = false;
    await sampler;
    served.add(await checkpoint(reader.url));

    // Never a checkpoint beyond what it can prove: every note it served is one the signer stored in PostgreSQL.
    const stored = new Set((await pgs!.checkpoints()).map((cp) => cp.note));
    for (const note of served) expect(stored.has(note), `a note the reader served that the signer did not store:\n${note}`).toBe(true);
    expect(await checkpoint(reader.url)).toBe(await checkpoint(signer.url));
    // It never signs: the lease is the signer's, the only advisory lock held.
    expect(reader.stderr()).not.toContain('signing lease taken');
    expect(signer.stderr()).toContain('signing lease taken');
    const locks = await pgs!.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted");
    expect(locks.rows[0]).toEqual({ n: 1 });
  }, 60_000);

  it('never answers a state older than the checkpoint it cites: a lot recalled before checkpoint N is RECALLED in every answer citing N or later', async () => {
    const reg = await ok(signer.url, batch('RC1', 50));
    await until('the reader to serve a checkpoint with RC1', async () => (sizeOf(await checkpoint(reader.url)) > reg.index ? true : undefined), 20_000);
    // The recall is committed while the standby holds still, so the reader answers for a while from a checkpoint
    // before it (GENUINE is right there), then from one after it (only RECALLED is right).
    const stand = await PgLogStore.open(replica!.url, schema, { create: false });
    const seen: string[] = [];
    try {
      await stand.query('SELECT pg_wal_replay_pause()');
      await until('replay paused', async () => (((await stand.query('SELECT pg_get_wal_replay_pause_state() AS s')).rows[0] as { s: string }).s === 'paused' ? true : undefined), 10_000);
      const recall = await ok(signer.url, sign('recall', m, { gtin, lot: 'RC1', reason: 'read-replica test' }));
      expect(recall.index).toBeGreaterThan(reg.index);
      await until('the signer to sign the recall', async () => (sizeOf(await checkpoint(signer.url)) > recall.index ? true : undefined), 20_000);
      let citedAfterRecall = 0;
      let resumeAt = Date.now() + 800;
      const judge = async (): Promise<true | undefined> => {
        if (resumeAt !== 0 && Date.now() > resumeAt) {
          await stand.query('SELECT pg_wal_replay_resume()');
          resumeAt = 0;
        }
        const size = sizeOf(await checkpoint(reader.url));
        const anon = await packRead(reader.url, 'RC1S7');
        const full = await packRead(reader.url, 'RC1S7', m);
        expect(anon.status, JSON.stringify(anon.body)).toBe(200);
        // The checkpoint was read first: the answer after it is at least that new.
        if (size > recall.index) expect(anon.body.verdict, `anonymous answer after the reader served checkpoint ${size}`).toBe('RECALLED');
        expect(full.status, JSON.stringify(full.body)).toBe(200);
        const cited = sizeOf(full.body.checkpoint ?? '');
        seen.push(`${cited}:${full.body.verdict}`);
        expect(cited, 'an answer about RC1S7 cites a checkpoint that does not hold its batch').toBeGreaterThan(reg.index);
        if (cited > recall.index) {
          expect(full.body.verdict, `an answer citing checkpoint ${cited} (the recall is at ${recall.index})`).toBe('RECALLED');
          citedAfterRecall++;
        } else expect(full.body.verdict).toBe('GENUINE');
        return citedAfterRecall >= 3 ? true : undefined;
      };
      await until('the reader to answer from a checkpoint that covers the recall', judge, 20_000);
    } finally {
      await stand.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
      await stand.close();
    }
    // Answers from before the recall were seen (the standby held still), then only RECALLED ones.
    expect(seen.some((x) => x.endsWith(':GENUINE')), seen.join(' ')).toBe(true);
    expect((await packRead(reader.url, 'RC1S0')).body.verdict).toBe('RECALLED');
    const audit = await cliAsync(['audit', '--db', dbUrl(primary!, schema), '--json']);
    expect(audit.status, audit.stdout + audit.stderr).toBe(0);
    expect(reader.stderr()).not.toContain('signing lease taken');
    if (process.env['MEDTRAIL_TEST_DEBUG'] !== undefined) process.stderr.write(`notes served: ${served.size}; cited:verdict ${seen.join(' ')}\n`);
  }, 45_000);

  it('while the standby lags (replay paused) it serves no checkpoint the standby lacks, still takes writes, and catches up when replay resumes', async () => {
    const stand = await PgLogStore.open(replica!.url, schema, { create: false });
    try {
      await stand.query('SELECT pg_wal_replay_pause()');
      await until('replay paused', async () => ((await stand.query('SELECT pg_get_wal_replay_pause_state() AS s')).rows[0] as { s: string }).s === 'paused' ? true : undefined, 10_000);
      const frozen = await stand.latestCheckpoint();
      expect(frozen).toBeDefined();
      // The primary moves on: batches through the signer, and one through the reader (its writes go to the primary).
      const lagging: Acked[] = [];
      for (let i = 0; i < 3; i++) lagging.push(await ok(signer.url, batch(`LAG${i}`, 100)));
      const own = await ok(reader.url, batch('LAGR', 100));
      expect(own.index).toBe(lagging[2]!.index + 1);
      const head = await pgs!.head();
      await until('the signer to sign the head', async () => (sizeOf(await checkpoint(signer.url)) === head.size ? true : undefined), 20_000);
      // For a while: the reader's checkpoint stays one the standby holds, never the primary's newer ones.
      const end = Date.now() + 1500;
      while (Date.now() < end) {
        const note = await checkpoint(reader.url);
        served.add(note);
        expect(sizeOf(note), 'the reader served a checkpoint its standby does not hold').toBeLessThanOrEqual(frozen!.size);
        await sleep(50);
      }
      // Its copy holds what it appended and, from the primary under the head lock, the signer's batches before
      // it; no checkpoint it serves covers them yet: it asks to be asked again (CHECKPOINT_PENDING) rather than
      // answer from a state it cannot prove.
      for (const serial of ['LAGRS0', 'LAG0S0']) {
        const r = await packRead(reader.url, serial);
        expect(r.status, JSON.stringify(r.body)).toBe(503);
        expect(r.body.error?.code).toBe('CHECKPOINT_PENDING');
      }
      await stand.query('SELECT pg_wal_replay_resume()');
      await until('the reader to serve the head once replay resumes', async () => (sizeOf(await checkpoint(reader.url)) === head.size ? true : undefined), 20_000);
      for (const lot of ['LAG0', 'LAG1', 'LAG2', 'LAGR']) expect((await packRead(reader.url, `${lot}S99`)).body.verdict).toBe('GENUINE');
      served.add(await checkpoint(reader.url));
      const stored = new Set((await pgs!.checkpoints()).map((cp) => cp.note));
      for (const note of served) expect(stored.has(note), `a note the reader served that the signer did not store:\n${note}`).toBe(true);
      expect(reader.stderr()).not.toContain('signing lease taken');
    } finally {
      await stand.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
      await stand.close();
    }
  }, 45_000);
});
