// A PostgreSQL cluster of a test's own, for the tests that must do to the database what no test may do to the
// shared cluster .ci/run starts (MEDTRAIL_TEST_PG_URL, used by test files running in parallel): restart it,
// stop it, put a streaming standby beside it. Debian's binaries (MEDTRAIL_TEST_PG_BIN, default
// /usr/lib/postgresql/15/bin), a fresh temporary directory, loopback only with the unix socket inside that
// directory, trust authentication for the `medtrail` role, a database `medtrail_test`. initdb refuses to run
// as root: as root (CI) every server command runs as the `postgres` OS user (runuser), which owns the directory.
// Every command is bounded in time; removeCluster stops the server and deletes the directory, and a process
// that exits with a cluster still up stops it (immediate shutdown) on its way out.
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, chownSync, constants, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PG_BIN = process.env['MEDTRAIL_TEST_PG_BIN'] ?? '/usr/lib/postgresql/15/bin';

export interface PgCluster {
  /** The temporary directory (data directory, log, unix socket). */
  dir: string;
  data: string;
  logFile: string;
  port: number;
  /** postgres://medtrail@127.0.0.1:<port>/medtrail_test */
  url: string;
  /** Whether it was made as a standby (pg_basebackup -R) of another cluster. */
  standby: boolean;
}

interface OsUser {
  uid: number;
  gid: number;
}

function postgresUser(): OsUser | undefined {
  const r = spawnSync('id', ['postgres'], { encoding: 'utf8', timeout: 5000 });
  const uid = /uid=(\d+)/.exec(r.stdout)?.[1];
  const gid = /gid=(\d+)/.exec(r.stdout)?.[1];
  return r.status === 0 && uid !== undefined && gid !== undefined ? { uid: Number(uid), gid: Number(gid) } : undefined;
}

const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * Why a private cluster cannot be run here, or undefined when it can: for the describe name of a test that
 * skips. As root the server runs as the `postgres` OS user; otherwise as the user running the tests (initdb
 * only refuses root).
 */
export function privateClusterUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'private PostgreSQL clusters are run on Linux only';
  for (const tool of ['initdb', 'pg_ctl', 'createdb', 'pg_basebackup']) {
    try {
      accessSync(join(PG_BIN, tool), constants.X_OK);
    } catch {
      return `no ${tool} in ${PG_BIN} (set MEDTRAIL_TEST_PG_BIN)`;
    }
  }
  if (isRoot()) {
    if (postgresUser() === undefined) return 'running as root and there is no `postgres` OS user to run PostgreSQL as';
    if (spawnSync('runuser', ['--help'], { timeout: 5000 }).status !== 0) return 'running as root and runuser is missing';
  }
  return undefined;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a PostgreSQL binary (as `postgres` when root), stopped after `timeoutMs` (SIGTERM, which runuser passes on to it). */
function pgRun(tool: string, args: string[], timeoutMs: number): Promise<Run> {
  const bin = join(PG_BIN, tool);
  const [cmd, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  return new Promise((resolve) => {
    execFile(cmd, argv, { timeout: timeoutMs, killSignal: 'SIGTERM', encoding: 'utf8', cwd: tmpdir() }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
      resolve({ code, stdout, stderr: err !== null && err.killed ? `${stderr}\n(killed after ${timeoutMs} ms)` : stderr });
    });
  });
}

