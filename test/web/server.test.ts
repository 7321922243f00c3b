// The web module's HTTP side without a browser: page headers (CSP, gzip), hashed assets, the maker-key
// evidence route, and patient reports (public with a rate limit; read only by a regulator's signed request).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { signRequest } from '../../core/api/request-auth.js';
import { DEFAULT_OUT } from '../../web/build.mjs';
import { REPORTS_PER_MINUTE } from '../../server/web/reports.js';
import { gtinOf, PREFIX, sign, startChain, type Chain, type Party } from '../support/custody.js';
import { participantKey, TEST_ORIGIN } from '../support/ledger.js';
import { buildAssets } from './browser.js';

let c: Chain;
const gtin = gtinOf(3);

beforeAll(async () => {
  await buildAssets();
  c = await startChain();
  await c.ok(sign('product', c.m, { gtin, name: 'Ibuprofen', form: 'tablets', strength: '200 mg', packSize: 24 }));
});

afterAll(async () => {
  await c?.close();
});

describe('pages', () => {
  it('serve the patient shell at the Digital Link paths with a strict CSP and the pinned log key', async () => {
    for (const path of [`/01/${gtin}/21/ABC`, `/01/${gtin}/10/L1/21/ABC?17=301231`, `/01/${gtin}/22/V1/10/L1/21/ABC`, '/', '/check']) {
      const r = await fetch(`${c.srv.url}${path}`);
      expect(r.status, path).toBe(200);
      const csp = r.headers.get('content-security-policy')!;
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("default-src 'none'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:/);
      const html = await r.text();
      expect(html).toContain(`<meta name="medtrail-log-key" content="${c.srv.ledger.log.verifierKey.replace(/\+/g, '+')}">`);
      expect(html).not.toMatch(/<script>|<script [^>]*>[^<]/); // no inline script
    }
  });

  it('refuses qualifiers out of order (GS1 Digital Link) with a 404', async () => {
    expect((await fetch(`${c.srv.url}/01/${gtin}/21/ABC/10/L1`)).status).toBe(404);
  });

  it('gzip the shell and the assets, and cache hashed assets for a year', async () => {
    const page = await fetch(`${c.srv.url}/console`, { headers: { 'accept-encoding': 'gzip' } });
    expect(page.headers.get('content-encoding')).toBe('gzip');
    const manifest = JSON.parse(readFileSync(join(DEFAULT_OUT, 'manifest.json'), 'utf8')) as Record<string, { file: string }>;
    const js = await fetch(`${c.srv.url}/assets/${manifest['patient']!.file}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(js.status).toBe(200);
    expect(js.headers.get('content-encoding')).toBe('gzip');
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect(js.headers.get('content-type')).toContain('text/javascript');
  });

  it('serve only the files the build wrote', async () => {
    for (const bad of ['manifest.json', '..%2Fpackage.json', 'nope-ABC.js', '.hidden.js']) {
      expect((await fetch(`${c.srv.url}/assets/${bad}`)).status, bad).toBe(404);
    }
  });
});

describe('maker key evidence', () => {
  it('answers the manufacturer participant leaf with its proof and checkpoint', async () => {
    const r = await c.get(`/products/${gtin}/maker-key`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ gtin, gln: c.m.gln, index: 0 });
    expect(String(r.json['checkpoint'])).toContain('\n\n\u2014 ');
  });

  it('answers PRODUCT_UNKNOWN for a GTIN nobody registered, and a coded error for a bad GTIN', async () => {
    expect((await c.get(`/products/${gtinOf(4)}/maker-key`)).json).toMatchObject({ error: { code: 'PRODUCT_UNKNOWN' } });
    const bad = await c.get('/products/123/maker-key');
    expect(bad.status).toBe(400);
  });
});

async function report(body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${c.srv.url}/api/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

async function readReports(as?: Party, query = ''): Promise<{ status: number; json: Record<string, unknown> }> {
  const path = `/api/v1/reports${query}`;
  const headers: Record<string, string> = as === undefined ? {} : { ...signRequest({ log: TEST_ORIGIN, method: 'GET', path }, as.gln, keyFileSeed(as)) };
  const r = await fetch(`${c.srv.url}${path}`, { headers });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

describe('maker key after a rotation', () => {
  it('answers the key valid when the pack was registered for its serial, and the current key without one', async () => {
    const [product] = await c.ok(sign('product', c.m, { gtin: gtinOf(6), name: 'Losartan', form: 'tablets', strength: '50 mg', packSize: 30 }));
    await c.ok(sign('batch', c.m, { gtin: gtinOf(6), lot: 'K-1', expiry: '301231', serials: ['K1'] }, [product!]));
    const admitted = (await c.get(`/products/${gtinOf(6)}/maker-key`)).json['index'];
    const next = participantKey(10);
    const [rotated] = await c.ok(sign('participant', c.authority, { action: 'rotate', gln: c.m.gln, name: c.m.name, role: 'manufacturer', publicKey: next.publicKey, prefixes: [PREFIX] }));
    expect(rotated).toBeDefined();
    const now = await c.get(`/products/${gtinOf(6)}/maker-key`);
    const then = await c.get(`/products/${gtinOf(6)}/maker-key?serial=K1`);
    expect(now.json['index']).not.toBe(admitted);
    expect(then.json['index']).toBe(admitted);
    expect((await c.get(`/products/${gtinOf(6)}/maker-key?serial=${'x'.repeat(30)}`)).status).toBe(400);
  });
});

describe('reports', () => {
  it('records a report, which a regulator reads and nobody else does', async () => {
    const code = `${c.srv.url}/01/${gtin}/21/XYZ1`;
    const a = await report({ code, verdict: 'COUNTERFEIT', note: 'bought online' });
    expect(a.status).toBe(201);
    const anonymous = await readReports();
    expect(anonymous.status).toBe(401);
    expect(anonymous.json).toMatchObject({ error: { code: 'AUTH_REQUIRED' } });
    const other = await readReports(c.p);
    expect(other.status).toBe(403);
    expect(other.json).toMatchObject({ error: { code: 'ROLE_NOT_ALLOWED' } });
    const reg = await readReports(c.reg);
    expect(reg.status).toBe(200);
    // The verdict kept is the server's own (no pack XYZ1 exists: UNKNOWN); the sender's word is only its claim.
    expect(reg.json['reports']).toContainEqual(expect.objectContaining({ id: a.json['id'], gtin, serial: 'XYZ1', verdict: 'UNKNOWN', claimed: 'COUNTERFEIT', note: 'bought online' }));
    const after = await readReports(c.reg, `?after=${String(a.json['id'])}`);
    expect(after.json['reports']).toEqual([]);
  });

  it('refuses a replayed signed read of the reports (one authenticator, one replay set for every route)', async () => {
    const path = '/api/v1/reports';
    const headers = { ...signRequest({ log: TEST_ORIGIN, method: 'GET', path }, c.reg.gln, keyFileSeed(c.reg)) };
    const first = await fetch(`${c.srv.url}${path}`, { headers });
    expect(first.status).toBe(200);
    const again = await fetch(`${c.srv.url}${path}`, { headers });
    expect(again.status).toBe(401);
    expect(await again.json()).toMatchObject({ error: { code: 'AUTH_REPLAYED' } });
  });

  it('reports every bad field at once', async () => {
    const r = await report({ code: '', verdict: 'lower', note: 'x'.repeat(1001), extra: 1 });
    expect(r.status).toBe(400);
    const fields = (r.json['error'] as { fields: { path: string }[] }).fields.map((f) => f.path).sort();
    expect(fields).toEqual(['code', 'extra', 'note', 'verdict']);
  });

  it(`limits one client to ${REPORTS_PER_MINUTE} reports a minute`, async () => {
    const statuses: number[] = [];
    for (let i = 0; i < REPORTS_PER_MINUTE + 2; i++) statuses.push((await report({ code: `(01)${gtin}(21)R${i}` })).status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect((await report({ code: 'x' })).json).toMatchObject({ error: { code: 'RATE_LIMITED' } });
  });
});
