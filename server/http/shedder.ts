// Load shedding: when the server cannot answer promptly, new requests get 503 OVERLOADED with
// Retry-After at once, instead of every request waiting longer and longer.
//
// Two signals, either one sheds:
// - requests in flight (received, not yet answered) beyond `maxInFlight`: work that waits on I/O piles up;
// - event-loop lag beyond `maxLagMs`: handlers here are mostly synchronous (SQLite, Ed25519), so under
//   overload requests do not overlap inside the process at all; they queue in the kernel's socket buffers
//   and show up only as a late event loop. A timer measures how late it fires; while the loop keeps running
//   late (SUSTAINED probes in a row),
//   answering 503 costs almost nothing, so the backlog drains and the requests that are taken stay fast.
//   The probe runs between turns only; inside one long turn (a thousand requests read at once) a request
//   read after the turn has run `maxLagMs` is shed at once (its answer would be that late already).
// With lag shedding comes the accept watch (accept-watch.ts): new connections queueing behind long turns are
// taken first, the connected clients' sockets left unread for a moment (nothing is refused for it).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RequestHandler } from 'express';
import { MedtrailError } from '../../core/errors.js';
import { acceptWatch } from './accept-watch.js';
import { sendError } from './errors.js';

export interface ShedOptions {
  /** Requests in flight beyond which new ones get 503 (default 256). */
  maxInFlight?: number;
  /** Event-loop lag (ms) beyond which new requests get 503 (default 0: off; `medtrail serve` uses DEFAULT_MAX_LAG_MS). */
  maxLagMs?: number;
  /**
   * Requests in flight from one client address beyond which its new ones get 429 (default 32): one client that
   * opens hundreds of requests and never finishes their bodies must not take every slot from the others.
   */
  maxPerClient?: number;
  /** Watch the accept queue (accept-watch.ts; default: on when lag shedding is on). */
  watchAccepts?: boolean;
}

/** What /healthz reports: the truth about whether new requests are taken now. */
export interface Health {
  ok: boolean;
  inFlight: number;
  maxInFlight: number;
  /** The event loop has been running late (lag shedding is on). */
  lagging: boolean;
  /** Queued new connections are being accepted ahead of the connected clients (accept-watch.ts). */
  draining: boolean;
}

const PROBE_MS = 10;
/**
 * What `medtrail serve` sheds at. Off by default elsewhere: a server inside a test process shares its event
 * loop with the test's own work, whose lateness is not the server's overload.
 * 150 ms: at 50 ms a server merely kept at full capacity by 16 steady clients turned away ~4.5% of their
 * requests (GC pauses and a batch registration push single probes past it); 1,024 clients push the loop
 * hundreds of ms late, far past 150, so real overload is still shed.
 */
export const DEFAULT_MAX_LAG_MS = 150;
/** Late probes in a row that count as overload. */
const SUSTAINED = 3;

export interface Shedder {
  handler: RequestHandler;
  /** The same check outside express (fast-path.ts): false when it answered 503 (or 429) itself. */
  admit(req: IncomingMessage, res: ServerResponse): boolean;
  /** The HTTP server accepted a connection ('connection' event). */
  accepted(socket: Socket): void;
  health(): Health;
  /** Stops the lag probe (the server closes). */
  stop(): void;
}

/**
 * Retry-After for a shed request: 1, 2 or 3 seconds at random. A burst shed all at once with the same value came
 * back all at once a second later, a second burst that some clients waited out for seconds (bench:load's
 * overload phase: p99 6 s whenever every client was shed at the start, 0.3-0.4 s when some were not).
 */
function spread(): string {
  return String(1 + Math.floor(Math.random() * 3));
}

export function loadShedder(o: ShedOptions = {}): Shedder {
  const maxInFlight = o.maxInFlight ?? 256;
  const maxLag = o.maxLagMs ?? 0;
  const maxPerClient = o.maxPerClient ?? 32;
  let inFlight = 0;
  const perClient = new Map<string, number>();
  // Consecutive probes that fired more than maxLag late. One long task (a 100,000-pack batch holds the loop
  // for a second or two) makes one late probe and is not overload; a loop that keeps running late is.
  let lateRuns = 0;
  let expected = performance.now() + PROBE_MS;
  const probe =
    maxLag > 0
      ? setInterval(() => {
          const now = performance.now();
          lateRuns = now - expected > maxLag ? lateRuns + 1 : 0;
          expected = now + PROBE_MS;
        }, PROBE_MS)
      : undefined;
  probe?.unref();
  // When the current turn of the event loop admitted its first request (-1: none yet); reset after the turn's I/O.
  let turnStart = -1;
  const endTurn = (): void => {
    turnStart = -1;
  };
  const watch = (o.watchAccepts ?? maxLag > 0) ? acceptWatch() : undefined;
  const admit = (req: IncomingMessage, res: ServerResponse): boolean => {
    const client = req.socket.remoteAddress ?? 'unknown';
    const mine = perClient.get(client) ?? 0;
    if (mine >= maxPerClient) {
      res.setHeader('Retry-After', '1');
      sendError(res, new MedtrailError('RATE_LIMITED', `more than ${maxPerClient} requests in flight from this client; finish or close them first`));
      return false;
    }
    if (inFlight >= maxInFlight) {
      res.setHeader('Retry-After', spread());
      sendError(res, new MedtrailError('OVERLOADED', `more than ${maxInFlight} requests in flight; retry shortly`));
      return false;
    }
    if (maxLag > 0) {
      // Within one turn of the event loop: the probe cannot run until the turn ends, and a burst of a thousand
      // new connections is read in one turn (bench:load at 1,000,000 packs: ~2 ms a verify, the last answered
      // after 2 s). Requests read after this turn has run maxLag ms are already that late: shed at once.
      const now = performance.now();
      if (turnStart < 0) {
        turnStart = now;
        setImmediate(endTurn);
      } else if (now - turnStart > maxLag) {
        res.setHeader('Retry-After', spread());
        sendError(res, new MedtrailError('OVERLOADED', `this turn of the server's event loop has run more than ${maxLag} ms; retry shortly`));
        return false;
      }
    }
    if (lateRuns >= SUSTAINED) {
      res.setHeader('Retry-After', spread());
      sendError(res, new MedtrailError('OVERLOADED', `the server has been running more than ${maxLag} ms behind; retry shortly`));
      return false;
    }
    inFlight++;
    perClient.set(client, mine + 1);
    watch?.admitted(req.socket);
    let done = false;
    const release = (): void => {
      if (!done) {
        done = true;
        inFlight--;
        const left = (perClient.get(client) ?? 1) - 1;
        if (left <= 0) perClient.delete(client);
        else perClient.set(client, left);
      }
    };
    res.on('finish', release);
    res.on('close', release);
    return true;
  };
  const handler: RequestHandler = (req, res, next) => {
    if (admit(req, res)) next();
  };
  const health = (): Health => {
    const lagging = lateRuns >= SUSTAINED;
    return { ok: inFlight < maxInFlight && !lagging, inFlight, maxInFlight, lagging, draining: watch?.draining() ?? false };
  };
  return {
    handler,
    admit,
    accepted: (s) => watch?.accepted(s),
    health,
    stop: () => {
      clearInterval(probe);
      watch?.stop();
    },
  };
}
