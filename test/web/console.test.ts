// The staff console in real Chromium against a real server: a manufacturer ships, a distributor receives
// (one pack missing, one extra) and ships on, the pharmacy receives and dispenses, the manufacturer recalls a
// lot; all through the UI, each step checked in the ledger's custody state. The key is also stored sealed
// and unlocked. No request ever carries the seed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, toBase64Url, toHex } from '../../core/bytes.js';
import { custodyServices } from '../../server/custody/services.js';
import { gtinOf, sign, startChain, type Chain, type Party } from '../support/custody.js';
import { tempDir } from '../support/tmp.js';
import { buildAssets, launch, SCREENSHOTS } from './browser.js';

let c: Chain;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let keys: { dir: string; cleanup: () => void };
const gtin = gtinOf(7);
const requests: { url: string; headers: Record<string, string>; body: string }[] = [];

beforeAll(async () => {
  await buildAssets();
  c = await startChain();
  const [product] = await c.ok(sign('product', c.m, { gtin, name: 'Metformin', form: 'tablets', strength: '850 mg', packSize: 60 }));
  await c.ok(sign('batch', c.m, { gtin, lot: 'M-1', expiry: '301231', serials: ['P1', 'P2', 'P3', 'P4'] }, [product!]));
  await c.ok(sign('batch', c.m, { gtin, lot: 'M-2', expiry: '301231', serials: ['Q1'] }, [product!]));
  keys = tempDir('medtrail-keys-');
  for (const p of [c.m, c.d, c.p]) writeFileSync(join(keys.dir, `${p.gln}.json`), JSON.stringify(p));
  ({ browser, close: closeBrowser } = await launch());
  mkdirSync(SCREENSHOTS, { recursive: true });
});

afterAll(async () => {
  await closeBrowser?.();
  await c?.close();
  keys?.cleanup();
});

const state = () => custodyServices(c.srv.ledger).state;

async function consoleAs(who: Party, locale = 'en-US'): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ locale, viewport: { width: 1280, height: 900 } });
  const page = await ctx.newPage();
  page.on('request', (r: Request) => {
    requests.push({ url: r.url(), headers: r.headers(), body: r.postData() ?? '' });
  });
  await page.goto(`${c.srv.url}/console`);
  await page.locator('#key-file').setInputFiles(join(keys.dir, `${who.gln}.json`));
  await page.locator('#who').waitFor();
  expect(await page.locator('#who').innerText()).toContain(who.gln);
  return { ctx, page };
}

/** Types a code as a keyboard-wedge scanner does: characters, then Enter. */
async function scan(page: Page, field: string, code: string): Promise<void> {
  await page.locator(field).focus();
  await page.keyboard.type(code);
  await page.keyboard.press('Enter');
}

async function message(page: Page, re: RegExp): Promise<string> {
  await expect.poll(() => page.locator('#msg').innerText(), { timeout: 10_000 }).toMatch(re);
  return page.locator('#msg').innerText();
}

const es = (serial: string): string => `(01)${gtin}(21)${serial}`;

