// Profiling aid (not a benchmark): CPU profile of the server's main thread during the verify phase only,
// written to $PROFILE_OUT (default /tmp/verify.cpuprofile). `npm run bench:custody` has the verify figures.
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { serviceModules } from '../../server/modules.js';
import { startServer } from '../../server/server.js';
import { makeLedger } from '../support/ledger.js';
import type { LoadJob } from './http-load.js';
import { fillVerifyLedger, runLoad } from './verify-ledger.js';

installNodeCrypto();
const t = makeLedger();
const s = await startServer({ db: t.db, port: 0, modules: serviceModules(), rateLimit: false });
const bodies = fillVerifyLedger(s.ledger, t.authority, 100_000, 5000);
const path = process.env.PROFILE_PATH ?? '/api/v1/verify';
const job = (ms: number): LoadJob => ({ url: s.url, method: path === '/healthz' ? 'GET' : 'POST', path, bodies, concurrency: 4, durationMs: ms });
await runLoad(job(Number(process.env.PROFILE_WARM_MS ?? 4000)));
const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.start');
const r = await runLoad(job(4000));
const { profile } = await session.post('Profiler.stop');
writeFileSync(process.env.PROFILE_OUT ?? '/tmp/verify.cpuprofile', JSON.stringify(profile));
console.log(`${path}: ${(r.requests / r.seconds).toFixed(0)} req/s, errors ${r.errors}`);
await s.close();
t.cleanup();
