// The server side of signed requests (core/api/request-auth.ts; docs/architecture.md, Signed requests): who
// is asking, proven. One instance per ledger (custody/services.ts makes it), so that every route shares one
// replay set: a request signed for one route cannot be replayed on another either. A request without the
// headers is anonymous (the patient); one with them must be complete, fresh (within 5 minutes), signed by an
// enrolled participant whose key is not revoked, and not seen before (a captured request cannot be replayed
// within its window, e.g. to scan "as the pharmacy" twice).
import type { IncomingHttpHeaders } from 'node:http';
import { MedtrailError } from '../../core/errors.js';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { checkRequestTime, MAX_REQUEST_SKEW_MS, parseAuthHeaders, parseRequestTime, verifyRequest } from '../../core/api/request-auth.js';
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

export interface RequestAuthOptions {
  /**
   * Where the replay set survives a restart (`<db>.replay.json`): written at a clean stop, read and removed at
   * start. Without it (an in-memory ledger) the set lives as long as the process.
   */
  stateFile?: string | undefined;
  now?: () => number;
}

export class RequestAuth {
  // Signatures accepted within the last window, with when they stop mattering (insertion order = time order).
  private readonly seen = new Map<string, number>();
  private readonly now: () => number;
  private readonly stateFile: string | undefined;
  /**
   * Requests signed before this moment are refused: after an unclean stop the replay set of before the start is
   * lost, so a request captured then could otherwise be replayed within its 5-minute window. A clean stop
   * carries the set over instead, and nothing is refused.
   */
  private readonly notBefore: number;

  constructor(
    private readonly keys: KeyBook,
    o: RequestAuthOptions = {},
  ) {
    this.now = o.now ?? Date.now;
    this.stateFile = o.stateFile;
    this.notBefore = this.stateFile === undefined || this.load(this.stateFile) ? -Infinity : this.now();
  }

  /** Reads (and removes) the replay set a clean stop left; false when there is none. */
  private load(path: string): boolean {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return false;
    }
    rmSync(path, { force: true });
    let entries: unknown;
    try {
      entries = JSON.parse(text);
    } catch {
      return false;
    }
    if (!Array.isArray(entries)) return false;
    const now = this.now();
    for (const e of entries) {
      if (Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number' && e[1] > now) this.seen.set(e[0], e[1]);
    }
    return true;
  }

  /** Writes the replay set for the next start (a clean stop), atomically. */
  persist(): void {
    if (this.stateFile === undefined) return;
    this.prune(this.now());
    const tmp = `${this.stateFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify([...this.seen]));
    renameSync(tmp, this.stateFile);
  }

  /** The signer's key record, or undefined for an anonymous request; coded AUTH_* errors otherwise. */
  authenticate(req: AuthRequest): KeyRecord | undefined {
    const auth = parseAuthHeaders((name) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(',') : v;
    });
    if (auth === undefined) return undefined;
    const now = this.now();
    checkRequestTime(auth.at, now);
    if (parseRequestTime(auth.at) < this.notBefore) {
      throw new MedtrailError('AUTH_REPLAYED', 'this request was signed before the server (re)started after an unclean stop, so it may be a replay; sign a new one');
    }
    const rec = this.keys.get(auth.signer);
    if (rec === undefined || rec.role === 'authority') throw new MedtrailError('AUTH_SIGNER_UNKNOWN', `${auth.signer} is not an enrolled participant`);
    if (rec.revoked) throw new MedtrailError('AUTH_KEY_REVOKED', `the key of ${auth.signer} is revoked`);
    const raw = req.rawBody;
    const body = raw === undefined ? new Uint8Array(0) : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
    if (!verifyRequest({ log: this.keys.origin, method: req.method, path: req.originalUrl, body }, auth, rec.publicKey)) {
      throw new MedtrailError('AUTH_BAD_SIGNATURE', `the request signature does not verify with the key of ${auth.signer} for the log ${this.keys.origin}`);
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
