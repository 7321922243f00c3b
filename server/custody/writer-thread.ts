// The ledger writer: a thread with a connection of its own to the ledger's SQLite file, where every entry a
// server takes is appended and its custody rules run (issue 12 item 4). A batch of 100,000 packs is 100,000 rows
// in two B-trees, about 300 ms of SQLite: on the server's event loop that was 300 ms in which nobody was
// answered. Here the event loop only waits for the reply. The server thread keeps reading the file on its own
// connection (WAL: readers see the last commit and never wait for a writer) and learns of each commit from
// the reply (ledger-writer.ts).
//
// The thread holds its own KeyBook and custody state, built from the file as the server's are. Anything else
// that appends to the file (a test's synchronous submit in the server's process, a second program) moves the
// head under it: it then reloads its KeyBook and forgets its cached rows before the next append.
//
// Protocol (writer-protocol.ts): { id, entries, inputs, now } is answered { id, ok: true, appended } once
// committed (synchronous=FULL: durable), or { id, ok: false, code, message, fields } with nothing written;
// { close } closes the database and sets `done`. Requests that queue up while one is written are committed
// together (group commit: one fsync for many small appends, each still all or nothing).
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { runInBackground } from '../thread-priority.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { decodeEntry } from '../../core/entry/entry.js';
import { isMedtrailError } from '../../core/errors.js';
import { appendChecked, loadKeyBook } from '../log/ingest.js';
import { LogService, type Appended } from '../log/log-service.js';
import { openDatabase, SqliteLedgerStore } from '../store/ledger-store.js';
import { applyAppended } from './apply.js';
import { within } from './entry-checks.js';
import { CustodyState } from './state.js';
import { CustodyWriter } from './writer.js';
import type { WriterInit, WriterReply, WriterRequest } from './writer-protocol.js';

/** Requests written in one transaction at most. */
const MAX_GROUP = 64;

function run(port: NonNullable<typeof parentPort>, init: WriterInit): void {
  installNodeCrypto();
  const done = new Int32Array(init.done);
  const store = new SqliteLedgerStore(openDatabase(init.path));
  const log = new LogService(store, { origin: init.origin, publicKey: init.publicKey });
  let keys = loadKeyBook(store);
  const db = store.connectionFor('custody');
  const state = new CustodyState(db);
  const writer = new CustodyWriter(db);
  /** The head after this thread's last append: anything else means another writer appended meanwhile. */
  let known = store.head().size;

  const refusal = (id: number, e: unknown): WriterReply =>
    isMedtrailError(e)
      ? { id, ok: false, code: e.code, message: e.message, ...(e.fields !== undefined ? { fields: [...e.fields] } : {}) }
      : { id, ok: false, code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };

  /** One request's entries, appended and their rules run: in a savepoint, so a refusal undoes only them. */
  const one = (m: Extract<WriterRequest, { id: number }>): Appended[] => {
    const entries = m.entries.map((e, i) => e ?? decodeEntry(m.inputs[i]!.bytes));
    const many = entries.length > 1;
    const c = { state, writer, store, authority: keys.authority.gln, now: m.now };
    return store.savepoint(() =>
      appendChecked(log, keys, entries, m.inputs, (out) => {
        for (let i = 0; i < entries.length; i++) within(i, many, () => applyAppended(c, [entries[i]!], [out[i]!]));
      }),
    );
  };

  port.on('message', (first: unknown) => {
    if (!isWriterRequest(first)) return;
    // Group commit: the requests that queued up while the last group was written go into one transaction, each
    // in a savepoint of its own (a refused one leaves the others), and one commit (one fsync) makes all durable.
    const group: WriterRequest[] = [first];
    while (group.length < MAX_GROUP) {
      const next = receiveMessageOnPort(port);
      if (next === undefined) break;
      const message: unknown = next.message;
      if (isWriterRequest(message)) group.push(message);
    }
    const replies: WriterReply[] = [];
    let closing = false;
    Atomics.store(done, 1, 1);
    try {
      if (store.head().size !== known) {
        keys = loadKeyBook(store);
        state.invalidate();
      }
      store.transaction(() => {
        for (const m of group) {
          if ('close' in m) {
            closing = true;
            continue;
          }
          try {
            replies.push({ id: m.id, ok: true, appended: one(m) });
          } catch (e) {
            if (!isMedtrailError(e)) throw e;
            replies.push(refusal(m.id, e));
          } finally {
            // Kept or undone, the cached rows may be out of date (custody/state.ts).
            state.invalidate();
          }
        }
      });
      Atomics.add(done, 2, 1);
    } catch (e) {
      // Nothing of the group was written (an error that is no refusal, or the commit itself failed): every request
      // of it is refused, and the KeyBook is read again from what the file holds.
      replies.length = 0;
      for (const m of group) if (!('close' in m)) replies.push(refusal(m.id, e));
      keys = loadKeyBook(store);
    } finally {
      state.invalidate();
      known = store.head().size;
      Atomics.store(done, 1, 0);
    }
    for (const r of replies) port.postMessage(r);
    if (closing) {
      store.close();
      Atomics.store(done, 0, 1);
      Atomics.notify(done, 0);
      port.close();
    }
  });
}

function isWriterInit(v: unknown): v is WriterInit {
  return (
    typeof v === 'object' && v !== null && 'path' in v && typeof v.path === 'string' && 'origin' in v && typeof v.origin === 'string' &&
    'publicKey' in v && v.publicKey instanceof Uint8Array && 'done' in v && v.done instanceof SharedArrayBuffer
  );
}

/** The server thread's messages (ledger-writer.ts), checked as they come: the protocol is typed, not trusted. */
function isWriterRequest(v: unknown): v is WriterRequest {
  if (typeof v !== 'object' || v === null) return false;
  if ('close' in v) return v.close === true;
  return 'id' in v && typeof v.id === 'number' && 'entries' in v && Array.isArray(v.entries) && 'inputs' in v && Array.isArray(v.inputs) && 'now' in v && typeof v.now === 'number';
}

const init: unknown = workerData;
if (parentPort !== null && isWriterInit(init)) {
  runInBackground();
  run(parentPort, init);
}
