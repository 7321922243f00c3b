// The medtrail-reader daemon end to end: a real server, pcscd + vpcd (virtual reader 1) + nfc-pcsc in the
// daemon's own process, a virtual NTAG as the card, and the daemon's JSON lines read from its stdout.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import QRCode from 'qrcode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, utf8 } from '../../core/bytes.js';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { signRequest } from '../../core/api/request-auth.js';
import { formatElementString } from '../../core/gs1/element-string.js';
import { typeOnGermanLayout } from '../../core/gs1/scanner-repair.js';
import { VIRTUAL_READERS, acquireVirtualReader, ensurePcscd } from '../support/pcscd.js';
import { readerWorld, spawnReader, type ReaderProcess, type ReaderWorld } from '../support/reader-world.js';
import { withSun } from '../support/sun-tag.js';
import { tempDir } from '../support/tmp.js';
import { VirtualNtag } from '../support/virtual-ntag.js';
import { TEST_ORIGIN } from '../support/ledger.js';

const INDEX = 1;
const READER = VIRTUAL_READERS[INDEX];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const vectors = JSON.parse(readFileSync(new URL('../vectors/ntag-originality/vectors.json', import.meta.url), 'utf8')) as { valid: { uid: string; signature: string }[] };

let w: ReaderWorld;
let release: () => void;
let n = 0;
const state = () => join(w.dir, `state-${n++}`);
const base = () => ['--server', w.url, '--key', w.keyFile, '--reader', READER, '--state', state()];

beforeAll(async () => {
  release = await acquireVirtualReader(INDEX); // the lock first: see test/reader/no-pcscd.test.ts
  await ensurePcscd();
  w = await readerWorld();
});
afterAll(async () => {
  await w?.close();
  release?.();
});

/** Taps `card`, waits for the daemon's line about it, lifts the card and lets pcscd notice. */
async function tap(r: ReaderProcess, card: VirtualNtag, pred: (l: Record<string, unknown>) => boolean = (l) => 'verdict' in l || 'error' in l) {
  await card.tap(INDEX);
  try {
    return await r.next((l) => pred(l) && l['provisional'] !== true);
  } finally {
    await card.remove();
    await sleep(900); // pcscd polls presence about every 400 ms
  }
}

const tag = (uri: string, opts: ConstructorParameters<typeof VirtualNtag>[0] = {}) => new VirtualNtag({ kind: 'NTAG215', ...opts }).programUri(uri);

