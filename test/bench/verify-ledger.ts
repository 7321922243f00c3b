// Shared by the verify iteration aids (ab-verify.ts, profile-verify.ts) and bench:custody: a ledger with one
// manufacturer, one product and a batch of signed packs; load from a worker thread (http-load.ts); a
// process's CPU time from /proc.
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { toBase64Url, toHex } from '../../core/bytes.js';
import { formatDigitalLink } from '../../core/gs1/digital-link.js';
import { sign } from '../../core/crypto/ed25519.js';
import { checkDigit, randomSerial } from '../../core/gs1/identifiers.js';
import { keyFileSeed, type KeyFile } from '../../core/crypto/keys.js';
import { packIdentityBytes } from '../../core/tag/pack.js';
import type { Ledger } from '../../server/context.js';
import { custodyServices } from '../../server/custody/services.js';
import { entry, participantKey } from '../support/ledger.js';
import type { LoadJob, LoadResult } from './http-load.js';

/** Runs one load job on a worker thread (so that it does not share an event loop with a server). */
export function runLoad(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./http-load.js', import.meta.url), { workerData: job });
    w.once('message', (r: LoadResult) => void w.terminate().then(() => resolve(r)));
    w.once('error', reject);
  });
}

/**
 * Enrolls a manufacturer, registers a product and one batch of `packs` random serials in `ledger`; answers the
 * POST /verify bodies (signed tag URIs) of the first `sample` packs.
 */
export function fillVerifyLedger(ledger: Ledger, authority: KeyFile, packs = 100_000, sample = 2000): string[] {
  const svc = custodyServices(ledger);
  const submit = (e: Parameters<typeof svc.submit>[0][number]): string => toHex(svc.submit([e])[0]!.leafHash);
  const maker = participantKey(10);
  submit(entry('participant', authority as KeyFile & { gln: string }, { action: 'admit', gln: maker.gln, name: maker.name, role: 'manufacturer', publicKey: maker.publicKey, prefixes: ['4000001'] }));
  const gtin = '0400000100001' + String(checkDigit('0400000100001'));
  const product = submit(entry('product', maker, { gtin, name: 'Bench', form: 'tablet', strength: '1 mg', packSize: 10 }));
  const serials = [...new Set(Array.from({ length: packs }, () => randomSerial(12)))];
  submit(entry('batch', maker, { gtin, lot: 'B0', expiry: '301231', serials }, [product]));
  return serials.slice(0, sample).map((serial) => {
    const sig = toBase64Url(sign(packIdentityBytes({ gtin, lot: 'B0', serial, expiry: '301231' }), keyFileSeed(maker)));
    return JSON.stringify({ code: formatDigitalLink({ resolver: 'https://id.medtrail.test', gtin, lot: 'B0', serial, expiry: '301231', sig, query: {} }) });
  });
}

/** User + system CPU time of process `pid` so far, in microseconds (/proc; 10 ms clock ticks). */
export function processCpuUs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}
