// Per-client rate limits on the public routes (verify, pack reads, reports, the Digital Link pages): a token
// bucket per client address. Each client may burst up to `burst` requests, then `perSecond` a second; beyond
// that it gets 429 RATE_LIMITED with Retry-After (whole seconds until one token is back). Participants'
// writes and the log's routes are not limited here: a write is signed (its cost falls on an enrolled party)
// and mirrors must be able to copy the log.
//
// Memory is bounded: at most `maxClients` buckets; when full, buckets that have refilled completely (an idle
// client, indistinguishable from a new one) are dropped first, and if none has, the oldest is. A flood of
// spoofed addresses therefore costs a fixed amount of memory, never more.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { MedtrailError } from '../../core/errors.js';
import { sendError } from './errors.js';

export interface RateLimitOptions {
  /** Sustained requests per second per client. */
  perSecond: number;
  /** Requests a client may make at once before the sustained rate applies (default 2 x perSecond). */
  burst?: number;
  /** Most clients tracked at once (default 50,000). */
  maxClients?: number;
}

/**
 * The default is high on purpose: above what one 2-core server answers, so that benchmarks and a busy
 * pharmacy chain behind one address are not throttled; a deployment facing the internet sets its own
 * (`MEDTRAIL_RATE_LIMIT=<perSecond>[,<burst>]`, or `off`).
 */
export const DEFAULT_RATE_LIMIT: RateLimitOptions = { perSecond: 5000, burst: 10000 };

interface Bucket {
  tokens: number;
  at: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  readonly perSecond: number;
  readonly burst: number;
  private readonly maxClients: number;

  constructor(o: RateLimitOptions) {
    if (!(o.perSecond > 0) || !Number.isFinite(o.perSecond)) throw new MedtrailError('BAD_INPUT', 'rate limit must be a positive number per second');
    this.perSecond = o.perSecond;
    this.burst = Math.max(1, o.burst ?? 2 * o.perSecond);
    this.maxClients = Math.max(1, o.maxClients ?? 50_000);
  }

  /** Takes one token for `client`: 0 when allowed, else the seconds until a token is back (>= 1). */
  take(client: string, now = Date.now()): number {
    let b = this.buckets.get(client);
    if (b === undefined) {
      if (this.buckets.size >= this.maxClients) this.evict(now);
      b = { tokens: this.burst, at: now };
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
      b.at = now;
      this.buckets.delete(client); // re-inserted below: Map order is then least recently seen first
    }
    this.buckets.set(client, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond));
  }

  size(): number {
    return this.buckets.size;
  }

  private evict(now: number): void {
    for (const [k, b] of this.buckets) {
      if (b.tokens + ((now - b.at) / 1000) * this.perSecond >= this.burst) this.buckets.delete(k);
    }
    if (this.buckets.size >= this.maxClients) {
      const oldest = this.buckets.keys().next();
      if (oldest.done !== true) this.buckets.delete(oldest.value);
    }
  }
}

/** The public routes the limit applies to (method and path as express sees them at the app's root). */
export function isPublicRoute(method: string, rawPath: string): boolean {
  // Express matches routes without regard to case: /API/V1/PACKS/... reaches the same handler, so it must
  // spend the same budget (a limit keyed on the exact spelling was bypassed by changing case).
  const path = rawPath.toLowerCase();
  if (path === '/api/v1/verify' || path === '/api/v1/reports' || path === '/api/v1/rx/view') return true;
  if (method !== 'GET' && method !== 'HEAD') return false;
  return path.startsWith('/api/v1/packs/') || path === '/api/v1/epcis/events' || path.startsWith('/01/') || path.startsWith('/rx/') || path === '/' || path === '/check';
}

/** Parses `MEDTRAIL_RATE_LIMIT`: `off`, `<perSecond>` or `<perSecond>,<burst>`; undefined leaves the default. */
export function rateLimitFromEnv(v: string | undefined): RateLimitOptions | false | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  if (v.trim() === 'off') return false;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(?:,\s*([0-9]+)\s*)?$/.exec(v);
  if (m === null || Number(m[1]) <= 0) throw new MedtrailError('CLI_USAGE', `MEDTRAIL_RATE_LIMIT must be "off", "<perSecond>" or "<perSecond>,<burst>", got ${v}`);
  return { perSecond: Number(m[1]), ...(m[2] !== undefined ? { burst: Number(m[2]) } : {}) };
}

/** Takes a token for the request's client: true when allowed, else it answered 429 with Retry-After. */
export function allowed(buckets: TokenBuckets, req: IncomingMessage, res: ServerResponse): boolean {
  const wait = buckets.take(req.socket.remoteAddress ?? 'unknown');
  if (wait === 0) return true;
  res.setHeader('Retry-After', String(wait));
  sendError(res, new MedtrailError('RATE_LIMITED', `more than ${buckets.perSecond} requests a second from this client; retry in ${wait} s`));
  return false;
}

/** Express middleware: 429 RATE_LIMITED with Retry-After for a client over its limit on a public route. */
export function rateLimit(buckets: TokenBuckets): RequestHandler {
  return (req, res, next) => {
    if (!isPublicRoute(req.method, req.path) || allowed(buckets, req, res)) next();
  };
}
