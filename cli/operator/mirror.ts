// `medtrail mirror`: holds a checked copy of an operator's whole ledger and serves it (docs/architecture.md,
// Mirrors; issue 14). It reads the log as an enrolled participant (role `mirror`) through the one HTTP client
// (client/ledger-client.ts), checks and replays every entry into its own SQLite ledger (server/mirror/follower.ts)
// (with --db postgres://, a copy of the mirror's ledger of record in PostgreSQL: server/mirror/pg.ts)
// and, once it holds a verified checkpoint, answers verify, packs, proofs and the patient page from that copy
// with the operator's own modules (server/modules.ts). It never signs a checkpoint; writes are refused, or with
// --forward sent on to the operator unchanged (server/mirror/module.ts).
//
// --once: follow until the operator's newest checkpoint is verified, print it and exit (0; 1 on an error, with
// MIRROR_DIVERGED when the operator was caught: the evidence file is written first).
import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { LedgerClient, isTransient } from '../../client/ledger-client.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { fromBase64, toBase64 } from '../../core/bytes.js';
import { parseKeyFile, parsePublicKeyFile } from '../../core/crypto/keys.js';
import { isMedtrailError, MedtrailError, messageOf } from '../../core/errors.js';
import { parsePolicy, type TlogPolicy } from '../../core/log/policy.js';
import { custodyServices } from '../../server/custody/services.js';
import { Follower } from '../../server/mirror/follower.js';
import { openMirrorLedger } from '../../server/mirror/ledger.js';
import { checkCopyMaps, openPgMirror, storedPgVkey, type PgMirror } from '../../server/mirror/pg.js';
import { pgTarget } from '../../server/pg/target.js';
import type { Ledger } from '../../server/context.js';
import { CATCH_UP_IN_REQUEST_MS, MIRROR_WITNESS_PREFIX, openMirrorWitness, type MirrorWitness } from '../../server/mirror/witness.js';
import { mirrorModule } from '../../server/mirror/module.js';
import { serviceModules } from '../../server/modules.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { openDatabase, SqliteLedgerStore } from '../../server/store/ledger-store.js';
import { loadKey, signerOf } from '../api-client.js';
import { action, emit, parsePort } from '../io.js';

export interface MirrorCliOptions {
  from: string;
  db: string;
  key: string;
  authority: string;
  port: string;
  host: string;
  policy?: string;
  evidence?: string;
  intervalMs: string;
  once?: boolean;
  json?: boolean;
  witnessKey?: string;
  witnessName?: string;
  witnessMaxAge?: string;
  forward?: boolean;
  witnessCatchUpMs?: string;
  cache?: string;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read ${what} ${path}`, { cause: e });
  }
}

/** The authority's GLN and public key from its key file (public part only, or the whole file: the seed is not used). */
function authorityOf(path: string): { gln: string; publicKey: Uint8Array } {
  const text = readText(path, '--authority');
  let k: { gln?: string; publicKey: string };
  try {
    k = parsePublicKeyFile(text);
  } catch {
    k = parseKeyFile(text);
  }
  if (k.gln === undefined) throw new MedtrailError('KEYFILE_BAD', `${path} names no GLN: the authority's key file has one`);
  return { gln: k.gln, publicKey: fromBase64(k.publicKey, 32) };
}

