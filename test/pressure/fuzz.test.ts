// Hostile input, fuzzed with fast-check: every parser in core/ on random, malformed and tricky input (only a
// MedtrailError may come out), and every HTTP route of a real `medtrail serve` process with random methods,
// paths, queries, headers and bodies (random JSON, wrong types, deep nesting, huge bodies, unicode tricks,
// SQL-looking strings). Every answer must be a coded 4xx (or the documented 2xx for valid input), the process
// must stay up, and the ledger (tree size and root, custody tables) must be exactly as it was.
//
// FUZZ_RUNS scales the number of cases (default 1; e.g. FUZZ_RUNS=20 for a long run).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import http from 'node:http';
import { toHex } from '../../core/bytes.js';
import { validateBody } from '../../core/entry/bodies.js';
import { openCheckpoint, parseCheckpointBody, parseNote, parseVerifierKey } from '../../core/log/checkpoint.js';
import { parseDigitalLink } from '../../core/gs1/digital-link.js';
import { decodeEntry, parseEntry, ENTRY_KINDS } from '../../core/entry/entry.js';
import { parseElementString } from '../../core/gs1/element-string.js';
import { isMedtrailError } from '../../core/errors.js';
import { normalizeGtin, validateLot, validateSerial } from '../../core/gs1/identifiers.js';
import { VERIFY_BODY_LIMIT } from '../../server/verify/flow.js';
import { parseGs1Date } from '../../core/gs1/date.js';
import { parseKeyFile, parsePublicKeyFile } from '../../core/crypto/keys.js';
import { verifyConsistency, verifyInclusion } from '../../core/log/merkle.js';
import { decodeUriPayload } from '../../core/tag/ndef-uri.js';
import { parseNdefMessage } from '../../core/tag/ndef.js';
import { decodeNtagUri, parseCapabilityContainer } from '../../core/tag/ntag.js';
import { parseAuthHeaders, parseRequestTime } from '../../core/api/request-auth.js';
import { CUSTODY_TABLES } from '../../server/custody/schema.js';
import { parseScannedCode } from '../../core/gs1/scanned-code.js';
import type { Party } from '../support/custody.js';
import { makeLedger, type TestLedger } from '../support/ledger.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { buildWorld, GTIN, LOT, type World } from './world.js';

const SCALE = Math.max(1, Number(process.env['FUZZ_RUNS'] ?? 1));
let cases = 0;

// Strings people and attackers actually send: bidi overrides, zero-width joiners, homoglyphs (Cyrillic а, Greek
// Ο, fullwidth digits), NUL and other controls, lone surrogates, SQL and path tricks, percent-encoding.
const TRICKS = [
  '\u202e', '\u202d', '\u2066', '\u200d', '\u200b', '\ufeff', '\u0000', '\u001d', '\u0085', '\u2028',
  'а', 'Ο', '０１２３', 'ǅ', '\ud800', '\udfff', '😀', 'ﬁ', 'ẞ',
  "' OR '1'='1", "'; DROP TABLE leaves; --", '" OR 1=1 --', '%00', '%2F..%2F', '../../etc/passwd', '\\', '%', '%zz', '%C0%AF',
  '{"$gt":""}', '__proto__', 'constructor', '<script>alert(1)</script>', '${7*7}', '\r\nX-Injected: 1',
];
const hostile = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(...TRICKS),
  fc.array(fc.oneof(fc.constantFrom(...TRICKS), fc.string({ maxLength: 5 }), fc.constantFrom('0', '1', '9', 'A', GTIN, LOT)), { maxLength: 6 }).map((a) => a.join('')),
);
const bytes = fc.uint8Array({ maxLength: 600 });

function onlyCoded(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!isMedtrailError(e)) throw e;
  }
}

