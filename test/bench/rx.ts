// npm run bench:rx — figures for issue 16, each next to its baseline from the same run (the ratios are what the
// targets are about; absolute times drift on a shared machine). Load goes to 127.0.0.1 only, bounded in count.
//
// 1. Prescriptions created and dispensed per second, as the CLI and a pharmacy system do it, against a real
//    `medtrail serve` process: each prescription signed (prescribe entry, a fresh id, salt, access code) and sent
//    with its details (POST /rx, 500 a request: the server checks, appends, runs the rules, seals the details),
//    claimed with the access code (rx_claim entries, POST /entries, 1,000 a request) and dispensed against a
//    pack the pharmacy holds (dispense entries naming the prescription, 1,000 a request).
//    Baseline: the same signatures (entries and access-code signatures) and the same sealing of the details, and
//    a SQLite insert of the same rows (the leaves, the prescription rows, the sealed details, the dispense rows)
//    into plain tables with the same pragmas, one transaction. Rounds alternate. Target: real >= 50% of bare.
// 2. A report over 1,000,000 prescriptions (and 500,000 dispenses) in the custody tables, written by the
//    custody writer (the code the rules' changes go through): the report's time and the memory it takes, for
//    several groupings, next to a GROUP BY over the prescription rows themselves (what the report would cost
//    without the aggregate cells). Target: under 2 s, memory bounded (it reads the cells, never the rows).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import nacl from 'tweetnacl';
import { toBase64, utf8 } from '../../core/bytes.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { generateKeyFile, keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { buildEntry } from '../../core/entry/builder.js';
import type { Entry } from '../../core/entry/entry.js';
import { canonicalJson } from '../../core/entry/jcs.js';
import { checkDigit } from '../../core/gs1/identifiers.js';
import { dayOf, newAccessCode, newRxId, newSalt, patientCommitment, rxClaimMessage, signWithCode, tokenKeyOf } from '../../core/rx/rx.js';
import { buildReport } from '../../core/rx/report.js';
import { RX_REPORT_DIMENSIONS, type RxReportDimension } from '../../core/api/rx.js';
import type { PrescribeBody } from '../../core/entry/bodies.js';
import { ApiClient, type SignerKey } from '../../cli/api-client.js';
import { enroll } from '../../cli/client/enroll.js';
import { registerProductEntry } from '../../cli/client/product.js';
import { yymmdd } from '../../cli/demo-chain.js';
import { CustodyState } from '../../server/custody/state.js';
import { CustodyWriter } from '../../server/custody/writer.js';
import { openDatabase, SqliteLedgerStore } from '../../server/store/ledger-store.js';
import { cli } from '../support/cli.js';
import { gln, TEST_ORIGIN } from '../support/ledger.js';
import { startServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/tmp.js';

installNodeCrypto();
const N = Number(process.env.BENCH_RX ?? 2000);
const SKIP_THROUGHPUT = process.env.BENCH_RX_REPORT_ONLY === '1';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REPORT_RX = Number(process.env.BENCH_REPORT_RX ?? 1_000_000);
const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const mb = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;

const t = tempDir('medtrail-bench-rx-');
const db = join(t.dir, 'medtrail.db');
const init = cli(['init', '--db', db, '--origin', TEST_ORIGIN, '--json']);
if (init.status !== 0) throw new Error(`init failed: ${init.stderr}`);
process.env['MEDTRAIL_RATE_LIMIT'] ??= 'off';
const server = await startServerProcess(db);

class Skip extends Error {}

function chunks<T>(a: T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < a.length; i += n) out.push(a.slice(i, i + n));
  return out;
}