describe('staff console', () => {
  it('manufacturer ships three packs by scanning them', async () => {
    const { ctx, page } = await consoleAs(c.m);
    await page.locator('[data-pack]').first().waitFor();
    expect(await page.locator('#held [data-pack]').count()).toBe(5);
    await page.locator('#ship-to').selectOption(c.d.gln);
    for (const s of ['P1', 'P2', 'P3']) await scan(page, '#ship-scan', es(s));
    await page.getByRole('button', { name: 'Sign and send shipment' }).click();
    await message(page, /Shipment sent: 3 packs/);
    for (const s of ['P1', 'P2', 'P3']) expect(state().pack(gtin, s)).toMatchObject({ state: 'in_transit', inTransitTo: c.d.gln });
    expect(state().pack(gtin, 'P4')?.state).toBe('active');
    await page.screenshot({ path: join(SCREENSHOTS, 'console-manufacturer.png'), fullPage: true });
    await ctx.close();
  });

  it('distributor receives with one pack missing and one extra, then ships on', async () => {
    const { ctx, page } = await consoleAs(c.d);
    await page.getByRole('button', { name: /Receive shipment #/ }).click();
    await scan(page, '#receive-scan', es('P1'));
    await scan(page, '#receive-scan', `${gtin} P2`); // typed by hand: GTIN and serial
    await scan(page, '#receive-scan', es('P4')); // not in the shipment
    await page.getByRole('button', { name: 'Sign and send receipt' }).click();
    await message(page, /received .*1 missing, 1 extra/);
    expect(state().pack(gtin, 'P1')).toMatchObject({ state: 'active', holder: c.d.gln });
    expect(state().pack(gtin, 'P2')).toMatchObject({ state: 'active', holder: c.d.gln });
    expect(state().pack(gtin, 'P3')?.state).toBe('missing');
    expect(state().pack(gtin, 'P4')).toMatchObject({ state: 'active', holder: c.m.gln }); // extra: no custody change

    await page.locator('#ship-to').selectOption(c.p.gln);
    await scan(page, '#ship-scan', es('P1'));
    await scan(page, '#ship-scan', es('P2'));
    await page.getByRole('button', { name: 'Sign and send shipment' }).click();
    await message(page, /Shipment sent: 2 packs/);
    expect(state().pack(gtin, 'P1')).toMatchObject({ state: 'in_transit', inTransitTo: c.p.gln });
    await ctx.close();
  });

  it('pharmacy receives and dispenses, and a second dispense of the same pack is refused', async () => {
    const { ctx, page } = await consoleAs(c.p);
    await page.getByRole('button', { name: /Receive shipment #/ }).click();
    await scan(page, '#receive-scan', es('P1'));
    await scan(page, '#receive-scan', es('P2'));
    await page.getByRole('button', { name: 'Sign and send receipt' }).click();
    await message(page, /received .*0 missing, 0 extra/);
    await scan(page, '#dispense-scan', es('P1'));
    await message(page, /Dispensed P1/);
    expect(state().pack(gtin, 'P1')).toMatchObject({ state: 'dispensed', dispensedBy: c.p.gln });
    await scan(page, '#dispense-scan', es('P1'));
    await message(page, /Refused/);
    await page.screenshot({ path: join(SCREENSHOTS, 'console-pharmacy.png'), fullPage: true });
    await ctx.close();
  });

  it('manufacturer recalls a lot', async () => {
    const { ctx, page } = await consoleAs(c.m);
    await page.locator('#recall-gtin').fill(gtin);
    await page.locator('#recall-lot').fill('M-2');
    await page.locator('#recall-reason').fill('out of specification');
    await page.getByRole('button', { name: 'Sign and recall this lot' }).click();
    await message(page, /Lot M-2 recalled/);
    expect(state().lot(gtin, 'M-2')?.recallReason).toBe('out of specification');
    await ctx.close();
  });

  it('a key sealed with a passphrase is unlocked after a reload, and a wrong passphrase is refused', async () => {
    const { ctx, page } = await consoleAs(c.p);
    await page.locator('#seal-pass').fill('correct horse battery');
    await page.getByRole('button', { name: 'Encrypt and remember' }).click();
    await message(page, /stored on this device, encrypted/);
    const stored = await page.evaluate('localStorage.getItem("medtrail.sealedKey")');
    expect(String(stored)).not.toContain(c.p.seed);
    await page.reload();
    await page.locator('#unlock-pass').fill('wrong passphrase');
    await page.getByRole('button', { name: 'Unlock' }).click();
    await message(page, /Wrong passphrase/);
    await page.locator('#unlock-pass').fill('correct horse battery');
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.locator('#who').waitFor();
    expect(await page.locator('#who').innerText()).toContain(c.p.gln);
    await ctx.close();
  });

  it('the console is keyboard-only usable: the scan field takes focus with Tab and a scan with Enter', async () => {
    const { ctx, page } = await consoleAs(c.p);
    await page.locator('#ship-to').focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.id')).toBe('ship-scan');
    await ctx.close();
  });

  it('a regulator sees the reports patients sent', async () => {
    const sent = await fetch(`${c.srv.url}/api/v1/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: `(01)${gtin}(21)P4`, verdict: 'NOT_GENUINE' }) });
    const { id } = (await sent.json()) as { id: number };
    writeFileSync(join(keys.dir, `${c.reg.gln}.json`), JSON.stringify(c.reg));
    const { ctx, page } = await consoleAs(c.reg);
    const row = page.locator(`[data-report="${id}"]`);
    await row.waitFor();
    expect(await row.innerText()).toContain('NOT_GENUINE');
    expect(await row.innerText()).toContain('P4');
    await ctx.close();
  });

  it('speaks Russian to a Russian browser', async () => {
    const { ctx, page } = await consoleAs(c.d, 'ru-RU');
    expect(await page.locator('html').getAttribute('lang')).toBe('ru');
    await page.getByRole('heading', { name: 'Упаковки на складе' }).waitFor();
    await page.getByRole('button', { name: 'Подписать и отправить поставку' }).click();
    await message(page, /выберите получателя/);
    await page.screenshot({ path: join(SCREENSHOTS, 'console-distributor-ru.png'), fullPage: true });
    await ctx.close();
  });

  it('no request body or header ever carried a seed', () => {
    expect(requests.length).toBeGreaterThan(20);
    for (const who of [c.m, c.d, c.p, c.reg]) {
      const seed = fromBase64(who.seed);
      const forms = [who.seed, toBase64Url(seed), toHex(seed), encodeURIComponent(who.seed)];
      for (const r of requests) {
        const text = `${r.url}\n${JSON.stringify(r.headers)}\n${r.body}`;
        for (const f of forms) expect(text.includes(f), `${r.url} carries a seed`).toBe(false);
      }
    }
  });
});
