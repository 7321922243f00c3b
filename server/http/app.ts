// The HTTP application: a thin layer (STYLE.md 11). Handlers parse, call a service, map the result. Bodies have
// a size limit; when the server cannot answer promptly (too many requests in flight, or its event loop running
// late) it sheds load with 503 and Retry-After rather than slowing every request down (shedder.ts).
import express, { type Express, type RequestHandler, type Router } from 'express';
import { MedtrailError } from '../../core/errors.js';
import type { LogService } from '../log/log-service.js';
import { errorHandler, sendError } from './errors.js';
import { assertJsonDepth } from './json-depth.js';
import { logRoutes } from './log-routes.js';
import { loadShedder } from './shedder.js';
import { DEFAULT_RATE_LIMIT, rateLimit, type RateLimitOptions } from './rate-limit.js';

export interface AppOptions {
  log: LogService;
  /** Largest JSON body accepted (default 16 MiB: a 100,000-pack batch entry lists its serials). */
  jsonLimit?: string;
  /** Requests in flight beyond which new ones get 503 (default 256). */
  maxInFlight?: number;
  /** Event-loop lag (ms) beyond which new requests get 503 (shedder.ts; default 0: off). */
  maxLagMs?: number;
  /** Per-client limit on the public routes (rate-limit.ts; default DEFAULT_RATE_LIMIT); false turns it off. */
  rateLimit?: RateLimitOptions | false;
  /**
   * Routers on the hot path under /api/v1 (POST /verify), mounted right after the guards (rate limit,
   * shedder) and ahead of the JSON parser and every other router: a verification passes through two layers
   * instead of some thirty. Their routes read their own bodies (json-body.ts).
   */
  hotRouters?: Router[];
  /** Extra routers under /api/v1 (custody, verify, ...). */
  apiRouters?: Router[];
  /** Extra routers at the root (pages, Digital Link resolver). */
  rootRouters?: Router[];
}

function securityHeaders(): RequestHandler {
  return (_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    next();
  };
}

export function createApp(opts: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');
  app.use(securityHeaders());
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  // Before the shedder: a client over its limit must not take an in-flight slot from the others.
  if (opts.rateLimit !== false) app.use(rateLimit(opts.rateLimit ?? DEFAULT_RATE_LIMIT));
  const shed = loadShedder({ ...(opts.maxInFlight !== undefined ? { maxInFlight: opts.maxInFlight } : {}), ...(opts.maxLagMs !== undefined ? { maxLagMs: opts.maxLagMs } : {}) });
  app.use(shed.handler);
  app.locals['stopShedder'] = shed.stop;
  for (const r of opts.hotRouters ?? []) app.use('/api/v1', r);
  // The exact body bytes are kept for signed requests (core/request-auth.ts signs their SHA-256).
  app.use(
    '/api/v1',
    express.json({
      limit: opts.jsonLimit ?? '16mb',
      strict: true,
      verify: (req, _res, buf) => {
        assertJsonDepth(buf);
        (req as { rawBody?: Buffer }).rawBody = buf;
      },
    }),
  );
  app.use('/api/v1', logRoutes(opts.log));
  for (const r of opts.apiRouters ?? []) app.use('/api/v1', r);
  for (const r of opts.rootRouters ?? []) app.use(r);
  app.use((req, res) => {
    sendError(res, new MedtrailError('NOT_FOUND', `no route for ${req.method} ${req.path}`));
  });
  app.use(errorHandler);
  return app;
}
