// One visit of the patient page in a fresh browser context, and what the page measured about it: shared by
// test/web/patient.test.ts (budget) and test/bench/web.ts, so that both measure the same thing the same way.
import type { Browser, BrowserContext, Page } from 'playwright-core';

// Records when the verdict element first appears, measured in the page from navigation start
// (window.__verdictAt), and when the task after the next frame runs (a message posted from that frame's
// animation callback), by which time the frame with the verdict has been rendered (window.__verdictPaintedAt).
const WATCH_VERDICT = `
  new MutationObserver((_, obs) => {
    if (document.querySelector('[data-verdict]')) {
      window.__verdictAt = performance.now(); obs.disconnect();
      requestAnimationFrame(() => {
        const ch = new MessageChannel();
        ch.port1.onmessage = () => { window.__verdictPaintedAt = performance.now(); };
        ch.port2.postMessage(0);
      });
    }
  }).observe(document, { childList: true, subtree: true });
`;

export interface Viewport {
  width: number;
  height: number;
}

/** A fresh context (empty cache, new connections) with the verdict watcher, and a page in it. */
export async function openPage(browser: Browser, locale: string, viewport: Viewport): Promise<{ ctx: BrowserContext; page: Page }> {
  const ctx = await browser.newContext({ locale, viewport, deviceScaleFactor: 1 });
  await ctx.addInitScript(WATCH_VERDICT);
  return { ctx, page: await ctx.newPage() };
}

export async function verdictOf(page: Page, uri: string): Promise<{ key: string; head: string; text: string }> {
  await page.goto(uri);
  const v = page.locator('#verdict');
  await v.waitFor({ state: 'visible', timeout: 10_000 });
  return { key: (await v.getAttribute('data-verdict'))!, head: (await v.locator('h2').innerText()).trim(), text: await page.locator('#result').innerText() };
}

/** The in-page evidence checks as the page shows them: check id -> ok | failed | missing. */
export async function checks(page: Page): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const li of await page.locator('[data-check]').all()) out[(await li.getAttribute('data-check'))!] = (await li.getAttribute('data-status'))!;
  return out;
}

export interface PageMetrics {
  /** ms from navigation start to the verdict element in the DOM. */
  verdictMs: number;
  /** ms from navigation start to the task after the frame that rendered the verdict. */
  paintedMs: number | null;
  encodedBytes: number;
  transferBytes: number;
  resources: { name: string; encoded: number; decoded: number; start: number; end: number }[];
  marks: { name: string; at: number }[];
  /** The page's performance measures (medtrail:pack-state: the map proofs checked), durations in ms. */
  measures: { name: string; ms: number }[];
}

/** What the page measured, once the verdict is there (Resource Timing, the page's performance marks). */
export async function pageMetrics(page: Page): Promise<PageMetrics> {
  // The painted time comes a frame later than the verdict.
  await page.waitForFunction('window.__verdictPaintedAt !== undefined', undefined, { timeout: 5_000 }).catch(() => undefined);
  // Run in the page (a string, so this file needs no DOM types).
  return (await page.evaluate(`(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    return {
      verdictMs: window.__verdictAt,
      paintedMs: window.__verdictPaintedAt ?? null,
      encodedBytes: nav.encodedBodySize + res.reduce((s, r) => s + r.encodedBodySize, 0),
      transferBytes: nav.transferSize + res.reduce((s, r) => s + r.transferSize, 0),
      resources: [nav, ...res].map((r) => ({ name: r.name.replace(/^https?:\\/\\/[^/]+/, ''), encoded: r.encodedBodySize, decoded: r.decodedBodySize, start: Math.round(r.startTime), end: Math.round(r.responseEnd) })),
      marks: performance.getEntriesByType('mark').map((m) => ({ name: m.name, at: Math.round(m.startTime) })),
      measures: performance.getEntriesByType('measure').map((m) => ({ name: m.name, ms: m.duration })),
    };
  })()`)) as PageMetrics;
}
