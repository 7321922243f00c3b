// The patient page in real Chromium against a real server: each verdict's statement and text in English and
// Russian, the in-browser checks, a lying server caught, size and time to verdict, screenshots.
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPackProof } from '../../core/map/pack-proof.js';
import { participantKey } from '../support/ledger.js';
import { startServerProcess } from '../support/server-process.js';
import { buildAssets, launch, patientChain, SCREENSHOTS, tagUri, type PatientChain } from './browser.js';
import { lyingProxy } from './lying-proxy.js';
import { checks, openPage, pageMetrics, verdictOf, type PageMetrics } from './patient-visit.js';

let chain: PatientChain;
let browser: Browser;
let closeBrowser: () => Promise<void>;
const metrics: Record<string, unknown> = {};

const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

beforeAll(async () => {
  await buildAssets();
  chain = await patientChain();
  ({ browser, close: closeBrowser } = await launch());
});

afterAll(async () => {
  await closeBrowser?.();
  await chain?.c.close();
  writeFileSync(join(SCREENSHOTS, '..', 'patient-metrics.json'), `${JSON.stringify(metrics, null, 2)}\n`);
});

function open(locale: string, viewport = PHONE): Promise<{ ctx: BrowserContext; page: Page }> {
  return openPage(browser, locale, viewport);
}

const CASES = [
  { name: 'GENUINE', pack: 'genuine', en: 'Genuine', ru: 'Подлинное', enText: 'registered supply chain', ruText: 'цепочке поставок' },
  { name: 'DISPENSED', pack: 'dispensed', en: 'Handed out by a pharmacy', ru: 'Выдано аптекой', enText: 'If a pharmacy gave it to you, this is the normal record', ruText: 'это обычная запись' },
  { name: 'IN_TRANSIT', pack: 'inTransit', en: 'Not yet delivered — ask your pharmacist', ru: 'Ещё не доставлено — спросите фармацевта', enText: 'should not have reached a patient yet', ruText: 'не должна была попасть к пациенту' },
  { name: 'RECALLED', pack: 'recalled', en: 'Recalled — do not take', ru: 'Отозвано — не принимайте', enText: 'recalled this batch', ruText: 'отозвал эту серию' },
  { name: 'COUNTERFEIT', pack: 'forged', en: 'NOT GENUINE — do not take', ru: 'НЕ ПОДЛИННОЕ — не принимайте', enText: 'likely fake', ruText: 'подделка' },
] as const;

function uriFor(name: (typeof CASES)[number]['name']): string {
  const c = CASES.find((x) => x.name === name)!;
  const pack = chain[c.pack];
  // The forged pack's tag is signed by someone who is not its maker.
  return tagUri(chain.c.srv.url, pack, name === 'COUNTERFEIT' ? participantKey(99) : chain.c.m);
}

