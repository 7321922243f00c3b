// npm run bench:web — the patient page's budget (issue 5): under 100 KB transferred (gzip, scripts included)
// and the verdict shown within 300 ms on loopback. Real parts only: the patient-page chain of the web tests
// (test/web/patient-chain.ts) on a temporary SQLite file, `medtrail serve` as a separate process on
// 127.0.0.1, Debian's Chromium through playwright-core exactly as the web tests start it (test/web/chromium.ts,
// a fresh profile), and the same in-page measurements as the budget test (test/web/patient-visit.ts).
//
// One warm-up visit, then BENCH_VISITS (default 30) fresh visits of a GENUINE pack's page per profile (desktop
// 1280x800; phone 390x844, CPU throttling off: no CDP Emulation.setCPUThrottlingRate), the profiles taking
// turns, each visit in a new browser context (empty cache, new connections). Printed: median, p90 and max of
// the time to the verdict (in the DOM, and painted), of the page's own marks (medtrail:checked = the four
// evidence checks done), of a few phases read from Resource Timing, and the bytes transferred. Bounded: stops visiting after
// BENCH_MAX_SECONDS (default 100) and says so. Needs `npx tsc -p tsconfig.json` and `node web/build.mjs` first.
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { parseVerifyAnswer } from '../../core/api/answers.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { startServerProcess } from '../support/server-process.js';
import { REPO_ROOT } from '../support/tmp.js';
import { launch } from '../web/chromium.js';
import { patientChain, tagUri } from '../web/patient-chain.js';
import { checks, openPage, pageMetrics, verdictOf, type PageMetrics, type Viewport } from '../web/patient-visit.js';

installNodeCrypto();
const VISITS = Number(process.env['BENCH_VISITS'] ?? 30);
const MAX_MS = Number(process.env['BENCH_MAX_SECONDS'] ?? 100) * 1000;
const TARGET_MS = 300;
const TARGET_BYTES = 100 * 1024;
const PROFILES: { name: string; viewport: Viewport }[] = [
  { name: 'desktop 1280x800', viewport: { width: 1280, height: 800 } },
  { name: 'phone 390x844, CPU throttling off', viewport: { width: 390, height: 844 } },
];

/** Nearest-rank percentile of an unsorted list. */
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}

function load(): string {
  return `load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} on ${cpus().length} cores`;
}

function line(label: string, xs: (number | null)[], unit: string, target = ''): string {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  if (v.length === 0) return `  ${label.padEnd(44)} (not recorded)`;
  const f = (x: number): string => (unit === 'ms' ? x.toFixed(0) : unit === 'ms.00' ? x.toFixed(2) : String(Math.round(x))).padStart(7);
  return `  ${label.padEnd(44)}${f(pct(v, 0.5))}${f(pct(v, 0.9))}${f(Math.max(...v))} ${unit.padEnd(5)} ${target}`;
}

const mark = (m: PageMetrics, name: string): number | null => m.marks.find((x) => x.name === name)?.at ?? null;
const res = (m: PageMetrics, pred: (name: string) => boolean, field: 'start' | 'end'): number | null => {
  const xs = m.resources.filter((r) => pred(r.name)).map((r) => r[field]);
  return xs.length === 0 ? null : Math.max(...xs);
};

