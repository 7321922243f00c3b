// core/map/pack-map.ts and core/map/extension.ts: the pack and lot maps' key and value encodings (pinned by
// hashing hand-assembled bytes with node:crypto), a lot recall as one leaf, and the `medtrail-map` checkpoint
// extension line through signing and opening (core/log/checkpoint.ts keeps extension lines).
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes, toBase64 } from '../../core/bytes.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { publicKeyFromSeed } from '../../core/crypto/ed25519.js';
import { sha256 } from '../../core/crypto/hash.js';
import { checkpointBody, openCheckpoint, parseCheckpointBody, signCheckpoint, verifierKey } from '../../core/log/checkpoint.js';
import { mapExtensionLine, parseMapExtensionLine, readMapRoots, requireMapRoots, withMapRoots } from '../../core/map/extension.js';
import { encodePackValue, lastEntryFromHex, lotMapKey, lotValueHash, packMapKey, packValueHash, type PackMapValue } from '../../core/map/pack-map.js';
import { emptyMapRoot, MemoryMapStore, proveMap, updateMap, verifyMapAbsence, verifyMapValue } from '../../core/map/smt.js';
import { expectCode } from '../support/expect-code.js';
import { gtin14, x20 } from '../support/gs1-arbitraries.js';

installNodeCrypto();

const nodeSha = (...parts: (string | Uint8Array | number[])[]): Uint8Array => {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p as Uint8Array));
  return new Uint8Array(h.digest());
};

const LAST = lastEntryFromHex('ab'.repeat(32));
const pack: PackMapValue = { state: 'dispensed', lot: 'L-42', expiry: '281231', maker: '4000001000005', lastEntry: LAST };

describe('keys and values', () => {
  it('keys: domain, GTIN-14, length-prefixed serial or lot', () => {
    expect(packMapKey('04012345678901', 'SN1')).toEqual(nodeSha('medtrail/map/pack-key/v1', [0], '04012345678901', [3], 'SN1'));
    expect(lotMapKey('04012345678901', 'L-42')).toEqual(nodeSha('medtrail/map/lot-key/v1', [0], '04012345678901', [4], 'L-42'));
    // A GTIN-13 names the same pack as its GTIN-14.
    expect(packMapKey('4012345678901', 'SN1')).toEqual(packMapKey('04012345678901', 'SN1'));
    // The same characters as a serial and as a lot give different keys.
    expect(equalBytes(packMapKey('04012345678901', 'X'), lotMapKey('04012345678901', 'X'))).toBe(false);
    expectCode(() => packMapKey('04012345678902', 'SN1'), 'GS1_BAD_CHECK_DIGIT');
    expectCode(() => packMapKey('04012345678901', 'bad serial'), 'GS1_BAD_SERIAL');
  });

  it('values: canonical bytes hashed under their own domain', () => {
    const bytes = [9, ...Buffer.from('dispensed'), 4, ...Buffer.from('L-42'), ...Buffer.from('281231'), ...Buffer.from('4000001000005'), ...LAST];
    expect(Array.from(encodePackValue(pack))).toEqual(bytes);
    expect(packValueHash(pack)).toEqual(nodeSha('medtrail/map/pack-value/v1', [0], bytes));
    expect(lotValueHash({ state: 'recalled', lastEntry: LAST })).toEqual(nodeSha('medtrail/map/lot-value/v1', [0], [8], 'recalled', LAST));
    // Every field matters.
    for (const v of [{ state: 'active' }, { lot: 'L-43' }, { expiry: '281130' }, { maker: '4000001000012' }, { lastEntry: sha256(LAST) }]) {
      expect(equalBytes(packValueHash({ ...pack, ...v }), packValueHash(pack))).toBe(false);
    }
    const e = expectCode(() => encodePackValue({ state: 'Dispensed!', lot: '', expiry: '2812', maker: '4000001000006', lastEntry: new Uint8Array(31) }), 'MAP_VALUE_MALFORMED');
    expect(e.fields?.map((f) => f.path)).toEqual(['state', 'lot', 'expiry', 'maker', 'lastEntry']);
  });

  it('distinct packs get distinct keys (random GTINs and serials)', () => {
    fc.assert(
      fc.property(gtin14, x20, x20, (g, a, b) => {
        fc.pre(a !== b);
        expect(equalBytes(packMapKey(g, a), packMapKey(g, b))).toBe(false);
      }),
      { numRuns: 200 },
    );
  });

  it('a recall is one leaf of the lot map however many packs the lot holds; pack values do not move', () => {
    const packs = new MemoryMapStore();
    const packChanges = Array.from({ length: 2000 }, (_, i) => ({ key: packMapKey('04012345678901', `S${i}`), value: packValueHash({ ...pack, state: 'active' }) }));
    const packRoot = updateMap(packs, packChanges).root;
    const lots = new MemoryMapStore();
    const before = lots.size;
    const r = updateMap(lots, [{ key: lotMapKey('04012345678901', 'L-42'), value: lotValueHash({ state: 'recalled', lastEntry: LAST }) }]);
    expect(r.writes).toBe(1);
    expect(lots.size).toBe(before + 1);
    verifyMapValue(r.root, lotMapKey('04012345678901', 'L-42'), lotValueHash({ state: 'recalled', lastEntry: LAST }), proveMap(lots, lotMapKey('04012345678901', 'L-42')));
    verifyMapAbsence(r.root, lotMapKey('04012345678901', 'L-43'), proveMap(lots, lotMapKey('04012345678901', 'L-43')));
    expect(proveMap(packs, packChanges[0]!.key).length).toBeLessThan(3 + 2 + 32 * 16 + 32);
    verifyMapValue(packRoot, packChanges[7]!.key, packChanges[7]!.value, proveMap(packs, packChanges[7]!.key));
  });
});

