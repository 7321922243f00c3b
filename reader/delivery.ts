// Delivery of the offline queue (docs/architecture.md, The reader): queued scans and dispenses are sent
// strictly in order when the server is back; the first transient failure stops the round, which is retried
// with backoff (1 s, doubling to 30 s). A refusal on the merits becomes an alert, written with the item's
// removal in one transaction (reader/queue.ts). A dispense resent after its acknowledgement was lost is
// refused as ENTRY_REPLAYED, and counted as done once its leaf is seen in the pack's chain.
import { parsePackRead } from '../core/api/answers.js';
import { toHex } from '../core/bytes.js';
import { entryLeafHash, parseEntry, type Entry } from '../core/entry/entry.js';
import { MAX_SCAN_BACKDATE_MS } from '../core/gs1/scanned-code.js';
import { isTransient, type LedgerClient } from '../client/ledger-client.js';
import type { ReaderCache } from './cache.js';
import { errorOf } from './online.js';
import type { AlertLine, Source, VerdictLine } from './output.js';
import type { OfflineQueue, QueueItem } from './queue.js';

export interface DeliveryOptions {
  client: LedgerClient;
  cache: ReaderCache;
  queue: OfflineQueue;
  /** The pharmacy's GLN when it signs (scans then keep their own time; held packs are synced). */
  gln: string | undefined;
  onVerdict(v: VerdictLine): void;
  onAlert(a: AlertLine): void;
}

const SOURCES: readonly Source[] = ['nfc', 'scanner', 'image'];

function sourceOf(v: unknown): Source {
  return SOURCES.find((s) => s === v) ?? 'scanner';
}

export class QueueDelivery {
  private draining: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs = 0;
  retryMinMs = 1000;
  retryMaxMs = 30_000;

  constructor(private readonly o: DeliveryOptions) {}

  /** Starts delivering the queue now, unless it already is being delivered. */
  drain(): Promise<void> {
    this.draining ??= this.deliver().finally(() => {
      this.draining = undefined;
    });
    return this.draining;
  }

  scheduleDrain(): void {
    if (this.retryTimer !== undefined) return;
    this.backoffMs = this.backoffMs === 0 ? this.retryMinMs : Math.min(this.retryMaxMs, this.backoffMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.drain();
    }, this.backoffMs);
    this.retryTimer.unref();
  }

  close(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
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
    await this.o.cache.sync(this.o.client, this.o.gln).catch(() => undefined);
    // An item queued during that sync found this drain still running and was not picked up: go round again.
    if (this.o.queue.size() > 0) this.scheduleDrain();
  }

  /** True when the item is settled (acknowledged or turned into an alert); false to retry later. */
  private deliverOne(item: QueueItem): Promise<boolean> {
    return item.kind === 'verify' ? this.deliverScan(item) : this.deliverDispense(item);
  }

  private async deliverScan(item: QueueItem): Promise<boolean> {
    const p = item.payload;
    const code = String(p['code']);
    const t1 = performance.now();
    let answer;
    try {
      // Signed, the scan keeps its own time (the server records it then, for the alerts that compare scans);
      // one older than the server takes is verified as of now.
      const scannedAt = typeof p['scannedAt'] === 'string' ? p['scannedAt'] : undefined;
      const at = scannedAt === undefined ? NaN : Date.parse(scannedAt);
      const dated = this.o.gln !== undefined && scannedAt !== undefined && Date.now() - at < MAX_SCAN_BACKDATE_MS - 3600_000 ? { scannedAt } : {};
      answer = await this.o.client.verify({ code, ...dated });
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
      source: sourceOf(p['source']),
      uri: code,
      reasons: answer.reasons,
      layer: 'online',
      offline: false,
      provisional: false,
      queued: true,
      product: answer.product,
      pack: answer.pack,
      timings: { verifyMs: Math.round((performance.now() - t1) * 10) / 10 },
    });
    if (p['offlineVerdict'] === 'GENUINE' && answer.verdict !== 'GENUINE') {
      this.o.onAlert({ alert: `VERDICT_${answer.verdict}`, message: `a pack scanned offline as GENUINE is ${answer.verdict} in the ledger (${code})`, item: { ...p, id: item.id } });
    }
    return true;
  }

  private async deliverDispense(item: QueueItem): Promise<boolean> {
    const p = item.payload;
    let entry: Entry;
    try {
      entry = parseEntry(p['entry']);
    } catch (e) {
      // A queue file edited by hand: the item cannot be sent; say so rather than loop on it.
      const err = errorOf(e);
      this.o.queue.conflict(item.id, err.code, `queued dispense is not a valid entry: ${err.message}`);
      this.o.onAlert({ alert: err.code, message: `queued dispense is not a valid entry: ${err.message}` });
      return true;
    }
    try {
      await this.o.client.submit(entry);
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
    const gtin = String(entry.body['gtin']);
    const serial = String(entry.body['serial']);
    const leaf = toHex(entryLeafHash(entry));
    const r = await this.o.client.get(`/api/v1/packs/${gtin}/${encodeURIComponent(serial)}`, parsePackRead, true);
    return (r.chain ?? []).some((c) => c.leafHash === leaf);
  }
}
