// Who may write and read what, against a real `medtrail serve` process: every role (manufacturer, distributor,
// pharmacy, regulator, a revoked participant, a never-enrolled key, a forger using someone else's GLN, nobody)
// against every entry kind and every read route; signed reads of the full custody chain with their proofs;
// public answers searched for supplier-to-customer links and scan places; the server's output searched for
// every private key; security headers on the pages; per-client rate limits on the public routes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fromHex, toBase64, toBase64Url, toHex } from '../../core/bytes.js';
import { openCheckpoint } from '../../core/log/checkpoint.js';
import { type Entry } from '../../core/entry/entry.js';
import { generateKeyFile, keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { verifyInclusion } from '../../core/log/merkle.js';
import { CUSTODY_TABLES } from '../../server/custody/schema.js';
import { serviceModules } from '../../server/modules.js';
import { startServer } from '../../server/server.js';
import { buildWeb, DEFAULT_OUT } from '../../web/build.mjs';
import { gtinOf, type Party } from '../support/custody.js';
import { gln, makeLedger, type TestLedger } from '../support/ledger.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { buildWorld, call, GTIN, LOT, SCAN_PLACE, signed, type Answer, type World } from './world.js';

let t: TestLedger;
let srv: ServerProcess;
let w: World;
let out = '';
let ro: Database.Database;

type Who = 'manufacturer' | 'distributor' | 'pharmacy' | 'regulator' | 'revoked' | 'unknown' | 'forger' | 'anonymous';
const WHO: Who[] = ['manufacturer', 'distributor', 'pharmacy', 'regulator', 'revoked', 'unknown', 'forger', 'anonymous'];

function party(who: Who): Party | undefined {
  switch (who) {
    case 'manufacturer':
      return w.m;
    case 'distributor':
      return w.d;
    case 'pharmacy':
      return w.p;
    case 'regulator':
      return w.reg;
    case 'revoked':
      return w.revoked;
    case 'unknown':
      return w.unknown;
    case 'forger':
      // A key of its own, claiming the manufacturer's GLN.
      return { ...generateKeyFile('forger', w.m.gln), gln: w.m.gln } as Party;
    case 'anonymous':
      return undefined;
  }
}

/** Tree size and root, and every custody table's rows: what a refused entry must leave alone. */
function ledgerState(): string {
  const head = ro.prepare('SELECT size, hex(root) AS root FROM head').get() as { size: number; root: string };
  const tables = CUSTODY_TABLES.map((tb) => `${tb}:${(ro.prepare(`SELECT * FROM ${tb}`).raw().all() as unknown[][]).map((r) => JSON.stringify(r.map((v) => (Buffer.isBuffer(v) ? toHex(v) : v)))).sort().join('|')}`);
  return `${head.size}/${head.root}\n${tables.join('\n')}`;
}

beforeAll(async () => {
  if (!existsSync(DEFAULT_OUT)) await buildWeb();
  t = makeLedger();
  srv = await startServerProcess(t.db);
  srv.child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  w = await buildWorld(srv.url, t.authority as Party);
  ro = new Database(t.db, { readonly: true });
});

afterAll(async () => {
  ro?.close();
  await srv?.stop();
  t?.cleanup();
});

// Each kind: the body its rightful signer would sign now, who that is, and the entries it continues. Kinds
// run in this order; the state each needs was made by the kinds before it.
interface KindCase {
  kind: Entry['kind'];
  allowed: Who[];
  body: () => Record<string, unknown>;
  prev: () => string[];
  /** Who signs the accepted entry when not allowed[0] (the authority; a party outside WHO). */
  rightful?: () => Party;
  after?: (leafHash: string) => void;
}

const FORBIDDEN = new Set(['ROLE_NOT_ALLOWED', 'PREFIX_NOT_OWNED', 'NOT_HOLDER', 'NOT_RECIPIENT', 'SIGNER_UNKNOWN', 'KEY_REVOKED', 'ENTRY_BAD_SIGNATURE', 'UNDO_NOT_ALLOWED', 'PACK_NOT_ACTIVE']);

describe('write matrix: every role against every entry kind', () => {
  const shipped: Record<string, string> = {};
  const cases: KindCase[] = [
    { kind: 'product', allowed: ['manufacturer'], body: () => ({ gtin: gtinOf(8), name: 'Matrixol', form: 'tablet', strength: '1 mg', packSize: 10 }), prev: () => [], after: (h) => (shipped['product'] = h) },
    { kind: 'batch', allowed: ['manufacturer'], body: () => ({ gtin: gtinOf(8), lot: 'M1', expiry: '301231', serials: ['MX1', 'MX2'] }), prev: () => [shipped['product']!] },
    {
      kind: 'ship',
      allowed: ['manufacturer'],
      body: () => ({ to: w.outsider.gln, items: [{ type: 'pack', gtin: GTIN, serial: w.serials[6]! }] }),
      prev: () => [w.hashes['batch']!],
      after: (h) => (shipped['ship'] = h),
    },
    { kind: 'receive', allowed: [], rightful: () => w.outsider, body: () => ({ ship: shipped['ship']!, missing: [], extra: [] }), prev: () => [shipped['ship']!] },
    { kind: 'dispense', allowed: ['pharmacy'], body: () => ({ gtin: GTIN, serial: w.serials[1]! }), prev: () => [w.hashes['recv2']!] },
    { kind: 'undo', allowed: ['pharmacy'], body: () => ({ of: w.hashes['dispense']!, gtin: GTIN, serial: w.serials[0]! }), prev: () => [w.hashes['dispense']!] },
    { kind: 'decommission', allowed: ['distributor'], body: () => ({ gtin: GTIN, serial: w.serials[3]!, state: 'destroyed' }), prev: () => [w.hashes['recv1']!] },
    {
      kind: 'participant',
      allowed: [],
      rightful: () => t.authority as Party,
      body: () => {
        const k = generateKeyFile('newcomer', gln(990));
        return { action: 'admit', gln: k.gln!, name: 'newcomer', role: 'pharmacy', publicKey: k.publicKey, prefixes: [] };
      },
      prev: () => [],
    },
    { kind: 'recall', allowed: ['regulator', 'manufacturer'], body: () => ({ gtin: GTIN, lot: LOT, reason: 'contamination' }), prev: () => [] },
  ];
  let cells = 0;
  for (const c of cases) {
    it(`${c.kind}: refused from every role but ${c.allowed.join(' or ') || (c.kind === 'participant' ? 'the authority' : 'the named recipient')}, each refusal leaving the ledger as it was`, async () => {
      const body = c.body();
      for (const who of WHO) {
        if (c.allowed.includes(who)) continue;
        const signer = party(who);
        const before = ledgerState();
        let r: Answer;
        if (signer === undefined) {
          // Nobody: the entry a manufacturer would sign, with its signature taken off.
          const e = signed(c.kind, w.m, body, c.prev()) as unknown as Record<string, unknown>;
          delete e['sig'];
          r = await w.post(e as unknown as Entry);
          expect(r.status, `${c.kind} by ${who}: ${r.text}`).toBe(400);
        } else {
          r = await w.post(signed(c.kind, signer, body, c.prev()));
          const code = String((r.json['error'] as Record<string, unknown>)['code']);
          expect(FORBIDDEN.has(code), `${c.kind} by ${who}: ${r.text}`).toBe(true);
          expect([401, 403, 409]).toContain(r.status);
        }
        expect(ledgerState(), `${c.kind} by ${who} changed the ledger`).toBe(before);
        cells++;
      }
      // The rightful signer is accepted.
      const rightful = c.rightful?.() ?? party(c.allowed[0]!)!;
      const ok = await w.post(signed(c.kind, rightful, body, c.prev()));
      expect(ok.status, ok.text).toBe(201);
      c.after?.(String(ok.json['leafHash']));
      cells++;
    });
  }
  afterAll(() => console.log(`access: ${cells} write cells (role x entry kind) checked`));
});

describe('read matrix: every role against every read route', () => {
  // Expected status per route and role. 'chain' = the pack's custody chain (manufacturer, distributor,
  // pharmacy of serial 1) and the regulator see the full chain; the outsider is refused; the anonymous public
  // gets the coarse answer.
  const S = (): string => w.serials[1]!;
  type Row = { name: string; path: () => string; expect: Record<Who, number> };
  const pub = { manufacturer: 200, distributor: 200, pharmacy: 200, regulator: 200, revoked: 200, unknown: 200, forger: 200, anonymous: 200 };
  const signedRead = { revoked: 401, unknown: 401, forger: 401 };
  const rows: Row[] = [
    { name: 'GET packs/:gtin/:serial', path: () => `/api/v1/packs/${GTIN}/${S()}`, expect: { manufacturer: 200, distributor: 200, pharmacy: 200, regulator: 200, ...signedRead, anonymous: 200 } },
    { name: 'GET epcis/events', path: () => `/api/v1/epcis/events?gtin=${GTIN}&serial=${S()}`, expect: { manufacturer: 200, distributor: 200, pharmacy: 200, regulator: 200, ...signedRead, anonymous: 200 } },
    { name: 'GET held (the distributor)', path: () => `/api/v1/held?gln=${w.d.gln}`, expect: { manufacturer: 403, distributor: 200, pharmacy: 403, regulator: 200, ...signedRead, anonymous: 401 } },
    { name: 'GET shipments (to the distributor)', path: () => `/api/v1/shipments?to=${w.d.gln}`, expect: { manufacturer: 403, distributor: 200, pharmacy: 403, regulator: 200, ...signedRead, anonymous: 401 } },
    { name: 'GET reports', path: () => '/api/v1/reports', expect: { manufacturer: 403, distributor: 403, pharmacy: 403, regulator: 200, ...signedRead, anonymous: 401 } },
    { name: 'GET participants', path: () => '/api/v1/participants', expect: pub },
    { name: 'GET participants/:gln', path: () => `/api/v1/participants/${w.m.gln}`, expect: pub },
    { name: 'GET products/:gtin', path: () => `/api/v1/products/${GTIN}`, expect: pub },
    { name: 'GET products/:gtin/maker-key', path: () => `/api/v1/products/${GTIN}/maker-key`, expect: pub },
    { name: 'GET checkpoint', path: () => '/api/v1/checkpoint', expect: pub },
    { name: 'GET log/key', path: () => '/api/v1/log/key', expect: pub },
    // The entries name trading partners (issue 12 #9): any enrolled participant, signed; never the public.
    { name: 'GET log/entries', path: () => '/api/v1/log/entries?start=0&end=3', expect: { manufacturer: 200, distributor: 200, pharmacy: 200, regulator: 200, ...signedRead, anonymous: 401 } },
    { name: 'GET log/proof/inclusion', path: () => '/api/v1/log/proof/inclusion?index=1&size=3', expect: pub },
    { name: 'GET log/proof/consistency', path: () => '/api/v1/log/proof/consistency?from=1&to=3', expect: pub },
  ];
  for (const row of rows) {
    it(row.name, async () => {
      for (const who of WHO) {
        const r = await call(w.url, 'GET', row.path(), undefined, party(who));
        expect(r.status, `${row.name} as ${who}: ${r.text.slice(0, 300)}`).toBe(row.expect[who]);
        if (r.status >= 400) expect(String((r.json['error'] as Record<string, unknown>)['code'])).toMatch(/^[A-Z_]+$/);
      }
    });
  }

  it('an outsider distributor is refused the chain of a pack it never touched, and told why', async () => {
    for (const path of [`/api/v1/packs/${GTIN}/${S()}`, `/api/v1/epcis/events?gtin=${GTIN}&serial=${S()}`]) {
      const r = await call(w.url, 'GET', path, undefined, w.outsider);
      expect(r.status).toBe(403);
      expect((r.json['error'] as Record<string, unknown>)['code']).toBe('AUTH_NOT_IN_CHAIN');
    }
    const held = await call(w.url, 'GET', `/api/v1/held?gln=${w.d.gln}`, undefined, w.outsider);
    expect((held.json['error'] as Record<string, unknown>)['code']).toBe('AUTH_NOT_PARTY');
    const anon = await call(w.url, 'GET', `/api/v1/shipments?to=${w.d.gln}`);
    expect((anon.json['error'] as Record<string, unknown>)['code']).toBe('AUTH_REQUIRED');
  });

  it('a signed read of the full custody chain proves every step against a signed checkpoint', async () => {
    const vkey = (await call(w.url, 'GET', '/api/v1/log/key')).text.trim();
    for (const who of [w.m, w.d, w.p, w.reg]) {
      const r = await call(w.url, 'GET', `/api/v1/packs/${GTIN}/${w.serials[2]!}`, undefined, who);
      expect(r.status).toBe(200);
      const cp = openCheckpoint(String(r.json['checkpoint']), vkey);
      const chain = r.json['chain'] as { index: number; leafHash: string; kind: string; signer: string; counterparty: string | null; proof: { size: number; hashes: string[] } }[];
      // The lot was recalled by the write matrix above: the recall comes last.
      expect(chain.map((e) => e.kind)).toEqual(['batch', 'ship', 'receive', 'ship', 'receive', 'recall']);
      expect(chain.slice(0, 5).map((e) => e.signer)).toEqual([w.m.gln, w.m.gln, w.d.gln, w.d.gln, w.p.gln]);
      expect(chain[1]!.counterparty).toBe(w.d.gln);
      for (const e of chain) verifyInclusion(fromHex(e.leafHash, 32), e.index, cp.size, e.proof.hashes.map((h) => fromHex(h, 32)), cp.root);
    }
  });
});

describe('privacy of the public answers', () => {
  it('no public answer names a supplier, a customer or a scan place', async () => {
    const secrets = [w.d, w.p, w.reg, w.outsider, w.revoked].flatMap((x) => [x.gln, x.name]).concat([SCAN_PLACE]);
    const answers: string[] = [];
    for (const serial of w.serials) {
      answers.push((await call(w.url, 'POST', '/api/v1/verify', { code: w.tags.get(serial)!, scanner: { location: 'somewhere else' } })).text);
      answers.push((await call(w.url, 'GET', `/api/v1/packs/${GTIN}/${serial}`)).text);
      answers.push((await call(w.url, 'GET', `/api/v1/epcis/events?gtin=${GTIN}&serial=${serial}`)).text);
      answers.push((await call(w.url, 'GET', `/01/${GTIN}/10/${LOT}/21/${serial}`)).text);
    }
    answers.push((await call(w.url, 'GET', `/api/v1/products/${GTIN}`)).text);
    answers.push((await call(w.url, 'GET', `/api/v1/products/${GTIN}/maker-key`)).text);
    expect(answers.length).toBe(w.serials.length * 4 + 2);
    for (const a of answers) {
      expect(a.length).toBeGreaterThan(0);
      for (const s of secrets) expect(a.includes(s), `public answer names ${s}: ${a.slice(0, 200)}`).toBe(false);
    }
    // The manufacturer is printed on the box and is named; the journey still has its steps.
    const v = await call(w.url, 'POST', '/api/v1/verify', { code: w.tags.get(w.serials[2]!)! });
    expect(JSON.stringify(v.json['product'])).toContain(w.m.gln);
    expect((v.json['journey'] as unknown[]).length).toBeGreaterThanOrEqual(5);
  });
});

describe('keys never logged', () => {
  it("the server's stdout and stderr hold no private key of anyone, in any encoding", async () => {
    const files = ['log.key.json', 'authority.key.json'].map((f) => parseKeyFile(JSON.parse(readFileSync(join(t.dir, f), 'utf8'))));
    const keys = [...files, w.m, w.d, w.p, w.reg, w.outsider, w.revoked, w.unknown];
    const all = out + srv.stderr();
    expect(srv.child.exitCode).toBe(null); // still the same process, after every request above
    for (const k of keys) {
      const seed = keyFileSeed(k);
      for (const form of [toBase64(seed), toBase64Url(seed), toHex(seed), toHex(seed).toUpperCase(), k.seed]) expect(all.includes(form)).toBe(false);
    }
  });
});

describe('pages', () => {
  it('carry CSP with frame-ancestors, nosniff, X-Frame-Options and Referrer-Policy', async () => {
    for (const path of [`/01/${GTIN}/10/${LOT}/21/${w.serials[1]!}`, `/01/${GTIN}/21/${w.serials[1]!}`, '/', '/check', '/console']) {
      const r = await fetch(w.url + path);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(r.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
      expect(r.headers.get('x-frame-options')).toBe('DENY');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });
});

/** POST /verify from a given loopback address (the whole of 127/8 is this machine). */
function verifyFrom(url: string, from: string, code: string): Promise<{ status: number; retryAfter: string | undefined }> {
  const u = new URL(url);
  const body = JSON.stringify({ code });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: '/api/v1/verify', method: 'POST', localAddress: from, agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('rate limits on the public routes', () => {
  it('answer 429 RATE_LIMITED with Retry-After past the burst, per client, and leave other routes alone', async () => {
    const l = makeLedger();
    const s = await startServer({ db: l.db, port: 0, modules: serviceModules(), rateLimit: { perSecond: 2, burst: 5 } });
    try {
      const code = `https://id.medtrail.test/01/${gtinOf(1)}/21/NOPE`;
      const a: number[] = [];
      for (let i = 0; i < 8; i++) a.push((await verifyFrom(s.url, '127.0.0.1', code)).status);
      expect(a.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
      expect(a.slice(5)).toEqual([429, 429, 429]);
      const limited = await call(s.url, 'POST', '/api/v1/verify', { code });
      expect(limited.status).toBe(429);
      expect((limited.json['error'] as Record<string, unknown>)['code']).toBe('RATE_LIMITED');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // Another client is not held back by the first one's flood.
      expect((await verifyFrom(s.url, '127.0.0.2', code)).status).toBe(200);
      // The log's routes (mirrors) and writes are not limited.
      expect((await call(s.url, 'GET', '/api/v1/checkpoint')).status).toBe(200);
      expect((await call(s.url, 'GET', '/healthz')).status).toBe(200);
      // Tokens come back at the sustained rate.
      await new Promise((r) => setTimeout(r, 600));
      expect((await verifyFrom(s.url, '127.0.0.1', code)).status).toBe(200);
    } finally {
      await s.close();
      l.cleanup();
    }
  });
});


