// Starts the ledger service on a port: opens the ledger, builds the app, listens, and closes cleanly on
// SIGINT/SIGTERM (in-flight requests finish; the database is closed after the last one).
import { createServer, type Server } from 'node:http';
import type { Router } from 'express';
import { openLedger, type Ledger } from './context.js';
import { openPgLedger } from './pg/ledger.js';
import { DEFAULT_PG_LOG_KEY, pgTarget, type PgTarget } from './pg/target.js';
import { DEFAULT_WITNESS_MAX_AGE_S, parsePolicy, type TlogPolicy } from '../core/log/policy.js';
import { Publisher } from './log/publisher.js';
import { codeOf, isMedtrailError, MedtrailError } from '../core/errors.js';
import { createApp } from './http/app.js';
import type { FastRoute } from './http/fast-path.js';
import { rateLimitFromEnv, type RateLimitOptions } from './http/rate-limit.js';

/** Parts of the service beyond the log (custody, verify, pages) plug in here with their routers. */
export interface ServiceModule {
  api?: (ledger: Ledger) => Router[];
  /** Routes answered ahead of express with the same guards (http/fast-path.ts): POST /api/v1/verify. */
  fast?: (ledger: Ledger) => FastRoute[];
  root?: (ledger: Ledger) => Router[];
  close?: () => void;
}

export interface ServeOptions {
  db: string;
  port: number;
  host?: string;
  logKey?: string;
  modules?: ServiceModule[];
  /** Requests in flight beyond which new ones get 503 (default: MEDTRAIL_MAX_IN_FLIGHT, else 256). */
  maxInFlight?: number;
  /** Event-loop lag (ms) beyond which new requests get 503 (MEDTRAIL_MAX_LAG_MS wins; default 0: off). */
  maxLagMs?: number;
  /** Requests in flight from one client beyond which its new ones get 429 (default: MEDTRAIL_MAX_IN_FLIGHT_PER_CLIENT, else 32). */
  maxPerClient?: number;
  /** Per-client limit on public routes (default: MEDTRAIL_RATE_LIMIT, else DEFAULT_RATE_LIMIT); false: off. */
  rateLimit?: RateLimitOptions | false;
  /** A c2sp.org/tlog-policy text: its witnesses (with URLs) get every checkpoint; the pages pin it. */
  policy?: string;
  /** Oldest witness cosignature (seconds) the pages accept (default 600); the log refreshes them at a quarter of it, at most every minute. */
  witnessMaxAgeS?: number;
  /** Bodies of POST /entries over this many bytes are read in a worker (default: MEDTRAIL_ENTRY_INLINE_BYTES, else 64 KiB). */
  entryInlineBytes?: number;
  /** Leaf bytes after which a page of GET /log/entries stops (default: MEDTRAIL_LOG_PAGE_BYTES, else 1 MiB). */
  logPageBytes?: number;
  /**
   * A ledger opened by the caller instead of `db`: a mirror's (server/mirror/ledger.ts), whose log never signs.
   * It is closed with the server.
   */
  ledger?: Ledger;
  /** With `db` a postgres:// URL: this process's working copy (default a temporary file, server/pg/ledger.ts). */
  cache?: string;
  /**
   * With `db` a postgres:// URL: a streaming replica of it this server follows (reads); writes still go to
   * `db` (default: MEDTRAIL_DB_REPLICA). Its schema is `db`'s unless the URL names one.
   */
  dbReplica?: string;
  /** With `db` a postgres:// URL: how often the copy follows the database without a NOTIFY (default 1,000 ms). */
  pgRoundMs?: number;
}

/** A whole-number setting from the environment, or undefined for the default. */
function intFromEnv(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === '') return undefined;
  if (!/^[0-9]{1,10}$/.test(v.trim())) throw new MedtrailError('CLI_USAGE', `${name} must be a non-negative integer, got ${v}`);
  return Number(v);
}

/** The replica option of openPgLedger for a --db-replica URL (the primary's schema unless it names its own). */
function replicaOf(primary: PgTarget, url: string | undefined): { replica?: PgTarget } {
  if (url === undefined || url.trim() === '') return {};
  const t = pgTarget(url.trim());
  if (t === undefined) throw new MedtrailError('CLI_USAGE', '--db-replica must be a postgres:// URL');
  return { replica: /[?&]schema=/.test(url) ? t : { ...t, schema: primary.schema } };
}

