// The dispense that follows a GENUINE verdict when the daemon runs with --dispense (docs/architecture.md, The
// reader). The entry is built and signed here by the one entry builder (core/entry/builder.ts), with prev =
// the pack's newest leaf hash from the online answer or the cache, and posted; with the server unreachable, or
// older items still waiting, it is queued (with its nonce, so a resend is idempotent) and the pack is marked
// dispensed in the cache, so a second tap reads DISPENSED even offline.
import { buildEntry } from '../core/entry/builder.js';
import { isTransient, type LedgerClient, type RequestSigner } from '../client/ledger-client.js';
import type { ReaderCache } from './cache.js';
import type { OfflineEvaluation } from './offline.js';
import { errorOf } from './online.js';
import type { AlertLine, VerdictLine } from './output.js';
import type { OfflineQueue } from './queue.js';

export interface DispenserOptions {
  client: LedgerClient;
  cache: ReaderCache;
  queue: OfflineQueue;
  signer: RequestSigner | undefined;
  onAlert(a: AlertLine): void;
  /** Asks the queue delivery to run soon (reader/delivery.ts). */
  scheduleDrain(): void;
}

export class Dispenser {
  constructor(private readonly o: DispenserOptions) {}

  /** Signs and sends (or queues) the dispense of a pack that just verified GENUINE. */
  async dispense(ev: OfflineEvaluation, line: VerdictLine, onlinePrev: string | undefined): Promise<VerdictLine['dispense']> {
    const signer = this.o.signer;
    if (signer === undefined) return { refused: 'no --key: a dispense must be signed by the pharmacy' };
    // Scanned again while its dispense still waits in the queue (the server, not told yet, still says GENUINE):
    // that dispense stands; a second one would only come back as a conflict.
    const pending = this.o.queue.pendingDispense(ev.code.gtin, ev.code.serial);
    if (pending !== undefined) return { queued: true, since: pending };
    const prev = onlinePrev ?? ev.held?.lastHash;
    if (prev === undefined) return { refused: 'this pharmacy does not hold the pack (as of the last sync)' };
    // The entry signs the ledger's origin: the server's own word when it answers, else the last sync's.
    let log = this.o.cache.origin;
    if (!line.offline) log = await this.o.client.origin().catch(() => log);
    if (log === undefined) return { refused: 'the ledger has not been reached yet: its origin, which a dispense signs, is unknown' };
    const body = { gtin: ev.code.gtin, serial: ev.code.serial };
    const entry = buildEntry('dispense', { ...signer, log }, body, [prev]);
    const queue = (): VerdictLine['dispense'] => {
      this.o.queue.push('dispense', { entry, gtin: body.gtin, serial: body.serial, scannedAt: entry.at });
      this.o.cache.markDispensed(body.gtin, body.serial, signer.gln, entry.at);
      this.o.scheduleDrain();
      return { queued: true };
    };
    // Offline, or older items still waiting: this one goes behind them, in order.
    if (line.offline || this.o.queue.size() > 0) return queue();
    try {
      const r = await this.o.client.submit(entry);
      this.o.cache.markDispensed(body.gtin, body.serial, signer.gln, entry.at);
      return { index: r.index, leafHash: r.leafHash };
    } catch (e) {
      if (isTransient(e)) return queue();
      const err = errorOf(e);
      this.o.onAlert({ alert: err.code, message: `dispense of ${body.gtin} ${body.serial} refused: ${err.message}` });
      return { refused: err.code };
    }
  }
}
