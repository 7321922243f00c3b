// Profiling aid (not a benchmark): CPU profile of the server's main thread during the verify phase only,
// written to $PROFILE_OUT (default /tmp/verify.cpuprofile). `npm run bench:custody` has the verify figures.
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { toBase64Url, toHex } from '../../core/bytes.js';
import { formatDigitalLink } from '../../core/digital-link.js';
import { sign } from '../../core/ed25519.js';
import { installNodeCrypto } from '../../core/ed25519-node.js';
import { checkDigit, randomSerial } from '../../core/gs1.js';
import { keyFileSeed, type KeyFile } from '../../core/keys.js';
import { packIdentityBytes } from '../../core/pack.js';
import { custodyServices } from '../../server/custody/services.js';
import { serviceModules } from '../../server/modules.js';
import { startServer } from '../../server/server.js';
import { entry, makeLedger, participantKey } from '../support/ledger.js';
import type { LoadJob, LoadResult } from './http-load.js';

installNodeCrypto();
const load = (job: LoadJob): Promise<LoadResult> =>
  new Promise((resolve, reject) => {
    const w = new Worker(new URL('./http-load.js', import.meta.url), { workerData: job });
    w.once('message', (r: LoadResult) => void w.terminate().then(() => resolve(r)));
    w.once('error', reject);
  });
const t = makeLedger();
const s = await startServer({ db: t.db, port: 0, modules: serviceModules(), rateLimit: false });
const svc = custodyServices(s.ledger);
const submit = (e: Parameters<typeof svc.submit>[0][number]): string => toHex(svc.submit([e])[0]!.leafHash);
const auth = t.authority as KeyFile & { gln: string };
const maker = participantKey(10);
submit(entry('participant', auth, { action: 'admit', gln: maker.gln, name: maker.name, role: 'manufacturer', publicKey: maker.publicKey, prefixes: ['4000001'] }));
const gtin = '0400000100001' + String(checkDigit('0400000100001'));
const product = submit(entry('product', maker, { gtin, name: 'Bench', form: 'tablet', strength: '1 mg', packSize: 10 }));
const serials = Array.from({ length: 100_000 }, () => randomSerial(12));
submit(entry('batch', maker, { gtin, lot: 'B0', expiry: '301231', serials: [...new Set(serials)] }, [product]));
const bodies = serials.slice(0, 5000).map((serial) => {
  const sig = toBase64Url(sign(packIdentityBytes({ gtin, lot: 'B0', serial, expiry: '301231' }), keyFileSeed(maker)));
  return JSON.stringify({ code: formatDigitalLink({ resolver: 'https://id.medtrail.test', gtin, lot: 'B0', serial, expiry: '301231', sig, query: {} }) });
});
const path = process.env.PROFILE_PATH ?? '/api/v1/verify';
const job = (ms: number): LoadJob => ({ url: s.url, method: path === '/healthz' ? 'GET' : 'POST', path, bodies, concurrency: 4, durationMs: ms });
await load(job(Number(process.env.PROFILE_WARM_MS ?? 4000)));
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.start');
const r = await load(job(4000));
const { profile } = await session.post('Profiler.stop');
writeFileSync(process.env.PROFILE_OUT ?? '/tmp/verify.cpuprofile', JSON.stringify(profile));
console.log(`${path}: ${(r.requests / r.seconds).toFixed(0)} req/s, errors ${r.errors}`);
await s.close();
t.cleanup();
