// Issue 13: checkpoints witnessed by others, and a patient page that holds them to the deployment's witness
// policy (c2sp.org/tlog-policy). Two `medtrail witness` processes, a `medtrail serve --policy` process that
// submits every checkpoint to them, real Chromium. Then the operator forks its log (a copy of the database
// with a different history, the same log key, the same page and policy): the witnesses refuse to cosign the
// fork, and the page says it cannot confirm, where a page without the policy would have believed it.
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkQuorum, parsePolicy } from '../../core/log/policy.js';
import { logKeyPath } from '../../server/context.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';
import { until } from '../support/until.js';
import { startWitnessProcess, type WitnessProcess } from '../support/witness-process.js';
import { gtinOf, sign } from '../support/custody.js';
import { participantKey } from '../support/ledger.js';
import { buildAssets, launch, patientChain, tagUri, type PatientChain } from './browser.js';
import { checks, openPage, verdictOf } from './patient-visit.js';
import { cliAsync } from '../support/cli.js';
import { spawnReader } from '../support/reader-world.js';
import { lyingProxy } from './lying-proxy.js';

const t = tempDir('medtrail-witnessed-');
let chain: PatientChain;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let witnesses: WitnessProcess[] = [];
let server: ServerProcess | undefined;
let fork: ServerProcess | undefined;
let policyText = '';
let policyFile = '';
let vkey = '';
const forkDb = join(t.dir, 'fork.db');
let forkBase = 0;

beforeAll(async () => {
  await buildAssets();
  chain = await patientChain();
  vkey = chain.c.srv.ledger.log.verifierKey;
  // The operator's copy for the fork, taken now: same key, same history so far.
  chain.c.srv.ledger.store.connectionFor('custody').prepare('VACUUM INTO ?').run(forkDb);
  forkBase = chain.c.srv.ledger.log.size();
  copyFileSync(logKeyPath(chain.c.t.db), logKeyPath(forkDb));
  await chain.c.srv.close();
  witnesses = [await startWitnessProcess(t.dir, 'witness.test/w1', vkey), await startWitnessProcess(t.dir, 'witness.test/w2', vkey)];
  policyText = [`log ${vkey}`, ...witnesses.map((w, i) => `witness w${i + 1} ${w.vkey} ${w.url}`), 'group both all w1 w2', 'quorum both', ''].join('\n');
  policyFile = join(t.dir, 'policy.txt');
  writeFileSync(policyFile, policyText);
  // Cosignatures older than 4 s are refused by the pages (so the log refreshes them every second).
  server = await startServerProcess(chain.c.t.db, ['--policy', policyFile, '--witness-max-age', '4']);
  // The real log goes on: one more entry, witnessed by both.
  const more = await fetch(`${server.url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sign('product', chain.c.m, { gtin: gtinOf(2), name: 'Real', form: 'tablets', strength: '1 mg', packSize: 10 })) });
  expect(more.status).toBe(201);
  const policy = parsePolicy(policyText);
  await until('the new checkpoint witnessed', async () => {
    const cp = await (await fetch(`${server!.url}/api/v1/checkpoint`)).text();
    const q = checkQuorum(policy, cp);
    return q.satisfied && q.checkpoint.size === forkBase + 1 ? true : undefined;
  });
  // The fork: from the same history, another entry at the same place, then served with the same policy.
  const f = await startServerProcess(forkDb);
  const r = await fetch(`${f.url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sign('product', chain.c.m, { gtin: gtinOf(3), name: 'Only in the fork', form: 'tablets', strength: '1 mg', packSize: 10 })) });
  expect(r.status).toBe(201);
  await f.stop();
  fork = await startServerProcess(forkDb, ['--policy', policyFile]);
  ({ browser, close: closeBrowser } = await launch());
}, 60_000);

afterAll(async () => {
  await closeBrowser?.();
  await server?.stop();
  await fork?.stop();
  for (const w of witnesses) await w.stop();
  chain?.c.t.cleanup();
  t.cleanup();
});