/** The log key held in an existing mirror database (when the operator cannot be asked). */
function storedVkey(db: string): string | undefined {
  if (!existsSync(db)) return undefined;
  const store = new SqliteLedgerStore(openDatabase(db, { readonly: true }));
  try {
    return store.getMeta('log_vkey');
  } finally {
    store.close();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function mirrorForever(opts: MirrorCliOptions): Promise<void> {
  installNodeCrypto();
  const key = loadKey(opts.key);
  const authority = authorityOf(opts.authority);
  const policyText = opts.policy === undefined ? undefined : readText(opts.policy, '--policy');
  const policy: TlogPolicy | undefined = policyText === undefined ? undefined : parsePolicy(policyText);
  let witnessMaxAgeS: number | undefined;
  if (opts.witnessMaxAge !== undefined) {
    if (!/^[1-9][0-9]{0,6}$/.test(opts.witnessMaxAge)) throw new MedtrailError('CLI_USAGE', `--witness-max-age must be a whole number of seconds from 1, got ${opts.witnessMaxAge}`);
    witnessMaxAgeS = Number(opts.witnessMaxAge);
  }
  const catchUpMs = Number(opts.witnessCatchUpMs ?? CATCH_UP_IN_REQUEST_MS);
  if (!Number.isSafeInteger(catchUpMs) || catchUpMs < 0) throw new MedtrailError('CLI_USAGE', `--witness-catch-up-ms must be a non-negative integer, got ${opts.witnessCatchUpMs}`);
  const intervalMs = Number(opts.intervalMs);
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 10) throw new MedtrailError('CLI_USAGE', `--interval-ms must be an integer of at least 10, got ${opts.intervalMs}`);
  const client = new LedgerClient(opts.from, { signer: signerOf(key), timeoutMs: 60_000 });
  // With a postgres:// --db the mirror's ledger of record is that schema, and it works on a copy rebuilt from
  // it at every start (server/mirror/pg.ts).
  const target = pgTarget(opts.db);
  if (opts.cache !== undefined && target === undefined) throw new MedtrailError('CLI_USAGE', '--cache is for a mirror whose --db is a postgres:// URL (an SQLite --db is the copy itself)');
  // The log key: on SQLite the one the database holds, else the policy's, else the operator's (first use). On
  // PostgreSQL the policy's, else the operator's (the schema's only while the operator cannot be asked). A
  // policy or a database that names another log than that is MIRROR_MISMATCH (openMirrorLedger, openPgMirror).
  let vkey = target === undefined ? (storedVkey(opts.db) ?? policy?.logs[0]?.vkey) : policy?.logs[0]?.vkey;
  if (vkey === undefined) {
    try {
      vkey = await client.logKey();
    } catch (e) {
      const held = target !== undefined && isTransient(e) ? await storedPgVkey(target) : undefined;
      if (held === undefined) throw e;
      vkey = held;
    }
  }
  if (policy !== undefined && !policy.logs.some((l) => l.vkey === vkey)) throw new MedtrailError('MIRROR_MISMATCH', `the policy does not list the log ${vkey}`);
  const id = { vkey, authority, from: opts.from };
  const pgm: PgMirror | undefined = target === undefined ? undefined : await openPgMirror(target, id, opts.cache);
  const ledger: Ledger = pgm?.ledger ?? openMirrorLedger(opts.db, id);
  /** Where the mirror says its ledger is, and what the files beside it are named after. */
  const place = target?.shown ?? opts.db;
  const fileBase = target === undefined ? opts.db : `mirror-${target.schema}`;
  const closeLedger = async (): Promise<void> => {
    if (pgm !== undefined) await pgm.close();
    else ledger.close();
  };
  const say = (line: string): void => void process.stderr.write(`${line}\n`);
  let follower: Follower;
  try {
    const custody = custodyServices(ledger);
    if (pgm !== undefined) checkCopyMaps(ledger, custody.map);
    follower = new Follower(ledger, custody, client, {
      from: opts.from,
      evidenceFile: opts.evidence ?? `${fileBase}.evidence.json`,
      ...(policy !== undefined ? { policy } : {}),
      say,
      ...(pgm !== undefined ? { sink: pgm.push } : {}),
    });
  } catch (e) {
    await closeLedger();
    throw e;
  }
  let stopping = false;
  let lastError = '';
  /** One round; errors the operator cannot be blamed for are said once and tried again. */
  const step = async (): Promise<boolean> => {
    try {
      await follower.round();
      lastError = '';
      return true;
    } catch (e) {
      if (isMedtrailError(e, 'MIRROR_DIVERGED')) {
        // A restarted mirror stays stopped: the evidence goes to its ledger of record too.
        await pgm?.recordDivergence().catch(() => undefined);
        throw e;
      }
      // The copy is ahead of its database (a page it could not store): this process ends, a restart rebuilds it.
      if (follower.halted !== undefined) throw follower.halted;
      const line = `medtrail mirror: ${isMedtrailError(e) ? e.code : 'INTERNAL'}: ${messageOf(e)}${isTransient(e) ? ' (will retry)' : ''}`;
      if (line !== lastError) say(line);
      lastError = line;
      return false;
    }
  };
  const settled = (): boolean => {
    const cp = ledger.store.latestCheckpoint();
    return cp !== undefined && cp.size === ledger.store.head().size;
  };
  const summary = (): { size: number; root: string; checkpoint: string; mapRoots: { packs: string; lots: string } } => {
    const cp = ledger.store.latestCheckpoint()!;
    const r = custodyServices(ledger).map.roots();
    return { size: cp.size, root: toBase64(cp.root), checkpoint: cp.note, mapRoots: { packs: toBase64(r.packs), lots: toBase64(r.lots) } };
  };

  if (opts.once === true) {
    try {
      if (follower.diverged !== undefined) await follower.round();
      // Until a round ends settled on a checkpoint; errors other than divergence are tried again a few times.
      for (let tries = 0; ; tries++) {
        if ((await step()) && settled()) break;
        if (tries >= 5) throw new MedtrailError('SERVER_UNREACHABLE', `could not verify a checkpoint of ${opts.from}: ${lastError}`);
        await sleep(intervalMs);
      }
      const s = summary();
      emit(opts, { mirrorOf: opts.from, db: place, ...s }, `mirror of ${opts.from} verified at ${s.size} leaves (root ${s.root})`);
    } finally {
      await closeLedger();
    }
    return;
  }

  // Serving: only from a verified state. A mirror killed in the middle of a catch-up first finishes it.
  try {
    while (!settled() && follower.diverged === undefined) {
      if (!(await step())) await sleep(intervalMs);
    }
  } catch (e) {
    if (!isMedtrailError(e, 'MIRROR_DIVERGED') || !settled()) {
      await closeLedger();
      throw e;
    }
  }
  let server: RunningServer;
  let mw: MirrorWitness | undefined;
  try {
    // As a witness (server/mirror/witness.ts): it cosigns only checkpoints it verified itself; its state (the
    // newest checkpoint it cosigned) lives in a file of its own beside the database.
    if (opts.witnessKey !== undefined) {
      mw = openMirrorWitness({ follower, logVkey: vkey, keyFile: opts.witnessKey, ...(opts.witnessName !== undefined ? { name: opts.witnessName } : {}), db: `${fileBase}.cosigner.db`, catchUpMs });
    }
    const router = mw?.router;
    server = await startServer({
      db: pgm?.copy ?? opts.db,
      port: parsePort(opts.port),
      host: opts.host,
      ledger,
      // With a policy the mirror pins it into its pages, and has the newest checkpoint it verified cosigned
      // again by the policy's witnesses at a quarter of the max age (server/log/publisher.ts, as the operator
      // does): clients that fail over to it while the operator is down get fresh cosignatures, not stale ones.
      ...(policyText !== undefined ? { policy: policyText, ...(witnessMaxAgeS !== undefined ? { witnessMaxAgeS } : {}) } : {}),
      modules: [mirrorModule(opts.from, () => follower, { forward: opts.forward === true }), ...(router !== undefined ? [{ root: () => [router] }] : []), ...serviceModules()],
    });
  } catch (e) {
    mw?.close();
    await closeLedger();
    throw e;
  }
  const s = summary();
  const witnessInfo = mw === undefined ? undefined : { name: mw.witness.name, vkey: mw.witness.vkey, url: `${server.url}${MIRROR_WITNESS_PREFIX}` };
  emit(
    opts,
    { url: server.url, port: server.port, db: place, mirrorOf: opts.from, size: s.size, forwardsWrites: opts.forward === true, diverged: follower.diverged !== undefined, ...(witnessInfo !== undefined ? { witness: witnessInfo } : {}) },
    [
      `medtrail mirror of ${opts.from} serving ${place} at ${server.url}, verified at ${s.size} leaves (Ctrl-C to stop)`,
      ...(witnessInfo !== undefined ? [`witnessing what it verified; policy line: witness ${witnessInfo.name} ${witnessInfo.vkey} ${witnessInfo.url}`] : []),
    ].join('\n'),
  );
  // The pause between two rounds ends at once on SIGTERM (a long --interval-ms must not hold the exit).
  let wake: (() => void) | undefined;
  const pause = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  let stopNow: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      wake?.();
      void server.close().then(() => {
        mw?.close();
        resolve();
      });
    };
    stopNow = stop;
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  // Follow while serving. A diverged mirror goes on serving the state it verified, and says why on GET /api/v1/mirror.
  // A halted follower (its copy ahead of its database) ends the process: it stops serving and exits non-zero.
  let halted: unknown;
  const follow = async (): Promise<void> => {
    while (!stopping && follower.diverged === undefined) {
      try {
        await step();
      } catch (e) {
        if (follower.halted !== undefined) {
          halted = e;
          stopNow();
        }
        break;
      }
      if (!stopping) await pause(intervalMs);
    }
  };
  await Promise.all([follow(), stopped]);
  if (pgm !== undefined) await pgm.close();
  if (halted !== undefined) throw halted;
}