async function must(tool: string, args: string[], timeoutMs: number, c?: PgCluster): Promise<void> {
  const r = await pgRun(tool, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}${c !== undefined ? `\nserver log:\n${tail(c.logFile)}` : ''}`);
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** A directory of the test's own, owned by the user the server runs as. */
function ownDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (isRoot()) {
    const u = postgresUser();
    if (u === undefined) throw new Error('no postgres OS user');
    chownSync(dir, u.uid, u.gid);
  }
  return dir;
}

const live = new Set<PgCluster>();
let exitHook = false;

/** A vitest worker that ends with clusters up (a failed beforeAll that never reached afterAll) stops them. */
function registerExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const c of live) {
      const bin = join(PG_BIN, 'pg_ctl');
      const args = ['-D', c.data, '-m', 'immediate', '-w', '-t', '10', 'stop'];
      spawnSync(isRoot() ? 'runuser' : bin, isRoot() ? ['-u', 'postgres', '--', bin, ...args] : args, { timeout: 15_000, stdio: 'ignore' });
      rmSync(c.dir, { recursive: true, force: true });
    }
  });
}

function serverOptions(c: PgCluster): string {
  return `-c listen_addresses=127.0.0.1 -p ${c.port} -k ${c.dir}`;
}

/** Starts the server of `c` on a free port below Linux's ephemeral range (32768-60999), trying a few. */
async function startOnSomePort(c: PgCluster): Promise<void> {
  let last = '';
  for (let attempt = 0; attempt < 8; attempt++) {
    c.port = 20_000 + Math.floor(Math.random() * 12_000);
    c.url = `postgres://medtrail@127.0.0.1:${c.port}/medtrail_test`;
    const r = await pgRun('pg_ctl', ['-D', c.data, '-l', c.logFile, '-w', '-t', '30', '-o', serverOptions(c), 'start'], 40_000);
    if (r.code === 0) return;
    last = `${r.stderr.trim()}\n${tail(c.logFile, 5)}`;
    // A server that did come up after all (pg_ctl timed out) must not be left behind.
    await pgRun('pg_ctl', ['-D', c.data, '-m', 'immediate', '-w', '-t', '10', 'stop'], 15_000);
  }
  throw new Error(`PostgreSQL did not start on any of 8 ports: ${last}`);
}

/** initdb, start, createdb medtrail_test. */
export async function startCluster(): Promise<PgCluster> {
  registerExitHook();
  const dir = ownDir('medtrail-pgc-');
  const c: PgCluster = { dir, data: join(dir, 'data'), logFile: join(dir, 'log'), port: 0, url: '', standby: false };
  live.add(c);
  try {
    await must('initdb', ['-D', c.data, '-A', 'trust', '-U', 'medtrail', '--no-sync'], 60_000);
    await startOnSomePort(c);
    await must('createdb', ['-h', '127.0.0.1', '-p', String(c.port), '-U', 'medtrail', 'medtrail_test'], 20_000, c);
    return c;
  } catch (e) {
    await removeCluster(c);
    throw e;
  }
}

/** `pg_ctl restart -m fast -w`: every connection to it is cut; same port, same data. */
export async function restartCluster(c: PgCluster): Promise<void> {
  await must('pg_ctl', ['-D', c.data, '-l', c.logFile, '-m', 'fast', '-w', '-t', '30', '-o', serverOptions(c), 'restart'], 40_000, c);
}

/** Stops the server (fast shutdown, immediate if that does not finish in time). The directory stays. */
export async function stopCluster(c: PgCluster): Promise<void> {
  if (!existsSync(join(c.data, 'postmaster.pid'))) return;
  const r = await pgRun('pg_ctl', ['-D', c.data, '-m', 'fast', '-w', '-t', '20', 'stop'], 25_000);
  if (r.code !== 0 && existsSync(join(c.data, 'postmaster.pid'))) await pgRun('pg_ctl', ['-D', c.data, '-m', 'immediate', '-w', '-t', '10', 'stop'], 15_000);
}

/** Stops it and deletes its directory. */
export async function removeCluster(c: PgCluster | undefined): Promise<void> {
  if (c === undefined) return;
  try {
    await stopCluster(c);
  } finally {
    rmSync(c.dir, { recursive: true, force: true });
    live.delete(c);
  }
}

/**
 * A streaming standby of `primary` (pg_basebackup -R -X stream, with a fast checkpoint: a spread one takes minutes), started on a port of its own: a hot standby
 * that answers reads and replays the primary's WAL as it comes.
 */
export async function standby(primary: PgCluster): Promise<PgCluster> {
  registerExitHook();
  const dir = ownDir('medtrail-pgs-');
  const c: PgCluster = { dir, data: join(dir, 'data'), logFile: join(dir, 'log'), port: 0, url: '', standby: true };
  live.add(c);
  try {
    await must('pg_basebackup', ['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'medtrail', '-D', c.data, '-R', '-X', 'stream', '-c', 'fast', '--no-sync'], 30_000);
    await startOnSomePort(c);
    return c;
  } catch (e) {
    await removeCluster(c);
    throw e;
  }
}

/** A `postgres://` URL of the cluster naming the ledger schema, as `--db` takes it. */
export function dbUrl(c: PgCluster, schema: string): string {
  return `${c.url}?schema=${schema}`;
}
