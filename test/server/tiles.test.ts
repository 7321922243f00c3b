// c2sp.org/tlog-tiles (core/log/tiles.ts, the /api/v1/tile routes): the specification's own examples, and an
// independent client that rebuilds the tree from the tiles a real server serves, checks its root against the
// signed checkpoint, and the entries of a bundle against the level-0 tile.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../core/log/checkpoint.js';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { signRequest } from '../../core/api/request-auth.js';
import { decodeEntryBundle, encodeTileIndex, parseTilePath, tilePath, tilesOf } from '../../core/log/tiles.js';
import { serviceModules } from '../../server/modules.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { toAppendInput } from '../../server/log/ingest.js';
import { admit, makeLedger, participantKey, TEST_ORIGIN, type TestLedger } from '../support/ledger.js';

const sha = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
/** RFC 6962 MTH over leaf hashes, written plainly (not core/log/merkle.ts). */
function mth(hashes: Buffer[]): Buffer {
  if (hashes.length === 1) return hashes[0]!;
  let k = 1;
  while (k * 2 < hashes.length) k *= 2;
  return sha(Buffer.from([1]), mth(hashes.slice(0, k)), mth(hashes.slice(k)));
}

describe('tlog-tiles, as the specification writes it', () => {
  it('encodes index 1234067 as x001/x234/067, and reads back only that spelling', () => {
    expect(encodeTileIndex(1234067)).toBe('x001/x234/067');
    expect(encodeTileIndex(5)).toBe('005');
    expect(parseTilePath('0/x001/x234/067')).toEqual({ level: 0, index: 1234067, width: 256 });
    expect(parseTilePath('entries/x001/234.p/17')).toEqual({ level: 'entries', index: 1234, width: 17 });
    for (const bad of ['00/000', '64/000', '0/5', '0/x000/005', '0/000.p/0', '0/000.p/256', '0/000.p/017', '0/001/002', 'x/000']) {
      expect(() => parseTilePath(bad), bad).toThrow(/tile path/);
    }
  });

  it('a tree of 70,000 is 273 full level-0 tiles, a partial of 112, one full level-1 tile, a partial of 17, and a level-2 partial of 1', () => {
    const t = tilesOf(70_000);
    expect(t.filter((x) => x.level === 0 && x.width === 256)).toHaveLength(273);
    expect(t.filter((x) => x.width !== 256).map(tilePath)).toEqual(['tile/0/273.p/112', 'tile/1/001.p/17', 'tile/2/000.p/1']);
    expect(t.filter((x) => x.level === 1 && x.width === 256)).toHaveLength(1);
    // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1 tile of width 1"
    expect(tilesOf(256).map(tilePath)).toEqual(['tile/0/000', 'tile/1/000.p/1']);
  });
});

describe('tiles served by a real server', () => {
  let t: TestLedger;
  let s: RunningServer;
  const reader = participantKey(2);
  const SIZE = 600;
  beforeAll(async () => {
    t = makeLedger();
    const fill = await startServer({ db: t.db, port: 0 });
    fill.ledger.log.append([reader, ...Array.from({ length: SIZE - 1 }, (_, i) => participantKey(i + 3))].map((k) => toAppendInput(admit(t.authority, k))));
    fill.ledger.log.signNow();
    await fill.close();
    s = await startServer({ db: t.db, port: 0, modules: serviceModules() });
  });
  afterAll(async () => {
    await s?.close();
    t?.cleanup();
  });
  const get = (path: string, signed = false): Promise<Response> =>
    fetch(`${s.url}/api/v1/${path}`, { headers: signed ? { ...signRequest({ log: TEST_ORIGIN, method: 'GET', path: `/api/v1/${path}` }, reader.gln, keyFileSeed(reader)) } : {} });

  it('rebuilds the signed checkpoint root from the hash tiles alone, each level-1 hash the root of a full level-0 tile', async () => {
    const vkey = (await (await get('log/key')).text()).trim();
    const cp = openCheckpoint(await (await get('checkpoint')).text(), vkey);
    expect(cp.size).toBe(SIZE);
    const leaves: Buffer[] = [];
    const level1: Buffer[] = [];
    for (const tile of tilesOf(cp.size)) {
      const r = await get(tilePath(tile));
      expect(r.status, tilePath(tile)).toBe(200);
      expect(r.headers.get('content-type')).toBe('application/octet-stream');
      const body = Buffer.from(await r.arrayBuffer());
      expect(body.length).toBe(tile.width * 32);
      const hashes = Array.from({ length: tile.width }, (_, i) => body.subarray(i * 32, i * 32 + 32));
      if (tile.level === 0) leaves.push(...hashes);
      else level1.push(...hashes);
    }
    expect(leaves).toHaveLength(SIZE);
    expect(mth(leaves).equals(Buffer.from(cp.root))).toBe(true);
    expect(level1.map((h) => h.toString('hex'))).toEqual([0, 1].map((n) => mth(leaves.slice(n * 256, n * 256 + 256)).toString('hex')));
  });

  it('serves no tile the tree does not hold, and no partial tile of a completed one', async () => {
    for (const p of ['tile/0/003', 'tile/0/002.p/89', 'tile/0/000.p/5', 'tile/1/000', 'tile/2/000.p/1', 'tile/0/x001/000']) {
      const r = await get(p);
      expect([p, r.status]).toEqual([p, 404]);
    }
    expect((await get('tile/0/002.p/88')).status).toBe(200);
    expect((await get('tile/0/002.p/40')).status).toBe(200);
    expect((await get('tile/00/000')).status).toBe(400);
  });

  it('entry bundles go to enrolled participants only, and their entries hash to the level-0 tile', async () => {
    const anon = await get('tile/entries/001');
    expect(anon.status).toBe(401);
    const r = await get('tile/entries/001', true);
    expect(r.status).toBe(200);
    const entries = decodeEntryBundle(new Uint8Array(await r.arrayBuffer()));
    expect(entries).toHaveLength(256);
    const tile = Buffer.from(await (await get('tile/0/001')).arrayBuffer());
    entries.forEach((e, i) => expect(sha(Buffer.from([0]), Buffer.from(e)).equals(tile.subarray(i * 32, i * 32 + 32))).toBe(true));
  });
});