export function registerMirror(program: Command): void {
  program
    .command('mirror')
    .description("hold a checked copy of an operator's whole ledger, and serve it (verify, packs, proofs, the patient page)")
    .requiredOption('--from <url>', "the operator's server")
    .option('--cache <file>', "with a postgres:// --db: the mirror's working copy, kept across restarts (default: a fresh temporary one, rebuilt from the database at every start)")
    .option('--db <path|url>', "the mirror's ledger: an SQLite file, or postgres://user@host:port/db?schema=name (a schema of its own; the mirror works on a copy rebuilt from it at every start); created on first run", './data/mirror.db')
    .requiredOption('--key <path>', "the mirror's participant key file (enrolled with --role mirror): it signs the reads of the log")
    .requiredOption('--authority <path>', "the authority's key file (its public part is enough): who may admit participants")
    .option('--port <port>', 'TCP port (0 picks a free one)', '8081')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--policy <file>', "witness policy (c2sp.org/tlog-policy): the operator's checkpoints must carry its quorum")
    .option('--evidence <file>', 'where divergence evidence is written (default: <db>.evidence.json; with postgres://, mirror-<schema>.evidence.json)')
    .option('--interval-ms <ms>', 'pause between rounds of following', '1000')
    .option('--once', 'follow until the newest checkpoint is verified, print it and exit')
    .option('--witness-key <path>', 'also be a witness (c2sp.org/tlog-witness at <url>/witness) with this key file (medtrail keygen): cosign only checkpoints this mirror verified')
    .option('--witness-max-age <seconds>', "with --policy: oldest witness cosignature its pages accept (default 600); the checkpoint it verified is resubmitted to the policy's witnesses at a quarter of it")
    .option('--witness-catch-up-ms <ms>', `with --witness-key: how long a submitted checkpoint past what the mirror holds waits for it to follow the log there before MIRROR_BEHIND (the log submits again soon; default ${CATCH_UP_IN_REQUEST_MS})`)
    .option('--witness-name <name>', 'cosigner name, e.g. mirror.example/m1 (default: the witness key file name)')
    .option('--forward', "forward writes (POST entries, tag keys, reports) to the operator, their signed bytes unchanged, instead of refusing them (MIRROR_READ_ONLY); OPERATOR_UNREACHABLE while it is down")
    .option('--json', 'print JSON')
    .action(action((opts: MirrorCliOptions) => mirrorForever(opts)));
}