describe('taps give verdict lines', () => {
  let r: ReaderProcess;
  beforeAll(async () => {
    r = await spawnReader(base());
  });
  afterAll(() => r?.stop());

  it('genuine, with product, lot, expiry, timings and the chip signal (a clone-like zero signature)', async () => {
    const p = w.genuine[0]!;
    const line = await tap(r, tag(w.uri(p)));
    expect(line).toMatchObject({ verdict: 'GENUINE', source: 'nfc', uri: w.uri(p), layer: 'online', offline: false, originality: 'not-nxp', reader: READER });
    expect(line['product']).toMatchObject({ name: 'Amoxicillin 500 mg' });
    expect(line['pack']).toMatchObject({ serial: p.serial, lot: 'L1', expiry: '270630' });
    expect((line['reasons'] as { code: string }[]).map((x) => x.code)).toContain('PACK_ACTIVE');
    const t = line['timings'] as Record<string, number>;
    expect(t['readMs']).toBeGreaterThan(0);
    expect(t['totalMs']).toBeLessThan(1000);
  });

  it('reports a genuine NXP chip from its originality signature', async () => {
    const v = vectors.valid[0]!;
    const line = await tap(r, tag(w.uri(w.genuine[1]!), { uid: fromHex(v.uid.toLowerCase()), signature: fromHex(v.signature.toLowerCase()) }));
    expect(line).toMatchObject({ verdict: 'GENUINE', originality: 'nxp', uid: v.uid.toLowerCase() });
  });

  it('dispensed, recalled and forged packs', async () => {
    expect(await tap(r, tag(w.uri(w.dispensed)))).toMatchObject({ verdict: 'DISPENSED' });
    expect(await tap(r, tag(w.uri(w.recalled)))).toMatchObject({ verdict: 'RECALLED' });
    const forged = await tap(r, tag(w.forgedUri(w.genuine[2]!)));
    expect(forged).toMatchObject({ verdict: 'COUNTERFEIT' });
    expect((forged['reasons'] as { code: string }[])[0]!.code).toBe('TAG_SIGNATURE_INVALID');
  });

  it('an NTAG 424 DNA SUN reading verifies once; a copied tag replaying it is COUNTERFEIT', async () => {
    const p = w.genuine[10]!;
    const key = fromHex('0f1e2d3c4b5a69788796a5b4c3d2e1f0');
    const uid = fromHex('04112233445566');
    const raw = JSON.stringify({ gtin: p.gtin, serial: p.serial, uid: '04112233445566', key: '0f1e2d3c4b5a69788796a5b4c3d2e1f0' });
    const headers = { 'content-type': 'application/json', ...signRequest({ log: TEST_ORIGIN, method: 'POST', path: '/api/v1/tags/keys', body: utf8(raw) }, w.c.m.gln, keyFileSeed(w.c.m)) };
    expect((await fetch(`${w.url}/api/v1/tags/keys`, { method: 'POST', headers, body: raw })).status).toBe(201);
    const reading = withSun(w.uri(p), key, uid, 7);
    expect(await tap(r, tag(reading, { uid }))).toMatchObject({ verdict: 'GENUINE', layer: 'online' });
    const copy = await tap(r, tag(reading, { uid }));
    expect(copy).toMatchObject({ verdict: 'COUNTERFEIT' });
    expect((copy['reasons'] as { code: string }[]).map((x) => x.code)).toContain('TAG_COUNTER_REPLAYED');
    expect(await tap(r, tag(withSun(w.uri(p), key, uid, 8), { uid }))).toMatchObject({ verdict: 'GENUINE' });
  });

  it('malformed tags are error lines with their code, and the daemon goes on', async () => {
    expect(await tap(r, new VirtualNtag().setData(fromHex('0103a00c34fe')))).toMatchObject({ error: { code: 'NFC_NO_NDEF' }, source: 'nfc' });
    expect(await tap(r, new VirtualNtag({ kind: 'ISO14443-4' }))).toMatchObject({ error: { code: 'NFC_NOT_NTAG' } });
    expect(await tap(r, tag('https://example.org/not-a-pack'))).toMatchObject({ error: { code: 'DL_BAD_URI' } });
  });

  it('a tag pulled away mid-read, then the next tap reads', async () => {
    expect(await tap(r, tag(w.uri(w.genuine[3]!)).removeAfterApdus(2))).toMatchObject({ error: { code: 'NFC_TAG_REMOVED' } });
    expect(await tap(r, tag(w.uri(w.genuine[3]!)))).toMatchObject({ verdict: 'GENUINE' });
  });
});

describe('--dispense', () => {
  it('dispenses a genuine pack in the same tap; the second tap raises DISPENSED', async () => {
    const r = await spawnReader([...base(), '--dispense']);
    try {
      const p = w.genuine[4]!;
      const first = await tap(r, tag(w.uri(p)));
      expect(first).toMatchObject({ verdict: 'GENUINE', dispense: { index: expect.any(Number) } });
      const second = await tap(r, tag(w.uri(p)));
      expect(second).toMatchObject({ verdict: 'DISPENSED' });
      const pack = await w.c.get(`/packs/${p.gtin}/${p.serial}`, w.c.p);
      expect((pack.json['pack'] as Record<string, unknown>)['state']).toBe('dispensed');
    } finally {
      await r.stop();
    }
  });
});

describe('--once', () => {
  // One rule with `medtrail verify` (core/verdict.ts exitCodeOf): 0 GENUINE, 3 an alert about a real pack.
  it('exits 0 after a GENUINE tap, 3 after a RECALLED one', async () => {
    for (const [p, verdict, code] of [[w.genuine[5]!, 'GENUINE', 0], [w.recalled, 'RECALLED', 3]] as const) {
      const a = await spawnReader([...base(), '--once']);
      const card = tag(w.uri(p));
      await card.tap(INDEX);
      expect(await a.exit).toBe(code);
      expect(a.lines.find((l) => 'verdict' in l)).toMatchObject({ verdict });
      await card.remove();
      await sleep(900);
    }
  });

  it('exits by the class of verdict (scanner line, no NFC): 3 for RECALLED, 4 for COUNTERFEIT', async () => {
    const r = await spawnReader(['--server', w.url, '--key', w.keyFile, '--state', state(), '--no-nfc', '--once']);
    r.write(w.uri(w.recalled));
    expect(await r.exit).toBe(3);
    const f = await spawnReader(['--server', w.url, '--key', w.keyFile, '--state', state(), '--no-nfc', '--once']);
    f.write(w.forgedUri(w.genuine[6]!));
    expect(await f.exit).toBe(4);
    expect(f.lines.find((l) => 'verdict' in l)).toMatchObject({ verdict: 'COUNTERFEIT' });
    expect(r.lines.find((l) => 'verdict' in l)).toMatchObject({ verdict: 'RECALLED', source: 'scanner' });
  });
});