function report(name: string, runs: PageMetrics[]): void {
  const marks = [...new Set(runs.flatMap((r) => r.marks.map((m) => m.name)))];
  const out = [
    `\n${name}: ${runs.length} fresh visits (median, p90, max)`,
    line('verdict in the DOM', runs.map((r) => r.verdictMs), 'ms', `target < ${TARGET_MS} ms`),
    line('verdict painted (task after its frame)', runs.map((r) => r.paintedMs), 'ms', `target < ${TARGET_MS} ms`),
    line('evidence checks done (medtrail:checked)', runs.map((r) => mark(r, 'medtrail:checked')), 'ms'),
    '  phases (ms from navigation start):',
    line('  page HTML received', runs.map((r) => r.resources[0]?.end ?? null), 'ms'),
    line('  scripts and style received', runs.map((r) => res(r, (n) => n.startsWith('/assets/'), 'end')), 'ms'),
    line('  verify + maker-key requests sent', runs.map((r) => res(r, (n) => n.startsWith('/api/'), 'start')), 'ms'),
    line('  verify answer received', runs.map((r) => res(r, (n) => n === '/api/v1/verify', 'end')), 'ms'),
    line('  maker-key answer received', runs.map((r) => res(r, (n) => n.includes('/maker-key'), 'end')), 'ms'),
    ...marks.map((n) => line(`  mark ${n}`, runs.map((r) => mark(r, n)), 'ms')),
    line('map proofs checked in the page (pack_state)', runs.map((r) => r.measures.find((m) => m.name === 'medtrail:pack-state')?.ms ?? null), 'ms.00'),
    line('bytes, encoded bodies (gzip)', runs.map((r) => r.encodedBytes), 'B', `target < ${TARGET_BYTES} B (100 KB)`),
    line('bytes, with headers', runs.map((r) => r.transferBytes), 'B', `target < ${TARGET_BYTES} B (100 KB)`),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

async function visit(browser: Browser, uri: string, viewport: Viewport): Promise<PageMetrics> {
  const { ctx, page } = await openPage(browser, 'en-US', viewport);
  try {
    const v = await verdictOf(page, uri);
    const c = await checks(page);
    // A benchmark of a page that did not reach the right verdict would measure nothing worth printing.
    if (v.key !== 'GENUINE' || Object.keys(c).length !== 5 || Object.values(c).some((s) => s !== 'ok')) {
      throw new Error(`expected GENUINE with all five checks ok (the pack's state proven among them), got ${v.key} ${JSON.stringify(c)}`);
    }
    return await pageMetrics(page);
  } finally {
    await ctx.close();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  if (!existsSync(join(REPO_ROOT, 'dist/web/assets/manifest.json'))) throw new Error('web assets not built: run node web/build.mjs');
  process.stdout.write(`bench:web, patient page of a GENUINE pack, loopback; at start: ${load()}\n`);
  const chain = await patientChain();
  // The chain was filled through the in-process server of the tests; the page is served by a separate
  // `medtrail serve` on the same file, so the browser's driver never shares an event loop with the server.
  await chain.c.srv.close();
  const proc = await startServerProcess(chain.c.t.db);
  const { browser, close } = await launch();
  try {
    const uri = tagUri(proc.url, chain.genuine, chain.c.m);
    process.stdout.write(`server ${proc.url} (pid ${proc.child.pid}), Chromium ${browser.version()}; chain ready in ${Date.now() - started} ms\n`);
    // What the page is sent to prove the pack's state: the two compact map proofs (core/map/smt.ts).
    const answer = parseVerifyAnswer(await (await fetch(`${proc.url}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: uri }) })).json());
    const b64 = (x: string | null | undefined): number => (x === null || x === undefined ? 0 : Buffer.from(x, 'base64').length);
    process.stdout.write(`map proofs in the verify answer: pack ${b64(answer.map?.pack)} B, lot ${b64(answer.map?.lot)} B (decoded)\n`);
    await visit(browser, uri, PROFILES[0]!.viewport); // warm-up: the server's caches, as earlier visitors would have
    // The profiles take turns, visit by visit, so that a change in the machine's load falls on both alike.
    const runs: PageMetrics[][] = PROFILES.map(() => []);
    let cut = false;
    for (let i = 0; i < VISITS && !cut; i++) {
      for (const [k, p] of PROFILES.entries()) runs[k]!.push(await visit(browser, uri, p.viewport));
      cut = Date.now() - started > MAX_MS;
    }
    for (const [k, p] of PROFILES.entries()) report(p.name, runs[k]!);
    if (cut) process.stdout.write(`\nstopped early: over BENCH_MAX_SECONDS (${MAX_MS / 1000} s)\n`);
  } finally {
    await close();
    await proc.stop();
    chain.c.t.cleanup();
  }
  process.stdout.write(`\nat end: ${load()}; took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:web failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
