// Prescriptions in real Chromium against a real server (issue 16): the patient's page opened by the token's link
// checks the evidence itself and shows the prescription and what was dispensed; a lying server is caught; the
// console writes a prescription as the prescriber (its token shown as a QR code), claims and dispenses it as the
// pharmacy, and shows the reports as a chart to the regulator. Screenshots in docs/ and artifacts/screenshots.
import { copyFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claim, dispenseRx, type Prescribed } from '../../cli/client/rx.js';
import type { SignerKey } from '../../cli/api-client.js';
import { custodyServices } from '../../server/custody/services.js';
import { AMOX, IBU, startRxWorld, type RxWorld } from '../support/rx.js';
import { REPO_ROOT, tempDir } from '../support/tmp.js';
import type { Party } from '../support/custody.js';
import { buildAssets, launch, SCREENSHOTS } from './browser.js';

let w: RxWorld;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let keys: { dir: string; cleanup: () => void };
let rx: Prescribed;

const DOCS = join(REPO_ROOT, 'docs');

async function shot(page: Page, name: string): Promise<void> {
  const path = join(SCREENSHOTS, name);
  await page.screenshot({ path, fullPage: true });
  copyFileSync(path, join(DOCS, name));
}

beforeAll(async () => {
  await buildAssets();
  w = await startRxWorld();
  keys = tempDir('medtrail-keys-');
  for (const p of [w.doc, w.p, w.reg]) writeFileSync(join(keys.dir, `${p.gln}.json`), JSON.stringify(p));
  ({ browser, close: closeBrowser } = await launch());
  // A prescription part dispensed: 2 packs a fill, 1 repeat; one pack so far.
  rx = await w.prescribe({ quantity: 2, repeats: 1, dosage: '1 capsule 3 times a day for 7 days' });
  await claim(w.client(w.p), w.p as SignerKey, rx.token);
  await dispenseRx(w.client(w.p), w.p as SignerKey, rx.id, `${AMOX}:${w.take()}`);
}, 120_000);

afterAll(async () => {
  await closeBrowser?.();
  await w?.close();
  keys?.cleanup();
});

async function phone(locale = 'en-US'): Promise<Page> {
  const ctx = await browser.newContext({ locale, viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  return ctx.newPage();
}

describe("the patient's prescription page", () => {
  it('opens from the token link, checks the evidence on the device, shows the prescription and what was dispensed', async () => {
    const page = await phone();
    const sent: string[] = [];
    page.on('request', (r) => sent.push(`${r.url()} ${r.postData() ?? ''}`));
    await page.goto(rx.token);
    await page.locator('#rx-status').waitFor({ timeout: 15_000 });
    expect(await page.locator('#rx-status').getAttribute('data-status')).toBe('claimed');
    expect(await page.locator('#rx-med').innerText()).toContain('Amoxi 500');
    expect(await page.locator('#rx-dispenses li').count()).toBe(1);
    for (const id of ['checkpoint', 'rx_in_log', 'rx_token', 'prescriber_key', 'rx_signature']) {
      expect(await page.locator(`[data-check="${id}"]`).getAttribute('class')).toBe('check-ok');
    }
    expect(await page.locator('svg.qr').count()).toBe(1);
    // The access code never left the phone: it is in no request (the fragment is not sent; the view is signed).
    expect(sent.join('\n')).not.toContain(rx.code);
    await shot(page, 'rx-patient-page-phone.png');
    await page.context().close();
  });

  it('speaks Russian to a Russian phone', async () => {
    const page = await phone('ru-RU');
    await page.goto(rx.token);
    await page.locator('#rx-status').waitFor({ timeout: 15_000 });
    expect(await page.locator('h1').innerText()).toBe('Ваш рецепт');
    expect(await page.locator('#rx-status h2').innerText()).toBe('Отпускается аптекой');
    await shot(page, 'rx-patient-page-ru-phone.png');
    await page.context().close();
  });

  it('a wrong code opens nothing', async () => {
    const page = await phone();
    await page.goto(`${w.srv.url}/rx/${rx.id}#ac=${'0'.repeat(64)}`);
    await page.getByText('This code does not open a prescription').waitFor({ timeout: 15_000 });
    await page.context().close();
  });

  it('a server that shows another prescription for this code is caught', async () => {
    // A proxy in front of the real server answers the view with another prescription's answer.
    const other = await w.prescribe({ medicine: { gtin: IBU } });
    const otherView = JSON.stringify(await (await import('../../cli/api-client.js')).ApiClient.prototype.rxView.call(w.client(w.doc), other.id, other.code));
    const proxy: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/api/v1/rx/view') {
          res.setHeader('content-type', 'application/json');
          res.end(otherView.replace(other.id, rx.id));
          return;
        }
        void fetch(`${w.srv.url}${req.url}`, { method: req.method, headers: { accept: String(req.headers.accept ?? '*/*') } }).then(async (r) => {
          res.statusCode = r.status;
          r.headers.forEach((v, k) => {
            if (k !== 'content-encoding' && k !== 'content-length' && k !== 'transfer-encoding') res.setHeader(k, v);
          });
          res.end(Buffer.from(await r.arrayBuffer()));
        });
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (proxy.address() as { port: number }).port;
      const page = await phone();
      await page.goto(`http://127.0.0.1:${port}/rx/${rx.id}#ac=${rx.code}`);
      await page.locator('#rx-status').waitFor({ timeout: 15_000 });
      expect(await page.locator('#rx-status').getAttribute('data-status')).toBe('unproven');
      expect(await page.locator('[data-check="rx_token"]').getAttribute('class')).toBe('check-failed');
      await page.context().close();
    } finally {
      proxy.close();
    }
  });
});

