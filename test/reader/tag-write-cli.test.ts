// `medtrail tag write` end to end: the built CLI waits on virtual reader 1 (pcscd + vpcd), a virtual NTAG is
// tapped, the URI is written (and locked), read back; a URI too big for the tag is refused before any write.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliAsync, type CliResult } from '../support/cli.js';
import { VIRTUAL_READERS, acquireVirtualReader, ensurePcscd } from '../support/pcscd.js';
import { tempDir } from '../support/tmp.js';
import { VirtualNtag } from '../support/virtual-ntag.js';

const INDEX = 1;
const URI = 'https://id.example.org/01/09506000134352/10/LOT42/21/SER123456?17=271231&s=' + 'A'.repeat(86);
const SHORT_URI = 'https://dl.ex/01/09506000134352/10/L4/21/S1?17=271231&s=' + 'B'.repeat(60);
let release: () => void;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  release = await acquireVirtualReader(INDEX); // the lock first: see test/reader/no-pcscd.test.ts
  await ensurePcscd();
});
afterAll(() => release?.());

/** Runs `medtrail tag write ...` and taps `card` once the CLI is listening. */
async function writeWith(args: string[], card: VirtualNtag): Promise<CliResult> {
  const run = cliAsync(['tag', 'write', '--reader', VIRTUAL_READERS[INDEX], '--timeout', '20', '--json', ...args], { timeoutMs: 30_000 });
  await sleep(1500); // the CLI starts and attaches to the reader
  await card.tap(INDEX);
  const r = await run;
  await card.remove();
  await sleep(900);
  return r;
}

describe('medtrail tag write', () => {
  it('writes a URI to a blank NTAG215 and reads it back', async () => {
    const card = new VirtualNtag({ kind: 'NTAG215' });
    const r = await writeWith(['--uri', URI], card);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ uri: URI, tagType: 'NTAG215', locked: false, uid: '046b2f1a9c5d80' });
    expect(card.locked(4)).toBe(false);
  });

  it('writes line --index of a tags file and locks the tag', async () => {
    const t = tempDir();
    try {
      const file = join(t.dir, 'tags.txt');
      writeFileSync(file, `${URI}\n${JSON.stringify({ uri: SHORT_URI })}\n`);
      const card = new VirtualNtag({ kind: 'NTAG213' });
      const r = await writeWith(['--tags', file, '--index', '1', '--lock'], card);
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ uri: SHORT_URI, tagType: 'NTAG213', locked: true });
      expect(card.page(3)[3]).toBe(0x0f);
      for (const p of [3, 4, 16, 39]) expect(card.locked(p)).toBe(true);
    } finally {
      t.cleanup();
    }
  });

  it('refuses a URI that does not fit the tag, writing nothing', async () => {
    const card = new VirtualNtag({ kind: 'NTAG213' });
    const before = card.memory.slice();
    const r = await writeWith(['--uri', URI], card);
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: 'NFC_TAG_TOO_SMALL' } });
    expect(card.memory).toEqual(before);
  });

  it('refuses bad usage with exit 2', async () => {
    const r = await cliAsync(['tag', 'write', '--json']);
    expect(r.status).toBe(2);
    expect(JSON.parse(r.stderr)).toMatchObject({ error: { code: 'CLI_USAGE' } });
  });
});
