import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex, utf8 } from '../../core/bytes.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { sha256 } from '../../core/crypto/hash.js';
import { generateKeyFile, keyFileSeed } from '../../core/crypto/keys.js';
import { fromBase64 } from '../../core/bytes.js';
import { checkRequestTime, parseAuthHeaders, requestSigningBytes, signRequest, verifyRequest } from '../../core/api/request-auth.js';
import { expectCode, throwsOnlyCoded } from '../support/expect-code.js';
import { gln } from '../support/ledger.js';

installNodeCrypto();
const GLN = gln(5);
const key = generateKeyFile('pharmacy', GLN);

function headersOf(h: Record<string, string>): (n: string) => string | undefined {
  const lower = new Map(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
  return (n) => lower.get(n);
}

describe('core/request-auth', () => {
  const seed = keyFileSeed(key);
  const pub = fromBase64(key.publicKey, 32);
  const r = { log: 'example.org/ledger-a', method: 'POST', path: '/api/v1/verify?x=1', body: utf8('{"code":"x"}') };

  it('signs the documented bytes', () => {
    const at = '2026-11-21T18:00:00.000Z';
    expect(new TextDecoder().decode(requestSigningBytes({ ...r, at }))).toBe(`medtrail/v1/request\nexample.org/ledger-a\nPOST\n/api/v1/verify?x=1\n${at}\n${toHex(sha256(r.body))}`);
    expect(new TextDecoder().decode(requestSigningBytes({ log: 'example.org/ledger-a', method: 'GET', path: '/a', at }))).toMatch(/\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855$/);
  });

  it('verifies what it signed, and nothing that differs in method, path, time or body', () => {
    const h = signRequest(r, GLN, seed);
    const auth = parseAuthHeaders(headersOf({ ...h }))!;
    expect(auth.signer).toBe(GLN);
    expect(verifyRequest(r, auth, pub)).toBe(true);
    expect(verifyRequest({ ...r, method: 'PUT' }, auth, pub)).toBe(false);
    expect(verifyRequest({ ...r, path: '/api/v1/verify?x=2' }, auth, pub)).toBe(false);
    expect(verifyRequest({ ...r, body: utf8('{"code":"y"}') }, auth, pub)).toBe(false);
    expect(verifyRequest(r, { ...auth, at: '2026-01-01T00:00:00Z' }, pub)).toBe(false);
    // Signed for one ledger, refused by another (issue 12 #8).
    expect(verifyRequest({ ...r, log: 'example.org/ledger-b' }, auth, pub)).toBe(false);
  });

  it('no headers is anonymous; partial or malformed headers are AUTH_BAD_HEADER', () => {
    expect(parseAuthHeaders(() => undefined)).toBeUndefined();
    const h = signRequest(r, GLN, seed);
    expectCode(() => parseAuthHeaders(headersOf({ 'X-Medtrail-Signer': GLN })), 'AUTH_BAD_HEADER');
    expectCode(() => parseAuthHeaders(headersOf({ ...h, 'X-Medtrail-Signer': '123' })), 'AUTH_BAD_HEADER');
    expectCode(() => parseAuthHeaders(headersOf({ ...h, 'X-Medtrail-At': 'yesterday' })), 'AUTH_BAD_HEADER');
    expectCode(() => parseAuthHeaders(headersOf({ ...h, 'X-Medtrail-Signature': 'AAAA' })), 'AUTH_BAD_HEADER');
    expectCode(() => parseAuthHeaders(headersOf({ ...h, 'X-Medtrail-Signature': '***' })), 'AUTH_BAD_HEADER');
  });

  it('times within 5 minutes pass; beyond, AUTH_CLOCK_SKEW', () => {
    const now = Date.parse('2026-11-21T18:00:00Z');
    checkRequestTime('2026-11-21T18:04:59Z', now);
    checkRequestTime('2026-11-21T17:55:00Z', now);
    checkRequestTime('2026-11-21T19:04:00+01:00', now);
    expectCode(() => checkRequestTime('2026-11-21T18:05:01Z', now), 'AUTH_CLOCK_SKEW');
    expectCode(() => checkRequestTime('2026-11-21T17:54:59Z', now), 'AUTH_CLOCK_SKEW');
  });

  it('random header values only ever give coded errors', () => {
    fc.assert(
      fc.property(fc.option(fc.string()), fc.option(fc.string()), fc.option(fc.string()), (a, b, c) => {
        const m: Record<string, string | undefined> = { 'x-medtrail-signer': a ?? undefined, 'x-medtrail-at': b ?? undefined, 'x-medtrail-signature': c ?? undefined };
        expect(throwsOnlyCoded(() => parseAuthHeaders((n) => m[n]))).toBe(true);
      }),
    );
  });
});
