// Two-layer verification of one scan, the dispense that may follow it, and delivery of the offline queue.
//
// Order of effects for a scan:
//   1. parse the code (a coded error line if it does not parse: no verdict);
//   2. the offline verdict at once (reader/offline.ts, from the cache);
//   3. POST /api/v1/verify signed as this pharmacy (the scan is recorded by the ledger); if it answers within
//      `slowMs` only the online verdict is printed; otherwise the offline one is printed first, marked
//      provisional, then the online one when it comes; the online answer always wins;
//   4. the server unreachable: the offline verdict is final, and the scan is queued (reader/queue.ts);
//   5. with dispense on and a GENUINE final verdict: the dispense entry is signed here (core/entry.ts, body
//      checked with core/bodies.ts, prev = the pack's newest leaf hash from the online answer or the cache)
//      and posted; unreachable: queued (with its nonce, so a resend is idempotent) and marked dispensed in the
//      cache so a second tap reads DISPENSED even offline.
import { toHex } from '../core/bytes.js';
import { validateBody } from '../core/entry/bodies.js';
import { entryLeafHash, newNonce, signEntry, type Entry } from '../core/entry/entry.js';
import { isMedtrailError } from '../core/errors.js';
import { keyFileSeed } from '../core/crypto/keys.js';
import { MAX_SCAN_BACKDATE_MS } from '../core/gs1/scanned-code.js';
import type { ScanRepair } from '../core/gs1/scanner-repair.js';
import { isReasonCode, reason, type Reason, type Verdict } from '../core/verdict.js';
import type { ReaderCache } from './cache.js';
import { isTransient, type ReaderHttp, type ReaderKey } from './http.js';
import { evaluateOffline, parseCode, type OfflineEvaluation } from './offline.js';
import type { AlertLine, ErrorLine, Source, VerdictLine } from './output.js';
import type { OfflineQueue, QueueItem } from './queue.js';

export interface ScanInput {
  code: string;
  source: Source;
  /** performance.now() when the tap or line began (for totalMs). */
  t0?: number;
  readMs?: number;
  uid?: string;
  reader?: string;
  repairs?: readonly ScanRepair[];
  /** Other readings of a scanner line, tried when the first one is UNKNOWN. */
  alternatives?: readonly { text: string; repair: ScanRepair }[];
  /** Resolves to the chip originality signal (NFC), awaited before printing. */
  originality?: Promise<'nxp' | 'not-nxp' | 'unknown'>;
}

export interface VerifierOptions {
  http: ReaderHttp;
  cache: ReaderCache;
  queue: OfflineQueue;
  key: ReaderKey | undefined;
  dispense: boolean;
  /** Online answers slower than this get the offline verdict printed first (default 300 ms). */
  slowMs?: number;
  onVerdict(v: VerdictLine): void;
  onError(e: ErrorLine): void;
  onAlert(a: AlertLine): void;
}

/** What POST /verify answers (the members the reader uses). */
interface VerifyAnswer {
  verdict: Verdict;
  reasons: Reason[];
  product: { gtin: string; name: string; strength?: string } | null;
  pack: { serial: string; lot?: string; expiry?: string; expiryDate?: string; state?: string; lastHash?: string } | null;
}

const SCANNER_REPAIRED = reason('SCANNER_REPAIRED');

export class Verifier {
  private readonly slowMs: number;
  private draining: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = 0;
  retryMinMs = 1000;
  retryMaxMs = 30_000;

  constructor(private readonly o: VerifierOptions) {
    this.slowMs = o.slowMs ?? 300;
  }

