// The log's public routes, in the fixed shapes of docs/architecture.md (The wire), so that any client in any
// language can check the ledger: the checkpoint, the verifier key, inclusion and consistency proofs. The leaves
// themselves name trading partners and serials: GET /log/entries is a signed read of the custody module
// (server/custody/routes.ts).
import { Router } from 'express';
import { toHex } from '../../core/bytes.js';
import type { LogService } from '../log/log-service.js';
import { intParams } from './params.js';

export function logRoutes(log: LogService): Router {
  const r = Router();

  r.get('/checkpoint', (_req, res) => {
    res.type('text/plain; charset=utf-8').setHeader('Cache-Control', 'no-store');
    res.send(log.checkpoint().note);
  });

  r.get('/log/key', (_req, res) => {
    res.type('text/plain; charset=utf-8').send(`${log.verifierKey}\n`);
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
