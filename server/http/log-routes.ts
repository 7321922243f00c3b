// The log's public routes, in the fixed shapes of docs/architecture.md (The wire), so that any client in any
// language can check the ledger: the checkpoint, the verifier key, inclusion and consistency proofs, and the
// tree as c2sp.org/tlog-tiles hash tiles (the checkpoint's prefix is /api/v1). The leaves
// themselves name trading partners and serials: GET /log/entries is a signed read of the custody module
// (server/custody/routes.ts).
import { Router } from 'express';
import { toHex } from '../../core/bytes.js';
import type { LogService } from '../log/log-service.js';
import { intParams } from './params.js';
import { MedtrailError } from '../../core/errors.js';
import { parseTilePath, tileExists, tilePath, TILE_HEIGHT, TILE_WIDTH } from '../../core/log/tiles.js';

export function logRoutes(log: LogService): Router {
  const r = Router();

  r.get('/checkpoint', async (_req, res) => {
    res.type('text/plain; charset=utf-8').setHeader('Cache-Control', 'no-store');
    res.send((await log.servedFresh()).note);
  });

  r.get('/log/key', (_req, res) => {
    res.type('text/plain; charset=utf-8').send(`${log.verifierKey}\n`);
  });

  // c2sp.org/tlog-tiles hash tiles under the same prefix as the checkpoint (core/log/tiles.ts): public, as the
  // proofs are; immutable once served, so any web server or cache can hold them.
  r.get(/^\/tile\/([0-9]+)\/(.+)$/, (req, res) => {
    const m = /^\/tile\/([0-9]+)\/(.+)$/.exec(req.path)!;
    const t = parseTilePath(`${m[1]}/${m[2]}`);
    const level = t.level === 'entries' ? 0 : t.level;
    if (!tileExists(log.size(), t)) throw new MedtrailError('NOT_FOUND', `the log holds no tile ${tilePath(t)}`);
    const out = Buffer.alloc(t.width * 32);
    for (let i = 0; i < t.width; i++) out.set(log.store.perfectHash(TILE_HEIGHT * level, t.index * TILE_WIDTH + i), i * 32);
    res.type('application/octet-stream').setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.send(out);
  });

  r.get('/log/proof/inclusion', (req, res) => {
    const { index, size } = intParams(req, ['index', 'size'] as const);
    const p = log.inclusion(index, size);
    res.json({ index, size, leafHash: toHex(p.leafHash), proof: p.proof.map(toHex) });
  });

  r.get('/log/proof/consistency', (req, res) => {
    const { from, to } = intParams(req, ['from', 'to'] as const);
    res.json({ from, to, proof: log.consistency(from, to).map(toHex) });
  });

  return r;
}
