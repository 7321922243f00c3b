// The counter daemon outlives pcscd: when pcscd stops (an update restarts it, it crashes) the daemon says so,
// keeps verifying scanner lines, and once pcscd is back it watches the readers again by itself, with no
// restart of the daemon. Real pcscd + vpcd + nfc-pcsc in the daemon's process, a virtual NTAG as the card.
//
// pcscd is one per machine and every NFC test file uses it, so this file holds BOTH virtual reader locks
// while it stops and restarts it: no other NFC file is between its lock and its release meanwhile.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatElementString } from '../../core/gs1/element-string.js';
import { VIRTUAL_READERS, acquireVirtualReader, ensurePcscd, listReaders } from '../support/pcscd.js';
import { readerWorld, spawnReader, type ReaderProcess, type ReaderWorld } from '../support/reader-world.js';
import { VirtualNtag } from '../support/virtual-ntag.js';

const INDEX = 0;
const READER = VIRTUAL_READERS[INDEX];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let w: ReaderWorld;
const releases: (() => void)[] = [];

beforeAll(async () => {
  await ensurePcscd();
  releases.push(await acquireVirtualReader(0), await acquireVirtualReader(1));
  w = await readerWorld(4);
});
afterAll(async () => {
  // Whatever happened above, leave a pcscd with both readers for the files after this one.
  await ensurePcscd(15_000, { autoExit: false });
  await w?.close();
  for (const r of releases) r();
});

function pcscdPids(): number[] {
  const r = spawnSync('pgrep', ['-x', 'pcscd'], { encoding: 'utf8' });
  return r.stdout.split('\n').filter((x) => /^[0-9]+$/.test(x)).map(Number);
}

async function stopPcscd(): Promise<void> {
  const pids = pcscdPids();
  expect(pids.length).toBeGreaterThan(0);
  for (const pid of pids) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (pcscdPids().length > 0 && Date.now() < deadline) await sleep(100);
  expect(pcscdPids()).toEqual([]);
}

async function tap(r: ReaderProcess, uri: string): Promise<Record<string, unknown>> {
  const card = new VirtualNtag({ kind: 'NTAG215' }).programUri(uri);
  await card.tap(INDEX);
  try {
    return await r.next((l) => ('verdict' in l || 'error' in l) && l['provisional'] !== true, 15_000);
  } finally {
    await card.remove();
    await sleep(900); // pcscd polls presence about every 400 ms
  }
}

describe('pcscd restarted under a running daemon', () => {
  it('reports the loss, goes on with scanner lines, and reads tags again once pcscd is back', async () => {
    const r = await spawnReader(['--server', w.url, '--key', w.keyFile, '--reader', READER, '--state', join(w.dir, 'restart-state'), '--retry-ms', '500']);
    try {
      expect(await tap(r, w.uri(w.genuine[0]!))).toMatchObject({ verdict: 'GENUINE', source: 'nfc', reader: READER });

      await stopPcscd();
      expect(await r.next((l) => l['info'] === 'pcsc' && l['state'] === 'lost', 15_000)).toMatchObject({ info: 'pcsc', state: 'lost' });
      await sleep(500);
      // Said once, and not as an unreadable tag.
      expect(r.lines.filter((l) => l['info'] === 'pcsc' || 'error' in l)).toEqual([]);
      expect(await r.next((l) => l['info'] === 'reader' && l['attached'] === false, 15_000)).toMatchObject({ reader: READER });
      // NFC is paused, the scanner is not.
      const p = w.genuine[1]!;
      r.write(formatElementString({ gtin: p.gtin, lot: p.lot, expiry: p.expiry, serial: p.serial }));
      expect(await r.next((l) => 'verdict' in l && l['source'] === 'scanner' && l['provisional'] !== true, 15_000)).toMatchObject({ source: 'scanner' });

      await ensurePcscd(15_000, { autoExit: false });
      expect(await listReaders()).toContain(READER);
      expect(await r.next((l) => l['info'] === 'pcsc' && l['state'] === 'restored', 20_000)).toMatchObject({ state: 'restored' });
      expect(await r.next((l) => l['info'] === 'reader' && l['attached'] === true, 20_000)).toMatchObject({ reader: READER });
      expect(await tap(r, w.uri(w.genuine[2]!))).toMatchObject({ verdict: 'GENUINE', source: 'nfc', reader: READER });
      expect(r.child.exitCode).toBeNull();
    } finally {
      await r.stop();
    }
  });
});
