// The mirror's own routes, mounted ahead of the operator's modules (server/server.ts ServiceModule):
//   POST /entries, /tags/keys, /reports   the writes: refused with MIRROR_READ_ONLY (405), the answer naming the
//                   operator; or, with `medtrail mirror --forward`, forwarded to the operator (below)
//   GET  /mirror    what the mirror stands on: the log, the operator it follows, its newest verified checkpoint,
//                   and the divergence evidence once it was caught (then `diverged` is not null)
// Everything else (verify, packs, proofs, the patient page) is answered by the operator's own modules over the
// mirror's ledger (cli/operator/mirror.ts).
//
// Forwarding (docs/architecture.md, Mirrors: Forwarded writes): the exact body bytes the mirror read and the
// request-signature headers go to the same path on the operator, unchanged (an entry signs its own bytes, a
// signed request signs method, path and the body's SHA-256: core/api/request-auth.ts), so the operator checks
// them as if they had been sent to it; the mirror checks nothing of them and writes nothing of them. The
// operator's answer comes back with its status and body, with `forwardedTo` added to a JSON object answer and a
// `Medtrail-Forwarded-To` header. An operator that cannot be reached (refused, reset, silent past the timeout)
// is OPERATOR_UNREACHABLE (503): nothing was written anywhere the mirror knows of; the client tries again. What
// the mirror then serves of the write is what it follows of the operator's log, once verified.
import { Router, type Request, type Response } from 'express';
import { MedtrailError } from '../../core/errors.js';
import { isJsonObject } from '../../core/api/wire.js';
import { serverBase } from '../../core/api/request-auth.js';
import type { ServiceModule } from '../server.js';
import type { Follower } from './follower.js';

/** The writes of the API (under /api/v1): entries, a tag's key, a patient's report. */
export const WRITE_ROUTES = ['/entries', '/entries/', '/tags/keys', '/reports'];

/** How long the operator has to answer a forwarded write (an entry of 200,000 packs takes a few seconds). */
export const FORWARD_TIMEOUT_MS = 30_000;

/** Request headers that travel with a forwarded write: the body's type and the request signature. */
function forwardedHeaders(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (typeof v !== 'string') continue;
    if (k === 'content-type' || k === 'accept' || k.startsWith('x-medtrail-')) out[k] = v;
  }
  return out;
}

async function forward(from: string, timeoutMs: number, req: Request, res: Response): Promise<void> {
  const raw = req.rawBody;
  if (raw === undefined && req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') {
    throw new MedtrailError('BAD_INPUT', 'a write is a JSON body (Content-Type: application/json)');
  }
  const target = `${serverBase(from).base}${req.originalUrl}`;
  let status: number;
  let text: string;
  let type: string;
  try {
    const r = await fetch(target, { method: 'POST', headers: forwardedHeaders(req), ...(raw !== undefined ? { body: raw } : {}), signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
    status = r.status;
    text = await r.text();
    type = r.headers.get('content-type') ?? '';
  } catch (e) {
    throw new MedtrailError('OPERATOR_UNREACHABLE', `this mirror forwards writes to ${from}, which cannot be reached now: nothing was written; try again`, { cause: e });
  }
  res.setHeader('Medtrail-Forwarded-To', from);
  res.setHeader('Cache-Control', 'no-store');
  let body: unknown;
  try {
    body = type.startsWith('application/json') ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (isJsonObject(body)) {
    res.status(status).json({ ...body, forwardedTo: from });
    return;
  }
  res.status(status);
  if (type !== '') res.type(type);
  res.send(text);
}

export interface MirrorModuleOptions {
  /** Forward writes to the operator (`medtrail mirror --forward`) instead of refusing them. */
  forward?: boolean;
  forwardTimeoutMs?: number;
}

export function mirrorModule(from: string, follower: () => Follower | undefined, o: MirrorModuleOptions = {}): ServiceModule {
  return {
    api: (ledger) => {
      const r = Router();
      r.post(WRITE_ROUTES, async (req, res) => {
        if (o.forward !== true) {
          throw new MedtrailError('MIRROR_READ_ONLY', `this server is a mirror of ${from}: send writes to the operator there (or run the mirror with --forward)`);
        }
        await forward(from, o.forwardTimeoutMs ?? FORWARD_TIMEOUT_MS, req, res);
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
          forwardsWrites: o.forward === true,
          diverged: f?.diverged ?? null,
        });
      });
      return [r];
    },
  };
}
