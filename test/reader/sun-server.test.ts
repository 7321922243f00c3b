// NTAG 424 DNA SUN on the server: tag keys registered by the manufacturer (signed, sealed at rest), SUN
// parameters checked on POST /verify, the read counter kept per tag and a replayed counter refused.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex, utf8 } from '../../core/bytes.js';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { signRequest } from '../../core/api/request-auth.js';
import type { Party } from '../support/custody.js';
import { readerWorld, type PackFacts, type ReaderWorld } from '../support/reader-world.js';
import { withSun } from '../support/sun-tag.js';
import { TEST_ORIGIN } from '../support/ledger.js';

let w: ReaderWorld;
const KEY = fromHex('00112233445566778899aabbccddeeff');
const UID = fromHex('04a1b2c3d4e5f6');

beforeAll(async () => {
  w = await readerWorld();
});
afterAll(() => w?.close());

async function register(body: Record<string, unknown>, as: Party | null = w.c.m): Promise<{ status: number; json: Record<string, unknown> }> {
  const raw = JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (as) Object.assign(headers, signRequest({ log: TEST_ORIGIN, method: 'POST', path: '/api/v1/tags/keys', body: utf8(raw) }, as.gln, keyFileSeed(as)));
  const r = await fetch(`${w.url}/api/v1/tags/keys`, { method: 'POST', headers, body: raw });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

async function verify(code: string): Promise<{ verdict: string; codes: string[] }> {
  const r = await fetch(`${w.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code }) });
  const j = (await r.json()) as { verdict: string; reasons: { code: string }[] };
  return { verdict: j.verdict, codes: j.reasons.map((x) => x.code) };
}

const keyBody = (p: PackFacts, uid = UID, key = KEY) => ({ gtin: p.gtin, serial: p.serial, uid: toHex(uid), key: toHex(key) });

describe('registering tag keys', () => {
  it('only the manufacturer of the GTIN, signed, once per pack; the key is never echoed', async () => {
    const p = w.genuine[0]!;
    expect(await register(keyBody(p), null)).toMatchObject({ json: { error: { code: 'AUTH_REQUIRED' } } });
    expect(await register(keyBody(p), w.c.p)).toMatchObject({ json: { error: { code: 'ROLE_NOT_ALLOWED' } } });
    const ok = await register(keyBody(p));
    expect(ok).toMatchObject({ status: 201, json: { gtin: p.gtin, serial: p.serial, uid: toHex(UID) } });
    expect(JSON.stringify(ok.json)).not.toContain(toHex(KEY));
    expect(await register(keyBody(p))).toMatchObject({ status: 409, json: { error: { code: 'SUN_KEY_EXISTS' } } });
    expect((await register({ ...keyBody(p), key: 'zz' })).json).toMatchObject({ error: { code: 'BAD_INPUT' } });
    expect((await register({ ...keyBody({ ...p, serial: 'NOPE1' }) })).json).toMatchObject({ error: { code: 'PACK_UNKNOWN' } });
  });

  it('keeps keys sealed at rest (the raw table does not hold the key bytes)', () => {
    const rows = w.srv.ledger.store.connectionFor('tag-keys').prepare('SELECT key_sealed FROM tag_keys').pluck().all() as Buffer[];
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r.includes(Buffer.from(KEY))).toBe(false);
    expect(readFileSync(`${w.c.t.dir}/tag-keys.secret`, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('SUN on POST /verify', () => {
  it('accepts rising counters and refuses a counter not above the last (a copied tag)', async () => {
    const p = w.genuine[0]!;
    const uri = w.uri(p);
    expect(await verify(withSun(uri, KEY, UID, 5))).toMatchObject({ verdict: 'GENUINE' });
    expect((await verify(withSun(uri, KEY, UID, 5))).codes).toContain('TAG_COUNTER_REPLAYED');
    expect(await verify(withSun(uri, KEY, UID, 4))).toMatchObject({ verdict: 'COUNTERFEIT', codes: expect.arrayContaining(['TAG_COUNTER_REPLAYED']) });
    const next = await verify(withSun(uri, KEY, UID, 6));
    expect(next.verdict).toBe('GENUINE');
    expect(next.codes).not.toContain('TAG_SUN_NOT_CHECKED');
  });

  it('a bad MAC, a wrong key and another tag UID are COUNTERFEIT', async () => {
    const uri = w.uri(w.genuine[0]!);
    const good = withSun(uri, KEY, UID, 100);
    const badMac = good.replace(/cmac=(.)/, (_m, c: string) => `cmac=${c === '0' ? '1' : '0'}`);
    expect(await verify(badMac)).toMatchObject({ verdict: 'COUNTERFEIT', codes: expect.arrayContaining(['TAG_SIGNATURE_INVALID']) });
    expect((await verify(withSun(uri, fromHex('ff'.repeat(16)), UID, 101))).verdict).toBe('COUNTERFEIT');
    expect((await verify(withSun(uri, KEY, fromHex('04000000000001'), 102))).codes).toContain('TAG_SIGNATURE_INVALID');
  });

  it("the AN12196 example reading verifies for a tag registered with the factory key", async () => {
    const p = w.genuine[1]!;
    expect((await register(keyBody(p, fromHex('04de5f1eacc040'), new Uint8Array(16)))).status).toBe(201);
    const uri = `${w.uri(p)}&picc=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086`;
    expect(await verify(uri)).toMatchObject({ verdict: 'GENUINE' });
    expect((await verify(uri)).codes).toContain('TAG_COUNTER_REPLAYED');
  });

  it('a pack with no registered key says its SUN could not be checked', async () => {
    const r = await verify(withSun(w.uri(w.genuine[2]!), KEY, UID, 1));
    expect(r).toMatchObject({ verdict: 'GENUINE', codes: expect.arrayContaining(['TAG_SUN_NOT_CHECKED']) });
  });
});