describe('patient page verdicts', () => {
  for (const c of CASES) {
    it(`${c.name}: statement, facts and screenshots (English)`, async () => {
      for (const [label, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
        const { ctx, page } = await open('en-GB', viewport);
        const v = await verdictOf(page, uriFor(c.name));
        expect(v.key).toBe(c.name);
        expect(v.head).toBe(c.en);
        expect(v.text).toContain(c.enText);
        expect(v.text).toContain('Amoxicillin 500 mg');
        expect(v.text).toContain(chain[c.pack].lot);
        if (c.name !== 'GENUINE') {
          await expect(page.getByRole('button', { name: 'Report this pack to the regulator' }).count()).resolves.toBe(1);
        }
        // Words that fit each case: a dispensed pack is the normal case for a patient who got it from the
        // pharmacy, and is never told flatly not to take it; a pack in transit is not yet to be taken.
        if (c.name === 'DISPENSED') {
          expect(v.text).not.toContain('Do not take this medicine');
          expect(v.text).toContain('If you did not get this pack from a pharmacy');
        } else if (c.name === 'IN_TRANSIT') {
          expect(v.text).not.toContain('this is expected');
          expect(v.text).toContain('Do not take it yet');
        } else if (c.name !== 'GENUINE') {
          expect(v.text).toContain('Do not take this medicine');
        } else {
          expect(v.text).toContain('At the pharmacy');
          expect(await checks(page)).toEqual({ checkpoint: 'ok', maker_key: 'ok', pack_in_log: 'ok', pack_signature: 'ok', pack_state: 'ok' });
        }
        await page.screenshot({ path: join(SCREENSHOTS, `patient-${c.name.toLowerCase()}-en-${label}.png`), fullPage: true });
        await ctx.close();
      }
    });

    it(`${c.name}: Russian`, async () => {
      const { ctx, page } = await open('ru-RU');
      const v = await verdictOf(page, uriFor(c.name));
      expect(v.key).toBe(c.name);
      expect(v.head).toBe(c.ru);
      expect(v.text).toContain(c.ruText);
      expect(await page.locator('html').getAttribute('lang')).toBe('ru');
      await page.screenshot({ path: join(SCREENSHOTS, `patient-${c.name.toLowerCase()}-ru-phone.png`), fullPage: true });
      await ctx.close();
    });
  }

  it('the forged tag fails the signature check in the browser too', async () => {
    const { ctx, page } = await open('en-US');
    await verdictOf(page, uriFor('COUNTERFEIT'));
    expect((await checks(page))['pack_signature']).toBe('failed');
    await ctx.close();
  });

  it('the report button records a report the regulator can read', async () => {
    const { ctx, page } = await open('en-US');
    await verdictOf(page, uriFor('RECALLED'));
    const sentBodies: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/api/v1/reports')) sentBodies.push(r.postData() ?? '');
    });
    await page.getByRole('button', { name: 'Report this pack to the regulator' }).click();
    await expect.poll(() => page.locator('.report-status').innerText()).toContain('Your report was recorded');
    expect(JSON.parse(sentBodies[0]!)).toMatchObject({ verdict: 'RECALLED' });
    const rows = chain.c.srv.ledger.store.connectionFor('reports').prepare('SELECT gtin, serial, verdict FROM reports').all();
    expect(rows).toContainEqual({ gtin: chain.gtin, serial: 'RCL0001', verdict: 'RECALLED' });
    await ctx.close();
  });
});

describe('accessibility', () => {
  // WCAG 2.1 relative luminance and contrast ratio, computed from the colours the browser actually painted.
  const CONTRAST = `(() => {
    const rgb = (c) => c.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
    const lum = (c) => { const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
    const bgOf = (el) => { for (let e = el; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor; if (!c.startsWith('rgba(0, 0, 0, 0)')) return c; } return 'rgb(255, 255, 255)'; };
    const els = [...document.querySelectorAll('#app h1, #app h2, #app p, #app dt, #app dd, #app li span, #app time, #app button, #app label, #app strong')].filter((e) => e.textContent.trim() !== '');
    return Math.min(...els.map((e) => ratio(getComputedStyle(e).color, bgOf(e))));
  })()`;

  for (const name of ['GENUINE', 'DISPENSED', 'RECALLED'] as const) {
    it(`${name}: every text meets WCAG AA contrast (4.5:1)`, async () => {
      const { ctx, page } = await open('en-US');
      await verdictOf(page, uriFor(name));
      expect(Number(await page.evaluate(CONTRAST))).toBeGreaterThanOrEqual(4.5);
      await ctx.close();
    });
  }

  it('the report button is reached with Tab and pressed with Enter', async () => {
    const { ctx, page } = await open('en-US');
    await verdictOf(page, uriFor('RECALLED'));
    let found = false;
    for (let i = 0; i < 20 && !found; i++) {
      await page.keyboard.press('Tab');
      found = (await page.evaluate('document.activeElement && document.activeElement.className')) === 'report';
    }
    expect(found).toBe(true);
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('.report-status').innerText()).toContain('Your report was recorded');
    await ctx.close();
  });
});