  /** Verifies one scan; resolves with the final verdict line (undefined when the code could not be read). */
  async scan(input: ScanInput): Promise<VerdictLine | undefined> {
    const t1 = performance.now();
    let ev: OfflineEvaluation;
    try {
      ev = evaluateOffline(this.o.cache, parseCode(input.code), new Date());
    } catch (e) {
      this.o.onError({ error: errorOf(e), source: input.source, ...(input.uid ? { uid: input.uid } : {}), ...(input.reader ? { reader: input.reader } : {}), input: input.code.slice(0, 200) });
      return undefined;
    }
    const originality = input.originality ? await input.originality : undefined;
    const base = (layer: 'offline' | 'online', t: number): Pick<VerdictLine, 'source' | 'uri' | 'layer' | 'timings'> & Partial<VerdictLine> => ({
      source: input.source,
      uri: input.code,
      layer,
      ...(input.repairs?.length ? { repairs: input.repairs.map((r) => ({ kind: r.kind, detail: r.detail })) } : {}),
      ...(originality ? { originality } : {}),
      ...(input.uid ? { uid: input.uid } : {}),
      ...(input.reader ? { reader: input.reader } : {}),
      timings: { ...(input.readMs !== undefined ? { readMs: round(input.readMs) } : {}), verifyMs: round(t - t1), ...(input.t0 !== undefined ? { totalMs: round(t - input.t0) } : {}) },
    });
    const offlineLine = (provisional: boolean, queued: boolean): VerdictLine => ({
      ...base('offline', performance.now()),
      verdict: ev.verdict,
      reasons: this.withRepairs(ev.reasons.map(reason), input),
      offline: true,
      provisional,
      ...(queued ? { queued: true } : {}),
      product: ev.product ? { gtin: ev.product.gtin, name: ev.product.name, strength: ev.product.strength } : null,
      pack: { serial: ev.code.serial, ...(ev.lot ? { lot: ev.lot } : {}), ...(ev.expiry ? { expiry: ev.expiry } : {}) },
      ...(this.o.cache.syncedAt ? { syncedAt: this.o.cache.syncedAt } : {}),
    });

    const online = this.online(input.code, input.alternatives);
    const timer = new Promise<'slow'>((r) => setTimeout(() => r('slow'), this.slowMs).unref());
    const first = await Promise.race([online, timer]);
    if (first === 'slow') {
      this.o.onVerdict(offlineLine(true, false));
    }
    const got = await online;
    let line: VerdictLine;
    if (got.kind === 'answer') {
      line = {
        ...base('online', performance.now()),
        verdict: got.answer.verdict,
        reasons: this.withRepairs(got.answer.reasons, got.repair ? { repairs: [...(input.repairs ?? []), got.repair] } : input),
        offline: false,
        provisional: false,
        product: got.answer.product ? { gtin: got.answer.product.gtin, name: got.answer.product.name, ...(got.answer.product.strength ? { strength: got.answer.product.strength } : {}) } : null,
        pack: got.answer.pack,
      };
      if (got.code !== input.code) line.uri = got.code;
    } else if (got.kind === 'unreachable') {
      this.o.queue.push('verify', { code: input.code, source: input.source, scannedAt: new Date().toISOString(), offlineVerdict: ev.verdict });
      line = offlineLine(false, true);
      this.scheduleDrain();
    } else {
      // The server refused the request itself (a code it cannot read, an unknown signer...): say so, keep the
      // offline verdict as the answer.
      this.o.onAlert({ alert: got.code, message: `the server refused the verification: ${got.message}` });
      line = offlineLine(false, false);
    }
    if (this.o.dispense && line.verdict === 'GENUINE') line.dispense = await this.dispense(ev, line, got.kind === 'answer' ? got.answer.pack?.lastHash : undefined);
    this.o.onVerdict(line);
    return line;
  }

  private withRepairs(reasons: Reason[], input: { repairs?: readonly ScanRepair[] | undefined }): Reason[] {
    if (!input.repairs?.length) return reasons;
    return [...reasons, { ...SCANNER_REPAIRED, message: `${SCANNER_REPAIRED.message} ${input.repairs.map((r) => r.detail).join('; ')}.` }];
  }

