// The server thread's side of the ledger writer (writer-thread.ts): appends go to the thread, one at a time in
// the order asked, and each resolves once committed there. The custody services then do what an append on
// this thread did after its commit (services.ts): the KeyBook observes participant entries, cached rows are
// forgotten, and the integrity guard is told the file moved by our own hand (server/log/integrity.ts).
//
// Should the thread stop (a crash, a database it cannot open), the appends waiting are refused (INTERNAL,
// retry) and the next one is made on this thread again: slower for the event loop, never lost or doubled,
// since an append is one transaction either way.
import { Worker } from 'node:worker_threads';
import type { Entry } from '../../core/entry/entry.js';
import { MedtrailError } from '../../core/errors.js';
import type { Appended, AppendInput } from '../log/log-service.js';
import type { WriterInit, WriterReply, WriterRequest } from './writer-protocol.js';
import { custodyWorkerUrl, refusalOf, whenLost } from './worker-url.js';

function isWriterReply(v: unknown): v is WriterReply {
  if (typeof v !== 'object' || v === null || !('id' in v) || typeof v.id !== 'number' || !('ok' in v)) return false;
  if (v.ok === false) return 'code' in v && typeof v.code === 'string' && 'message' in v && typeof v.message === 'string';
  return v.ok === true && 'appended' in v && Array.isArray(v.appended);
}

interface Pending {
  resolve(a: Appended[]): void;
  reject(e: MedtrailError): void;
}

export class LedgerWriter {
  private worker: Worker | undefined;
  private done: Int32Array | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failed = false;

  constructor(private readonly init: Omit<WriterInit, 'done'>) {}

  /** Whether appends go to the thread (false once it stopped: they are made on the server thread again). */
  get running(): boolean {
    return !this.failed;
  }

  /** `entries[i]` null: decoded from `inputs[i].bytes` in the thread (a large batch is not cloned twice). */
  append(entries: readonly (Entry | null)[], inputs: readonly AppendInput[], now: number): Promise<Appended[]> {
    const w = this.start();
    const id = this.nextId++;
    return new Promise<Appended[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, entries: [...entries], inputs: [...inputs], now } satisfies WriterRequest);
    });
  }

  /**
   * Whether the thread has an append's transaction open, or committed since the last call: a change of the
   * file's data_version seen now may be its own (server/log/integrity.ts).
   */
  wroteSince(): boolean {
    const d = this.done;
    if (d === undefined) return false;
    const commits = Atomics.load(d, 2);
    const busy = Atomics.load(d, 1) === 1;
    const moved = commits !== this.seenCommits;
    this.seenCommits = commits;
    return busy || moved;
  }

  private seenCommits = 0;

  /** Finishes the appends asked for, then closes the thread's database (waits up to 10 s for it). */
  close(): void {
    const w = this.worker;
    if (w === undefined || this.done === undefined) return;
    this.worker = undefined;
    w.postMessage({ close: true } satisfies WriterRequest);
    Atomics.wait(this.done, 0, 0, 10_000);
    void w.terminate();
    this.fail(new MedtrailError('OVERLOADED', 'the server is stopping; retry shortly'));
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const done = new SharedArrayBuffer(12);
    this.done = new Int32Array(done);
    const w = new Worker(custodyWorkerUrl('writer-thread.js'), { workerData: { ...this.init, done } satisfies WriterInit });
    w.unref();
    w.on('message', (m: unknown) => {
      if (!isWriterReply(m)) return;
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.appended);
      else p.reject(refusalOf(m));
    });
    const lost = (why: string): void => {
      if (this.worker !== w) return;
      this.worker = undefined;
      this.failed = true;
      this.fail(new MedtrailError('INTERNAL', `the ledger writer stopped (${why}); retry`));
    };
    whenLost(w, lost);
    this.worker = w;
    return w;
  }

  private fail(e: MedtrailError): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }
}
