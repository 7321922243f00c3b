// Large entry requests are read off the event loop (issue 12 item 4): the server thread hands the body's
// bytes to one worker thread (entry-check-worker.ts), which parses them and runs the checks of
// entry-checks.ts, cheapest first, with a copy of the KeyBook's signers; the event loop meanwhile answers
// everyone else. A body that no enrolled participant signed is refused there, after a JSON parse and a map
// lookup, never validated; one that passes comes back with its entries, leaf bytes and leaf hashes, and
// only the custody rules and the append run here (services.ts).
//
// The worker's copy of the signers is replaced whenever the KeyBook's version moves (before the next body is
// sent). A key may still change between the worker's check and the append (a rotation committed meanwhile):
// the caller compares the key each entry was verified with to the one active now (services.ts).
//
// At most MAX_QUEUED_BYTES of bodies wait for the worker at once; beyond that a request is answered 503
// OVERLOADED with Retry-After at once, before any work is spent on it.
import { Worker } from 'node:worker_threads';
import { MedtrailError } from '../../core/errors.js';
import type { KeyBook } from '../log/keybook.js';
import type { CheckPassed, CheckReply, CheckRequest, KeySnapshot } from './entry-check-protocol.js';
import { custodyWorkerUrl, refusalOf, whenLost } from './worker-url.js';

/** Bytes of bodies handed to the worker and not yet answered, beyond which new ones are refused (503). */
export const MAX_QUEUED_BYTES = 64 * 1024 * 1024;

function isCheckReply(v: unknown): v is CheckReply {
  if (typeof v !== 'object' || v === null || !('id' in v) || typeof v.id !== 'number' || !('ok' in v)) return false;
  if (v.ok === false) return 'code' in v && typeof v.code === 'string' && 'message' in v && typeof v.message === 'string';
  return v.ok === true && 'entries' in v && Array.isArray(v.entries) && 'metas' in v && Array.isArray(v.metas) && 'leaves' in v && Array.isArray(v.leaves) && 'hashes' in v && Array.isArray(v.hashes) && 'keys' in v && Array.isArray(v.keys);
}

interface Pending {
  bytes: number;
  resolve(r: CheckPassed): void;
  reject(e: MedtrailError): void;
}

export class EntryChecker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private sentVersion = -1;
  private queued = 0;
  private closed = false;

  constructor(
    private readonly keys: KeyBook,
    private readonly maxQueuedBytes = MAX_QUEUED_BYTES,
  ) {}

  /** Parses and checks a request body in the worker; resolves with what passed, rejects with the coded refusal. */
  check(bytes: Buffer, now: number): Promise<CheckPassed> {
    if (this.closed) return Promise.reject(new MedtrailError('OVERLOADED', 'the server is stopping; retry shortly'));
    if (this.queued + bytes.length > this.maxQueuedBytes) {
      return Promise.reject(new MedtrailError('OVERLOADED', `more than ${this.maxQueuedBytes} bytes of entries are being checked; retry shortly`));
    }
    const w = this.start();
    if (this.sentVersion !== this.keys.version) {
      const snapshot: KeySnapshot = this.keys.all().map((r) => [r.gln, r.revoked ? null : r.publicKey]);
      w.postMessage({ keys: snapshot, origin: this.keys.origin } satisfies CheckRequest);
      this.sentVersion = this.keys.version;
    }
    const id = this.nextId++;
    this.queued += bytes.length;
    return new Promise<CheckPassed>((resolve, reject) => {
      this.pending.set(id, { bytes: bytes.length, resolve, reject });
      // A body that owns its whole buffer moves to the worker without a copy; a slice of a shared one is copied.
      // (The request's rawBody then reads empty; POST /entries never uses it: entries carry their own signatures.)
      const ab = bytes.buffer;
      const own = ab instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === ab.byteLength;
      const view = new Uint8Array(ab, bytes.byteOffset, bytes.byteLength);
      w.postMessage({ id, bytes: view, now } satisfies CheckRequest, own ? [ab] : []);
    });
  }

  /** Stops the worker; checks still waiting are refused (OVERLOADED: the client may retry on the next start). */
  close(): void {
    this.closed = true;
    this.fail(new MedtrailError('OVERLOADED', 'the server is stopping; retry shortly'));
    void this.worker?.terminate();
    this.worker = undefined;
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const w = new Worker(custodyWorkerUrl('entry-check-worker.js'));
    w.unref();
    w.on('message', (m: unknown) => {
      if (!isCheckReply(m)) return;
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      this.queued -= p.bytes;
      if (m.ok) p.resolve(m);
      else p.reject(refusalOf(m));
    });
    const lost = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = undefined;
      this.sentVersion = -1;
      this.fail(new MedtrailError('INTERNAL', `the entry-check worker stopped (${why}); retry`));
    };
    whenLost(w, lost);
    this.worker = w;
    return w;
  }

  private fail(e: MedtrailError): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.queued = 0;
  }
}
