// The OpenAPI description the server serves (GET /api/v1/openapi.json), held to the real answers: a real
// server on a temporary SQLite file answers every route of the description, each JSON answer is validated
// against its schema with Ajv (JSON Schema 2020-12, as OpenAPI 3.1 uses), and read by the client parser of
// core/api/answers.ts, so that neither the description nor the parsers can drift from what the server says.
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseAppended,
  parseHeld,
  parseLogEntries,
  parseMakerKey,
  parsePackRead,
  parseParticipant,
  parseParticipants,
  parseProductMaster,
  parseReports,
  parseShipments,
  parseVerifyAnswer,
} from '../../core/api/answers.js';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { signRequest } from '../../core/api/request-auth.js';
import { toBase64Url } from '../../core/bytes.js';
import { sign as ed25519Sign } from '../../core/crypto/ed25519.js';
import { formatDigitalLink } from '../../core/gs1/digital-link.js';
import { packIdentityBytes } from '../../core/tag/pack.js';
import { gtinOf, sign, startChain, type Chain, type Party } from '../support/custody.js';
import { TEST_ORIGIN } from '../support/ledger.js';

let c: Chain;
let doc: { paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } };
let ajv: Ajv2020;
const gtin = gtinOf(3);
const lot = 'OA-1';
const expiry = '301231';
let shipIndex = 0;
let dispenseHash = '';

beforeAll(async () => {
  c = await startChain();
  const [product] = await c.ok(sign('product', c.m, { gtin, name: 'Openapimab', form: 'tablets', strength: '5 mg', packSize: 28 }));
  const [batch] = await c.ok(sign('batch', c.m, { gtin, lot, expiry, serials: ['OA1', 'OA2', 'OA3'] }, [product!]));
  const [ship] = await c.ok(sign('ship', c.m, { to: c.p.gln, items: [{ type: 'lot', gtin, lot }] }, [batch!]));
  const [recv] = await c.ok(sign('receive', c.p, { ship: ship!, missing: [], extra: [] }, [ship!]));
  const [dispensed] = await c.ok(sign('dispense', c.p, { gtin, serial: 'OA1' }, [recv!]));
  dispenseHash = dispensed!;
  await c.ok(sign('ship', c.p, { to: c.d.gln, items: [{ type: 'pack', gtin, serial: 'OA3' }] }, [recv!]));
  shipIndex = c.srv.ledger.log.size() - 1;
  const r = await fetch(`${c.srv.url}/api/v1/openapi.json`);
  expect(r.status).toBe(200);
  doc = (await r.json()) as typeof doc;
  ajv = new Ajv2020({ strict: false });
  ajv.addSchema({ $id: 'medtrail', components: doc.components }, 'medtrail');
});
afterAll(() => c?.close());

async function call(method: string, path: string, opts: { as?: Party; body?: unknown } = {}): Promise<{ status: number; json: unknown }> {
  const raw = opts.body === undefined ? undefined : JSON.stringify(opts.body);
  const headers: Record<string, string> = raw === undefined ? {} : { 'content-type': 'application/json' };
  if (opts.as !== undefined) Object.assign(headers, signRequest({ log: TEST_ORIGIN, method, path, ...(raw !== undefined ? { body: new TextEncoder().encode(raw) } : {}) }, opts.as.gln, keyFileSeed(opts.as)));
  const r = await fetch(c.srv.url + path, { method, headers, ...(raw !== undefined ? { body: raw } : {}) });
  return { status: r.status, json: await r.json() };
}

/** The answer must match the schema the description names for this route and status. */
function holds(route: string, method: string, status: number, json: unknown): void {
  const op = doc.paths[route]?.[method] as { responses: Record<string, { content: Record<string, { schema: { $ref: string } }> }> } | undefined;
  expect(op, `${method} ${route} is described`).toBeDefined();
  const ref = (op!.responses[String(status)] ?? op!.responses['default'])!.content['application/json']!.schema.$ref;
  const validate = ajv.getSchema(`medtrail${ref}`);
  expect(validate, ref).toBeDefined();
  const ok = validate!(json);
  expect(ok, `${method} ${route} ${status}: ${JSON.stringify(validate!.errors)}`).toBe(true);
}

function tag(serial: string): string {
  const sig = toBase64Url(ed25519Sign(packIdentityBytes({ gtin, lot, serial, expiry }), keyFileSeed(c.m)));
  return formatDigitalLink({ resolver: c.srv.url, gtin, lot, serial, expiry, sig, query: {} });
}

