// The mirror's own routes, mounted ahead of the operator's modules (server/server.ts ServiceModule):
//   POST /entries   refused with MIRROR_READ_ONLY (405): entries are written to the operator, whose log the
//                   mirror copies; the answer names it
//   GET  /mirror    what the mirror stands on: the log, the operator it follows, its newest verified checkpoint,
//                   and the divergence evidence once it was caught (then `diverged` is not null)
// Everything else (verify, packs, proofs, the patient page) is answered by the operator's own modules over the
// mirror's ledger (cli/operator/mirror.ts).
import { Router } from 'express';
import { MedtrailError } from '../../core/errors.js';
import type { ServiceModule } from '../server.js';
import type { Follower } from './follower.js';

export function mirrorModule(from: string, follower: () => Follower | undefined): ServiceModule {
  return {
    api: (ledger) => {
      const r = Router();
      r.post(['/entries', '/entries/'], () => {
        throw new MedtrailError('MIRROR_READ_ONLY', `this server is a mirror of ${from}: send entries to the operator there`);
      });
      r.get('/mirror', (_req, res) => {
        const f = follower();
        const cp = ledger.store.latestCheckpoint();
        res.setHeader('Cache-Control', 'no-store');
        res.json({
          mirrorOf: from,
          log: ledger.log.verifierKey,
          size: cp?.size ?? null,
          checkpoint: cp?.note ?? null,
          following: f !== undefined && f.diverged === undefined,
          diverged: f?.diverged ?? null,
        });
      });
      return [r];
    },
  };
}
