// The patient page's own checks (web/common/evidence.ts) in Node, on evidence from a real server, and the
// code-entry parsers: every way the evidence can be wrong, one by one, and properties over random tampering.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64 } from '../../core/bytes.js';
import { isMedtrailError } from '../../core/errors.js';
import { codeToPath, parsePackCode } from '../../web/common/code-entry.js';
import { checkEvidence, type EvidenceInput } from '../../web/common/evidence.js';
import { gtinOf, sign, startChain, type Chain } from '../support/custody.js';
import { participantKey } from '../support/ledger.js';
import { tagUri } from './browser.js';

let c: Chain;
let good: EvidenceInput;
const gtin = gtinOf(5);
const pack = { gtin, lot: 'E-1', serial: 'EV0001', expiry: '301231' };

function sigOf(uri: string): string {
  return new URL(uri).searchParams.get('s')!;
}

async function evidenceFor(uri: string): Promise<EvidenceInput> {
  const v = (await (await fetch(`${c.srv.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: uri }) })).json()) as Record<string, any>;
  const m = (await c.get(`/products/${gtin}/maker-key`)).json as Record<string, any>;
  return {
    vkey: c.srv.ledger.log.verifierKey,
    packProof: v['proof'],
    pack,
    sig: sigOf(uri),
    makerGln: v['product']['manufacturer']['gln'],
    makerLeaf: { leaf: m['leaf'], checkpoint: m['checkpoint'], inclusion: { index: m['index'], size: m['size'], leafHash: m['leafHash'], proof: m['proof'] } },
    map: v['map'],
    key: { gtin: pack.gtin, serial: pack.serial },
  };
}

beforeAll(async () => {
  c = await startChain();
  const [product] = await c.ok(sign('product', c.m, { gtin, name: 'Atorvastatin', form: 'tablets', strength: '20 mg', packSize: 28 }));
  await c.ok(sign('batch', c.m, { gtin, lot: pack.lot, expiry: pack.expiry, serials: [pack.serial] }, [product!]));
  await c.ok(sign('batch', c.m, { gtin, lot: 'E-9', expiry: pack.expiry, serials: ['EV0009'] }, [product!]));
  good = await evidenceFor(tagUri(c.srv.url, pack, c.m));
});

afterAll(async () => {
  await c?.close();
});

const status = (input: EvidenceInput): Record<string, string> => Object.fromEntries(checkEvidence(input).checks.map((x) => [x.id, x.status]));

describe('checkEvidence', () => {
  it('passes every check for a genuine pack', () => {
    const r = checkEvidence(good);
    expect(r.complete).toBe(true);
    expect(r.broken).toBe(false);
  });

  it("proves the pack's state from the checkpoint's map roots", () => {
    const r = checkEvidence(good);
    expect(r.proven).toMatchObject({ present: true, state: 'active', lot: pack.lot, expiry: pack.expiry, maker: c.m.gln, recalled: false });
  });

  it("when the state proof is another pack's, or its record was rewritten, or the leaf proven is not this pack's", async () => {
    // Another pack of the same lot: its proof does not hold for this pack's key.
    const other = await evidenceFor(tagUri(c.srv.url, { ...pack, serial: 'EV0009', lot: 'E-9' }, c.m));
    const borrowed = { ...good, map: other.map };
    expect(status(borrowed)['pack_state']).toBe('failed');
    expect(checkEvidence(borrowed).broken).toBe(true);
    const rewritten = { ...good, map: { ...good.map!, value: { ...good.map!.value!, state: 'dispensed' } } };
    expect(status(rewritten)['pack_state']).toBe('failed');
    // The inclusion proof of another leaf (leaf 0, the authority's first admission) on the same checkpoint.
    const size = good.packProof!.size;
    const zero = (await (await fetch(`${c.srv.url}/api/v1/log/proof/inclusion?index=0&size=${size}`)).json()) as { leafHash: string; proof: string[] };
    const leaf0 = { ...good, packProof: { ...good.packProof!, index: 0, leafHash: zero.leafHash, proof: zero.proof } };
    expect(checkEvidence(leaf0).checks.find((x) => x.id === 'pack_state')).toMatchObject({ status: 'failed', code: 'LEAF_NOT_THIS_PACK' });
    // No state proof at all: nothing broken, nothing complete.
    const none = checkEvidence({ ...good, map: null });
    expect([none.broken, none.complete, none.proven]).toEqual([false, false, null]);
  });

  it('when the signature is by another key', () => {
    expect(status({ ...good, sig: sigOf(tagUri(c.srv.url, pack, participantKey(77))) })['pack_signature']).toBe('failed');
  });

  it('when the lot or expiry differs from what was signed', () => {
    expect(status({ ...good, pack: { ...pack, lot: 'E-2' } })['pack_signature']).toBe('failed');
    expect(status({ ...good, pack: { ...pack, expiry: '311231' } })['pack_signature']).toBe('failed');
  });

  it('when the log key is not the pinned one', () => {
    const other = { ...good, vkey: 'other.log+01234567+AXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX' };
    const r = checkEvidence(other);
    expect(r.broken).toBe(true);
    expect(status(other)['checkpoint']).toBe('failed');
  });

  it('when the maker entry is another participant (wrong GLN, role or prefixes)', () => {
    expect(status({ ...good, makerGln: c.d.gln })['maker_key']).toBe('failed');
  });

  it('when the proof is for another size than its checkpoint', () => {
    expect(status({ ...good, packProof: { ...good.packProof!, size: good.packProof!.size + 1 } })['pack_in_log']).toBe('failed');
  });

  it('when nothing is given, it is not broken but not complete either', () => {
    const r = checkEvidence({ ...good, packProof: null, makerLeaf: null, sig: null, map: null });
    expect(r.broken).toBe(false);
    expect(r.complete).toBe(false);
    expect(r.checks.every((x) => x.status === 'missing')).toBe(true);
  });

  it('any flipped bit in the signature, the proofs or the maker leaf fails a check, never throws', () => {
    const sig = fromBase64(good.sig!.replace(/-/g, '+').replace(/_/g, '/') + '==');
    const leaf = fromBase64(good.makerLeaf!.leaf);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (what, at, bit) => {
        let input: EvidenceInput;
        if (what === 0) {
          const s = sig.slice();
          s[at % s.length]! ^= 1 << bit;
          input = { ...good, sig: toBase64(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') };
        } else if (what === 1) {
          const l = leaf.slice();
          l[at % l.length]! ^= 1 << bit;
          input = { ...good, makerLeaf: { ...good.makerLeaf!, leaf: toBase64(l) } };
        } else if (what === 2 && good.packProof!.proof.length > 0) {
          const proof = good.packProof!.proof.slice();
          const i = at % proof.length;
          const hex = proof[i]!;
          proof[i] = (hex[0] === '0' ? '1' : '0') + hex.slice(1);
          input = { ...good, packProof: { ...good.packProof!, proof } };
        } else {
          const leafHash = good.packProof!.leafHash;
          input = { ...good, packProof: { ...good.packProof!, leafHash: (leafHash[0] === 'a' ? 'b' : 'a') + leafHash.slice(1) } };
        }
        expect(checkEvidence(input).broken).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});

describe('code entry', () => {
  it('turns typed and scanned codes into Digital Link paths', () => {
    expect(codeToPath(gtin, 'AB12')).toBe(`/01/${gtin}/21/AB12`);
    expect(codeToPath(`(01)${gtin}(17)301231(10)L 1(21)S1`.replace(' ', ''))).toBe(`/01/${gtin}/10/L1/21/S1?17=301231`);
    expect(codeToPath(`https://elsewhere.example/01/${gtin}/21/S1?s=abc`)).toBe(`/01/${gtin}/21/S1?s=abc`);
    expect(parsePackCode(`]d201${gtin}21S9`)).toEqual({ gtin, serial: 'S9' });
    expect(parsePackCode(`${gtin} S9`)).toEqual({ gtin, serial: 'S9' });
  });

  it('refuses anything else with a coded error only', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.string({ maxLength: 20 }), (a, b) => {
        for (const f of [() => codeToPath(a, b), () => codeToPath(a), () => parsePackCode(a)]) {
          try {
            f();
          } catch (e) {
            expect(isMedtrailError(e)).toBe(true);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