describe('the served OpenAPI description', () => {
  it('is OpenAPI 3.1 and describes every route of the API', () => {
    expect((doc as unknown as { openapi: string }).openapi).toBe('3.1.0');
    for (const route of ['/api/v1/verify', '/api/v1/entries', '/api/v1/packs/{gtin}/{serial}', '/api/v1/held', '/api/v1/shipments', '/api/v1/reports', '/api/v1/log/entries']) {
      expect(Object.keys(doc.paths)).toContain(route);
    }
  });

  it('matches the real answers of every JSON route, and the client parsers read each of them', async () => {
    const checks: [string, string, string, { as?: Party; body?: unknown }, ((v: unknown) => unknown) | undefined][] = [
      ['/healthz', 'get', '/healthz', {}, undefined],
      ['/api/v1/log/entries', 'get', '/api/v1/log/entries?start=0&end=3', { as: c.reg }, parseLogEntries],
      ['/api/v1/alerts', 'get', '/api/v1/alerts', { as: c.reg }, undefined],
      ['/api/v1/log/proof/inclusion', 'get', '/api/v1/log/proof/inclusion?index=1&size=3', {}, undefined],
      ['/api/v1/log/proof/consistency', 'get', '/api/v1/log/proof/consistency?from=2&to=4', {}, undefined],
      ['/api/v1/verify', 'post', '/api/v1/verify', { body: { code: tag('OA2') } }, parseVerifyAnswer],
      ['/api/v1/verify', 'post', '/api/v1/verify', { body: { code: tag('OA1') }, as: c.p }, parseVerifyAnswer],
      ['/api/v1/verify', 'post', '/api/v1/verify', { body: { code: `(01)${gtin}(21)NOPE` } }, parseVerifyAnswer],
      ['/api/v1/packs/{gtin}/{serial}', 'get', `/api/v1/packs/${gtin}/OA2`, {}, parsePackRead],
      ['/api/v1/packs/{gtin}/{serial}', 'get', `/api/v1/packs/${gtin}/OA1`, { as: c.p }, parsePackRead],
      ['/api/v1/epcis/events', 'get', `/api/v1/epcis/events?gtin=${gtin}&serial=OA1`, { as: c.p }, undefined],
      ['/api/v1/participants', 'get', '/api/v1/participants', {}, parseParticipants],
      ['/api/v1/participants/{gln}', 'get', `/api/v1/participants/${c.p.gln}`, {}, (v) => parseParticipant(v)],
      ['/api/v1/products/{gtin}', 'get', `/api/v1/products/${gtin}`, {}, parseProductMaster],
      ['/api/v1/products/{gtin}/maker-key', 'get', `/api/v1/products/${gtin}/maker-key?serial=OA2`, {}, parseMakerKey],
      ['/api/v1/shipments', 'get', `/api/v1/shipments?to=${c.d.gln}&open=1`, { as: c.d }, parseShipments],
      ['/api/v1/held', 'get', `/api/v1/held?gln=${c.p.gln}`, { as: c.p }, parseHeld],
      ['/api/v1/reports', 'post', '/api/v1/reports', { body: { code: tag('OA2'), verdict: 'COUNTERFEIT', note: 'openapi test' } }, undefined],
      ['/api/v1/reports', 'get', '/api/v1/reports', { as: c.reg }, parseReports],
    ];
    for (const [route, method, path, opts, parse] of checks) {
      const r = await call(method.toUpperCase(), path, opts);
      expect(r.status, `${method} ${path}: ${JSON.stringify(r.json)}`).toBeLessThan(300);
      holds(route, method, r.status, r.json);
      if (parse !== undefined) parse(r.json);
    }
    const shipments = parseShipments((await call('GET', `/api/v1/shipments?to=${c.d.gln}&open=1`, { as: c.d })).json);
    expect(shipments.map((s) => s.index)).toContain(shipIndex);
    expect(dispenseHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('matches an append answer and the coded errors', async () => {
    const appended = await call('POST', '/api/v1/entries', { body: sign('recall', c.m, { gtin, lot, reason: 'openapi test' }) });
    expect(appended.status).toBe(201);
    holds('/api/v1/entries', 'post', 201, appended.json);
    parseAppended(appended.json);
    for (const [route, method, path, opts] of [
      ['/api/v1/verify', 'post', '/api/v1/verify', { body: { code: 'hello world' } }],
      ['/api/v1/held', 'get', `/api/v1/held?gln=${c.p.gln}`, {}],
      ['/api/v1/entries', 'post', '/api/v1/entries', { body: { entries: [] } }],
    ] as const) {
      const r = await call(method.toUpperCase(), path, opts);
      expect(r.status).toBeGreaterThanOrEqual(400);
      holds(route, method, r.status, r.json);
    }
  });
});

describe('the prescription routes (issue 16) against the description', () => {
  it('every prescription answer holds, and the client parsers read them', async () => {
    const { startRxWorld } = await import('../support/rx.js');
    const { claim, dispenseRx } = await import('../../cli/client/rx.js');
    const { parseRx, parseRxList, parseRxReport, parseRxView } = await import('../../core/api/rx.js');
    const { rxViewMessage, signWithCode } = await import('../../core/rx/rx.js');
    const { toBase64 } = await import('../../core/bytes.js');
    const w = await startRxWorld();
    try {
      const rx = await w.prescribe({ quantity: 1, repeats: 1 });
      await claim(w.client(w.p), w.p as never, rx.token);
      await dispenseRx(w.client(w.p), w.p as never, rx.id, `${(await import('../support/rx.js')).AMOX}:${w.take()}`);
      const rcall = async (method: string, path: string, opts: { as?: Party; body?: unknown } = {}) => {
        const raw = opts.body === undefined ? undefined : JSON.stringify(opts.body);
        const headers: Record<string, string> = raw === undefined ? {} : { 'content-type': 'application/json' };
        if (opts.as !== undefined) Object.assign(headers, signRequest({ log: TEST_ORIGIN, method, path, ...(raw !== undefined ? { body: new TextEncoder().encode(raw) } : {}) }, opts.as.gln, keyFileSeed(opts.as)));
        const r = await fetch(w.srv.url + path, { method, headers, ...(raw !== undefined ? { body: raw } : {}) });
        return { status: r.status, json: (await r.json()) as unknown };
      };
      const at = new Date().toISOString();
      const checks: [string, string, string, { as?: Party; body?: unknown }, ((v: unknown) => unknown) | undefined][] = [
        ['/api/v1/rx/{id}', 'get', `/api/v1/rx/${rx.id}`, { as: w.doc }, parseRx],
        ['/api/v1/rx/{id}/fhir', 'get', `/api/v1/rx/${rx.id}/fhir`, { as: w.reg }, undefined],
        ['/api/v1/rx/{id}/details', 'get', `/api/v1/rx/${rx.id}/details`, { as: w.doc }, undefined],
        ['/api/v1/rx', 'get', `/api/v1/rx?prescriber=${w.doc.gln}`, { as: w.doc }, parseRxList],
        ['/api/v1/rx', 'get', `/api/v1/rx?claimedBy=${w.p.gln}`, { as: w.p }, parseRxList],
        ['/api/v1/rx/reports', 'get', '/api/v1/rx/reports?by=month,region', { as: w.reg }, parseRxReport],
        ['/api/v1/rx/view', 'post', '/api/v1/rx/view', { body: { id: rx.id, at, sig: toBase64(signWithCode(rx.code, rxViewMessage(TEST_ORIGIN, rx.id, at))) } }, parseRxView],
      ];
      for (const [route, method, path, opts, parse] of checks) {
        const r = await rcall(method.toUpperCase(), path, opts);
        expect(r.status, `${method} ${path}: ${JSON.stringify(r.json)}`).toBeLessThan(300);
        holds(route, method, r.status, r.json);
        if (parse !== undefined) parse(r.json);
      }
      for (const [route, method, path, opts] of [
        ['/api/v1/rx/{id}', 'get', `/api/v1/rx/${rx.id}`, {}],
        ['/api/v1/rx/view', 'post', '/api/v1/rx/view', { body: { id: rx.id, at, sig: 'AAAA' } }],
        ['/api/v1/rx', 'post', '/api/v1/rx', { as: w.doc, body: { entry: {}, details: {} } }],
      ] as const) {
        const r = await rcall(method.toUpperCase(), path, opts);
        expect(r.status).toBeGreaterThanOrEqual(400);
        holds(route, method, r.status, r.json);
      }
    } finally {
      await w.close();
    }
  });
});