  private async online(
    code: string,
    alternatives: ScanInput['alternatives'],
  ): Promise<{ kind: 'answer'; answer: VerifyAnswer; code: string; repair?: ScanRepair } | { kind: 'unreachable' } | { kind: 'refused'; code: string; message: string }> {
    try {
      const answer = await this.o.http.json<VerifyAnswer>('POST', '/api/v1/verify', { code }, this.o.key !== undefined);
      if (answer.verdict === 'UNKNOWN' && alternatives?.length) {
        for (const alt of alternatives) {
          const a = await this.o.http.json<VerifyAnswer>('POST', '/api/v1/verify', { code: alt.text }, this.o.key !== undefined).catch(() => undefined);
          if (a !== undefined && a.verdict !== 'UNKNOWN') return { kind: 'answer', answer: a, code: alt.text, repair: alt.repair };
        }
      }
      return { kind: 'answer', answer: sanitize(answer), code };
    } catch (e) {
      if (isTransient(e)) return { kind: 'unreachable' };
      const err = errorOf(e);
      return { kind: 'refused', code: err.code, message: err.message };
    }
  }

  /** Signs and sends (or queues) the dispense of a pack that just verified GENUINE. */
  private async dispense(ev: OfflineEvaluation, line: VerdictLine, onlinePrev: string | undefined): Promise<VerdictLine['dispense']> {
    const key = this.o.key;
    if (key === undefined) return { refused: 'no --key: a dispense must be signed by the pharmacy' };
    // Scanned again while its dispense still waits in the queue (the server, not told yet, still says GENUINE):
    // that dispense stands; a second one would only come back as a conflict.
    const pending = this.o.queue.pendingDispense(ev.code.gtin, ev.code.serial);
    if (pending !== undefined) return { queued: true, since: pending };
    const prev = onlinePrev ?? ev.held?.lastHash;
    if (prev === undefined) return { refused: 'this pharmacy does not hold the pack (as of the last sync)' };
    const body = { gtin: ev.code.gtin, serial: ev.code.serial };
    validateBody('dispense', body);
    const entry = signEntry({ v: 1, kind: 'dispense', signer: key.gln, at: new Date().toISOString(), nonce: newNonce(), prev: [prev], body }, keyFileSeed(key));
    const at = entry.at;
    if (line.offline || this.o.queue.size() > 0) {
      // Offline, or older items still waiting: this one goes behind them, in order.
      this.o.queue.push('dispense', { entry, gtin: body.gtin, serial: body.serial, scannedAt: at });
      this.o.cache.markDispensed(body.gtin, body.serial, key.gln, at);
      this.scheduleDrain();
      return { queued: true };
    }
    try {
      const r = await this.o.http.json<{ index: number; leafHash: string }>('POST', '/api/v1/entries', entry);
      this.o.cache.markDispensed(body.gtin, body.serial, key.gln, at);
      return { index: r.index, leafHash: r.leafHash };
    } catch (e) {
      if (isTransient(e)) {
        this.o.queue.push('dispense', { entry, gtin: body.gtin, serial: body.serial, scannedAt: at });
        this.o.cache.markDispensed(body.gtin, body.serial, key.gln, at);
        this.scheduleDrain();
        return { queued: true };
      }
      const err = errorOf(e);
      this.o.onAlert({ alert: err.code, message: `dispense of ${body.gtin} ${body.serial} refused: ${err.message}` });
      return { refused: err.code };
    }
  }

  /** Starts delivering the queue now, unless it already is being delivered. */
  drain(): Promise<void> {
    this.draining ??= this.deliver().finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  private scheduleDrain(): void {
    if (this.retryTimer !== undefined) return;
    this.backoffMs = this.backoffMs === 0 ? this.retryMinMs : Math.min(this.retryMaxMs, this.backoffMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.drain();
    }, this.backoffMs);
    this.retryTimer.unref();
  }

  /** Sends queued items strictly in order; stops at the first transient failure and retries with backoff. */
  private async deliver(): Promise<void> {
    for (let item = this.o.queue.head(); item !== undefined; item = this.o.queue.head()) {
      let done: boolean;
      try {
        done = await this.deliverOne(item);
      } catch (e) {
        if (!isTransient(e)) throw e;
        done = false;
      }
      if (!done) {
        this.o.queue.retry(item.id, 'server unreachable');
        this.scheduleDrain();
        return;
      }
      this.backoffMs = 0;
    }
    // Everything delivered: refresh the picture of the ledger.
    await this.o.cache.sync(this.o.http, this.o.key?.gln).catch(() => undefined);
    // An item queued during that sync found this drain still running and was not picked up: go round again.
    if (this.o.queue.size() > 0) this.scheduleDrain();
  }