describe('the medtrail-map extension line', () => {
  const seed = sha256(new TextEncoder().encode('map extension test key'));
  const NAME = 'medtrail.example/log';
  const VKEY = verifierKey(NAME, publicKeyFromSeed(seed));
  const roots = { packs: sha256(new Uint8Array([1])), lots: emptyMapRoot() };

  it('formats and parses one line', () => {
    const line = mapExtensionLine(roots);
    expect(line).toBe(`medtrail-map ${toBase64(roots.packs)} ${toBase64(roots.lots)}`);
    expect(parseMapExtensionLine(line)).toEqual(roots);
    for (const bad of ['medtrail-map', `medtrail-map ${toBase64(roots.packs)}`, `medtrail-map  ${toBase64(roots.packs)} ${toBase64(roots.lots)}`, `medtrail-map ${toBase64(roots.packs)} AAAA`, `medtrail-map ${toBase64(roots.packs)} ${toBase64(roots.lots)} x`]) {
      expectCode(() => parseMapExtensionLine(bad), 'MAP_EXTENSION_MALFORMED');
    }
  });

  it('rides through signing and opening; other extension lines are kept in order', () => {
    const cp = withMapRoots({ origin: NAME, size: 10, root: sha256(new Uint8Array([2])), extensions: ['other ext'] }, roots);
    expect(cp.extensions).toEqual(['other ext', mapExtensionLine(roots)]);
    const note = signCheckpoint(cp, NAME, seed);
    const opened = openCheckpoint(note, VKEY);
    expect(opened.extensions).toEqual(['other ext', mapExtensionLine(roots)]);
    expect(readMapRoots(opened)).toEqual(roots);
    expect(parseCheckpointBody(checkpointBody(cp))).toEqual(cp);
    // Replacing keeps one line.
    const again = withMapRoots(opened, { packs: roots.lots, lots: roots.packs });
    expect(again.extensions.filter((l) => l.startsWith('medtrail-map'))).toHaveLength(1);
    expect(readMapRoots({ ...cp, extensions: [] })).toBeUndefined();
    expectCode(() => requireMapRoots({ ...cp, extensions: [] }), 'MAP_EXTENSION_MALFORMED');
    expectCode(() => readMapRoots({ ...cp, extensions: [mapExtensionLine(roots), mapExtensionLine(roots)] }), 'MAP_EXTENSION_MALFORMED');
    // The log's signature covers the line: another root in it breaks the signature.
    const forged = note.replace(toBase64(roots.packs), toBase64(sha256(new Uint8Array([3]))));
    expectCode(() => openCheckpoint(forged, VKEY), 'CHECKPOINT_BAD_SIGNATURE');
  });
});

