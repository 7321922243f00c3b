// The CLI's client side on its own: how it names packs, how it turns the server's refusals back into coded
// errors, how it signs requests, and label file names. A plain node:http server stands in for the far end,
// answering exactly what the API answers on the wire.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { utf8 } from '../../core/bytes.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { MedtrailError } from '../../core/errors.js';
import { keyFilePublic } from '../../core/crypto/keys.js';
import { parseAuthHeaders, verifyRequest } from '../../core/api/request-auth.js';
import { verifierKey } from '../../core/log/checkpoint.js';
import { ApiClient } from '../../cli/api-client.js';
import { safeName } from '../../cli/client/labels.js';
import { parseLotRef, parsePackRef } from '../../cli/pack-refs.js';
import { x20 } from '../support/gs1-arbitraries.js';
import { participantKey, TEST_ORIGIN } from '../support/ledger.js';

installNodeCrypto();

async function rejects(p: Promise<unknown>): Promise<MedtrailError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MedtrailError);
    return e as MedtrailError;
  }
  throw new Error('expected a rejection');
}

describe('pack references', () => {
  it('reads GTIN:SERIAL (GTIN normalised to 14 digits), URIs and JSON tag lines alike', () => {
    expect(parsePackRef('4012345000177:ABC123')).toEqual({ gtin: '04012345000177', serial: 'ABC123' });
    const uri = 'https://example.org/01/04012345000177/10/L1/21/ABC%2F1?17=281231&s=AAAA';
    expect(parsePackRef(uri)).toEqual({ gtin: '04012345000177', serial: 'ABC/1' });
    expect(parsePackRef(JSON.stringify({ uri, serial: 'ignored' }))).toEqual({ gtin: '04012345000177', serial: 'ABC/1' });
    expect(parseLotRef('04012345000177:L-7')).toEqual({ gtin: '04012345000177', lot: 'L-7' });
  });

  it('refuses malformed references with codes', () => {
    for (const [s, code] of [
      ['ABC123', 'CLI_USAGE'],
      ['4012345000178:ABC', 'GS1_BAD_CHECK_DIGIT'],
      ['04012345000177:', 'GS1_BAD_SERIAL'],
      ['https://example.org/01/04012345000177/10/L1', 'CLI_USAGE'],
      ['{"uri":5}', 'CLI_USAGE'],
      ['{not json', 'CLI_USAGE'],
    ] as const) {
      let err: unknown;
      try {
        parsePackRef(s);
      } catch (e) {
        err = e;
      }
      expect(err, s).toBeInstanceOf(MedtrailError);
      expect((err as MedtrailError).code, s).toBe(code);
    }
  });
});

describe('label file names', () => {
  it('keep distinct serials distinct and stay within [A-Za-z0-9_-]', () => {
    fc.assert(
      fc.property(x20, x20, (a, b) => {
        expect(safeName(a)).toMatch(/^[A-Za-z0-9_-]+$/);
        if (a !== b) expect(safeName(a)).not.toBe(safeName(b));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('ApiClient against a server on the wire', () => {
  let server: http.Server;
  let base = '';
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; body: Buffer }[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
        if (req.url === '/api/v1/refuse') {
          res.writeHead(403, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'NOT_HOLDER', message: 'not yours', fields: [{ path: 'body.items[0]', code: 'NOT_HOLDER', message: 'x' }] } }));
        } else if (req.url === '/api/v1/proxy-error') {
          res.writeHead(502, { 'content-type': 'text/html' });
          res.end('<html>bad gateway</html>');
        } else if (req.url === '/api/v1/log/key') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(`${verifierKey(TEST_ORIGIN, keyFilePublic(participantKey(99)))}\n`);
        } else if (req.url === '/api/v1/entries') {
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ index: 7 }));
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: true }));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  it("turns the server's {error:{code}} back into a MedtrailError with the same code and fields", async () => {
    const e = await rejects(new ApiClient(base).text('GET', '/api/v1/refuse'));
    expect(e.code).toBe('NOT_HOLDER');
    expect(e.fields?.[0]?.path).toBe('body.items[0]');
  });

  it('maps a non-JSON failure to INTERNAL and an unreachable server to SERVER_UNREACHABLE', async () => {
    expect((await rejects(new ApiClient(base).text('GET', '/api/v1/proxy-error'))).code).toBe('INTERNAL');
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    expect((await rejects(new ApiClient(`http://127.0.0.1:${port}`).text('GET', '/healthz'))).code).toBe('SERVER_UNREACHABLE');
  });

  it('refuses a server URL that is not http(s), and an append answer without its leaf hash (BAD_ANSWER)', async () => {
    expect(() => new ApiClient('ftp://example.org')).toThrowError(MedtrailError);
    const k = participantKey(5);
    const e = await rejects(new ApiClient(base, k).submit({ v: 1, kind: 'dispense', signer: k.gln, at: '2026-01-01T00:00:00.000Z', nonce: 'AAAAAAAAAAAAAAAAAAAAAA', prev: [], body: {}, sig: 'x' }));
    // The answer is read by core/api/answers.ts's parser, which names what is wrong with it.
    expect(e.code).toBe('BAD_ANSWER');
  });

  it('signs requests so that core/request-auth verifies them against the exact bytes sent', async () => {
    const k = participantKey(6);
    seen.length = 0;
    await new ApiClient(base, k).text('POST', '/api/v1/verify?x=1', { code: 'abc' }, true);
    // The origin the signature binds is read first, from the server's verifier key (issue 12 #8).
    expect(seen.map((r) => r.url)).toEqual(['/api/v1/log/key', '/api/v1/verify?x=1']);
    const req = seen[1]!;
    const auth = parseAuthHeaders((n) => req.headers[n] as string | undefined)!;
    expect(auth.signer).toBe(k.gln);
    expect(verifyRequest({ log: TEST_ORIGIN, method: 'POST', path: req.url, body: new Uint8Array(req.body) }, auth, keyFilePublic(k))).toBe(true);
    // Another body under the same headers does not verify.
    expect(verifyRequest({ log: TEST_ORIGIN, method: 'POST', path: req.url, body: utf8('{"code":"abd"}') }, auth, keyFilePublic(k))).toBe(false);
    // Unsigned requests carry no signature headers.
    seen.length = 0;
    await new ApiClient(base, k).text('GET', '/api/v1/anything');
    expect(parseAuthHeaders((n) => seen[0]!.headers[n] as string | undefined)).toBeUndefined();
  });
});
