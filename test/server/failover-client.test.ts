// client/failover.ts against real HTTP servers on loopback, each in its own process: one that answers, one that
// answers only after 1.5 s (a slow operator under load), one that accepts and never answers (hung), and a port
// nobody listens on (refused). What is held: who answers and who is marked down, never how fast (the benchmark,
// `npm run bench:mirror`, prints the failover times).
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Failover } from '../../client/failover.js';
import { isMedtrailError } from '../../core/errors.js';
import { LedgerClient } from '../../client/ledger-client.js';

// A server process: answers {"who":NAME} after DELAY ms (-1: never).
const SERVER = `const [name, delay] = process.argv.slice(1); require('http').createServer((q, s) => { q.resume(); if (Number(delay) < 0) return; setTimeout(() => { s.setHeader('content-type', 'application/json'); s.end(JSON.stringify({ who: name })); }, Number(delay)); }).listen(0, '127.0.0.1', function () { console.log(this.address().port); });`;

const children: ChildProcess[] = [];
async function serverProcess(name: string, delayMs: number): Promise<string> {
  const child = spawn(process.execPath, ['-e', SERVER, name, String(delayMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const port = await new Promise<string>((resolve) => createInterface({ input: child.stdout! }).once('line', resolve));
  return `http://127.0.0.1:${port}`;
}

/** A port that was free a moment ago: connections to it are refused. */
async function refusedUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const a = s.address();
  const port = typeof a === 'object' && a !== null ? a.port : 0;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

let fast = '';
let slow = '';
let hung = '';
let refused = '';

beforeAll(async () => {
  [fast, slow, hung] = await Promise.all([serverProcess('mirror', 0), serverProcess('slow', 1500), serverProcess('hung', -1)]);
  refused = await refusedUrl();
});

afterAll(() => {
  for (const c of children) c.kill();
});

const opts = {
  handOn: (e: unknown) => isMedtrailError(e, 'SERVER_UNREACHABLE'),
  unreachable: (e: unknown) => isMedtrailError(e, 'SERVER_UNREACHABLE'),
};
const who = async (c: LedgerClient): Promise<string> => (JSON.parse((await c.text('GET', '/api/v1/x')).text) as { who: string }).who;

describe('failover between an operator and a mirror', () => {
  it('a refused operator hands on at once and is asked last while it is marked down', async () => {
    const f = new Failover([new LedgerClient(refused, { timeoutMs: 5000 }), new LedgerClient(fast, { timeoutMs: 2000 })], { headStartMs: 10_000 });
    // The head start is longer than the test: only the refusal can have handed on.
    const r = await f.first(who, opts);
    expect(r).toMatchObject({ value: 'mirror', index: 1 });
    expect(f.isDown(0)).toBe(true);
    expect(f.order()).toEqual([1, 0]);
  });

  it('a hung operator: the mirror is asked after the head start and answers; the operator is marked down only past its own timeout', async () => {
    const f = new Failover([new LedgerClient(hung, { timeoutMs: 1500 }), new LedgerClient(fast, { timeoutMs: 2000 })], { headStartMs: 200 });
    const r = await f.first(who, opts);
    expect(r).toMatchObject({ value: 'mirror', index: 1 });
    expect(f.isDown(0)).toBe(false);
    await new Promise((res) => setTimeout(res, 1800));
    expect(f.isDown(0)).toBe(true);
  });

  it('a slow operator is raced by the mirror but not declared dead: its late answer keeps it first', async () => {
    const f = new Failover([new LedgerClient(slow, { timeoutMs: 5000 }), new LedgerClient(fast, { timeoutMs: 2000 })], { headStartMs: 200 });
    expect(await f.first(who, opts)).toMatchObject({ value: 'mirror', index: 1 });
    await new Promise((res) => setTimeout(res, 1800));
    expect(f.isDown(0)).toBe(false);
    expect(f.order()).toEqual([0, 1]);
    // With a head start longer than its delay, the slow operator's own answer is the one taken.
    const patient = new Failover([new LedgerClient(slow, { timeoutMs: 5000 }), new LedgerClient(fast, { timeoutMs: 2000 })], { headStartMs: 3000 });
    expect(await patient.first(who, opts)).toMatchObject({ value: 'slow', index: 0 });
  });

  it('a refusal on the merits ends the search; every server unreachable gives the last error', async () => {
    const f = new Failover([new LedgerClient(refused), new LedgerClient(fast)], { headStartMs: 10_000 });
    await expect(f.first(() => Promise.reject(new Error('not coded')), opts)).rejects.toThrow('not coded');
    const none = new Failover([new LedgerClient(refused), new LedgerClient(await refusedUrl())]);
    await expect(none.first(who, opts)).rejects.toMatchObject({ code: 'SERVER_UNREACHABLE' });
  });
});
