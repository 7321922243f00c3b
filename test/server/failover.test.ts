// Failover (issue 14): `medtrail verify` and `medtrail-reader` take several servers in order, the operator first
// and then mirrors. Real processes on loopback: `medtrail serve` (the operator), `medtrail mirror` following it,
// the CLI and the reader daemon. The operator is SIGKILLed: verify answers through the mirror; the reader keeps
// verifying online through the mirror, queues its dispense for the operator (a mirror takes no writes), and
// delivers it once the operator is back on its address.
import { readdirSync, writeFileSync } from 'node:fs';
import { openDatabase, SqliteLedgerStore } from '../../server/store/ledger-store.js';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliAsync } from '../support/cli.js';
import { startMirrorProcess, type MirrorProcess } from '../support/mirror-process.js';
import { spawnReader } from '../support/reader-world.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';
import { startWitnessProcess, type WitnessProcess } from '../support/witness-process.js';

const t = tempDir('medtrail-failover-');
const opDb = join(t.dir, 'op', 'medtrail.db');
const authority = join(t.dir, 'op', 'authority.key.json');
const mirrorKey = join(t.dir, 'mirror.key.json');
let op: ServerProcess | undefined;
let mirror: MirrorProcess | undefined;
let packs: Record<string, string> = {};
let pharmacyKey = '';

beforeAll(async () => {
  expect(cli(['init', '--db', opDb, '--json']).status).toBe(0);
  op = await startServerProcess(opDb);
  const demoDir = join(t.dir, 'demo');
  const d = await cliAsync(['demo', '--server', op.url, '--authority-key', authority, '--dir', demoDir, '--json']);
  expect(d.status, d.stderr).toBe(0);
  packs = (JSON.parse(d.stdout) as { packs: Record<string, string> }).packs;
  pharmacyKey = join(demoDir, readdirSync(demoDir).find((n) => n.endsWith('-pharmacy.key.json'))!);
  expect(cli(['keygen', '--out', mirrorKey, '--name', 'Failover mirror', '--gln', '4012345000009']).status).toBe(0);
  const en = cli(['enroll', '--server', op.url, '--authority-key', authority, '--participant-key', mirrorKey, '--role', 'mirror', '--name', 'Mirror', '--json']);
  expect(en.status, en.stderr).toBe(0);
  mirror = await startMirrorProcess(['--from', op.url, '--db', join(t.dir, 'mirror.db'), '--key', mirrorKey, '--authority', authority, '--interval-ms', '100']);
  // The mirror holds the operator's newest checkpoint (the enrolment above included).
  const size = Number((await (await fetch(`${op.url}/api/v1/checkpoint`)).text()).split('\n')[1]);
  for (let i = 0; i < 200; i++) {
    const s = (await (await fetch(`${mirror.url}/api/v1/mirror`)).json()) as { size: number | null };
    if ((s.size ?? 0) >= size) break;
    await new Promise((r) => setTimeout(r, 100));
  }
}, 120_000);

afterAll(async () => {
  await op?.stop();
  await mirror?.stop();
  t.cleanup();
});

/** The log's verifier key, as `init` wrote it into the database. */
function logKeyOf(db: string): string {
  const s = new SqliteLedgerStore(openDatabase(db, { readonly: true }));
  try {
    return s.getMeta('log_vkey')!;
  } finally {
    s.close();
  }
}

async function verify(servers: string[], uri: string): Promise<{ status: number | null; json: Record<string, unknown>; stderr: string }> {
  const r = await cliAsync(['verify', ...servers.flatMap((s) => ['--server', s]), '--json', uri]);
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    /* errors go to stderr */
  }
  return { status: r.status, json, stderr: r.stderr };
}