describe('a lying server', () => {
  it('an altered signature is caught in the browser though the server answers GENUINE', async () => {
    const proxy = await lyingProxy(chain.c.srv.url);
    try {
      const good = tagUri(proxy.url, chain.genuine, chain.c.m);
      // Change one character of the signature (a valid base64url character, so the URI still parses).
      const at = good.indexOf('s=') + 10;
      const altered = good.slice(0, at) + (good[at] === 'A' ? 'B' : 'A') + good.slice(at + 1);
      const { ctx, page } = await open('en-US');
      const v = await verdictOf(page, altered);
      expect(proxy.lied()).toBeGreaterThan(0);
      expect(await page.locator('#verdict').getAttribute('data-server-verdict')).toBe('GENUINE');
      expect(v.key).toBe('NOT_GENUINE');
      expect(v.head).toBe('NOT GENUINE — do not take');
      expect((await checks(page))['pack_signature']).toBe('failed');
      await page.screenshot({ path: join(SCREENSHOTS, 'patient-lying-server-en-phone.png'), fullPage: true });
      // The same proxy, with the untouched URI, does not alarm anyone: the lie then happens to be the truth.
      const v2 = await verdictOf(page, good);
      expect(v2.key).toBe('GENUINE');
      await ctx.close();
    } finally {
      await proxy.close();
    }
  });

  it('a checkpoint not signed by the pinned log key is refused', async () => {
    const proxy = await lyingProxy(chain.c.srv.url, { forgeCheckpoint: true });
    try {
      const { ctx, page } = await open('en-US');
      const v = await verdictOf(page, tagUri(proxy.url, chain.genuine, chain.c.m));
      expect(v.key).toBe('NOT_GENUINE');
      expect((await checks(page))['checkpoint']).toBe('failed');
      await ctx.close();
    } finally {
      await proxy.close();
    }
  });
});

describe('a lying server and the pack state the log committed to (issue 12 #3, issue 13)', () => {
  // A proxy answers GENUINE for every pack and borrows the real inclusion proof of leaf 0: some leaf is proven
  // in the tree, never this pack's. The page proves the pack's own state from the checkpoint's map roots.
  const cases: [string, () => { gtin: string; lot: string; serial: string; expiry: string }, string][] = [
    ['an unknown pack', () => ({ ...chain.genuine, serial: 'NEVER-MADE-1' }), 'UNKNOWN'],
    ['a dispensed pack', () => chain.dispensed, 'DISPENSED'],
    ['a pack of a recalled lot', () => chain.recalled, 'RECALLED'],
  ];
  for (const [name, packOf, want] of cases) {
    it(`${name}: shows ${want}, not GENUINE`, async () => {
      const proxy = await lyingProxy(chain.c.srv.url, { borrowLeafZero: true });
      try {
        const { ctx, page } = await open('en-US');
        const v = await verdictOf(page, tagUri(proxy.url, packOf(), chain.c.m));
        expect(proxy.lied()).toBeGreaterThan(0);
        expect(await page.locator('#verdict').getAttribute('data-server-verdict')).toBe('GENUINE');
        expect(v.key).not.toBe('GENUINE');
        if (v.key === 'NOT_GENUINE') {
          // The borrowed proof is of another leaf than the pack's newest entry: the evidence is broken.
          expect((await checks(page))['pack_state']).toBe('failed');
        } else {
          // The pack's own state, proven, and the page says that the server's answer was wrong.
          expect(v.key).toBe(want);
          expect(await page.locator('[data-overruled="GENUINE"]').count()).toBe(1);
        }
        await ctx.close();
      } finally {
        await proxy.close();
      }
    });
  }

  it('a server that only rewrites the verdict to GENUINE: the proven state wins, and the page says the server was wrong', async () => {
    const proxy = await lyingProxy(chain.c.srv.url);
    try {
      const { ctx, page } = await open('en-US');
      for (const [p, want] of [[chain.dispensed, 'DISPENSED'], [chain.recalled, 'RECALLED'], [chain.inTransit, 'IN_TRANSIT'], [{ ...chain.genuine, serial: 'NEVER-MADE-2' }, 'UNKNOWN']] as const) {
        const v = await verdictOf(page, tagUri(proxy.url, p, chain.c.m));
        expect([p.serial, v.key]).toEqual([p.serial, want]);
        expect(await page.locator('[data-overruled="GENUINE"]').count()).toBe(1);
      }
      await ctx.close();
    } finally {
      await proxy.close();
    }
  });

  it('a state proof dropped: cannot confirm; a record rewritten to "active": not genuine', async () => {
    const dropped = await lyingProxy(chain.c.srv.url, { dropMap: true });
    const rewritten = await lyingProxy(chain.c.srv.url, { claimActive: true });
    try {
      const { ctx, page } = await open('en-US');
      const a = await verdictOf(page, tagUri(dropped.url, chain.genuine, chain.c.m));
      expect(a.key).toBe('CANNOT_CONFIRM');
      expect((await checks(page))['pack_state']).toBe('missing');
      const b = await verdictOf(page, tagUri(rewritten.url, chain.dispensed, chain.c.m));
      expect(b.key).toBe('NOT_GENUINE');
      expect((await checks(page))['pack_state']).toBe('failed');
      // Without the lie, the same pages say what the log says.
      expect((await verdictOf(page, tagUri(chain.c.srv.url, chain.genuine, chain.c.m))).key).toBe('GENUINE');
      expect((await verdictOf(page, tagUri(chain.c.srv.url, chain.dispensed, chain.c.m))).key).toBe('DISPENSED');
      await ctx.close();
    } finally {
      await dropped.close();
      await rewritten.close();
    }
  });
});

