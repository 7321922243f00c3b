// The entry-check worker answers as the event loop does (server/custody/entry-checker.ts): every request below
// is sent twice, as it is (a small body, read on the event loop) and padded with 70 KB of JSON whitespace
// (the same value, over ENTRY_INLINE_BYTES, read in the worker). Both get the same status, code and fields,
// and a refusal leaves the ledger byte for byte as it was. The checks run cheapest first: an unknown signer
// or a bad signature is named before anything wrong in the body.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { newNonce, signEntry } from '../../core/entry/entry.js';
import { ENTRY_INLINE_BYTES } from '../../server/http/app.js';
import { EntryChecker } from '../../server/custody/entry-checker.js';
import { custodyServices } from '../../server/custody/services.js';
import { participantKey, TEST_ORIGIN } from '../support/ledger.js';
import { gtinOf, sign, snapshot, startChain, type Chain } from '../support/custody.js';

const GTIN = gtinOf(5);
let c: Chain;
let productHash = '';

beforeAll(async () => {
  c = await startChain();
  productHash = (await c.ok(sign('product', c.m, { gtin: GTIN, name: 'Twinol', form: 'tablet', strength: '1 mg', packSize: 10 })))[0]!;
});
afterAll(async () => c?.close());

interface Got {
  status: number;
  error: unknown;
}

async function send(text: string): Promise<Got> {
  const r = await fetch(`${c.srv.url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
  const j = (await r.json()) as { error?: unknown };
  return { status: r.status, error: j.error };
}

/** Sends `text` as it is and padded past the inline limit; both must be refused alike, the ledger unchanged. */
async function both(text: string): Promise<Got> {
  const before = snapshot(c.srv);
  const inline = await send(text);
  const padded = `${text}${' '.repeat(ENTRY_INLINE_BYTES + 6_000)}`;
  const worker = await send(padded);
  expect(worker).toEqual(inline);
  expect(snapshot(c.srv)).toBe(before);
  return inline;
}

const batch = (lot: string, serials: string[], who = c.m): ReturnType<typeof sign> => sign('batch', who, { gtin: GTIN, lot, expiry: '301231', serials }, [productHash]);

describe('the entry-check worker answers as the event loop does', () => {
  it('refusals: same status, code and fields in both, the signer and the signature before the body', async () => {
    const stranger = participantKey(91);
    const cases: { text: string; code: string }[] = [
      // An unknown signer with a body that is also wrong: the signer is named, the body never looked at.
      { text: JSON.stringify(batch('W1', ['A', 'A'], stranger)), code: 'SIGNER_UNKNOWN' },
      // The enrolled maker's name with another key's signature, and a wrong body: the signature is named.
      { text: JSON.stringify({ ...batch('W2', ['A', 'A'], { ...stranger, gln: c.m.gln }) }), code: 'ENTRY_BAD_SIGNATURE' },
      { text: JSON.stringify(batch('W3', ['A', 'A'])), code: 'SERIAL_DUPLICATE' },
      { text: JSON.stringify({ entries: [batch('W4', ['B']), batch('W5', ['C', 'C'])] }), code: 'SERIAL_DUPLICATE' },
      { text: JSON.stringify({ ...batch('W6', ['D']), sig: undefined }), code: 'ENTRY_MALFORMED' },
      { text: JSON.stringify(signEntry({ v: 1, kind: 'batch', signer: c.m.gln, at: '2099-01-01T00:00:00.000Z', nonce: newNonce(), prev: [productHash], body: { gtin: GTIN, lot: 'W7', expiry: '301231', serials: ['E'] } }, keyFileSeed(c.m), TEST_ORIGIN)), code: 'DATE_INVALID' },
      { text: JSON.stringify(sign('batch', c.m, { gtin: gtinOf(6), lot: 'W8', expiry: '301231', serials: ['F'] }, [productHash])), code: 'PRODUCT_UNKNOWN' },
      { text: '{"entries": [', code: 'BAD_JSON' },
      { text: `${'['.repeat(40)}${']'.repeat(40)}`, code: 'BAD_JSON' },
      { text: JSON.stringify({ entries: [] }), code: 'ENTRY_MALFORMED' },
    ];
    for (const k of cases) {
      const got = await both(k.text);
      expect(got.error, k.text.slice(0, 200)).toMatchObject({ code: k.code });
    }
    // Field paths name the entry of a request of several.
    const many = await both(JSON.stringify({ entries: [batch('W9', ['G']), batch('W10', ['H', 'H'])] }));
    expect(many.error).toMatchObject({ fields: [{ path: 'entries[1].body.serials[1]', code: 'SERIAL_DUPLICATE' }] });
  });

  it('acceptance: the padded entry is appended and answered as the plain one would be', async () => {
    const r = await send(`${JSON.stringify(batch('W11', ['J1', 'J2']))}${' '.repeat(ENTRY_INLINE_BYTES + 6_000)}`);
    expect(r.status).toBe(201);
    expect(custodyServices(c.srv.ledger).state.pack(GTIN, 'J2')?.lot).toBe('W11');
  });

  it('a key rotated while the worker checked is checked again before the append', async () => {
    const s = custodyServices(c.srv.ledger);
    const e = batch('W12', ['K1']);
    const text = `${JSON.stringify(e)}${' '.repeat(ENTRY_INLINE_BYTES + 6_000)}`;
    const pending = s.submitBytes(Buffer.from(text));
    // The maker's key is replaced (the authority's rotate entry) before the worker's answer is used.
    const next = participantKey(92);
    s.submit([sign('participant', c.authority, { action: 'rotate', gln: c.m.gln, publicKey: next.publicKey })]);
    await expect(pending).rejects.toMatchObject({ code: 'ENTRY_BAD_SIGNATURE' });
    expect(s.state.pack(GTIN, 'K1')).toBeUndefined();
  });

  it('bodies waiting for the worker past its cap are refused OVERLOADED at once', async () => {
    const checker = new EntryChecker(custodyServices(c.srv.ledger).keys, 100_000);
    try {
      const first = checker.check(Buffer.from(`{"entries":[]}${' '.repeat(80_000)}`), Date.now());
      await expect(checker.check(Buffer.from(`{}${' '.repeat(30_000)}`), Date.now())).rejects.toMatchObject({ code: 'OVERLOADED' });
      await expect(first).rejects.toMatchObject({ code: 'ENTRY_MALFORMED' });
    } finally {
      checker.close();
    }
  });
});
