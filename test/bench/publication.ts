// npm run bench:publication: how long an entry takes to be covered by a checkpoint two witnesses cosigned
// (issue 13), next to how long it takes to be covered by the log's own checkpoint, in the same run. Two
// `medtrail witness` processes and `medtrail serve --policy` on loopback; BENCH_PUBLICATION_ENTRIES entries
// (default 100), one at a time; each timed from its 201 to the first GET /checkpoint that covers it (polled
// every 2 ms), with and without the witness quorum asked for. Bounded; stops by itself.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkQuorum, parsePolicy } from '../../core/log/policy.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { gtinOf, PREFIX } from '../support/custody.js';
import { entry, makeLedger, participantKey } from '../support/ledger.js';
import { startServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';
import { startWitnessProcess } from '../support/witness-process.js';
import { openLedger } from '../../server/context.js';

installNodeCrypto();
const N = Number(process.env['BENCH_PUBLICATION_ENTRIES'] ?? 100);
const pct = (a: number[], p: number): number => a[Math.min(a.length - 1, Math.floor((a.length * p) / 100))] ?? NaN;
const ms = (n: number): string => `${n.toFixed(1)} ms`;

const t = tempDir('medtrail-bench-publication-');
const l = makeLedger();
const vkey = (() => {
  const o = openLedger({ db: l.db });
  const v = o.log.verifierKey;
  o.close();
  return v;
})();
const witnesses = [await startWitnessProcess(t.dir, 'bench.test/w1', vkey), await startWitnessProcess(t.dir, 'bench.test/w2', vkey)];
const policyText = [`log ${vkey}`, ...witnesses.map((w, i) => `witness w${i + 1} ${w.vkey} ${w.url}`), 'group both all w1 w2', 'quorum both', ''].join('\n');
const policyFile = join(t.dir, 'policy.txt');
writeFileSync(policyFile, policyText);
const policy = parsePolicy(policyText);
const server = await startServerProcess(l.db, ['--policy', policyFile]);
const maker = participantKey(2);
const post = async (body: unknown): Promise<number> => {
  const r = await fetch(`${server.url}/api/v1/entries`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = (await r.json()) as { index: number };
  if (r.status !== 201) throw new Error(`entry refused: ${JSON.stringify(j)}`);
  return j.index;
};
try {
  await post(entry('participant', l.authority as never, { action: 'admit', gln: maker.gln, name: maker.name, role: 'manufacturer', publicKey: maker.publicKey, prefixes: [PREFIX] }));
  const own: number[] = [];
  const witnessed: number[] = [];
  for (let i = 0; i < N; i++) {
    const index = await post(entry('product', maker, { gtin: gtinOf(1000 + i), name: `P${i}`, form: 'tablets', strength: '1 mg', packSize: 10 }));
    const t0 = performance.now();
    let ownAt: number | undefined;
    for (const end = t0 + 10_000; performance.now() < end; ) {
      const note = await (await fetch(`${server.url}/api/v1/checkpoint`)).text();
      const q = checkQuorum(policy, note);
      if (q.checkpoint.size > index) {
        ownAt ??= performance.now() - t0;
        if (q.satisfied) {
          witnessed.push(performance.now() - t0);
          break;
        }
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    if (ownAt !== undefined) own.push(ownAt);
  }
  own.sort((a, b) => a - b);
  witnessed.sort((a, b) => a - b);
  console.log(`publication: ${N} entries, one at a time, two witness processes on loopback`);
  console.log(`  covered by the log's own checkpoint: p50 ${ms(pct(own, 50))}, p99 ${ms(pct(own, 99))}`);
  console.log(`  covered by a checkpoint both witnesses cosigned: p50 ${ms(pct(witnessed, 50))}, p99 ${ms(pct(witnessed, 99))} (${witnessed.length} of ${N} within 10 s)`);
} finally {
  await server.stop();
  for (const w of witnesses) await w.stop();
  l.cleanup();
  t.cleanup();
}