async function consoleAs(who: Party): Promise<Page> {
  const ctx = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(`${w.srv.url}/console`);
  await page.locator('#key-file').setInputFiles(join(keys.dir, `${who.gln}.json`));
  await page.locator('#who').waitFor();
  return page;
}

async function message(page: Page, re: RegExp): Promise<string> {
  await expect.poll(() => page.locator('#msg').innerText(), { timeout: 10_000 }).toMatch(re);
  return page.locator('#msg').innerText();
}

describe('the console', () => {
  let token = '';

  it('the prescriber writes a prescription: signed in the browser, the patient only sealed, the token shown once', async () => {
    const page = await consoleAs(w.doc);
    await page.locator('#rx-patient-id').fill('K220033445');
    await page.locator('#rx-patient-name').fill('Jonas Beispiel');
    await page.locator('#rx-substance').fill('amoxicillin');
    await page.locator('#rx-strength').fill('500 mg');
    await page.locator('#rx-dosage-form').fill('capsule');
    await page.locator('#rx-atc').fill('J01CA04');
    await page.locator('#rx-dosage').fill('1 capsule 3 times a day');
    await page.getByRole('button', { name: 'Sign prescription' }).click();
    await message(page, /Prescription [0-9a-f]{8} signed/);
    token = await page.locator('#rx-token-link').innerText();
    expect(token).toMatch(/\/rx\/[0-9a-f]{32}#ac=[0-9a-f]{64}$/);
    await expect.poll(() => page.locator('#rx-mine [data-rx]').count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await shot(page, 'rx-console-prescriber.png');
    const id = /\/rx\/([0-9a-f]{32})#/.exec(token)![1]!;
    const row = custodyServices(w.srv.ledger).state.rx(id)!;
    expect(row.medicine).toEqual({ substance: 'amoxicillin', strength: '500 mg', form: 'capsule', atc: 'J01CA04' });
    expect(JSON.stringify(row)).not.toContain('Beispiel');
    await page.context().close();
  });

  it('the pharmacy claims it with the token and dispenses a scanned pack against it', async () => {
    const page = await consoleAs(w.p);
    await page.locator('#rx-claim-token').fill(token);
    await page.getByRole('button', { name: 'Claim prescription' }).click();
    await message(page, /claimed/);
    const id = /\/rx\/([0-9a-f]{32})#/.exec(token)![1]!;
    await expect.poll(() => page.locator(`#rx-pick option[value="${id}"]`).count(), { timeout: 10_000 }).toBe(1);
    // A pack of the wrong medicine is refused with its code, and the ledger has not moved.
    await page.locator('#rx-pick').selectOption(id);
    await page.locator('#rx-dispense-scan').focus();
    await page.keyboard.type(`(01)${IBU}(21)${w.shelf[IBU]![0]!}`);
    await page.keyboard.press('Enter');
    await message(page, /RX_MEDICINE_MISMATCH/);
    expect(custodyServices(w.srv.ledger).state.rx(id)).toMatchObject({ dispensed: 0 });
    await expect.poll(() => page.locator(`#rx-pick option[value="${id}"]`).count(), { timeout: 10_000 }).toBe(1);
    // The list was drawn anew after the refusal; the prescription chosen stays chosen.
    await page.waitForTimeout(300);
    expect(await page.locator('#rx-pick').inputValue()).toBe(id);
    await page.locator('#rx-pick').selectOption(id);
    const serial = w.take();
    await page.locator('#rx-dispense-scan').focus();
    await page.keyboard.type(`(01)${AMOX}(21)${serial}`);
    await page.keyboard.press('Enter');
    await message(page, new RegExp(`Pack ${serial} dispensed against prescription`));
    expect(custodyServices(w.srv.ledger).state.rx(id)).toMatchObject({ dispensed: 1 });
    await shot(page, 'rx-console-pharmacy.png');
    await page.context().close();
  });

  it('the regulator sees the reports as a chart and a table, small counts suppressed', async () => {
    for (let i = 0; i < 5; i++) await w.prescribe({ medicine: { gtin: IBU } });
    const page = await consoleAs(w.reg);
    await page.getByRole('button', { name: 'Show report' }).click();
    await message(page, /Report: \d+ rows/);
    expect(await page.locator('#rx-report svg.chart rect').count()).toBeGreaterThan(2);
    expect(await page.locator('#rx-report').innerText()).toContain('M01AE01');
    await page.getByRole('button', { name: 'As CSV' }).click();
    expect(await page.locator('#rx-report pre.csv').innerText()).toMatch(/^region,substance,prescriptions/);
    await page.locator('#rx-report-head').scrollIntoViewIfNeeded();
    await shot(page, 'rx-console-report.png');
    await page.context().close();
  });
});
