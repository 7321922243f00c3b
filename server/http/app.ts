// The HTTP application: a thin layer. Handlers parse, call a service, map the result. Bodies have
// a size limit; when the server cannot answer promptly (too many requests in flight, or its event loop running
// late) it sheds load with 503 and Retry-After rather than slowing every request down (shedder.ts).
import type { RequestListener, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { OPENAPI } from './openapi.js';
import express, { type Express, type RequestHandler, type Router } from 'express';
import { MedtrailError } from '../../core/errors.js';
import type { LogService } from '../log/log-service.js';
import { errorHandler, sendError } from './errors.js';
import { jsonBodies } from './json-body.js';
import { logRoutes } from './log-routes.js';
import { fastPath, type FastRoute } from './fast-path.js';
import { loadShedder } from './shedder.js';
import { loopStats } from './loop-stats.js';
import { allowed, DEFAULT_RATE_LIMIT, rateLimit, TokenBuckets, type RateLimitOptions } from './rate-limit.js';

// The exact bytes of a JSON body, kept by jsonBodies (json-body.ts) for request signatures (http/auth.ts).
declare module 'node:http' {
  interface IncomingMessage {
    rawBody?: Buffer | undefined;
  }
}

export interface AppOptions {
  log: LogService;
  /** Largest body of POST /api/v1/entries (default MAX_ENTRIES_BODY: a 200,000-pack entry lists its packs). */
  entriesLimit?: number;
  /** Largest JSON body of every other route under /api/v1 (default MAX_JSON_BODY). */
  jsonLimit?: number;
  /** Requests in flight beyond which new ones get 503 (default 256). */
  maxInFlight?: number;
  /** Event-loop lag (ms) beyond which new requests get 503 (shedder.ts; default 0: off). */
  maxLagMs?: number;
  /** Requests in flight from one client beyond which its new ones get 429 (default 32). */
  maxPerClient?: number;
  /** Take queued new connections ahead of connected clients (accept-watch.ts; default: on with lag shedding). */
  watchAccepts?: boolean;
  /** Per-client limit on the public routes (rate-limit.ts; default DEFAULT_RATE_LIMIT); false turns it off. */
  rateLimit?: RateLimitOptions | false;
  /** Routes answered ahead of express, with the same guards (fast-path.ts): POST /api/v1/verify. */
  fastRoutes?: FastRoute[];
  /** Extra routers under /api/v1 (custody, verify, ...). */
  apiRouters?: Router[];
  /** Extra routers at the root (pages, Digital Link resolver). */
  rootRouters?: Router[];
  /** Bodies of POST /entries over this many bytes are read in the entry-check worker (default ENTRY_INLINE_BYTES). */
  entryInlineBytes?: number;
  /** Serve GET /debug/loop, the event loop's longest hold since the last read (loop-stats.ts; benchmarks only). */
  loopStats?: boolean;
}

function setSecurityHeaders(res: ServerResponse): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
}

function securityHeaders(): RequestHandler {
  return (_req, res, next) => {
    setSecurityHeaders(res);
    next();
  };
}

/** Largest body of POST /api/v1/entries: 16 MiB, the largest entry (core/entry/entry.ts MAX_ENTRY_BYTES). */
export const MAX_ENTRIES_BODY = 16 * 1024 * 1024;
/** Largest JSON body of any other route (reports, tag keys, signed reads): none needs more than a few KiB. */
export const MAX_JSON_BODY = 1024 * 1024;
/**
 * Bodies of POST /api/v1/entries larger than this are parsed and checked in the entry-check worker
 * (server/custody/entry-checker.ts), not on the event loop: at about 4 ms per MB for the JSON alone (and
 * as much again to canonicalise and verify), 64 KiB stays well under a millisecond.
 */
export const ENTRY_INLINE_BYTES = 64 * 1024;

/** POST /entries under /api/v1 as express routes it (any case, one trailing slash allowed). */
function isEntriesPost(method: string | undefined, path: string): boolean {
  if (method !== 'POST') return false;
  const p = path.toLowerCase();
  return p === '/entries' || p === '/entries/';
}

export interface App {
  /** The express application (every route but the fast ones). */
  app: Express;
  /** What the HTTP server calls: the fast routes, then express. */
  listener: RequestListener;
  /** The HTTP server calls this on every accepted connection (the shedder watches the accept queue). */
  accepted(socket: Socket): void;
  /** Stops the shedder's lag probe (the server closes). */
  stop(): void;
}

export function createApp(opts: AppOptions): App {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(securityHeaders());
  const shed = loadShedder({
    ...(opts.maxInFlight !== undefined ? { maxInFlight: opts.maxInFlight } : {}),
    ...(opts.maxLagMs !== undefined ? { maxLagMs: opts.maxLagMs } : {}),
    ...(opts.maxPerClient !== undefined ? { maxPerClient: opts.maxPerClient } : {}),
    ...(opts.watchAccepts !== undefined ? { watchAccepts: opts.watchAccepts } : {}),
  });
  // Health that tells the truth: 503 while new requests would be shed (it is answered ahead of the shedder, so
  // a monitor can still ask).
  app.get('/healthz', (_req, res) => {
    const h = shed.health();
    res.status(h.ok ? 200 : 503).json(h);
  });
  const loop = opts.loopStats === true ? loopStats() : undefined;
  if (loop !== undefined) app.get('/debug/loop', loop.handler);
  // The API's description (server/http/openapi.ts), held to the real answers by test/server/openapi.test.ts.
  app.get('/api/v1/openapi.json', (_req, res) => {
    res.json(OPENAPI);
  });
  // Before the shedder: a client over its limit must not take an in-flight slot from the others. One set of
  // buckets and one shedder for express and the fast path: a client's budget and the in-flight count are shared.
  const buckets = opts.rateLimit === false ? undefined : new TokenBuckets(opts.rateLimit ?? DEFAULT_RATE_LIMIT);
  if (buckets !== undefined) app.use(rateLimit(buckets));
  app.use(shed.handler);
  // The exact body bytes are kept for signed requests (core/api/request-auth.ts signs their SHA-256). Only
  // POST /entries takes a large body, and one over ENTRY_INLINE_BYTES is handed to its route unparsed
  // (req.deferredBody), to be read off the event loop; every other route is capped at MAX_JSON_BODY.
  const entriesLimit = opts.entriesLimit ?? MAX_ENTRIES_BODY;
  const inline = opts.entryInlineBytes ?? ENTRY_INLINE_BYTES;
  const jsonLimit = opts.jsonLimit ?? MAX_JSON_BODY;
  app.use(
    '/api/v1',
    jsonBodies((req) =>
      isEntriesPost(req.method, (req.url ?? '').split('?')[0] ?? '') ? { limit: entriesLimit, inlineLimit: inline } : { limit: jsonLimit, inlineLimit: Infinity },
    ),
  );
  app.use('/api/v1', logRoutes(opts.log));
  for (const r of opts.apiRouters ?? []) app.use('/api/v1', r);
  for (const r of opts.rootRouters ?? []) app.use(r);
  app.use((req, res) => {
    sendError(res, new MedtrailError('NOT_FOUND', `no route for ${req.method} ${req.path}`));
  });
  app.use(errorHandler);
  const listener = fastPath(
    opts.fastRoutes ?? [],
    { headers: setSecurityHeaders, rateLimit: buckets === undefined ? undefined : (req, res) => allowed(buckets, req, res), admit: shed.admit },
    app,
  );
  return {
    app,
    listener,
    accepted: shed.accepted,
    stop: () => {
      shed.stop();
      loop?.stop();
    },
  };
}
