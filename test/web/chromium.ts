// Debian's Chromium through playwright-core, the one way the web tests and the web benchmark start it.
import { chromium, type Browser } from 'playwright-core';

// playwright's launch() gives the browser a fresh temporary profile of its own (and refuses --user-data-dir);
// each test context is a fresh incognito-like context on top of it.
export async function launch(): Promise<{ browser: Browser; close: () => Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  return { browser, close: () => browser.close() };
}
