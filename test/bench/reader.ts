// Benchmark of the counter (issue 4): time from the tap (the virtual card connecting to vpcd) to the verdict,
// offline and online, median and p99 over BENCH_TAPS taps (default 200) each; and the 2D-scanner path, from a
// line on the scanner's stream to its verdict. Real stack: pcscd + vpcd (virtual reader 1) + nfc-pcsc +
// reader/verifier.ts against a real server on a temporary SQLite file. Run: npm run bench:reader.
// Targets: verdict under 150 ms after the tag's data is read; whole tap under 1 s; scanner under 20 ms a line.
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { ReaderCache } from '../../reader/cache.js';
import { LedgerClient } from '../../client/ledger-client.js';
import { keyFileSeed } from '../../core/crypto/keys.js';
import { watchNfc } from '../../reader/nfc.js';
import type { VerdictLine } from '../../reader/output.js';
import { OfflineQueue } from '../../reader/queue.js';
import { readScannerLines } from '../../reader/scanner.js';
import { Verifier } from '../../reader/verifier.js';
import { VIRTUAL_READERS, acquireVirtualReader, ensurePcscd } from '../support/pcscd.js';
import { readerWorld } from '../support/reader-world.js';
import { VirtualNtag } from '../support/virtual-ntag.js';

const TAPS = Number(process.env['BENCH_TAPS'] ?? 200);
const LINES = Number(process.env['BENCH_LINES'] ?? 500);
const INDEX = 1;

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return `median ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, max ${s[s.length - 1]!.toFixed(1)} ms (n=${s.length})`;
}

async function main(): Promise<void> {
  await ensurePcscd();
  const release = await acquireVirtualReader(INDEX);
  const w = await readerWorld(Math.max(TAPS, LINES) + 2);
  const key = w.c.p;
  const signer = { gln: key.gln, seed: keyFileSeed(key) };
  let pending: ((v: VerdictLine) => void) | undefined;
  let cardOff: (() => void) | undefined;
  const make = (server: string, name: string) => {
    const cache = new ReaderCache(join(w.dir, name, 'cache.db'));
    const queue = new OfflineQueue(join(w.dir, name, 'queue.db'));
    const v = new Verifier({
      client: new LedgerClient(server, { signer, timeoutMs: 2000 }),
      cache,
      queue,
      signer,
      dispense: false,
      onVerdict: (l) => {
        if (!l.provisional) pending?.(l);
      },
      onError: (e) => console.error('error line', e),
      onAlert: () => {},
    });
    v.retryMinMs = 3_600_000; // the offline run must not start delivering its queue
    return { v, cache, queue };
  };

  const online = make(w.url, 'online');
  await online.cache.sync(new LedgerClient(w.url, { signer }), key.gln);
  const offline = make('http://127.0.0.1:9', 'offline'); // nothing listens: every request fails at once
  await offline.cache.sync(new LedgerClient(w.url, { signer }), key.gln);

  let current = online.v;
  const nfc = watchNfc(
    (e) => {
      if (e.kind === 'card-off') cardOff?.();
      if (e.kind === 'tag') void current.scan({ code: e.uri, source: 'nfc', t0: performance.now() - e.readMs, readMs: e.readMs, uid: e.uid, reader: e.reader });
      if (e.kind === 'tag-error') console.error('tag error', e);
    },
    { readers: (n) => n === VIRTUAL_READERS[INDEX] },
  );
  await new Promise((r) => setTimeout(r, 1500));

  async function taps(label: string, v: Verifier): Promise<void> {
    current = v;
    const whole: number[] = [];
    const afterRead: number[] = [];
    const read: number[] = [];
    for (let i = 0; i < TAPS; i++) {
      const card = new VirtualNtag({ kind: 'NTAG215' }).programUri(w.uri(w.genuine[i]!));
      const got = new Promise<VerdictLine>((r) => (pending = r));
      const off = new Promise<void>((r) => (cardOff = r));
      const t0 = performance.now();
      await card.tap(INDEX);
      const line = await got;
      whole.push(performance.now() - t0);
      afterRead.push(line.timings.verifyMs);
      read.push(line.timings.readMs ?? 0);
      if (line.verdict !== 'GENUINE' && line.verdict !== 'SUSPICIOUS') throw new Error(`unexpected ${line.verdict}`);
      await card.remove();
      await off;
    }
    console.log(`${label} taps:`);
    console.log(`  tap (card connects) -> verdict: ${stats(whole)}`);
    console.log(`  tag read (UID + NDEF):          ${stats(read)}`);
    console.log(`  data read -> verdict:           ${stats(afterRead)}`);
  }

  async function lines(label: string, v: Verifier): Promise<void> {
    const input = new PassThrough();
    const per: number[] = [];
    let t = 0;
    let i = 0;
    const done = readScannerLines(
      input,
      async (s) => {
        await v.scan(s);
        per.push(performance.now() - t);
        const next = w.genuine[++i];
        if (i < LINES && next) {
          t = performance.now();
          input.write(w.uri(next) + '\n');
        } else input.end();
      },
      (e) => console.error('scanner error', e),
    );
    t = performance.now();
    input.write(w.uri(w.genuine[0]!) + '\n');
    await done;
    console.log(`${label} 2D-scanner lines: line -> verdict: ${stats(per)}`);
  }

  await taps('online', online.v);
  await taps('offline', offline.v);
  await lines('online', online.v);
  await lines('offline', offline.v);

  nfc.close();
  online.v.close();
  offline.v.close();
  await w.close();
  release();
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
