// Issue 14 end to end, three server processes on loopback with real SQLite files: the operator (`medtrail serve`),
// a mirror that serves and forwards writes (`medtrail mirror --forward --policy`), and a second mirror that is the
// policy's witness (`medtrail mirror --witness-key`: it cosigns only what it verified). The demo chain and a
// 10,000-pack batch flow through; both mirrors end with the operator's custody tables, tree root and map roots.
// A write sent to the mirror lands at the operator with its signed bytes unchanged; while the operator is down it
// is OPERATOR_UNREACHABLE and nothing is written. The operator hangs (SIGSTOP) and is then killed: the reader
// (--policy, the operator first) keeps verifying online through the mirror, each failover well inside 2 s, and
// queues its dispenses; the patient page on the mirror's address works in Chromium; `medtrail verify --policy`
// answers through the mirror. The operator comes back: each queued dispense lands once.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { LedgerClient } from '../../client/ledger-client.js';
import { decodeEntry } from '../../core/entry/entry.js';
import { keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { parseCheckpointBody, parseNote } from '../../core/log/checkpoint.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { openDatabase, SqliteLedgerStore } from '../../server/store/ledger-store.js';
import { cli, cliAsync } from '../support/cli.js';
import { startMirrorProcess, type MirrorProcess } from '../support/mirror-process.js';
import { spawnReader } from '../support/reader-world.js';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';
import { until as waitFor } from '../support/until.js';
import { buildAssets, launch } from '../web/browser.js';
import { openPage, verdictOf } from '../web/patient-visit.js';

const until = <T>(what: string, f: () => Promise<T | undefined>): Promise<T> => waitFor(what, f, 30_000);

const t = tempDir('medtrail-three-');
const opDb = join(t.dir, 'op', 'medtrail.db');
const authority = join(t.dir, 'op', 'authority.key.json');
const m1Db = join(t.dir, 'm1.db');
const m2Db = join(t.dir, 'm2.db');
const policyFile = join(t.dir, 'policy.txt');
const demoDir = join(t.dir, 'demo');
let op: ServerProcess | undefined;
let m1: MirrorProcess | undefined;
let m2: MirrorProcess | undefined;
let port = '';
let packs: Record<string, string> = {};
let batchUris: string[] = [];
let gtin = '';

const keyIn = (dir: string, role: string): string => join(dir, readdirSync(dir).find((n) => n.endsWith(`-${role}.key.json`))!);
const checkpointOf = async (url: string): Promise<string> => (await fetch(`${url}/api/v1/checkpoint`)).text();
const sizeOf = (note: string): number => Number(note.split('\n')[1]);
const mirrorSize = async (url: string): Promise<number> => ((await (await fetch(`${url}/api/v1/mirror`)).json()) as { size: number | null }).size ?? 0;

beforeAll(async () => {
  installNodeCrypto();
  expect(cli(['init', '--db', opDb, '--json']).status).toBe(0);
  op = await startServerProcess(opDb);
  port = new URL(op.url).port;
  const d = await cliAsync(['demo', '--server', op.url, '--authority-key', authority, '--dir', demoDir, '--json']);
  expect(d.status, d.stderr).toBe(0);
  packs = (JSON.parse(d.stdout) as { packs: Record<string, string> }).packs;
  gtin = /\/01\/([0-9]{14})\//.exec(packs['GENUINE']!)![1]!;
  // A 10,000-pack batch, and two of its packs shipped to the pharmacy and received (they will be dispensed).
  const tags = join(t.dir, 'big.tags');
  const b = await cliAsync(['batch', '--server', op.url, '--key', keyIn(demoDir, 'manufacturer'), '--gtin', gtin, '--lot', 'BIG1', '--expiry', '301231', '--count', '10000', '--tags-out', tags, '--quiet', '--json']);
  expect(b.status, b.stderr).toBe(0);
  batchUris = readFileSync(tags, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => (JSON.parse(l) as { uri: string }).uri);
  expect(batchUris.length).toBe(10_000);
  const pharmacyGln = parseKeyFile(readFileSync(keyIn(demoDir, 'pharmacy'), 'utf8')).gln!;
  const s = await cliAsync(['ship', '--server', op.url, '--key', keyIn(demoDir, 'manufacturer'), '--to', pharmacyGln, '--pack', batchUris[1]!, '--pack', batchUris[2]!, '--json']);
  expect(s.status, s.stderr).toBe(0);
  const makerGln = parseKeyFile(readFileSync(keyIn(demoDir, 'manufacturer'), 'utf8')).gln!;
  const r = await cliAsync(['receive', '--server', op.url, '--key', keyIn(demoDir, 'pharmacy'), '--from', makerGln, '--json']);
  expect(r.status, r.stderr).toBe(0);
  for (const [name, gln] of [['m1', '4012345000016'], ['m2', '4012345000023']] as const) {
    expect(cli(['keygen', '--out', join(t.dir, `${name}.key.json`), '--name', `Mirror ${name}`, '--gln', gln]).status).toBe(0);
    const en = cli(['enroll', '--server', op.url, '--authority-key', authority, '--participant-key', join(t.dir, `${name}.key.json`), '--role', 'mirror', '--name', name, '--json']);
    expect(en.status, en.stderr).toBe(0);
  }
  expect(cli(['keygen', '--out', join(t.dir, 'w2.key.json'), '--name', 'mirror.test/m2']).status).toBe(0);
  // The second mirror, a witness; its own follow loop idle: it follows only when the log submits a checkpoint,
  // and answers MIRROR_BEHIND at once (--witness-catch-up-ms 0) while it does: the log submits again soon.
  m2 = await startMirrorProcess(['--from', op.url, '--db', m2Db, '--key', join(t.dir, 'm2.key.json'), '--authority', authority, '--interval-ms', '600000', '--witness-key', join(t.dir, 'w2.key.json'), '--witness-catch-up-ms', '0']);
  const vkey = (await (await fetch(`${op.url}/api/v1/log/key`)).text()).trim();
  writeFileSync(policyFile, [`log ${vkey}`, `witness m2 ${m2.witness!.vkey} ${m2.witness!.url}`, 'quorum m2', ''].join('\n'));
  await op.stop();
  // The default max age (600 s): the log refreshes its cosignatures only every minute, so a cosignature seen within
  // seconds of a MIRROR_BEHIND is the log submitting again soon (server/log/publisher.ts), not its refresh.
  op = await startServerProcess(opDb, ['--port', port, '--policy', policyFile]);
  m1 = await startMirrorProcess(['--from', op.url, '--db', m1Db, '--key', join(t.dir, 'm1.key.json'), '--authority', authority, '--interval-ms', '100', '--policy', policyFile, '--forward']);
  await buildAssets();
}, 300_000);

afterAll(async () => {
  op?.child.kill('SIGCONT');
  await op?.stop();
  await m1?.stop();
  await m2?.stop();
  t.cleanup();
});

/** Every row of every custody table, in a stable order. */
function custodyTables(db: string): Record<string, unknown[]> {
  const d = new Database(db, { readonly: true });
  try {
    const names = d.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'custody_%' AND name <> 'custody_meta' ORDER BY name").pluck().all();
    return Object.fromEntries(names.map((n) => [n, d.prepare(`SELECT * FROM ${n} ORDER BY 1, 2`).raw().all()]));
  } finally {
    d.close();
  }
}

/** The tree root and map roots a database's verified checkpoint of `size` signs. */
function checkpointAt(db: string, size: number): { root: string; map: string[] } {
  const s = new SqliteLedgerStore(openDatabase(db, { readonly: true }));
  try {
    const cp = s.checkpointAt(size);
    expect(cp, `${db} has a checkpoint of size ${size}`).toBeDefined();
    const body = parseCheckpointBody(parseNote(cp!.note).body);
    return { root: Buffer.from(body.root).toString('base64'), map: body.extensions.filter((e) => e.startsWith('medtrail-map')) };
  } finally {
    s.close();
  }
}

describe('operator, forwarding mirror and witness mirror', () => {
  it('a write sent to the mirror is forwarded unchanged: the operator checks the signatures and appends it', async () => {
    const before = sizeOf(await checkpointOf(op!.url));
    // An entry (signed by the authority over its own bytes) sent through the mirror.
    expect(cli(['keygen', '--out', join(t.dir, 'p2.key.json'), '--name', 'Second pharmacy', '--gln', '4012345000030']).status).toBe(0);
    const en = await cliAsync(['enroll', '--server', m1!.url, '--authority-key', authority, '--participant-key', join(t.dir, 'p2.key.json'), '--role', 'pharmacy', '--name', 'P2', '--json']);
    expect(en.status, en.stderr).toBe(0);
    expect(sizeOf(await checkpointOf(op!.url))).toBe(before + 1);
    // A signed request (the manufacturer registering a tag key: method, path and body bytes are signed).
    const mk = parseKeyFile(readFileSync(keyIn(demoDir, 'manufacturer'), 'utf8'));
    const c = new LedgerClient(m1!.url, { signer: { gln: mk.gln!, seed: keyFileSeed(mk) } });
    const serial = /\/21\/([^/?]+)/.exec(batchUris[5]!)![1]!;
    const got = await c.post('/api/v1/tags/keys', { gtin, serial: decodeURIComponent(serial), uid: '04a1b2c3d4e5f6', key: '00112233445566778899aabbccddeeff' }, (v) => v, true);
    expect(got).toMatchObject({ gtin, forwardedTo: op!.url });
    // The operator's refusal comes back as it gave it, saying it was forwarded.
    const bad = await fetch(`${m1!.url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('medtrail-forwarded-to')).toBe(op!.url);
    expect(((await bad.json()) as { forwardedTo: string }).forwardedTo).toBe(op!.url);
  }, 60_000);

  it('both mirrors end with the operator’s custody tables, tree root and map roots; the witness mirror cosigns soon after MIRROR_BEHIND', async () => {
    const size = sizeOf(await checkpointOf(op!.url));
    await until('both mirrors at the operator’s size', async () => ((await mirrorSize(m1!.url)) >= size && (await mirrorSize(m2!.url)) >= size ? true : undefined));
    const want = checkpointAt(opDb, size);
    for (const db of [m1Db, m2Db]) {
      expect(checkpointAt(db, size)).toEqual(want);
      expect(custodyTables(db)).toEqual(custodyTables(opDb));
    }
    expect(want.map.length).toBe(1);
    // The witness mirror answered MIRROR_BEHIND (it was following), and the log submitted again within seconds,
    // not at its next refresh: the newest checkpoint carries its cosignature.
    await waitFor(
      'the operator’s checkpoint cosigned by the witness mirror',
      async () => {
        const note = await checkpointOf(op!.url);
        return sizeOf(note) >= size && note.includes('— mirror.test/m2 ') ? true : undefined;
      },
      15_000,
    );
    expect(op!.stderr()).toMatch(/MIRROR_BEHIND/);
  }, 60_000);

  it('the operator hangs, then dies: the reader verifies through the mirror within 2 s and queues its dispenses; the page and verify --policy work on the mirror; back, each dispense lands once', async () => {
    const reader = await spawnReader(['--server', op!.url, '--server', m1!.url, '--policy', policyFile, '--key', keyIn(demoDir, 'pharmacy'), '--state', join(t.dir, 'reader'), '--no-nfc', '--dispense', '--retry-ms', '200']);
    let browser: { browser: Browser; close: () => Promise<void> } | undefined;
    try {
      // Hung (SIGSTOP: its socket accepts, nothing answers).
      op!.child.kill('SIGSTOP');
      reader.write(batchUris[1]!);
      const hung = await reader.next((l) => 'verdict' in l && l['provisional'] === false && l['uri'] === batchUris[1], 20_000);
      expect(hung).toMatchObject({ verdict: 'GENUINE', offline: false, via: m1!.url, witnessed: ['m2'] });
      expect((hung['timings'] as { verifyMs: number }).verifyMs).toBeLessThan(2000);
      expect(hung['dispense']).toMatchObject({ queued: true });
      // Killed (refused at once).
      op!.child.kill('SIGCONT');
      await op!.stop('SIGKILL');
      reader.write(batchUris[2]!);
      const dead = await reader.next((l) => 'verdict' in l && l['provisional'] === false && l['uri'] === batchUris[2], 20_000);
      expect(dead).toMatchObject({ verdict: 'GENUINE', offline: false, via: m1!.url });
      expect((dead['timings'] as { verifyMs: number }).verifyMs).toBeLessThan(2000);
      expect(dead['dispense']).toMatchObject({ queued: true });
      // A write through the mirror now: OPERATOR_UNREACHABLE, nothing written on the mirror.
      const sizeBefore = await mirrorSize(m1!.url);
      const w = await fetch(`${m1!.url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(w.status).toBe(503);
      expect(((await w.json()) as { error: { code: string } }).error.code).toBe('OPERATOR_UNREACHABLE');
      expect(await mirrorSize(m1!.url)).toBe(sizeBefore);
      // The patient page on the mirror's own address, by itself, in Chromium.
      browser = await launch();
      const { ctx, page } = await openPage(browser.browser, 'en-GB', { width: 412, height: 900 });
      const onMirror = (uri: string): string => `${m1!.url}${new URL(uri).pathname}${new URL(uri).search}`;
      expect((await verdictOf(page, onMirror(batchUris[7]!))).key).toBe('GENUINE');
      expect((await verdictOf(page, onMirror(packs['DISPENSED']!))).key).toBe('DISPENSED');
      await ctx.close();
      // verify --policy with the operator first: the mirror answers, on a fresh quorum.
      const v = await cliAsync(['verify', '--server', op!.url, '--server', m1!.url, '--policy', policyFile, '--json', batchUris[8]!]);
      expect(v.status, v.stderr).toBe(0);
      expect(JSON.parse(v.stdout)).toMatchObject({ verdict: 'GENUINE', server: m1!.url, witnessed: ['m2'] });
      // The operator back on its address: both queued dispenses land, once each.
      op = await startServerProcess(opDb, ['--port', port, '--policy', policyFile]);
      for (const uri of [batchUris[1]!, batchUris[2]!]) {
        await until(`${uri} dispensed at the operator`, async () => {
          const r = await cliAsync(['verify', '--server', op!.url, '--json', uri]);
          return (JSON.parse(r.stdout || '{}') as { verdict?: string }).verdict === 'DISPENSED' ? true : undefined;
        });
      }
      const s = new SqliteLedgerStore(openDatabase(opDb, { readonly: true }));
      try {
        const dispenses = s.leaves(0, s.head().size).map((l) => decodeEntry(l.bytes)).filter((e) => e.kind === 'dispense');
        for (const uri of [batchUris[1]!, batchUris[2]!]) {
          const serial = decodeURIComponent(/\/21\/([^/?]+)/.exec(uri)![1]!);
          expect(dispenses.filter((e) => JSON.stringify(e.body).includes(JSON.stringify(serial))).length, serial).toBe(1);
        }
      } finally {
        s.close();
      }
    } finally {
      op?.child.kill('SIGCONT');
      await browser?.close();
      await reader.stop();
    }
  }, 180_000);
});