/** Pending connections the kernel may queue before accept (capped by net.core.somaxconn). */
const LISTEN_BACKLOG = 4096;

export interface RunningServer {
  url: string;
  port: number;
  ledger: Ledger;
  server: Server;
  close(): Promise<void>;
}

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  // Deployment knobs also come from the environment, so `medtrail serve` needs no flag for them.
  const maxInFlight = o.maxInFlight ?? intFromEnv('MEDTRAIL_MAX_IN_FLIGHT', process.env['MEDTRAIL_MAX_IN_FLIGHT']);
  // The environment wins here: the operator of a running deployment tunes it without a new build.
  const maxLagMs = intFromEnv('MEDTRAIL_MAX_LAG_MS', process.env['MEDTRAIL_MAX_LAG_MS']) ?? o.maxLagMs;
  const rl = o.rateLimit ?? rateLimitFromEnv(process.env['MEDTRAIL_RATE_LIMIT']);
  const maxPerClient = o.maxPerClient ?? intFromEnv('MEDTRAIL_MAX_IN_FLIGHT_PER_CLIENT', process.env['MEDTRAIL_MAX_IN_FLIGHT_PER_CLIENT']);
  // Both also serve benchmarks as a baseline (test/bench/loop.ts): a huge inline limit parses every body on the
  // event loop, a huge page cap serves 1,000 leaves whatever their size.
  const entryInlineBytes = o.entryInlineBytes ?? intFromEnv('MEDTRAIL_ENTRY_INLINE_BYTES', process.env['MEDTRAIL_ENTRY_INLINE_BYTES']);
  const logPageBytes = o.logPageBytes ?? intFromEnv('MEDTRAIL_LOG_PAGE_BYTES', process.env['MEDTRAIL_LOG_PAGE_BYTES']);
  // Read by each worker thread as it starts (server/thread-priority.ts); checked here, where a bad value can
  // still be told to the operator instead of being ignored by a thread.
  const threadNice = intFromEnv('MEDTRAIL_THREAD_NICE', process.env['MEDTRAIL_THREAD_NICE']);
  if (threadNice !== undefined && threadNice > 19) throw new MedtrailError('CLI_USAGE', `MEDTRAIL_THREAD_NICE must be 0 to 19, got ${threadNice}`);
  const pgAt = o.ledger === undefined ? pgTarget(o.db) : undefined;
  const ledger =
    o.ledger ??
    (pgAt !== undefined
      ? await openPgLedger({
          target: pgAt,
          logKey: o.logKey ?? DEFAULT_PG_LOG_KEY,
          ...(o.cache !== undefined ? { cache: o.cache } : {}),
          ...(o.pgRoundMs !== undefined ? { roundMs: o.pgRoundMs } : {}),
          ...replicaOf(pgAt, o.dbReplica ?? process.env['MEDTRAIL_DB_REPLICA']),
          ...(logPageBytes !== undefined ? { pageBytes: logPageBytes } : {}),
        })
      : openLedger({ db: o.db, ...(o.logKey !== undefined ? { logKey: o.logKey } : {}), ...(logPageBytes !== undefined ? { pageBytes: logPageBytes } : {}) }));
  let publisher: Publisher | undefined;
  if (o.policy !== undefined) {
    let parsed: TlogPolicy;
    try {
      parsed = parsePolicy(o.policy);
    } catch (e) {
      ledger.close();
      throw e;
    }
    if (!parsed.logs.some((l) => l.vkey === ledger.log.verifierKey)) {
      ledger.close();
      throw new MedtrailError('CLI_USAGE', `the policy does not list this log (log ${ledger.log.verifierKey}): clients holding it would refuse every checkpoint`);
    }
    const maxAgeS = o.witnessMaxAgeS ?? DEFAULT_WITNESS_MAX_AGE_S;
    ledger.policy = { text: o.policy, parsed, maxAgeS };
    const pub = new Publisher(ledger.store.connectionFor('publisher'), ledger.log, parsed, {
      onError: (w, code, message) => process.stderr.write(`medtrail: witness ${w}: ${code}: ${message}\n`),
      refreshMs: Math.min(60_000, (maxAgeS * 1000) / 4),
      ...(ledger.pg !== undefined ? { shared: { rows: ledger.pg.pg.rows, maySubmit: () => ledger.pg?.signer === true } } : {}),
    });
    ledger.pg?.eachRound(() => pub.pull());
    ledger.log.setPublication({ signed: () => void pub.publish(), cosigned: (note, size) => pub.withCosignatures(note, size) });
    publisher = pub;
  }
  const modules = o.modules ?? [];
  const app = createApp({
    log: ledger.log,
    apiRouters: modules.flatMap((m) => m.api?.(ledger) ?? []),
    fastRoutes: modules.flatMap((m) => m.fast?.(ledger) ?? []),
    rootRouters: modules.flatMap((m) => m.root?.(ledger) ?? []),
    ...(maxInFlight !== undefined ? { maxInFlight } : {}),
    ...(maxLagMs !== undefined ? { maxLagMs } : {}),
    ...(maxPerClient !== undefined ? { maxPerClient } : {}),
    // A baseline for side-by-side runs (test/pressure/accept-queue.test.ts): the accept-queue watch off.
    ...(process.env['MEDTRAIL_ACCEPT_WATCH'] === 'off' ? { watchAccepts: false } : {}),
    ...(rl !== undefined ? { rateLimit: rl } : {}),
    ...(entryInlineBytes !== undefined ? { entryInlineBytes } : {}),
    loopStats: process.env['MEDTRAIL_LOOP_STATS'] === '1',
  });
  // Sign a checkpoint at start so that GET checkpoint never has to, and keep signing while appends come in.
  // The modules' integrity guard ran above (while the routers were built): a ledger that failed it is frozen,
  // and then nothing is signed (LOG_INTEGRITY); the server still starts, to answer that on every route.
  // A server over PostgreSQL that does not hold the signing lease serves the checkpoints the signer stored
  // (CHECKPOINT_PENDING until there is one): it follows them from here on (server/pg/replica.ts).
  const signQuietly = (sign: () => unknown): void => {
    try {
      sign();
    } catch (e) {
      if (!isMedtrailError(e, 'LOG_INTEGRITY') && !isMedtrailError(e, 'CHECKPOINT_PENDING')) throw e;
    }
  };
  await ledger.pg?.start();
  // A mirror's log does not sign: it serves the operator's checkpoints it verified (server/mirror).
  if (ledger.log.signs) signQuietly(() => ledger.log.signNow());
  const timer = setInterval(() => {
    if (ledger.log.signs) signQuietly(() => ledger.log.signSoon());
  }, 1000);
  timer.unref();
  const host = o.host ?? '127.0.0.1';
  const listening = new Promise<Server>((resolve, reject) => {
    // A backlog above node's default of 511: a burst of more clients than that connecting at once (a chain's
    // pharmacies opening at 9:00) would overflow the accept queue, and a dropped SYN is retried after 1-3 s.
    // A request must send its headers within 10 s and its whole body within 30 s: a client that starts a body
    // and stalls holds an in-flight slot only that long (checked every second, not node's default 30 s).
    const s = createServer({ headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 }, app.listener).listen({ port: o.port, host, backlog: LISTEN_BACKLOG }, () => resolve(s));
    s.once('error', (e) => {
      if (codeOf(e) === 'EADDRINUSE') {
        reject(new MedtrailError('PORT_IN_USE', `port ${o.port} on ${host} is already in use (another medtrail or another program); choose another with --port, or --port 0 for any free one`, { cause: e }));
      } else reject(e);
    });
  });
  let server: Server;
  try {
    server = await listening;
  } catch (e) {
    // Not serving after all: release what was opened for it (the database, the guard's and modules' timers).
    clearInterval(timer);
    app.stop();
    await publisher?.close();
    await ledger.pg?.stop();
    for (const m of modules) m.close?.();
    ledger.close();
    throw e;
  }
  server.keepAliveTimeout = 65_000;
  // The shedder's accept watch (server/http/accept-watch.ts) sees every connection the server takes.
  server.on('connection', app.accepted);
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : o.port;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      clearInterval(timer);
      app.stop();
      server.close(() => {
        // The submission under way finishes (its cosignatures are kept) before the database closes.
        void (publisher?.close() ?? Promise.resolve()).then(async () => {
          await ledger.pg?.stop();
          for (const m of modules) m.close?.();
          ledger.close();
          resolve();
        });
      });
      server.closeIdleConnections();
    });
    return closing;
  };
  return { url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, port, ledger, server, close };
}