describe('checkpoints witnessed by others', () => {
  it('the log submits its checkpoint to both witnesses and serves it with their cosignatures', async () => {
    const policy = parsePolicy(policyText);
    const q = await until('a quorum on the served checkpoint', async () => {
      const text = await (await fetch(`${server!.url}/api/v1/checkpoint`)).text();
      const r = checkQuorum(policy, text);
      return r.satisfied ? r : undefined;
    });
    expect(q.witnessed).toEqual(['w1', 'w2']);
    expect(q.checkpoint.extensions.some((l) => l.startsWith('medtrail-map '))).toBe(true);
  });

  it('the patient page checks the quorum itself and shows the verdict the witnessed state gives', async () => {
    const { ctx, page } = await openPage(browser, 'en-US', { width: 390, height: 844 });
    try {
      const v = await verdictOf(page, tagUri(server!.url, chain.genuine, chain.c.m));
      expect(v.key).toBe('GENUINE');
      expect(await checks(page)).toMatchObject({ checkpoint: 'ok', witnesses: 'ok', pack_state: 'ok' });
      expect((await verdictOf(page, tagUri(server!.url, chain.dispensed, chain.c.m))).key).toBe('DISPENSED');
    } finally {
      await ctx.close();
    }
  });

  it('a fork of the log (the same key, another history) gets no cosignature, and the page cannot confirm from it', async () => {
    // Published to the same witnesses, which hold the real log's checkpoint: they refuse it as inconsistent.
    await new Promise((r) => setTimeout(r, 1500));
    const note = await (await fetch(`${fork!.url}/api/v1/checkpoint`)).text();
    const q = checkQuorum(parsePolicy(policyText), note);
    expect(q.witnessed).toEqual([]);
    expect(q.satisfied).toBe(false);
    const { ctx, page } = await openPage(browser, 'en-US', { width: 390, height: 844 });
    try {
      // The pack's state proofs hold under the fork's own roots, signed by the log key: only the witnesses tell.
      const v = await verdictOf(page, tagUri(fork!.url, chain.genuine, chain.c.m));
      expect(v.key).toBe('CANNOT_CONFIRM');
      expect((await checks(page))['witnesses']).toBe('missing');
      // A pack the fork shows as plain active, with its maker's tag: without witnesses, not confirmed.
      const w = await verdictOf(page, tagUri(fork!.url, chain.forged, chain.c.m));
      expect(w.key).toBe('CANNOT_CONFIRM');
    } finally {
      await ctx.close();
    }
  });
});

describe('medtrail verify --policy and medtrail-reader --policy: no server is trusted', () => {
  const verify = async (server: string, uri: string): Promise<{ status: number | null; json: Record<string, unknown>; stderr: string }> => {
    const r = await cliAsync(['verify', '--server', server, '--policy', policyFile, '--json', uri]);
    let json: Record<string, unknown> = {};
    try {
      json = JSON.parse(r.stdout) as Record<string, unknown>;
    } catch {
      /* an error goes to stderr */
    }
    return { status: r.status, json, stderr: r.stderr };
  };

  it('verify: the witnessed state decides; a server that answers GENUINE for a dispensed pack is overruled', async () => {
    const ok = await verify(server!.url, tagUri(server!.url, chain.genuine, chain.c.m));
    expect(ok.status).toBe(0);
    expect(ok.json).toMatchObject({ verdict: 'GENUINE', witnessed: ['w1', 'w2'], proven: { state: 'active' } });
    const proxy = await lyingProxy(server!.url);
    try {
      const lie = await verify(proxy.url, tagUri(proxy.url, chain.dispensed, chain.c.m));
      expect(proxy.lied()).toBeGreaterThan(0);
      expect(lie.json).toMatchObject({ verdict: 'DISPENSED', serverVerdict: 'GENUINE', proven: { state: 'dispensed' } });
      expect(String(lie.json['overridden'])).toMatch(/the server said GENUINE/);
      expect(lie.status).toBe(3);
    } finally {
      await proxy.close();
    }
  });

  it('verify: a forked log gets no quorum: CHECKPOINT_QUORUM, no verdict', async () => {
    const r = await verify(fork!.url, tagUri(fork!.url, chain.forged, chain.c.m));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/CHECKPOINT_QUORUM/);
  });

  it('the reader holds every online answer to the policy: witnessed GENUINE, and NOT_CHECKED from the fork', async () => {
    for (const [url, pack, want] of [[server!.url, chain.genuine, 'GENUINE'], [fork!.url, chain.forged, 'NOT_CHECKED']] as const) {
      const r = await spawnReader(['--server', url, '--policy', policyFile, '--state', join(t.dir, `reader-${want}`), '--no-nfc']);
      try {
        r.write(tagUri(url, pack, chain.c.m));
        const line = await r.next((l) => 'verdict' in l && l['provisional'] === false, 20_000);
        expect(line['verdict']).toBe(want);
        if (want === 'GENUINE') expect(line['witnessed']).toEqual(['w1', 'w2']);
        else expect(String(line['cannotCheck'])).toMatch(/CHECKPOINT_QUORUM/);
      } finally {
        await r.stop();
      }
    }
  });
});