describe('2D scanner lines on stdin', () => {
  it('repairs a lost GS and a German keyboard layout, says so, and refuses garbage with a code', async () => {
    const r = await spawnReader(['--server', w.url, '--key', w.keyFile, '--state', state(), '--no-nfc']);
    try {
      const p = w.genuine[6]!;
      const es = formatElementString({ gtin: p.gtin, lot: p.lot, serial: p.serial, expiry: p.expiry }, { style: 'gs', symbology: ']d2' });
      r.write(es.replaceAll('\x1d', ''));
      const a = await r.next((l) => 'verdict' in l && l['provisional'] !== true);
      expect(a).toMatchObject({ verdict: 'GENUINE', source: 'scanner', repairs: [{ kind: 'GS_RESTORED' }] });
      expect((a['reasons'] as { code: string }[]).map((x) => x.code)).toEqual(expect.arrayContaining(['SCANNER_REPAIRED', 'TAG_SIGNATURE_ABSENT']));
      r.write(typeOnGermanLayout(w.uri(w.genuine[7]!)));
      const b = await r.next((l) => 'verdict' in l && l['provisional'] !== true);
      expect(b).toMatchObject({ verdict: 'GENUINE', uri: w.uri(w.genuine[7]!), repairs: [{ kind: 'KEYBOARD_DE' }] });
      r.write('hello, world');
      expect(await r.next((l) => 'error' in l)).toMatchObject({ error: { code: 'SCANNER_UNREADABLE' }, source: 'scanner' });
      const started = performance.now();
      r.write(w.uri(w.genuine[7]!));
      await r.next((l) => 'verdict' in l && l['provisional'] !== true);
      expect(performance.now() - started).toBeLessThan(1000);
    } finally {
      await r.stop();
    }
  });

  it('prints the offline verdict first when the server is slower than --slow-ms, then the online one', async () => {
    const r = await spawnReader(['--server', w.url, '--key', w.keyFile, '--state', state(), '--no-nfc', '--slow-ms', '0']);
    try {
      r.write(w.uri(w.genuine[8]!));
      const first = await r.next((l) => 'verdict' in l);
      const second = await r.next((l) => 'verdict' in l);
      expect(first).toMatchObject({ verdict: 'GENUINE', layer: 'offline', offline: true, provisional: true });
      expect(second).toMatchObject({ verdict: 'GENUINE', layer: 'online', provisional: false });
    } finally {
      await r.stop();
    }
  });
});

describe('QR image files', () => {
  it('decodes a PNG label and a JPEG photo of one and verifies both; refuses a broken JPEG', async () => {
    const t = tempDir();
    try {
      const png = join(t.dir, 'label.png');
      await QRCode.toFile(png, w.uri(w.genuine[9]!), { errorCorrectionLevel: 'M' });
      const ok = await spawnReader(['--server', w.url, '--key', w.keyFile, '--state', state(), '--no-nfc', '--once', '--image', png], { waitReady: false });
      expect(await ok.exit).toBe(0);
      expect(ok.lines.find((l) => 'verdict' in l)).toMatchObject({ verdict: 'GENUINE', source: 'image', uri: w.uri(w.genuine[9]!) });
      // A phone saves photos as JPEG: the same label, re-encoded lossy, verifies too.
      const { writeFileSync } = await import('node:fs');
      const { PNG } = await import('pngjs');
      const jpegJs = (await import('jpeg-js')).default;
      const pixels = PNG.sync.read(readFileSync(png));
      const photo = join(t.dir, 'photo.jpg');
      writeFileSync(photo, jpegJs.encode({ data: pixels.data, width: pixels.width, height: pixels.height }, 80).data);
      const fromPhoto = await spawnReader(['--server', w.url, '--key', w.keyFile, '--state', state(), '--no-nfc', '--once', '--image', photo], { waitReady: false });
      expect(await fromPhoto.exit).toBe(0);
      expect(fromPhoto.lines.find((l) => 'verdict' in l)).toMatchObject({ verdict: 'GENUINE', source: 'image', uri: w.uri(w.genuine[9]!) });
      const jpeg = join(t.dir, 'broken.jpg');
      writeFileSync(jpeg, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]));
      const bad = await spawnReader(['--server', w.url, '--state', state(), '--no-nfc', '--once', '--image', jpeg], { waitReady: false });
      expect(await bad.exit).toBe(1);
      expect(bad.lines.find((l) => 'error' in l)).toMatchObject({ error: { code: 'IMAGE_UNREADABLE' }, source: 'image' });
    } finally {
      t.cleanup();
    }
  });
});