try {
  const authority = parseKeyFile(readFileSync(join(t.dir, 'authority.key.json'), 'utf8')) as SignerKey;
  const maker = generateKeyFile('Bench Pharma', gln(2)) as SignerKey;
  const pharmacy = generateKeyFile('Bench Pharmacy', gln(3)) as SignerKey;
  const doctor = generateKeyFile('Dr. Bench', gln(4)) as SignerKey;
  const prefix = '4099999';
  const gtin = `0${prefix}00011${checkDigit(`0${prefix}00011`)}`;
  const admin = new ApiClient(server.url);
  await enroll(admin, authority, { action: 'admit', gln: maker.gln, name: maker.name, role: 'manufacturer', publicKey: maker.publicKey, prefixes: [prefix] });
  await enroll(admin, authority, { action: 'admit', gln: pharmacy.gln, name: pharmacy.name, role: 'pharmacy', publicKey: pharmacy.publicKey, prefixes: [] });
  await enroll(admin, authority, { action: 'admit', gln: doctor.gln, name: doctor.name, role: 'prescriber', publicKey: doctor.publicKey, prefixes: [], region: 'DE-BY', prescriberType: 'doctor' });
  const m = new ApiClient(server.url, maker);
  const ph = new ApiClient(server.url, pharmacy);
  const dr = new ApiClient(server.url, doctor);
  const prod = await registerProductEntry(m, maker, { gtin, name: 'Benchmoxil', form: 'capsule', strength: '500 mg', packSize: 20, substance: 'amoxicillin', atc: 'J01CA04' });
  const serials = Array.from({ length: N * ROUNDS }, (_, i) => `RX${String(i).padStart(7, '0')}`);
  const log = await m.origin();
  const signer = (k: SignerKey) => ({ gln: k.gln, seed: keyFileSeed(k), log });
  const batch = await m.submit(buildEntry('batch', signer(maker), { gtin, lot: 'B1', expiry: yymmdd(new Date(Date.now() + 700 * 86_400_000)), serials }, [prod.leafHash]));
  const ship = await m.submit(buildEntry('ship', signer(maker), { to: pharmacy.gln, items: [{ type: 'lot', gtin, lot: 'B1' }] }, [batch.leafHash]));
  const recv = await ph.submit(buildEntry('receive', signer(pharmacy), { ship: ship.leafHash, missing: [], extra: [] }, [ship.leafHash]));
  const today = dayOf(Date.now());
  const until = dayOf(Date.now() + 28 * 86_400_000);
  const secretKey = nacl.randomBytes(32);

  /** The signing work of one prescription's life, the same in both runs. */
  function signOne(serial: string): { rx: Entry<PrescribeBody>; details: { salt: string; patient: { id: string; name: string } }; claim: Entry<object>; dispense: Entry<object>; id: string } {
    const id = newRxId();
    const code = newAccessCode();
    const salt = newSalt();
    const pid = `P${id.slice(0, 9)}`;
    const body: PrescribeBody = { id, patient: patientCommitment(salt, pid), medicine: { gtin }, quantity: 1, dosage: '1 capsule 3 times a day', validFrom: today, validUntil: until, repeats: 0, token: toBase64(tokenKeyOf(code)) };
    const rx = buildEntry('prescribe', signer(doctor), body);
    const at = new Date();
    const tokenSig = toBase64(signWithCode(code, rxClaimMessage(log, id, pharmacy.gln, at.toISOString())));
    const claim = buildEntry('rx_claim', signer(pharmacy), { id, tokenSig }, [], { at });
    const dispense = buildEntry('dispense', signer(pharmacy), { gtin, serial, rx: id }, [recv.leafHash]);
    return { rx, details: { salt, patient: { id: pid, name: 'Bench Patient' } }, claim, dispense, id };
  }

  async function real(round: number): Promise<number> {
    const start = performance.now();
    const lives = serials.slice(round * N, (round + 1) * N).map(signOne);
    for (const c of chunks(lives, 500)) await dr.prescribeMany(c.map((l) => ({ entry: l.rx, details: l.details })));
    for (const c of chunks(lives, 1000)) await ph.post('/api/v1/entries', { entries: c.map((l) => l.claim) }, (v) => v);
    for (const c of chunks(lives, 1000)) await ph.post('/api/v1/entries', { entries: c.map((l) => l.dispense) }, (v) => v);
    return N / ((performance.now() - start) / 1000);
  }

  const bareDb = openDatabase(join(t.dir, 'bare.db'), { create: true });
  bareDb.exec(`CREATE TABLE leaves (idx INTEGER PRIMARY KEY, bytes BLOB NOT NULL) STRICT;
    CREATE TABLE rx (id TEXT PRIMARY KEY, patient TEXT NOT NULL, medicine TEXT NOT NULL, token TEXT NOT NULL, dispensed INTEGER NOT NULL, claimed_by TEXT) STRICT, WITHOUT ROWID;
    CREATE TABLE rx_private (id TEXT PRIMARY KEY, nonce BLOB NOT NULL, box BLOB NOT NULL) STRICT, WITHOUT ROWID;
    CREATE TABLE rx_dispenses (id TEXT NOT NULL, gtin TEXT NOT NULL, serial TEXT NOT NULL, PRIMARY KEY (id, gtin, serial)) STRICT, WITHOUT ROWID;`);
  const ins = {
    leaf: bareDb.prepare('INSERT INTO leaves (bytes) VALUES (?)'),
    rx: bareDb.prepare('INSERT INTO rx (id, patient, medicine, token, dispensed, claimed_by) VALUES (?, ?, ?, ?, 0, NULL)'),
    claim: bareDb.prepare('UPDATE rx SET claimed_by = ? WHERE id = ?'),
    priv: bareDb.prepare('INSERT INTO rx_private (id, nonce, box) VALUES (?, ?, ?)'),
    disp: bareDb.prepare('INSERT INTO rx_dispenses (id, gtin, serial) VALUES (?, ?, ?)'),
    done: bareDb.prepare('UPDATE rx SET dispensed = 1, claimed_by = NULL WHERE id = ?'),
  };
  let bareSerial = 0;
  function bare(): number {
    const start = performance.now();
    const lives = Array.from({ length: N }, () => signOne(`BARE${bareSerial++}`));
    bareDb.transaction(() => {
      for (const l of lives) {
        const b = l.rx.body;
        for (const e of [l.rx, l.claim, l.dispense]) ins.leaf.run(Buffer.from(utf8(canonicalJson(e))));
        ins.rx.run(l.id, b.patient, JSON.stringify(b.medicine), b.token);
        const nonce = nacl.randomBytes(24);
        ins.priv.run(l.id, Buffer.from(nonce), Buffer.from(nacl.secretbox(utf8(JSON.stringify({ id: l.id, details: l.details })), nonce, secretKey)));
        ins.claim.run(pharmacy.gln, l.id);
        ins.disp.run(l.id, gtin, `BARE${l.id}`);
        ins.done.run(l.id);
      }
    })();
    return N / ((performance.now() - start) / 1000);
  }

  if (SKIP_THROUGHPUT) throw new Skip();
  console.log(`1. prescriptions created, claimed and dispensed per second (${N} a round, ${ROUNDS} rounds, alternating)`);
  const reals: number[] = [];
  const bares: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    bares.push(bare());
    reals.push(await real(r));
    console.log(`   round ${r + 1}: bare ${fmt(bares[r]!)}/s, real ${fmt(reals[r]!)}/s`);
  }
  const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const ratio = med(reals) / med(bares);
  console.log(`   median: real ${fmt(med(reals))} prescriptions/s (each: prescribe + seal + claim + dispense), bare ${fmt(med(bares))}/s: ${(ratio * 100).toFixed(0)}% (target >= 50%) ${ratio >= 0.5 ? 'OK' : 'BELOW TARGET'}`);
  bareDb.close();
} catch (e) {
  if (!(e instanceof Skip)) throw e;
} finally {
  await server.stop();
}

