// The server side of signed requests (core/api/request-auth.ts; docs/architecture.md, Signed requests): who
// is asking, proven. One instance per ledger (custody/services.ts makes it), so that every route shares one
// replay set: a request signed for one route cannot be replayed on another either. A request without the
// headers is anonymous (the patient); one with them must be complete, fresh (within 5 minutes), signed by an
// enrolled participant whose key is not revoked, and not seen before (a captured request cannot be replayed
// within its window, e.g. to scan "as the pharmacy" twice).
import type { IncomingHttpHeaders } from 'node:http';
import { MedtrailError } from '../../core/errors.js';
import { checkRequestTime, MAX_REQUEST_SKEW_MS, parseAuthHeaders, verifyRequest } from '../../core/api/request-auth.js';
import type { KeyBook, KeyRecord } from '../log/keybook.js';

const MAX_SEEN = 100_000;

/** What authentication reads of a request: an express Request or a fast-path request (http/fast-path.ts). */
export interface AuthRequest {
  method: string;
  /** The path and query as sent. */
  originalUrl: string;
  headers: IncomingHttpHeaders;
  /** The exact body bytes (kept by the JSON readers). */
  rawBody?: Buffer | undefined;
}

export class RequestAuth {
  // Signatures accepted within the last window, with when they stop mattering (insertion order = time order).
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly keys: KeyBook,
    private readonly now: () => number = Date.now,
  ) {}

  /** The signer's key record, or undefined for an anonymous request; coded AUTH_* errors otherwise. */
  authenticate(req: AuthRequest): KeyRecord | undefined {
    const auth = parseAuthHeaders((name) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(',') : v;
    });
    if (auth === undefined) return undefined;
    const now = this.now();
    checkRequestTime(auth.at, now);
    const rec = this.keys.get(auth.signer);
    if (rec === undefined || rec.role === 'authority') throw new MedtrailError('AUTH_SIGNER_UNKNOWN', `${auth.signer} is not an enrolled participant`);
    if (rec.revoked) throw new MedtrailError('AUTH_KEY_REVOKED', `the key of ${auth.signer} is revoked`);
    const raw = req.rawBody;
    const body = raw === undefined ? new Uint8Array(0) : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    if (!verifyRequest({ method: req.method, path: req.originalUrl, body }, auth, rec.publicKey)) {
      throw new MedtrailError('AUTH_BAD_SIGNATURE', `the request signature does not verify with the key of ${auth.signer}`);
    }
    const id = Buffer.from(auth.signature).toString('base64');
    this.prune(now);
    if (this.seen.has(id)) throw new MedtrailError('AUTH_REPLAYED', 'this signed request was already used; sign a new one');
    if (this.seen.size >= MAX_SEEN) {
      const oldest = this.seen.keys().next();
      if (oldest.done !== true) this.seen.delete(oldest.value);
    }
    this.seen.set(id, now + 2 * MAX_REQUEST_SKEW_MS);
    return rec;
  }

  /** The request must be signed by `gln` itself or by a regulator (stock, shipments of a party). */
  requireParty(req: AuthRequest, gln: string): KeyRecord {
    const who = this.authenticate(req);
    if (who === undefined) throw new MedtrailError('AUTH_REQUIRED', 'sign this request as the party it is about (or as a regulator)');
    if (who.gln !== gln && who.role !== 'regulator') throw new MedtrailError('AUTH_NOT_PARTY', `${who.gln} may not read the stock or shipments of ${gln}`);
    return who;
  }

  /** The request must be signed by a participant whose role is one of `roles`; `what` names the read. */
  requireRole(req: AuthRequest, roles: readonly string[], what: string): KeyRecord {
    const who = this.authenticate(req);
    if (who === undefined) throw new MedtrailError('AUTH_REQUIRED', `${what} is answered only to a signed request`);
    if (!roles.includes(who.role)) throw new MedtrailError('ROLE_NOT_ALLOWED', `only a ${roles.join(' or ')} may read ${what}`);
    return who;
  }

  private prune(now: number): void {
    for (const [k, until] of this.seen) {
      if (until > now) break;
      this.seen.delete(k);
    }
  }
}
