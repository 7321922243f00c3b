// A lean JSON body reader for the fast path (fast-path.ts: POST /api/v1/verify): the same contract as the app's
// express.json() (body-parser) for what medtrail's clients send, in a fraction of its per-request work
// (body-parser matches the type with type-is and mime-types, decodes through iconv-lite, and wraps the read
// in raw-body and async hooks; on a route that answers in well under a millisecond that was ~5% of the time).
//
// Contract, as express.json({ strict: true }) behaves:
// - a body that is not `application/json` is not read: `body` is undefined (the handler refuses it);
// - an empty JSON body is {};
// - over `limit` bytes: BODY_TOO_LARGE (413), from Content-Length before anything is read when it says so;
// - not JSON, not an object or array at the top, or nested deeper than MAX_JSON_DEPTH: BAD_JSON;
// - a charset other than UTF-8, or a Content-Encoding (gzip, ...): BAD_INPUT (body-parser's 415s, which the
//   app's error handler also answers as BAD_INPUT);
// - the exact bytes come back as `raw` (signed requests sign their SHA-256, core/api/request-auth.ts);
// - a body over `inlineLimit` bytes (when given) is read but not parsed: `deferred` is set and `body` is
//   undefined, for its route to parse off the event loop (POST /entries: server/custody/entry-checker.ts).
//   Parsing and walking 14 MB of JSON holds a thread for a few hundred milliseconds (issue 12 item 4).
//
// jsonBodies() is the same reader as express middleware for every route under /api/v1 (server/http/app.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { MedtrailError } from '../../core/errors.js';
import { assertJsonDepth } from './json-depth.js';

// A body deferred by jsonBodies(): its exact bytes, parsed later by its route (off the event loop).
declare module 'node:http' {
  interface IncomingMessage {
    deferredBody?: Buffer | undefined;
  }
}

const JSON_TYPE = /^application\/json\s*(?:;|$)/i;
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)"?/i;

/** A JSON request body's bytes to a value: {} when blank; BAD_JSON when not an object or array, too deep or not JSON. */
export function parseJsonBytes(buf: Buffer): unknown {
  let i = 0;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x09 || buf[i] === 0x0a || buf[i] === 0x0d)) i++;
  if (i === buf.length) return {};
  if (buf[i] !== 0x7b && buf[i] !== 0x5b) throw new MedtrailError('BAD_JSON', 'request body must be a JSON object or array');
  assertJsonDepth(buf);
  try {
    const v: unknown = JSON.parse(buf.toString('utf8'));
    return v;
  } catch {
    throw new MedtrailError('BAD_JSON', 'request body is not valid JSON');
  }
}

/** A JSON body as read: `body` undefined when the request was not `application/json`. */
export interface JsonBody {
  body: unknown;
  raw: Buffer | undefined;
  /** The body was over `inlineLimit`: read, not parsed (`body` is undefined, `raw` holds it). */
  deferred?: true;
}

/** Reads and parses a JSON request body of at most `limit` bytes; `done` gets a coded error or the body. */
export function readJsonBody(req: IncomingMessage, limit: number, done: (err: MedtrailError | undefined, got?: JsonBody) => void, inlineLimit = Infinity): void {
  const type = req.headers['content-type'];
  if (type === undefined || !JSON_TYPE.test(type)) {
    // Not read at all (as express.json leaves it): node's server drops what is left once the answer is sent.
    done(undefined, { body: undefined, raw: undefined });
    return;
  }
  const charset = CHARSET.exec(type)?.[1]?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    done(new MedtrailError('BAD_INPUT', `request body refused (charset ${charset} is not supported; send UTF-8)`));
    return;
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    done(new MedtrailError('BAD_INPUT', `request body refused (content-encoding ${encoding} is not supported)`));
    return;
  }
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > limit) {
    done(new MedtrailError('BODY_TOO_LARGE', `request body larger than the limit (${limit} bytes)`));
    return;
  }
  const chunks: Buffer[] = [];
  // A body to be deferred whose length is declared is copied into one buffer of its own as it arrives: no
  // concatenation of 14 MB in one go at the end, and the buffer moves to a worker without a copy.
  const whole = Number.isSafeInteger(declared) && declared > inlineLimit ? Buffer.allocUnsafeSlow(declared) : undefined;
  let size = 0;
  let finished = false;
  const finish = (err?: MedtrailError): void => {
    if (finished) return;
    finished = true;
    req.removeListener('data', onData);
    req.removeListener('end', onEnd);
    req.removeListener('error', onError);
    // What is left of an oversized body is read and dropped by node's server once the answer is sent.
    if (err !== undefined) return done(err);
    const buf = whole !== undefined ? whole.subarray(0, size) : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
    if (buf.length > inlineLimit) return done(undefined, { body: undefined, raw: buf, deferred: true });
    let body: unknown;
    try {
      body = parseJsonBytes(buf);
    } catch (e) {
      return done(e instanceof MedtrailError ? e : new MedtrailError('BAD_JSON', 'request body is not valid JSON'));
    }
    done(undefined, { body, raw: buf });
  };
  const onData = (c: Buffer): void => {
    size += c.length;
    if (size > limit) finish(new MedtrailError('BODY_TOO_LARGE', `request body larger than the limit (${limit} bytes)`));
    else if (whole === undefined) chunks.push(c);
    else if (size <= whole.length) c.copy(whole, size - c.length);
    else finish(new MedtrailError('BAD_INPUT', 'request body longer than its Content-Length'));
  };
  const onEnd = (): void => finish();
  // A client that goes away mid-body gets no answer; the request simply ends here.
  const onError = (): void => {
    finished = true;
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
}

/** For one request: the largest body read (BODY_TOO_LARGE past it), and the largest parsed here (larger: deferred). */
export interface BodyLimits {
  limit: number;
  inlineLimit: number;
}

/**
 * Express middleware: reads a JSON body as readJsonBody does and sets `req.body` (the parsed value, or
 * undefined when not JSON or deferred), `req.rawBody` (the exact bytes) and `req.deferredBody`.
 */
export function jsonBodies(limitsFor: (req: IncomingMessage) => BodyLimits): RequestHandler {
  return (req, _res, next) => {
    // No body at all (neither a length nor chunked): nothing to read, as body-parser's hasBody() decides.
    if (req.headers['transfer-encoding'] === undefined && req.headers['content-length'] === undefined) return next();
    const { limit, inlineLimit } = limitsFor(req);
    readJsonBody(
      req,
      limit,
      (err, got) => {
        if (err !== undefined) return next(err);
        req.body = got?.body;
        req.rawBody = got?.raw;
        if (got?.deferred === true) req.deferredBody = got.raw;
        next();
      },
      inlineLimit,
    );
  };
}

/**
 * Sends `value` as a JSON answer straight through node's response (what express's res.json does, without its
 * content negotiation and freshness checks, which a JSON API answer does not use: ETags are off).
 */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  // Encoded once: Buffer.byteLength of the string and then the socket's own encoding of it would walk (and,
  // for a string with any non-Latin-1 character, such as the checkpoint note's em dash, copy) it twice.
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', body.length);
  res.end(body);
}