describe('parsers on hostile input throw only coded errors', () => {
  const runs = 400 * SCALE;
  const parsers: [string, fc.Arbitrary<unknown>, (x: never) => unknown][] = [
    ['GS1 GTIN', hostile, (x: string) => normalizeGtin(x)],
    ['GS1 serial', hostile, (x: string) => validateSerial(x)],
    ['GS1 lot', hostile, (x: string) => validateLot(x)],
    ['GS1 date', hostile, (x: string) => parseGs1Date(x)],
    ['element string', fc.oneof(hostile, fc.constantFrom(']d2', ']C1', ']Q3').chain((p) => hostile.map((h) => `${p}01${GTIN}21${h}\u001d10${h}`))), (x: string) => parseElementString(x)],
    ['Digital Link', fc.oneof(hostile, hostile.map((h) => `https://id.example/01/${GTIN}/10/${h}/21/${h}?17=${h}&s=${h}`), fc.webUrl()), (x: string) => parseDigitalLink(x)],
    ['scanned code (verify input)', fc.oneof(hostile, hostile.map((h) => `]d2${h}`)), (x: string) => parseScannedCode(x)],
    ['entry (JSON value)', fc.oneof(fc.jsonValue(), fc.record({ v: fc.constant(1), kind: fc.constantFrom(...ENTRY_KINDS), signer: hostile, at: hostile, nonce: hostile, prev: fc.array(hostile), body: fc.jsonValue(), sig: hostile })), (x: unknown) => parseEntry(x)],
    ['entry (bytes)', fc.oneof(bytes, fc.jsonValue().map((j) => new TextEncoder().encode(JSON.stringify(j)))), (x: Uint8Array) => decodeEntry(x)],
    ['entry bodies', fc.tuple(fc.constantFrom(...ENTRY_KINDS), fc.oneof(fc.jsonValue(), fc.dictionary(fc.constantFrom('gtin', 'serial', 'lot', 'expiry', 'serials', 'items', 'to', 'ship', 'missing', 'extra', 'of', 'state', 'action', 'gln', 'name', 'role', 'publicKey', 'prefixes', 'reason'), fc.oneof(hostile, fc.jsonValue())))), ([k, b]: [never, unknown]) => validateBody(k, b)],
    ['checkpoint note', fc.oneof(hostile, hostile.map((h) => `o\n${h}\nAAAA\n\n— o ${h}\n`), fc.string({ unit: 'binary', maxLength: 300 })), (x: string) => parseNote(x)],
    ['checkpoint body', hostile, (x: string) => parseCheckpointBody(x)],
    ['checkpoint (open)', hostile, (x: string) => openCheckpoint(x, 'o+12345678+AUVTGJSzRL1oWbjE5Bzl1+dSTcyQGvzsQ7pi46QeVBgv')],
    ['verifier key', hostile, (x: string) => parseVerifierKey(x)],
    ['inclusion proof', fc.tuple(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: -5, max: 2 ** 40 }), fc.integer({ min: -5, max: 2 ** 40 }), fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 50 }), fc.uint8Array({ maxLength: 40 })), ([l, i, s, p, r]: [Uint8Array, number, number, Uint8Array[], Uint8Array]) => verifyInclusion(l, i, s, p, r)],
    ['consistency proof', fc.tuple(fc.integer({ min: -5, max: 2 ** 40 }), fc.integer({ min: -5, max: 2 ** 40 }), fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 50 }), fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 })), ([a, b, p, r1, r2]: [number, number, Uint8Array[], Uint8Array, Uint8Array]) => verifyConsistency(a, b, p, r1, r2)],
    ['NDEF message', bytes, (x: Uint8Array) => parseNdefMessage(x)],
    ['NDEF URI payload', bytes, (x: Uint8Array) => decodeUriPayload(x)],
    ['NTAG capability container', bytes, (x: Uint8Array) => parseCapabilityContainer(x)],
    ['NTAG memory', fc.uint8Array({ minLength: 0, maxLength: 900 }), (x: Uint8Array) => decodeNtagUri(x)],
    ['key file', fc.oneof(fc.jsonValue(), hostile, fc.record({ v: fc.constant(1), type: fc.constant('ed25519'), name: hostile, gln: hostile, publicKey: hostile, seed: hostile, created: hostile })), (x: unknown) => parseKeyFile(x)],
    ['public key file', fc.oneof(fc.jsonValue(), hostile), (x: unknown) => parsePublicKeyFile(x)],
    ['request auth headers', fc.tuple(fc.option(hostile), fc.option(hostile), fc.option(hostile)), ([s, a, g]: [string | null, string | null, string | null]) => parseAuthHeaders((n) => (n === 'x-medtrail-signer' ? s : n === 'x-medtrail-at' ? a : g) ?? undefined)],
    ['request time', hostile, (x: string) => parseRequestTime(x)],
  ];
  for (const [name, arb, fn] of parsers) {
    it(name, () => {
      fc.assert(
        fc.property(arb, (x) => {
          cases++;
          onlyCoded(() => fn(x as never));
        }),
        { numRuns: runs },
      );
    });
  }
});

// ---- HTTP ------------------------------------------------------------------------------------------------------

let t: TestLedger;
let srv: ServerProcess;
let w: World;
let agent: http.Agent;

interface Reply {
  status: number;
  type: string;
  body: string;
}

