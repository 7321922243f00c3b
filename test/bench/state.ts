// npm run bench:state: what the state maps (issue 13, server/map) cost, each figure next to its baseline in the
// same run, on a real SQLite file:
//   1. Registration: BENCH_STATE_BATCHES batches of 100,000 packs (default 10: 1,000,000 packs) through the
//      custody submit path, each followed by a checkpoint (which brings the maps up to date), against the same
//      with the maps left out of the checkpoint (the line replaced by a constant). Alternating batch by batch,
//      on two ledgers, so that drift on a shared machine hits both. No tags are signed on either side: this is
//      what the maps cost on their own, a stricter baseline than issue 13's (registration as a manufacturer does
//      it, tags signed, against bare signing + insert: npm run bench:custody, part 1, whose rounds end with the
//      batch's last pack verified with its state proven).
//   2. Verify at that size: the in-process verify handler (server/verify/flow.ts verifyScan: lookup, verdict,
//      inclusion proof, map proofs) for random registered and unknown packs, p50/p99, against the same handler
//      with the map proofs taken out of the timing (proofs only). Target: p99 < 2 ms.
// Loopback only, nothing else contacted; bounded; stops by itself.

import { performance } from 'node:perf_hooks';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { randomSerial } from '../../core/gs1/serial.js';
import { mapExtensionLine } from '../../core/map/extension.js';
import { openLedger, type Ledger } from '../../server/context.js';
import { custodyServices } from '../../server/custody/services.js';
import { verifyScan } from '../../server/verify/flow.js';
import { verifyServices } from '../../server/verify/services.js';
import { gtinOf, PREFIX } from '../support/custody.js';
import { entry, makeLedger, participantKey, type TestLedger } from '../support/ledger.js';

installNodeCrypto();
const BATCHES = Number(process.env['BENCH_STATE_BATCHES'] ?? 10);
const PER = 100_000;
const VERIFIES = Number(process.env['BENCH_STATE_VERIFIES'] ?? 20_000);
const GTIN = gtinOf(77);

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const pct = (a: number[], p: number): number => a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))] ?? NaN;

interface Side {
  name: string;
  t: TestLedger;
  ledger: Ledger;
  product: string;
  ms: number;
  serials: string[];
}

const maker = participantKey(2);
function side(name: string, withMap: boolean): Side {
  const t = makeLedger();
  const ledger = openLedger({ db: t.db });
  const s = custodyServices(ledger);
  if (!withMap) {
    // The baseline: the same checkpoint line, constant, so the maps are never brought up to date.
    const line = mapExtensionLine({ packs: new Uint8Array(32), lots: new Uint8Array(32) });
    ledger.log.setExtension(() => line);
  }
  s.submit([entry('participant', t.authority as never, { action: 'admit', gln: maker.gln, name: maker.name, role: 'manufacturer', publicKey: maker.publicKey, prefixes: [PREFIX] })]);
  const [p] = s.submit([entry('product', maker, { gtin: GTIN, name: 'Benchol', form: 'tablets', strength: '1 mg', packSize: 10 })]);
  ledger.log.signNow();
  return { name, t, ledger, product: Buffer.from(p!.leafHash).toString('hex'), ms: 0, serials: [] };
}

const withMap = side('with maps', true);
const without = side('without maps', false);
console.log(`registration: ${BATCHES} batches of ${fmt(PER)} packs, each then a checkpoint; alternating on two ledgers`);
for (let b = 0; b < BATCHES; b++) {
  const serials = Array.from({ length: PER }, () => randomSerial());
  for (const s of b % 2 === 0 ? [withMap, without] : [without, withMap]) {
    const e = entry('batch', maker, { gtin: GTIN, lot: `B${b}`, expiry: '301231', serials }, [s.product]);
    const t0 = performance.now();
    custodyServices(s.ledger).submit([e]);
    s.ledger.log.signNow();
    s.ms += performance.now() - t0;
    if (s === withMap) s.serials.push(...serials.slice(0, 2000));
  }
  process.stdout.write(`  batch ${b + 1}: with maps ${fmt(withMap.ms / 1000, 2)} s total, without ${fmt(without.ms / 1000, 2)} s total\n`);
}
const packs = BATCHES * PER;
const rWith = packs / (withMap.ms / 1000);
const rWithout = packs / (without.ms / 1000);
console.log(`  with maps:    ${fmt(rWith)} packs/s`);
console.log(`  without maps: ${fmt(rWithout)} packs/s`);
console.log(`  ratio: ${fmt((100 * rWith) / rWithout, 1)}% of the throughput without maps (the maps' own cost; issue 13's target is in bench:custody)`);

// ---- verify at this size ----
const v = verifyServices(withMap.ledger);
const req = (code: string): Parameters<typeof verifyScan>[1] => ({ method: 'POST', originalUrl: '/api/v1/verify', headers: {}, body: { code } });
const codes = Array.from({ length: VERIFIES }, (_, i) => `(01)${GTIN}(21)${i % 4 === 3 ? `NOPE${i}` : withMap.serials[(i * 7919) % withMap.serials.length]!}`);
for (const c of codes.slice(0, 500)) verifyScan(v, req(c)); // warm-up
const full: number[] = [];
const proofs: number[] = [];
for (const c of codes) {
  const t0 = performance.now();
  const a = verifyScan(v, req(c));
  if (a instanceof Promise) throw new Error('an SQLite ledger answers verify synchronously');
  full.push(performance.now() - t0);
  if (a.map === undefined) throw new Error('no map in the answer');
  const m = a.pack;
  const t1 = performance.now();
  v.map.prove(GTIN, m?.serial ?? c.slice(c.indexOf('(21)') + 4), m?.lot);
  proofs.push(performance.now() - t1);
}
full.sort((a, b) => a - b);
proofs.sort((a, b) => a - b);
console.log(`verify at ${fmt(packs + 0)} packs (${fmt(VERIFIES)} verifications, 1 in 4 unknown, in process):`);
console.log(`  whole handler: p50 ${fmt(pct(full, 50), 3)} ms, p99 ${fmt(pct(full, 99), 3)} ms (target p99 < 2 ms)`);
console.log(`  of which the two map proofs: p50 ${fmt(pct(proofs, 50), 3)} ms, p99 ${fmt(pct(proofs, 99), 3)} ms`);
v.close();
for (const s of [withMap, without]) {
  s.ledger.close();
  s.t.cleanup();
}