describe('a proof to keep (c2sp.org/tlog-proof)', () => {
  it('the page offers the pack’s proof as a file that checks offline under the log key; not when the state is not proven', async () => {
    const vkey = (await (await fetch(`${chain.c.srv.url}/api/v1/log/key`)).text()).trim();
    const ctx = await browser.newContext({ acceptDownloads: true, locale: 'en-US', viewport: PHONE });
    const page = await ctx.newPage();
    const dropped = await lyingProxy(chain.c.srv.url, { dropMap: true });
    try {
      expect((await verdictOf(page, uriFor('DISPENSED'))).key).toBe('DISPENSED');
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#keep-proof')]);
      expect(download.suggestedFilename()).toBe(`${chain.gtin}-DSP0001.tlog-proof`);
      const saved = join(SCREENSHOTS, '..', 'kept.tlog-proof');
      await download.saveAs(saved);
      const kept = checkPackProof(readFileSync(saved, 'utf8'), { vkey }, { gtin: chain.gtin, serial: 'DSP0001' });
      expect(kept.proven.state).toBe('dispensed');
      // A server that gives no state proof gets no proof to keep on the page.
      expect((await verdictOf(page, tagUri(dropped.url, chain.genuine, chain.c.m))).key).toBe('CANNOT_CONFIRM');
      expect(await page.locator('#keep-proof').count()).toBe(0);
    } finally {
      await ctx.close();
      await dropped.close();
    }
  });
});

describe('budget', () => {
  // Measured against `medtrail serve` in its own process (the built bin, as a user starts it), on the same
  // database: the in-process server would share its event loop with the test's browser driver.
  it('is under 100 KB transferred (gzip) and measures the time to verdict on loopback (median of 5 fresh visits)', async () => {
    const proc = await startServerProcess(chain.c.t.db);
    try {
      await measure(proc.url);
    } finally {
      await proc.stop();
    }
  });
});

/** Five fresh visits of a GENUINE pack's page at `url`: bytes transferred and time to the verdict. */
async function measure(url: string): Promise<void> {
  const uri = tagUri(url, chain.genuine, chain.c.m);
  const warm = await open('en-US');
  await verdictOf(warm.page, uri); // warm the server's caches, as earlier visitors would have
  await warm.ctx.close();
  const runs: PageMetrics[] = [];
  for (let i = 0; i < 5; i++) {
    const { ctx, page } = await open('en-US'); // a fresh context: empty cache, new connections
    const v = await verdictOf(page, uri);
    expect(v.key).toBe('GENUINE');
    runs.push(await pageMetrics(page));
    await ctx.close();
  }
  const times = runs.map((r) => r.verdictMs).sort((a, b) => a - b);
  const median = times[2]!;
  const m = runs[0]!;
  Object.assign(metrics, { verdictMsRuns: times.map((t) => Math.round(t)), verdictMsMedian: Math.round(median), encodedBytes: m.encodedBytes, transferBytes: m.transferBytes, resources: m.resources, marks: m.marks });
  process.stdout.write(`patient page: verdict visible at ${times.map((t) => t.toFixed(0)).join(', ')} ms (median ${median.toFixed(0)}); ${m.encodedBytes} bytes of encoded bodies (${m.transferBytes} with headers)\n`);
  expect(m.encodedBytes).toBeLessThan(100 * 1024);
  // Time targets belong to benchmarks, not to unit tests (shared machines drift): the figure is measured here
  // in the real browser, printed and written to artifacts/patient-metrics.json for the closing note.
  process.stdout.write(`patient page: time to verdict median ${median.toFixed(0)} ms (budget 300 ms) at load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores\n`);
  // The script came gzip-compressed.
  const js = m.resources.find((r) => r.name.startsWith('/assets/patient-'))!;
  expect(js.encoded).toBeLessThan(js.decoded);
}