  /** True when the item is settled (acknowledged or turned into an alert); false to retry later. */
  private async deliverOne(item: QueueItem): Promise<boolean> {
    const p = item.payload;
    if (item.kind === 'verify') {
      const code = String(p['code']);
      const t1 = performance.now();
      let answer: VerifyAnswer;
      try {
        // Signed, the scan keeps its own time (the server records it then, for the alerts that compare scans);
        // one older than the server takes is verified as of now.
        const at = typeof p['scannedAt'] === 'string' ? Date.parse(p['scannedAt']) : NaN;
        const dated = this.o.key !== undefined && Date.now() - at < MAX_SCAN_BACKDATE_MS - 3600_000 ? { scannedAt: p['scannedAt'] } : {};
        answer = sanitize(await this.o.http.json<VerifyAnswer>('POST', '/api/v1/verify', { code, ...dated }, this.o.key !== undefined));
      } catch (e) {
        if (isTransient(e)) return false;
        const err = errorOf(e);
        const a = this.o.queue.conflict(item.id, err.code, `queued scan refused by the server: ${err.message}`);
        this.o.onAlert({ alert: err.code, message: `queued scan refused by the server: ${err.message}`, ...(a ? { item: a.item } : {}) });
        return true;
      }
      this.o.queue.ack(item.id);
      this.o.onVerdict({
        verdict: answer.verdict,
        source: (p['source'] as Source) ?? 'scanner',
        uri: code,
        reasons: answer.reasons,
        layer: 'online',
        offline: false,
        provisional: false,
        queued: true,
        product: answer.product,
        pack: answer.pack,
        timings: { verifyMs: round(performance.now() - t1) },
      });
      if (p['offlineVerdict'] === 'GENUINE' && answer.verdict !== 'GENUINE') {
        this.o.onAlert({ alert: `VERDICT_${answer.verdict}`, message: `a pack scanned offline as GENUINE is ${answer.verdict} in the ledger (${code})`, item: { ...p, id: item.id } });
      }
      return true;
    }
    const entry = p['entry'] as Entry;
    try {
      await this.o.http.json('POST', '/api/v1/entries', entry);
      this.o.queue.ack(item.id);
      return true;
    } catch (e) {
      if (isTransient(e)) return false;
      const err = errorOf(e);
      if (err.code === 'ENTRY_REPLAYED' && (await this.inChain(entry))) {
        // Sent before, its acknowledgement lost: the leaf is in the pack's chain, so it is done.
        this.o.queue.ack(item.id);
        return true;
      }
      const message = `queued dispense of ${String(p['gtin'])} ${String(p['serial'])} refused: ${err.message}`;
      const a = this.o.queue.conflict(item.id, err.code, message);
      this.o.onAlert({ alert: err.code, message, ...(a ? { item: a.item } : {}) });
      return true;
    }
  }

  /** Whether the entry's leaf is in its pack's custody chain (GET packs/:gtin/:serial signed). */
  private async inChain(entry: Entry): Promise<boolean> {
    const b = entry.body as { gtin: string; serial: string };
    const leaf = toHex(entryLeafHash(entry));
    const r = await this.o.http.json<{ chain?: { leafHash: string }[] }>('GET', `/api/v1/packs/${b.gtin}/${encodeURIComponent(b.serial)}`, undefined, true);
    return (r.chain ?? []).some((c) => c.leafHash === leaf);
  }

  close(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function errorOf(e: unknown): { code: string; message: string } {
  return isMedtrailError(e) ? { code: e.code, message: e.message } : { code: 'INTERNAL', message: String((e as Error)?.message ?? e) };
}

/** Keeps only reasons this build knows the shape of (the server is trusted, but its answer is still input). */
function sanitize(a: VerifyAnswer): VerifyAnswer {
  const reasons = Array.isArray(a.reasons) ? a.reasons.filter((r) => r && typeof r.code === 'string' && (isReasonCode(r.code) || /^[A-Z_]+$/.test(r.code))) : [];
  return { verdict: a.verdict, reasons, product: a.product ?? null, pack: a.pack ?? null };
}
