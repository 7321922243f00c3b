// An independent client checks the whole ledger over HTTP, using only the routes' documented shapes:
// verify the checkpoint with the key from log/key, recompute the root from log/entries, verify every inclusion
// proof and the consistency proof from an older checkpoint.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { openCheckpoint } from '../../core/log/checkpoint.js';
import { fromHex } from '../../core/bytes.js';
import { verifyConsistency, verifyInclusion } from '../../core/log/merkle.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { toAppendInput } from '../../server/log/ingest.js';
import { admit, makeLedger, participantKey, type TestLedger, TEST_ORIGIN } from '../support/ledger.js';
import { serviceModules } from '../../server/modules.js';
import { signRequest } from '../../core/api/request-auth.js';
import { keyFileSeed } from '../../core/crypto/keys.js';

// A deliberately separate RFC 9162 root computation (node:crypto, recursive), not core/merkle.
function h(...parts: Buffer[]): Buffer {
  const c = createHash('sha256');
  for (const p of parts) c.update(p);
  return c.digest();
}
function mth(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) return h();
  if (leaves.length === 1) return h(Buffer.from([0]), leaves[0]!);
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return h(Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)));
}

describe('log routes, checked by an independent client', () => {
  let t: TestLedger;
  let s: RunningServer;
  let oldNote = '';
  // The entries are a signed read of an enrolled participant (issue 12 #9): this one is admitted first.
  const reader = participantKey(2);
  beforeAll(async () => {
    t = makeLedger();
    // Filled straight through the log (fast), then served by a server that reads those participants at start.
    const fill = await startServer({ db: t.db, port: 0 });
    fill.ledger.log.append([reader, ...Array.from({ length: 6 }, (_, i) => participantKey(i + 3))].map((k) => toAppendInput(admit(t.authority, k))));
    oldNote = fill.ledger.log.signNow().note;
    fill.ledger.log.append(Array.from({ length: 1200 }, (_, i) => toAppendInput(admit(t.authority, participantKey(i + 100)))));
    fill.ledger.log.signNow();
    await fill.close();
    s = await startServer({ db: t.db, port: 0, modules: serviceModules() });
  });
  afterAll(async () => {
    await s.close();
    t.cleanup();
  });

  const get = (path: string): Promise<Response> => fetch(`${s.url}${path}`);
  const getSigned = (path: string): Promise<Response> => fetch(`${s.url}${path}`, { headers: { ...signRequest({ log: TEST_ORIGIN, method: 'GET', path }, reader.gln, keyFileSeed(reader)) } });

  it('verifies the checkpoint, the entries, every inclusion proof and a consistency proof', async () => {
    const vkey = (await (await get('/api/v1/log/key')).text()).trim();
    expect(vkey).toMatch(/^test\.medtrail\.local\/log\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$/);
    const cpRes = await get('/api/v1/checkpoint');
    expect(cpRes.headers.get('content-type')).toMatch(/^text\/plain/);
    const cp = openCheckpoint(await cpRes.text(), vkey);
    expect(cp.origin).toBe('test.medtrail.local/log');
    expect(cp.size).toBe(1207);

    const leaves: Buffer[] = [];
    for (let start = 0; start < cp.size; ) {
      const body = (await (await getSigned(`/api/v1/log/entries?start=${start}&end=${cp.size}`)).json()) as { entries: { index: number; leaf: string }[] };
      expect(body.entries.length).toBeLessThanOrEqual(1000);
      for (const e of body.entries) {
        expect(e.index).toBe(leaves.length);
        leaves.push(Buffer.from(e.leaf, 'base64'));
      }
      start += body.entries.length;
    }
    expect(mth(leaves).equals(Buffer.from(cp.root))).toBe(true);

    for (const index of [0, 1, 6, 7, 511, 512, 1000, 1206]) {
      const p = (await (await get(`/api/v1/log/proof/inclusion?index=${index}&size=${cp.size}`)).json()) as { index: number; size: number; leafHash: string; proof: string[] };
      expect(p.index).toBe(index);
      expect(p.size).toBe(cp.size);
      expect(p.leafHash).toBe(h(Buffer.from([0]), leaves[index]!).toString('hex'));
      verifyInclusion(fromHex(p.leafHash, 32), index, cp.size, p.proof.map((x) => fromHex(x, 32)), cp.root);
    }

    const old = openCheckpoint(oldNote, vkey);
    const c = (await (await get(`/api/v1/log/proof/consistency?from=${old.size}&to=${cp.size}`)).json()) as { from: number; to: number; proof: string[] };
    expect([c.from, c.to]).toEqual([7, 1207]);
    verifyConsistency(old.size, cp.size, c.proof.map((x) => fromHex(x, 32)), old.root, cp.root);
  });

  it('answers coded JSON errors with every bad field', async () => {
    const r = await get('/api/v1/log/proof/inclusion?index=-1&size=abc');
    expect(r.status).toBe(400);
    const body = (await r.json()) as { error: { code: string; fields: { path: string }[] } };
    expect(body.error.code).toBe('BAD_INPUT');
    expect(body.error.fields.map((f) => f.path).sort()).toEqual(['index', 'size']);
    const cases: [string, number, string][] = [
      ['/api/v1/log/proof/inclusion?index=5000&size=1207', 400, 'PROOF_BAD_INDEX'],
      ['/api/v1/log/proof/inclusion?index=0&size=99999', 400, 'PROOF_BAD_SIZE'],
      ['/api/v1/log/proof/consistency?from=9&to=3', 400, 'PROOF_BAD_SIZE'],
      ['/api/v1/log/entries?start=99999&end=100000', 404, 'NOT_FOUND'],
      ['/api/v1/log/entries?start=1', 400, 'BAD_INPUT'],
      ['/api/v1/nope', 404, 'NOT_FOUND'],
    ];
    // Unsigned, the entries are not answered at all.
    const anon = await get('/api/v1/log/entries?start=0&end=3');
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { error: { code: string } }).error.code).toBe('AUTH_REQUIRED');
    for (const [path, status, code] of cases) {
      const res = await (path.startsWith('/api/v1/log/entries') ? getSigned(path) : get(path));
      expect([path, res.status]).toEqual([path, status]);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
  });

  it('answers healthz and refuses bodies over the limit and broken JSON with codes', async () => {
    expect(await (await get('/healthz')).json()).toMatchObject({ ok: true, inFlight: 0, lagging: false });
    const big = await fetch(`${s.url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `"${'x'.repeat(17 * 1024 * 1024)}"` });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: { code: string } }).error.code).toBe('BODY_TOO_LARGE');
    const bad = await fetch(`${s.url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('BAD_JSON');
  });
});
