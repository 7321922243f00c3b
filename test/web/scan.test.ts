// A patient without NFC: the page reads the pack's QR code from the camera, or takes the code typed by hand.
// The camera is Chromium's fake capture device playing a video of the real QR code (a Y4M file made here), so
// the page's own decoder path runs (no BarcodeDetector on Linux: jsQR on video frames).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import QRCode from 'qrcode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/tmp.js';
import { buildAssets, patientChain, tagUri, type PatientChain } from './browser.js';

let chain: PatientChain;
let browser: Browser;
let tmp: { dir: string; cleanup: () => void };

/** A YUV4MPEG2 video (4:2:0) of the QR code for `text`, black on white, 8 px a module, a 4-module quiet zone. */
function qrVideo(text: string, path: string): void {
  const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
  const n = qr.modules.size;
  const scale = 8;
  const side = (n + 8) * scale;
  const w = side + (side % 2);
  const y = Buffer.alloc(w * w, 255);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) {
      if (!qr.modules.get(r, c)) continue;
      for (let dy = 0; dy < scale; dy++) y.fill(0, ((r + 4) * scale + dy) * w + (c + 4) * scale, ((r + 4) * scale + dy) * w + (c + 5) * scale);
    }
  }
  const chroma = Buffer.alloc((w / 2) * (w / 2) * 2, 128);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, chroma]);
  writeFileSync(path, Buffer.concat([Buffer.from(`YUV4MPEG2 W${w} H${w} F10:1 Ip A1:1 C420jpeg\n`), ...Array<Buffer>(10).fill(frame)]));
}

beforeAll(async () => {
  await buildAssets();
  chain = await patientChain();
  tmp = tempDir('medtrail-camera-');
  const video = join(tmp.dir, 'qr.y4m');
  qrVideo(tagUri(chain.c.srv.url, chain.genuine, chain.c.m), video);
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      '--use-fake-device-for-media-stream', `--use-file-for-fake-video-capture=${video}`, '--use-fake-ui-for-media-stream'],
  });
});

afterAll(async () => {
  await browser?.close();
  await chain?.c.close();
  tmp?.cleanup();
});

describe('without NFC', () => {
  it('scans the QR code with the camera and shows the verdict', async () => {
    const ctx = await browser.newContext({ locale: 'en-US', permissions: ['camera'] });
    const page = await ctx.newPage();
    await page.goto(`${chain.c.srv.url}/check`);
    await page.getByRole('button', { name: 'Scan the QR code with the camera' }).click();
    const v = page.locator('#verdict');
    await v.waitFor({ timeout: 20_000 });
    expect(await v.getAttribute('data-verdict')).toBe('GENUINE');
    expect(new URL(page.url()).pathname).toBe(`/01/${chain.gtin}/10/${chain.genuine.lot}/21/${chain.genuine.serial}`);
    expect((await page.locator('[data-check="pack_signature"]').getAttribute('data-status'))).toBe('ok');
    await ctx.close();
  });

  it('takes the GTIN and serial typed by hand, and says the pack cannot be confirmed without its signed code', async () => {
    const ctx = await browser.newContext({ locale: 'en-US' });
    const page = await ctx.newPage();
    await page.goto(`${chain.c.srv.url}/`);
    await page.getByLabel('Product code (GTIN), or the whole code').fill(chain.gtin);
    await page.getByLabel('Serial number (SN)').fill(chain.genuine.serial);
    await page.keyboard.press('Enter');
    const v = page.locator('#verdict');
    await v.waitFor();
    expect(await v.getAttribute('data-verdict')).toBe('CANNOT_CONFIRM');
    expect(await page.locator('#result').innerText()).toContain('cannot be confirmed from it');
    await ctx.close();
  });

  it('takes a whole element string typed by hand; a malformed one gets a plain message', async () => {
    const ctx = await browser.newContext({ locale: 'en-US' });
    const page = await ctx.newPage();
    await page.goto(`${chain.c.srv.url}/check`);
    const field = page.getByLabel('Product code (GTIN), or the whole code');
    await field.fill(`(01)${chain.gtin}(21)NOPE`.replace(chain.gtin.slice(-1), String((Number(chain.gtin.slice(-1)) + 1) % 10)));
    await page.getByRole('button', { name: 'Check', exact: true }).click();
    expect(await page.locator('#code-error').innerText()).toContain('does not look right');
    await field.fill(`(01)${chain.gtin}(21)${chain.dispensed.serial}`);
    await page.getByRole('button', { name: 'Check', exact: true }).click();
    await page.locator('#verdict').waitFor();
    expect(await page.locator('#verdict').getAttribute('data-verdict')).toBe('DISPENSED');
    await ctx.close();
  });
});
