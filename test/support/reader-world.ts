// A world for the reader tests: a real server (startServer + serviceModules on a temporary SQLite file) with a
// chain built through the API (manufacturer -> distributor -> pharmacy), packs in each state a counter meets,
// the pharmacy's key file on disk, and the medtrail-reader daemon run as a child process (the built bin) whose
// JSON lines the test reads.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyFile, type KeyFile } from '../../core/crypto/keys.js';
import { serviceModules } from '../../server/modules.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { tagUri } from '../verify/fixture.js';
import { gtinOf, sign, startChain, type Chain, type Party } from './custody.js';
import { REPO_ROOT, tempDir } from './tmp.js';

export interface PackFacts {
  gtin: string;
  lot: string;
  serial: string;
  expiry: string;
}

export interface ReaderWorld {
  c: Chain;
  srv: RunningServer;
  url: string;
  keyFile: string;
  dir: string;
  gtin: string;
  /** Active packs held by the pharmacy (lot L1). */
  genuine: PackFacts[];
  dispensed: PackFacts;
  recalled: PackFacts;
  uri(p: PackFacts, signer?: KeyFile): string;
  forgedUri(p: PackFacts): string;
  /** Stops the server (the port stays free for restart()). */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Dispenses a pack as the pharmacy straight through the API (another counter of the same pharmacy). */
  dispenseDirect(p: PackFacts): Promise<void>;
  close(): Promise<void>;
}

export const EXPIRY = '270630';

export async function readerWorld(genuineCount = 12): Promise<ReaderWorld> {
  const c = await startChain();
  const t = tempDir('medtrail-reader-');
  const gtin = gtinOf(7);
  const [product] = await c.ok(sign('product', c.m, { gtin, name: 'Amoxicillin 500 mg', form: 'capsule', strength: '500 mg', packSize: 20 }));
  const serials1 = Array.from({ length: genuineCount + 1 }, (_, i) => `SN${String(i).padStart(4, '0')}X`);
  const [b1] = await c.ok(sign('batch', c.m, { gtin, lot: 'L1', expiry: EXPIRY, serials: serials1 }, [product!]));
  const [b2] = await c.ok(sign('batch', c.m, { gtin, lot: 'L2', expiry: EXPIRY, serials: ['RC0001'] }, [product!]));
  const items = [
    { type: 'lot', gtin, lot: 'L1' },
    { type: 'lot', gtin, lot: 'L2' },
  ];
  const [s1] = await c.ok(sign('ship', c.m, { to: c.d.gln, items }, [b1!, b2!]));
  const [r1] = await c.ok(sign('receive', c.d, { ship: s1!, missing: [], extra: [] }, [s1!]));
  const [s2] = await c.ok(sign('ship', c.d, { to: c.p.gln, items }, [r1!]));
  const [r2] = await c.ok(sign('receive', c.p, { ship: s2!, missing: [], extra: [] }, [s2!]));
  const facts = (lot: string, serial: string): PackFacts => ({ gtin, lot, serial, expiry: EXPIRY });
  const dispensed = facts('L1', serials1[genuineCount]!);
  await c.ok(sign('dispense', c.p, { gtin, serial: dispensed.serial }, [r2!]));
  await c.ok(sign('recall', c.m, { gtin, lot: 'L2', reason: 'contamination' }, [b2!]));
  const keyFile = join(t.dir, 'pharmacy.key.json');
  writeFileSync(keyFile, JSON.stringify(c.p), { mode: 0o600 });
  const forger = generateKeyFile('forger');
  let srv = c.srv;
  const port = srv.port;
  return {
    c,
    get srv() {
      return srv;
    },
    url: srv.url,
    keyFile,
    dir: t.dir,
    gtin,
    genuine: serials1.slice(0, genuineCount).map((s) => facts('L1', s)),
    dispensed,
    recalled: facts('L2', 'RC0001'),
    uri: (p, signer = c.m) => tagUri(p, signer),
    forgedUri: (p) => tagUri(p, forger),
    stop: () => srv.close(),
    restart: async () => {
      srv = await startServer({ db: c.t.db, port, modules: serviceModules() });
    },
    dispenseDirect: async (p) => {
      const held = await c.get(`/held?gln=${c.p.gln}&gtin=${p.gtin}&serial=${p.serial}`, c.p);
      const prev = (held.json['prev'] as string[])[0]!;
      await c.ok(sign('dispense', c.p as Party, { gtin: p.gtin, serial: p.serial }, [prev]));
    },
    close: async () => {
      await srv.close();
      c.t.cleanup();
      t.cleanup();
    },
  };
}

export interface ReaderProcess {
  child: ChildProcessWithoutNullStreams;
  lines: Record<string, unknown>[];
  /** Waits for (and consumes) the first JSON line matching `pred`. */
  next(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  write(line: string): void;
  exit: Promise<number | null>;
  stderr(): string;
  stop(): Promise<void>;
}

/** Spawns `node bin/medtrail-reader.js --json ...args`; resolves once it printed its `ready` line. */
export async function spawnReader(args: string[], opts: { waitReady?: boolean; env?: Record<string, string> } = {}): Promise<ReaderProcess> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/medtrail-reader.js'), '--json', ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  const lines: Record<string, unknown>[] = [];
  let waiters: (() => void)[] = [];
  let buf = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ unparsed: line });
      }
    }
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  void exit.then(() => {
    for (const w of waiters.splice(0)) w();
  });
  const next = async (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = lines.findIndex(pred);
      if (i >= 0) return lines.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0 || child.exitCode !== null) throw new Error(`no matching line in ${timeoutMs} ms; lines: ${JSON.stringify(lines)}; stderr: ${err}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, Math.min(left, 200));
        waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  };
  const p: ReaderProcess = {
    child,
    lines,
    next,
    write: (line) => child.stdin.write(line + '\n'),
    exit,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exit;
      waiters = [];
    },
  };
  if (opts.waitReady !== false) await next((l) => l['info'] === 'ready', 20_000);
  return p;
}
