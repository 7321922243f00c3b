// Hostile input into POST /api/v1/verify: random strings as the code, random JSON bodies, random bytes and
// near-miss codes only ever give a coded 4xx, never a 5xx or a crash .
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../core/errors.js';
import { batch, startChain, tagUri, type Chain } from './fixture.js';

describe('POST /api/v1/verify under hostile input', () => {
  let c: Chain;
  let genuine = '';
  beforeAll(async () => {
    c = await startChain();
    batch(c, 'F1', '301231', ['S1']);
    genuine = tagUri({ gtin: c.gtin, lot: 'F1', serial: 'S1', expiry: '301231' }, c.maker);
  });
  afterAll(async () => {
    await c.close();
  });

  const post = async (body: string, contentType = 'application/json'): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${c.s.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': contentType }, body });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      /* checked below */
    }
    return { status: res.status, json };
  };

  const coded4xxOr200 = (r: { status: number; json: unknown }): void => {
    if (r.status === 200) {
      expect((r.json as { verdict?: unknown }).verdict).toBeTypeOf('string');
      return;
    }
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
    const code = (r.json as { error?: { code?: unknown } } | null)?.error?.code;
    expect(Object.keys(ERROR_CODES)).toContain(code);
  };

  it('random strings as the code', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 200 })), async (s) => {
        coded4xxOr200(await post(JSON.stringify({ code: s })));
      }),
      { numRuns: 150 },
    );
  });

  it('mutations of a genuine tag URI and of element strings', async () => {
    const seeds = [genuine, `]d201${c.gtin}17301231` + '10F1\x1d21S1', `(01)${c.gtin}(21)S1`];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...seeds), fc.nat(), fc.string({ maxLength: 4 }), fc.nat(6), async (seed, pos, ins, del) => {
        const at = pos % (seed.length + 1);
        coded4xxOr200(await post(JSON.stringify({ code: seed.slice(0, at) + ins + seed.slice(at + del) })));
      }),
      { numRuns: 150 },
    );
  });

  it('random JSON bodies', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), async (v) => {
        coded4xxOr200(await post(JSON.stringify(v)));
      }),
      { numRuns: 150 },
    );
    await fc.assert(
      fc.asyncProperty(fc.record({ code: fc.jsonValue({ maxDepth: 2 }), scanner: fc.jsonValue({ maxDepth: 2 }) }, { requiredKeys: [] }), async (v) => {
        coded4xxOr200(await post(JSON.stringify(v)));
      }),
      { numRuns: 100 },
    );
  });

  it('bodies that are not JSON, and bogus signature headers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 200 }), async (s) => {
        coded4xxOr200(await post(s));
      }),
      { numRuns: 80 },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), fc.string({ maxLength: 100 }), async (signer, at, sig) => {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        const clean = (x: string): string => x.replace(/[^\x20-\x7e]/g, '');
        headers['X-Medtrail-Signer'] = clean(signer);
        headers['X-Medtrail-At'] = clean(at);
        headers['X-Medtrail-Signature'] = clean(sig);
        const res = await fetch(`${c.s.url}/api/v1/verify`, { method: 'POST', headers, body: JSON.stringify({ code: genuine }) });
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(((await res.json()) as { error: { code: string } }).error.code).toMatch(/^AUTH_/);
      }),
      { numRuns: 80 },
    );
  });
});