function send(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  const u = new URL(srv.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: u.port, method, path, agent, headers: { ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** A 4xx must carry {"error":{"code"}} with a code; nothing may be a 5xx. */
function expectCoded(r: Reply, what: string): void {
  cases++;
  expect(r.status, `${what} -> ${r.status} ${r.body.slice(0, 300)}`).toBeLessThan(500);
  if (r.status >= 400) {
    const j = JSON.parse(r.body) as { error?: { code?: unknown } };
    expect(String(j.error?.code), what).toMatch(/^[A-Z][A-Z0-9_]*$/);
  }
}

function ledgerState(): string {
  const ro = new Database(t.db, { readonly: true });
  try {
    const head = ro.prepare('SELECT size, hex(root) AS root FROM head').get() as { size: number; root: string };
    const tables = CUSTODY_TABLES.map((tb) => `${tb}:${(ro.prepare(`SELECT * FROM ${tb}`).raw().all() as unknown[][]).map((r) => JSON.stringify(r.map((v) => (Buffer.isBuffer(v) ? toHex(v) : v)))).sort().join('|')}`);
    return `${head.size}/${head.root}\n${tables.join('\n')}`;
  } finally {
    ro.close();
  }
}

// Every route the app has (server/http/log-routes.ts, server/custody/routes.ts, server/verify/routes.ts,
// server/web/*), with where the hostile parts go.
const ROUTES: ((h: string[]) => string)[] = [
  () => '/healthz',
  () => '/api/v1/checkpoint',
  () => '/api/v1/log/key',
  (h) => `/api/v1/log/entries?start=${h[0]}&end=${h[1]}`,
  (h) => `/api/v1/log/proof/inclusion?index=${h[0]}&size=${h[1]}`,
  (h) => `/api/v1/log/proof/consistency?from=${h[0]}&to=${h[1]}`,
  () => '/api/v1/entries',
  () => '/api/v1/participants',
  (h) => `/api/v1/participants/${h[0]}`,
  (h) => `/api/v1/products/${h[0]}`,
  (h) => `/api/v1/products/${h[0]}/maker-key`,
  (h) => `/api/v1/shipments?to=${h[0]}&open=${h[1]}`,
  (h) => `/api/v1/held?gln=${h[0]}&gtin=${h[1]}&lot=${h[2]}&serial=${h[3]}&limit=${h[2]}&offset=${h[3]}`,
  () => '/api/v1/verify',
  (h) => `/api/v1/packs/${h[0]}/${h[1]}`,
  (h) => `/api/v1/epcis/events?gtin=${h[0]}&serial=${h[1]}`,
  () => '/api/v1/reports',
  (h) => `/api/v1/reports?after=${h[0]}`,
  (h) => `/01/${h[0]}/21/${h[1]}`,
  (h) => `/01/${h[0]}/10/${h[1]}/21/${h[2]}?17=${h[3]}`,
  (h) => `/01/${h[0]}/22/${h[1]}/21/${h[2]}`,
  (h) => `/01/${h[0]}/22/${h[1]}/10/${h[2]}/21/${h[3]}`,
  () => '/',
  () => '/check',
  () => '/console',
  (h) => `/assets/${h[0]}`,
  (h) => `/${h[0]}`,
];

const enc = (s: string): string => {
  try {
    return encodeURIComponent(s);
  } catch {
    return '%ED%A0%80'; // a lone surrogate, encoded as the bytes a hostile client would send anyway
  }
};

const jsonBody = fc.oneof(
  fc.jsonValue().map((j) => JSON.stringify(j)),
  fc.record({ code: hostile, scanner: fc.option(fc.record({ gln: fc.oneof(hostile, fc.jsonValue()), location: fc.oneof(hostile, fc.jsonValue()) })) }).map((j) => JSON.stringify(j)),
  fc.record({ entries: fc.array(fc.jsonValue(), { maxLength: 5 }) }).map((j) => JSON.stringify(j)),
  fc.record({ v: fc.jsonValue(), kind: hostile, signer: hostile, at: hostile, nonce: hostile, prev: fc.jsonValue(), body: fc.jsonValue(), sig: hostile }).map((j) => JSON.stringify(j)),
  fc.record({ code: hostile, verdict: fc.jsonValue(), note: hostile }).map((j) => JSON.stringify(j)),
  fc.string({ maxLength: 200 }),
  fc.constantFrom('', '{', '{"code":', 'null', '[]', '"x"', '1e999', '{"__proto__":{"x":1}}', '{"code":"a","code":"b"}'),
);

describe('every HTTP route of a real server on hostile requests', () => {
  beforeAll(async () => {
    t = makeLedger();
    srv = await startServerProcess(t.db);
    w = await buildWorld(srv.url, t.authority as Party);
    agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  });
  afterAll(async () => {
    agent?.destroy();
    await srv?.stop();
    t?.cleanup();
    console.log(`fuzz: ${cases} cases run (parsers and HTTP)`);
  });

  let before = '';
  it('random methods, paths, queries, headers and bodies: coded answers only', async () => {
    before = ledgerState();
    await fc.assert(
      fc.asyncProperty(
        fc.nat(ROUTES.length - 1),
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'),
        fc.array(fc.oneof(hostile, fc.constantFrom(GTIN, LOT, w.serials[1]!, w.d.gln, '0', '99999999999999999999', '-1')), { minLength: 4, maxLength: 4 }),
        fc.option(jsonBody),
        fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', ''),
        fc.option(fc.tuple(hostile, hostile, hostile)),
        async (ri, method, parts, body, ctype, auth) => {
          const path = ROUTES[ri]!(parts.map(enc));
          const headers: Record<string, string> = ctype === '' ? {} : { 'content-type': ctype };
          if (auth !== null) {
            // Header values must be latin-1 on the wire: what cannot be sent that way is sent percent-encoded.
            const safe = (s: string): string => (/^[\x20-\x7e]*$/.test(s) ? s : enc(s));
            Object.assign(headers, { 'x-medtrail-signer': safe(auth[0]), 'x-medtrail-at': safe(auth[1]), 'x-medtrail-signature': safe(auth[2]) });
          }
          const r = await send(method, path, method === 'GET' || method === 'HEAD' ? undefined : (body ?? undefined), headers);
          if (method !== 'HEAD') expectCoded(r, `${method} ${path}`);
        },
      ),
      { numRuns: 3000 * SCALE },
    );
  });

  it('deep JSON, wrong types and huge bodies on every POST route', async () => {
    const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    const deepObj = (n: number): string => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
    for (const path of ['/api/v1/entries', '/api/v1/verify', '/api/v1/reports']) {
      for (const b of [deep(100_000), deepObj(50_000), `{"code":${deep(10_000)}}`, `{"entries":[${deepObj(5_000)}]}`, `{"v":1,"kind":"ship","signer":"x","at":"x","nonce":"x","prev":[],"body":${deepObj(3000)},"sig":"x"}`, deep(1000), `{"code":${deepObj(500)}}`]) {
        const r = await send('POST', path, b, { 'content-type': 'application/json' });
        expectCoded(r, `POST ${path} deep`);
        // POST /verify reads at most VERIFY_BODY_LIMIT bytes (a scanned code is short): past it, 413 unread.
        expect(r.status).toBe(path === '/api/v1/verify' && b.length > VERIFY_BODY_LIMIT ? 413 : 400);
      }
      for (const b of ['{"code":123}', '{"code":["a"]}', '{"code":{"x":1}}', '{"code":null}', '{"code":true}', '{"entries":"x"}', '{"entries":{}}', '{"kind":7}', '[1,2,3]', '"code"', '12']) {
        expectCoded(await send('POST', path, b, { 'content-type': 'application/json' }), `POST ${path} ${b}`);
      }
      const huge = Buffer.alloc(17 * 1024 * 1024, 0x20);
      huge.write('{"code":"', 0);
      const r = await send('POST', path, huge, { 'content-type': 'application/json' });
      expectCoded(r, `POST ${path} 17 MiB`);
      expect(r.status).toBe(413);
    }
    // A huge single string inside the limit: a verify code of 5 MB.
    expectCoded(await send('POST', '/api/v1/verify', JSON.stringify({ code: 'A'.repeat(5_000_000) }), { 'content-type': 'application/json' }), 'verify 5 MB code');
    // A batch that lists a serial with every unicode trick (signed by the real manufacturer: refused by rules).
    expectCoded(await send('GET', `/api/v1/packs/${GTIN}/${enc('PS0001X\u202e')}`), 'RTL serial');
  });

  it('valid input still gets its documented 2xx', async () => {
    const v = await send('POST', '/api/v1/verify', JSON.stringify({ code: w.tags.get(w.serials[4]!)! }), { 'content-type': 'application/json' });
    expect(v.status).toBe(200);
    expect((JSON.parse(v.body) as { verdict: string }).verdict).toMatch(/^[A-Z_]+$/);
  });

  it('afterwards the process is alive, /healthz answers and the ledger is exactly as it was', async () => {
    expect(srv.child.exitCode).toBe(null);
    expect(srv.child.signalCode).toBe(null);
    const h = await send('GET', '/healthz');
    expect(h.status).toBe(200);
    expect(ledgerState()).toBe(before);
    expect(srv.stderr()).not.toMatch(/internal error/);
  });
});
