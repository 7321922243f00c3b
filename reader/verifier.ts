// Two-layer verification of one scan (docs/architecture.md, The reader). Order of effects:
//   1. parse the code (a coded error line if it does not parse: no verdict);
//   2. the offline verdict at once (reader/offline.ts, from the cache);
//   3. POST /api/v1/verify signed as this pharmacy (reader/online.ts; the ledger records the scan); if it
//      answers within `slowMs` only the online verdict is printed; otherwise the offline one is printed first,
//      marked provisional, then the online one when it comes; the online answer always wins;
//   4. the server unreachable: the offline verdict is final, and the scan is queued (reader/queue.ts), sent
//      later by reader/delivery.ts;
//   5. with dispense on and a GENUINE final verdict: the dispense (reader/dispense.ts).
import type { ScanRepair } from '../core/gs1/scanner-repair.js';
import { reason, type Reason } from '../core/verdict.js';
import type { LedgerClient, RequestSigner } from '../client/ledger-client.js';
import { DEFAULT_WITNESS_MAX_AGE_S, type TlogPolicy } from '../core/log/policy.js';
import type { VerifyAnswer } from '../core/api/answers.js';
import type { ProvenVerdict } from '../core/map/proven-verdict.js';
import { holdToPolicy } from '../client/proven.js';
import { isMedtrailError } from '../core/errors.js';
import type { ReaderCache } from './cache.js';
import { QueueDelivery } from './delivery.js';
import { Dispenser } from './dispense.js';
import { evaluateOffline, parseCode, type OfflineEvaluation } from './offline.js';
import { askServers, errorOf } from './online.js';
import { Failover } from '../client/failover.js';
import type { AlertLine, ErrorLine, Source, VerdictLine } from './output.js';
import type { OfflineQueue } from './queue.js';

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
  /** The operator: verifications first, and the only one that gets the queue and the dispenses. */
  client: LedgerClient;
  /** Servers asked in turn when the operator is unreachable (mirrors: they verify, they take no writes). */
  fallbacks?: readonly LedgerClient[];
  cache: ReaderCache;
  queue: OfflineQueue;
  signer: RequestSigner | undefined;
  dispense: boolean;
  /** Online answers slower than this get the offline verdict printed first (default 300 ms). */
  slowMs?: number;
  /**
   * A witness policy (c2sp.org/tlog-policy): every online answer is held to it (core/map/proven-verdict.ts),
   * so that the verdict stands on a witnessed state, not on the server's word.
   */
  policy?: TlogPolicy;
  /** With a policy: the oldest witness cosignature accepted, in seconds (default 600). */
  maxAgeS?: number;
  onVerdict(v: VerdictLine): void;
  onError(e: ErrorLine): void;
  onAlert(a: AlertLine): void;
}

const SCANNER_REPAIRED = reason('SCANNER_REPAIRED');

export class Verifier {
  private readonly slowMs: number;
  private readonly delivery: QueueDelivery;
  private readonly dispenser: Dispenser;
  /** The operator and the mirrors, with what failover remembers of them (client/failover.ts). */
  private readonly servers: Failover<LedgerClient>;

  constructor(private readonly o: VerifierOptions) {
    this.slowMs = o.slowMs ?? 300;
    this.servers = new Failover([o.client, ...(o.fallbacks ?? [])]);
    this.delivery = new QueueDelivery({ client: o.client, cache: o.cache, queue: o.queue, gln: o.signer?.gln, onVerdict: o.onVerdict, onAlert: o.onAlert });
    this.dispenser = new Dispenser({ client: o.client, cache: o.cache, queue: o.queue, signer: o.signer, onAlert: o.onAlert, scheduleDrain: () => this.delivery.scheduleDrain() });
  }

  /** Backoff of the queue delivery (reader/delivery.ts): first retry after this many ms. */
  set retryMinMs(ms: number) {
    this.delivery.retryMinMs = ms;
  }

  set retryMaxMs(ms: number) {
    this.delivery.retryMaxMs = ms;
  }

  /** Starts delivering the queue now, unless it already is being delivered. */
  drain(): Promise<void> {
    return this.delivery.drain();
  }