describe('every lie, for every pack that is not genuine: verify --policy and the reader --policy never say GENUINE', () => {
  const LIES = {
    'verdict rewritten': {},
    'leaf 0 borrowed': { borrowLeafZero: true },
    'state proof dropped': { dropMap: true },
    'record rewritten to active': { claimActive: true },
    'another pack’s evidence grafted': { swapFrom: '' },
  } as const;
  const packs = (url: string): [string, string][] => [
    ['dispensed', tagUri(url, chain.dispensed, chain.c.m)],
    ['recalled', tagUri(url, chain.recalled, chain.c.m)],
    ['in transit', tagUri(url, chain.inTransit, chain.c.m)],
    ['forged tag', tagUri(url, chain.forged, participantKey(99))],
    ['unknown', tagUri(url, { ...chain.genuine, serial: 'NOPE0001' }, chain.c.m)],
    // A genuine pack's printed code, no signature: proves nothing to an anonymous lookup (issue 12 #1).
    ['unsigned code', `(01)${chain.genuine.gtin}(21)${chain.genuine.serial}`],
  ];
  const proxyFor = (lie: keyof typeof LIES): ReturnType<typeof lyingProxy> => {
    const o = LIES[lie];
    return lyingProxy(server!.url, 'swapFrom' in o ? { swapFrom: tagUri(server!.url, chain.genuine, chain.c.m) } : o);
  };

  it('medtrail verify --policy', async () => {
    const said: string[] = [];
    for (const lie of Object.keys(LIES) as (keyof typeof LIES)[]) {
      const proxy = await proxyFor(lie);
      try {
        for (const [name, uri] of packs(proxy.url)) {
          const r = await cliAsync(['verify', '--server', proxy.url, '--policy', policyFile, '--json', uri]);
          let verdict = 'no verdict';
          try {
            verdict = String((JSON.parse(r.stdout) as Record<string, unknown>)['verdict']);
          } catch {
            /* refused: the error is on stderr */
          }
          said.push(`${lie} / ${name}: ${verdict}`);
          if (verdict === 'GENUINE' || r.status === 0) throw new Error(`GENUINE under a lie: ${lie} / ${name}`);
        }
        expect(proxy.lied()).toBeGreaterThan(0);
      } finally {
        await proxy.close();
      }
    }
    expect(said).toHaveLength(30);
  }, 120_000);

  it('medtrail-reader --policy (online answers)', async () => {
    for (const lie of Object.keys(LIES) as (keyof typeof LIES)[]) {
      const proxy = await proxyFor(lie);
      const r = await spawnReader(['--server', proxy.url, '--policy', policyFile, '--state', join(t.dir, `reader-lie-${lie.replace(/\W/g, '')}`), '--no-nfc']);
      try {
        for (const [name, uri] of packs(proxy.url)) {
          r.write(uri);
          const line = await r.next((l) => 'verdict' in l && l['provisional'] === false, 20_000);
          if (line['verdict'] === 'GENUINE') throw new Error(`the reader said GENUINE under a lie: ${lie} / ${name}`);
        }
      } finally {
        await r.stop();
        await proxy.close();
      }
    }
  }, 180_000);
});

describe("the reader's offline cache stands on a witnessed checkpoint", () => {
  it('syncs up to a checkpoint with the quorum only, and only entries that give its root', async () => {
    const { ReaderCache } = await import('../../reader/cache.js');
    const { evaluateOffline, parseCode } = await import('../../reader/offline.js');
    const { LedgerClient } = await import('../../client/ledger-client.js');
    const { keyFileSeed } = await import('../../core/crypto/keys.js');
    const { createServer } = await import('node:http');
    const policy = parsePolicy(policyText);
    const signer = { gln: chain.c.p.gln, seed: keyFileSeed(chain.c.p) };
    const code = parseCode(tagUri(server!.url, chain.genuine, chain.c.m));

    const good = new ReaderCache(join(t.dir, 'cache-good.db'), policy);
    const r = await good.sync(new LedgerClient(server!.url, { signer }), signer.gln);
    expect(r.leaves).toBe(r.logSize);
    expect(good.witnessedSize).toBe(r.logSize);
    expect(evaluateOffline(good, code, new Date()).cannotCheck).toBeUndefined();
    good.close();

    // The fork's checkpoint has no quorum: the sync refuses it, and the cache gives no offline verdict.
    const forked = new ReaderCache(join(t.dir, 'cache-fork.db'), policy);
    await expect(forked.sync(new LedgerClient(fork!.url, { signer }), signer.gln)).rejects.toMatchObject({ code: 'CHECKPOINT_QUORUM' });
    expect(forked.witnessedSize).toBeUndefined();
    forked.close();

    // A server that sends other entries than its witnessed checkpoint commits to (here: leaf 1 again in place of
    // leaf 2): the root does not come out, and the cache keeps none of them.
    const proxy = createServer((req, res) => {
      void (async () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host') headers[k] = v;
        const up = await fetch(`${server!.url}${req.url}`, { headers });
        let text = await up.text();
        if (req.url!.startsWith('/api/v1/log/entries') && up.status === 200) {
          const a = JSON.parse(text) as { entries: { index: number; leaf: string }[] };
          const one = a.entries.find((e) => e.index === 1);
          const two = a.entries.find((e) => e.index === 2);
          if (one !== undefined && two !== undefined) two.leaf = one.leaf;
          text = JSON.stringify(a);
        }
        res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' });
        res.end(text);
      })();
    });
    await new Promise<void>((res) => proxy.listen(0, '127.0.0.1', res));
    const port = (proxy.address() as { port: number }).port;
    const lied = new ReaderCache(join(t.dir, 'cache-lie.db'), policy);
    try {
      await expect(lied.sync(new LedgerClient(`http://127.0.0.1:${port}`, { signer }), signer.gln)).rejects.toMatchObject({ code: 'LOG_INTEGRITY' });
      expect(lied.witnessedSize).toBeUndefined();
      expect(lied.entriesRead).toBe(false);
      expect(evaluateOffline(lied, code, new Date()).cannotCheck).toBeDefined();
    } finally {
      lied.close();
      proxy.close();
    }
  });
});

