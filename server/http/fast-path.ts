// The fast path: a few hot routes (POST /api/v1/verify) answered straight from node's request listener,
// ahead of express, with the same guards in the same order as every other route:
//   security headers -> per-client rate limit (public routes) -> load shedder -> body (json-body.ts) -> handler,
// and errors in the same {"error":{...}} shape through the same status table (errors.ts).
//
// Why: express 5's router allocates ~12 KB per request (closures and objects per layer it walks) and the
// verification answers in well under a millisecond, so on the hottest route the framework was a third of the
// server's time and most of its garbage; young-generation GC pauses of 4-6 ms every ~200 ms were then the p99
// of a verification under load. Everything else (pages, writes, reads, the log) stays on express.
import type { IncomingHttpHeaders, IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { asMedtrailError, sendError } from './errors.js';
import { readJsonBody } from './json-body.js';

/** What a fast route's handler is given: the request's line and headers, and its parsed JSON body. */
export interface FastRequest {
  method: string;
  /** The path and query as sent (what express calls originalUrl). */
  originalUrl: string;
  headers: IncomingHttpHeaders;
  /** The parsed JSON body; undefined when the request was not `application/json`. */
  body: unknown;
  /** The exact body bytes (signed requests sign their SHA-256). */
  rawBody: Buffer | undefined;
}

export interface FastRoute {
  method: 'POST';
  /** The exact path, e.g. `/api/v1/verify` (a query string is allowed after it). */
  path: string;
  /** Largest body read, in bytes (BODY_TOO_LARGE past it). */
  bodyLimit: number;
  /** Answers on `res` (sendJson) or throws a MedtrailError. */
  /** Answers `res`; a promise when the answer waits on something (a SUN counter moved in PostgreSQL). */
  handle(req: FastRequest, res: ServerResponse): void | Promise<void>;
}

export interface FastGuards {
  /** Sets the headers every answer carries. */
  headers(res: ServerResponse): void;
  /** The per-client rate limit: false when it answered 429 itself (undefined: off). */
  rateLimit: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  /** The load shedder: false when it answered 503 itself. */
  admit(req: IncomingMessage, res: ServerResponse): boolean;
}

/** A request listener that serves `routes` itself and hands every other request to `rest` (express). */
export function fastPath(routes: readonly FastRoute[], guards: FastGuards, rest: RequestListener): RequestListener {
  const byPath = new Map(routes.map((r) => [r.path, r]));
  return (req, res) => {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const route = byPath.get(q === -1 ? url : url.slice(0, q));
    if (route === undefined || req.method !== route.method) {
      rest(req, res);
      return;
    }
    guards.headers(res);
    if (guards.rateLimit !== undefined && !guards.rateLimit(req, res)) return;
    if (!guards.admit(req, res)) return;
    const failed = (e: unknown): void => {
      if (res.headersSent) {
        res.destroy(e instanceof Error ? e : undefined);
        return;
      }
      sendError(res, asMedtrailError(e));
    };
    readJsonBody(req, route.bodyLimit, (err, got) => {
      try {
        if (err !== undefined) throw err;
        const later = route.handle({ method: req.method ?? '', originalUrl: url, headers: req.headers, body: got?.body, rawBody: got?.raw }, res);
        if (later !== undefined) later.catch(failed);
      } catch (e) {
        failed(e);
      }
    });
  };
}