describe('failover to a mirror when the operator is down', () => {
  it('medtrail verify asks the servers in order: the operator while it is up, the mirror once it is killed', async () => {
    const up = await verify([op!.url, mirror!.url], packs['GENUINE']!);
    expect(up.status, up.stderr).toBe(0);
    expect(up.json).toMatchObject({ verdict: 'GENUINE', server: op!.url });
    // An operator that hangs (stopped, its socket open): past the client's timeout the mirror is asked.
    op!.child.kill('SIGSTOP');
    try {
      const hung = await verify([op!.url, mirror!.url], packs['GENUINE']!);
      expect(hung.status, hung.stderr).toBe(0);
      expect(hung.json).toMatchObject({ verdict: 'GENUINE', server: mirror!.url });
    } finally {
      op!.child.kill('SIGCONT');
    }
    const port = new URL(op!.url).port;
    await op!.stop('SIGKILL');
    // The operator alone: no verdict.
    const alone = await verify([op!.url], packs['GENUINE']!);
    expect(alone.status).toBe(1);
    expect(alone.stderr).toMatch(/SERVER_UNREACHABLE/);
    // Both, repeated or comma-separated: the mirror answers, from its checked copy.
    const both = await verify([op!.url, mirror!.url], packs['GENUINE']!);
    expect(both.status, both.stderr).toBe(0);
    expect(both.json).toMatchObject({ verdict: 'GENUINE', server: mirror!.url });
    expect(both.stderr).toMatch(/SERVER_UNREACHABLE.*asking/);
    const comma = await verify([`${op!.url},${mirror!.url}`], packs['DISPENSED']!);
    expect(comma.status).toBe(3);
    expect(comma.json).toMatchObject({ verdict: 'DISPENSED', server: mirror!.url });
    op = await startServerProcess(opDb, ['--port', port]);
  });

  it('the reader keeps verifying online through the mirror, and its queued dispense reaches the operator once it is back', async () => {
    const port = new URL(op!.url).port;
    const reader = await spawnReader(['--server', op!.url, '--server', mirror!.url, '--key', pharmacyKey, '--state', join(t.dir, 'reader'), '--no-nfc', '--dispense', '--retry-ms', '200']);
    try {
      await op!.stop('SIGKILL');
      reader.write(packs['GENUINE']!);
      const line = await reader.next((l) => 'verdict' in l && l['provisional'] === false, 20_000);
      // Online (not the offline cache), through the mirror.
      expect(line).toMatchObject({ verdict: 'GENUINE', offline: false, via: mirror!.url });
      // The dispense went to the operator only: it waits in the queue (the mirror would refuse it anyway).
      expect(line['dispense']).toMatchObject({ queued: true });
      const mirrorSays = await verify([mirror!.url], packs['GENUINE']!);
      expect(mirrorSays.json['verdict']).toBe('GENUINE');
      // The operator comes back on its address: the queued dispense lands there, once.
      op = await startServerProcess(opDb, ['--port', port]);
      let after: Record<string, unknown> = {};
      for (let i = 0; i < 300; i++) {
        after = (await verify([op.url], packs['GENUINE']!)).json;
        if (after['verdict'] === 'DISPENSED') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(after['verdict']).toBe('DISPENSED');
    } finally {
      await reader.stop();
    }
  });
});

describe('failover under a witness policy: the mirror keeps its checkpoint freshly cosigned', () => {
  const db2 = join(t.dir, 'op2', 'medtrail.db');
  const auth2 = join(t.dir, 'op2', 'authority.key.json');
  const policyFile = join(t.dir, 'policy.txt');
  let op2: ServerProcess | undefined;
  let mirror2: MirrorProcess | undefined;
  let w1: WitnessProcess | undefined;
  let genuine = '';

  beforeAll(async () => {
    expect(cli(['init', '--db', db2, '--json']).status).toBe(0);
    const vkey = logKeyOf(db2);
    w1 = await startWitnessProcess(t.dir, 'witness.test/f1', vkey);
    writeFileSync(policyFile, [`log ${vkey}`, `witness w1 ${w1.vkey} ${w1.url}`, 'quorum w1', ''].join('\n'));
    // Cosignatures older than 4 s are refused: the operator, and then the mirror, have them refreshed every second.
    op2 = await startServerProcess(db2, ['--policy', policyFile, '--witness-max-age', '4']);
    const demoDir = join(t.dir, 'demo2');
    const d = await cliAsync(['demo', '--server', op2.url, '--authority-key', auth2, '--dir', demoDir, '--json']);
    expect(d.status, d.stderr).toBe(0);
    genuine = (JSON.parse(d.stdout) as { packs: Record<string, string> }).packs['GENUINE']!;
    const en = cli(['enroll', '--server', op2.url, '--authority-key', auth2, '--participant-key', mirrorKey, '--role', 'mirror', '--name', 'Mirror', '--json']);
    expect(en.status, en.stderr).toBe(0);
    mirror2 = await startMirrorProcess(['--from', op2.url, '--db', join(t.dir, 'mirror2.db'), '--key', mirrorKey, '--authority', auth2, '--interval-ms', '100', '--policy', policyFile, '--witness-max-age', '4']);
  }, 120_000);

  afterAll(async () => {
    await op2?.stop();
    await mirror2?.stop();
    await w1?.stop();
  });

  it('with the operator dead past the max age, verify --policy through the mirror still stands on a fresh quorum', async () => {
    const size = Number((await (await fetch(`${op2!.url}/api/v1/checkpoint`)).text()).split('\n')[1]);
    for (let i = 0; i < 300; i++) {
      const s = (await (await fetch(`${mirror2!.url}/api/v1/mirror`)).json()) as { size: number | null };
      if ((s.size ?? 0) >= size) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await op2!.stop('SIGKILL');
    // Longer than the max age: every cosignature the operator ever had collected is stale by now.
    await new Promise((r) => setTimeout(r, 5000));
    const r = await cliAsync(['verify', '--server', op2!.url, '--server', mirror2!.url, '--policy', policyFile, '--max-age', '4', '--json', genuine]);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: 'GENUINE', server: mirror2!.url, witnessed: ['w1'], proven: { state: 'active' } });
  }, 60_000);
});