describe('an old answer replayed', () => {
  it("a recalled pack's answer from before the recall, replayed later: the page and the CLI refuse its old cosignatures", async () => {
    const { createServer } = await import('node:http');
    const post = async (body: unknown): Promise<{ index: number; leafHash: string }> => {
      const r = await fetch(`${server!.url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(r.status).toBe(201);
      return (await r.json()) as { index: number; leafHash: string };
    };
    const product = (await (await fetch(`${server!.url}/api/v1/products/${chain.gtin}`)).json()) as { index: number };
    const size = Number((await (await fetch(`${server!.url}/api/v1/checkpoint`)).text()).split('\n')[1]);
    const inc = (await (await fetch(`${server!.url}/api/v1/log/proof/inclusion?index=${product.index}&size=${size}`)).json()) as { leafHash: string };
    await post(sign('batch', chain.c.m, { gtin: chain.gtin, lot: 'RPL-1', expiry: chain.genuine.expiry, serials: ['RPL0001'] }, [inc.leafHash]));
    const pack = { gtin: chain.gtin, lot: 'RPL-1', serial: 'RPL0001', expiry: chain.genuine.expiry };
    const policy = parsePolicy(policyText);
    // The answer as it was while the pack was fine, witnessed.
    const captured = await until('a witnessed answer for the new pack', async () => {
      const text = await (await fetch(`${server!.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: tagUri(server!.url, pack, chain.c.m) }) })).text();
      const a = JSON.parse(text) as { verdict: string; map?: { checkpoint: string } };
      return a.verdict === 'GENUINE' && a.map !== undefined && checkQuorum(policy, a.map.checkpoint).satisfied ? text : undefined;
    });
    await post(sign('recall', chain.c.m, { gtin: chain.gtin, lot: 'RPL-1', reason: 'replay test' }));
    await new Promise((r) => setTimeout(r, 5000));
    const replay = createServer((req, res) => {
      void (async () => {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        if (req.method === 'POST' && req.url === '/api/v1/verify') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(captured);
          return;
        }
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'accept-encoding') headers[k] = v;
        const up = await fetch(`${server!.url}${req.url}`, { method: req.method!, headers, ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}) });
        const skip = new Set(['content-encoding', 'content-length', 'transfer-encoding', 'connection', 'keep-alive']);
        up.headers.forEach((v, k) => {
          if (!skip.has(k)) res.setHeader(k, v);
        });
        res.statusCode = up.status;
        res.end(Buffer.from(await up.arrayBuffer()));
      })();
    });
    await new Promise<void>((res) => replay.listen(0, '127.0.0.1', res));
    const url = `http://127.0.0.1:${(replay.address() as { port: number }).port}`;
    const { ctx, page } = await openPage(browser, 'en-US', { width: 390, height: 844 });
    try {
      const v = await verdictOf(page, tagUri(url, pack, chain.c.m));
      expect(v.key).toBe('CANNOT_CONFIRM');
      expect((await checks(page))['witnesses']).toBe('missing');
      expect(await page.locator('[data-stale]').count()).toBe(1);
      const cli = await cliAsync(['verify', '--server', url, '--policy', policyFile, '--max-age', '4', '--json', tagUri(url, pack, chain.c.m)]);
      expect(cli.status).not.toBe(0);
      expect(cli.stderr).toMatch(/CHECKPOINT_STALE/);
      // Asked directly, the same page says what the witnessed ledger now holds.
      expect((await verdictOf(page, tagUri(server!.url, pack, chain.c.m))).key).toBe('RECALLED');
    } finally {
      await ctx.close();
      replay.close();
    }
  }, 60_000);
});