// ---- 2. a report over 1,000,000 prescriptions ---------------------------------------------------------------
{
  const rdb = openDatabase(join(t.dir, 'report.db'), { create: true });
  new SqliteLedgerStore(rdb); // the ledger's tables, which the custody state reads beside its own
  const writer = new CustodyWriter(rdb);
  const state = new CustodyState(rdb);
  const REGIONS = ['DE-BW', 'DE-BY', 'DE-BE', 'DE-BB', 'DE-HB', 'DE-HH', 'DE-HE', 'DE-MV', 'DE-NI', 'DE-NW', 'DE-RP', 'DE-SL', 'DE-SN', 'DE-ST', 'DE-SH', 'DE-TH'];
  const TYPES = ['doctor', 'dentist', 'clinic', 'hospital', 'midwife', 'other'];
  const ATCS = Array.from({ length: 60 }, (_, i) => `N0${(i % 7) + 1}A${String.fromCharCode(65 + (i % 26))}${String(i).padStart(2, '0')}`);
  const hash = new Uint8Array(32);
  const fill0 = performance.now();
  let x = 12345;
  const rnd = (n: number): number => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) % n;
  };
  for (let start = 0; start < REPORT_RX; start += 50_000) {
    rdb.transaction(() => {
      for (let i = start; i < Math.min(REPORT_RX, start + 50_000); i++) {
        const m = rnd(24);
        const month = `20${24 + Math.floor(m / 12)}-${String((m % 12) + 1).padStart(2, '0')}`;
        const at = `${month}-15T10:00:00.000Z`;
        const id = i.toString(16).padStart(32, '0');
        const row = { id, index: i, hash: '', prescriber: gln(100 + rnd(500)), patient: '0'.repeat(64), medicine: { gtin: '04099999000116' }, quantity: 1, repeats: 0, dosage: 'd', validFrom: at.slice(0, 10), validUntil: at.slice(0, 10), token: 'x', at, region: REGIONS[rnd(REGIONS.length)]!, ptype: TYPES[rnd(TYPES.length)]!, substance: ATCS[rnd(ATCS.length)]!, dispensed: 0, claimedBy: null, claimedIndex: null, cancelledIndex: null, cancelReason: null };
        const ref = { index: i, hash, kind: 'prescribe' as const, at, signer: row.prescriber };
        const cell = { month, region: row.region, substance: row.substance, ptype: row.ptype };
        writer.apply(ref, [{ op: 'rx', row, cell, packs: 1 }]);
        if (i % 2 === 0) writer.apply({ ...ref, kind: 'dispense', index: REPORT_RX + i }, [{ op: 'rxDispense', id, gtin: '04099999000116', serial: `S${i}`, fillEnds: true, cell }]);
      }
    })();
  }
  console.log(`2. a report over ${fmt(REPORT_RX)} prescriptions (${fmt(REPORT_RX / 2)} dispensed): tables written in ${((performance.now() - fill0) / 1000).toFixed(1)} s; ${fmt(state.rxStats().length)} aggregate cells`);
  const groupings: RxReportDimension[][] = [['month'], ['region'], ['substance'], ['month', 'region'], [...RX_REPORT_DIMENSIONS]];
  for (const by of groupings) {
    global.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    const r = buildReport(state.rxStatsEach(), by);
    const ms = performance.now() - t0;
    const heap = process.memoryUsage().heapUsed - heap0;
    const rss = process.memoryUsage().rss - rss0;
    const suppressed = r.rows.filter((row) => row.prescriptions === null || row.packsDispensed === null).length;
    console.log(`   by ${by.join(',').padEnd(38)} ${String(r.rows.length).padStart(6)} rows (${suppressed} with suppressed counts) in ${ms.toFixed(1)} ms (target < 2000 ms) ${ms < 2000 ? 'OK' : 'OVER'}; heap +${mb(Math.max(0, heap))}, rss +${mb(Math.max(0, rss))}`);
  }
  const t0 = performance.now();
  const naive = rdb.prepare("SELECT substr(at, 1, 7) AS month, region, substance, ptype, count(*) AS n, sum(dispensed) AS d FROM custody_rx GROUP BY 1, 2, 3, 4").all();
  console.log(`   baseline: GROUP BY over the ${fmt(REPORT_RX)} prescription rows: ${naive.length} cells in ${(performance.now() - t0).toFixed(0)} ms (what the report would cost without its aggregate cells)`);
  rdb.close();
}
t.cleanup();