  close(): void {
    this.delivery.close();
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
      ...(ev.cannotCheck !== undefined ? { verdict: 'NOT_CHECKED' as const, cannotCheck: ev.cannotCheck } : { verdict: ev.verdict }),
      reasons: ev.cannotCheck !== undefined ? [] : this.withRepairs(ev.reasons.map(reason), input),
      offline: true,
      provisional,
      ...(queued ? { queued: true } : {}),
      product: ev.product ? { gtin: ev.product.gtin, name: ev.product.name, strength: ev.product.strength } : null,
      pack: { serial: ev.code.serial, ...(ev.lot ? { lot: ev.lot } : {}), ...(ev.expiry ? { expiry: ev.expiry } : {}) },
      ...(this.o.cache.syncedAt ? { syncedAt: this.o.cache.syncedAt } : {}),
    });

    const servers = this.servers;
    const online = askServers(servers, input.code, input.alternatives);
    const timer = new Promise<'slow'>((r) => setTimeout(() => r('slow'), this.slowMs).unref());
    const first = await Promise.race([online, timer]);
    if (first === 'slow') {
      this.o.onVerdict(offlineLine(true, false));
    }
    let got = await online;
    let witnessed: { verdict: VerdictLine['verdict']; witnessed?: string[]; cannotCheck?: string } | undefined;
    if (got.kind === 'answer' && this.o.policy !== undefined) {
      const policy = this.o.policy;
      const maxAgeS = this.o.maxAgeS ?? DEFAULT_WITNESS_MAX_AGE_S;
      // The state proven, and the tag checked against the maker's key the log proves (client/proven.ts), through
      // the server that answered.
      const hold = (a: VerifyAnswer, via: string | undefined): Promise<ProvenVerdict> =>
        holdToPolicy(servers.clients.find((c) => c.base === via) ?? servers.clients[0]!, policy, a, ev.code, this.o.signer !== undefined, { notBefore: Math.floor(Date.now() / 1000) - maxAgeS });
      try {
        try {
          const pv = await hold(got.answer, got.via);
          witnessed = { verdict: pv.verdict, witnessed: pv.quorum.witnessed };
          if (pv.overridden !== undefined) this.o.onAlert({ alert: 'SERVER_CONTRADICTED', message: pv.overridden });
        } catch (e) {
          // A checkpoint signed a moment ago may not be cosigned yet: ask once more after a second.
          if (!isMedtrailError(e, 'CHECKPOINT_QUORUM') && !isMedtrailError(e, 'CHECKPOINT_STALE')) throw e;
          await new Promise((r) => setTimeout(r, 1000));
          got = await askServers(servers, got.code, undefined);
          if (got.kind !== 'answer') throw e;
          const pv = await hold(got.answer, got.via);
          witnessed = { verdict: pv.verdict, witnessed: pv.quorum.witnessed };
          if (pv.overridden !== undefined) this.o.onAlert({ alert: 'SERVER_CONTRADICTED', message: pv.overridden });
        }
      } catch (e) {
        const err = errorOf(e);
        this.o.onAlert({ alert: err.code, message: `the server's answer does not hold to the witness policy: ${err.message}` });
        witnessed = { verdict: 'NOT_CHECKED', cannotCheck: `the server's answer is not witnessed (${err.code})` };
      }
    }
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
      if (got.via !== undefined) line.via = got.via;
      if (witnessed !== undefined) {
        line.verdict = witnessed.verdict;
        if (witnessed.witnessed !== undefined) line.witnessed = witnessed.witnessed;
        if (witnessed.cannotCheck !== undefined) line.cannotCheck = witnessed.cannotCheck;
      }
    } else if (got.kind === 'unreachable') {
      this.o.queue.push('verify', { code: input.code, source: input.source, scannedAt: new Date().toISOString(), offlineVerdict: ev.cannotCheck !== undefined ? 'NOT_CHECKED' : ev.verdict });
      line = offlineLine(false, true);
      this.delivery.scheduleDrain();
    } else {
      // The server refused the request itself (a code it cannot read, an unknown signer...): say so, keep the
      // offline verdict as the answer.
      this.o.onAlert({ alert: got.code, message: `the server refused the verification: ${got.message}` });
      line = offlineLine(false, false);
    }
    if (this.o.dispense && line.verdict === 'GENUINE') line.dispense = await this.dispenser.dispense(ev, line, got.kind === 'answer' ? got.answer.pack?.lastHash : undefined);
    this.o.onVerdict(line);
    return line;
  }

  private withRepairs(reasons: Reason[], input: { repairs?: readonly ScanRepair[] | undefined }): Reason[] {
    if (!input.repairs?.length) return reasons;
    return [...reasons, { ...SCANNER_REPAIRED, message: `${SCANNER_REPAIRED.message} ${input.repairs.map((r) => r.detail).join('; ')}.` }];
  }
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
