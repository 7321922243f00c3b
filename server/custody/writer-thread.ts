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
// { close } closes the database and sets `done`.
import { parentPort, workerData } from 'node:worker_threads';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { decodeEntry } from '../../core/entry/entry.js';
import { isMedtrailError } from '../../core/errors.js';
import { appendChecked, loadKeyBook } from '../log/ingest.js';
import { LogService } from '../log/log-service.js';
import { openDatabase, SqliteLedgerStore } from '../store/ledger-store.js';
import { applyAppended } from './apply.js';
import { within } from './entry-checks.js';
import { CustodyState } from './state.js';
import { CustodyWriter } from './writer.js';
import type { WriterInit, WriterReply, WriterRequest } from './writer-protocol.js';

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

  port.on('message', (m: WriterRequest) => {
    if ('close' in m) {
      store.close();
      Atomics.store(done, 0, 1);
      Atomics.notify(done, 0);
      port.close();
      return;
    }
    let reply: WriterReply;
    Atomics.store(done, 1, 1);
    try {
      if (store.head().size !== known) {
        keys = loadKeyBook(store);
        state.invalidate();
      }
      const entries = m.entries.map((e, i) => e ?? decodeEntry(m.inputs[i]!.bytes));
      const many = entries.length > 1;
      const c = { state, writer, store, authority: keys.authority.gln, now: m.now };
      const appended = appendChecked(log, keys, entries, m.inputs, (out) => {
        for (let i = 0; i < entries.length; i++) within(i, many, () => applyAppended(c, [entries[i]!], [out[i]!]));
      });
      Atomics.add(done, 2, 1);
      reply = { id: m.id, ok: true, appended };
    } catch (e) {
      reply = isMedtrailError(e)
        ? { id: m.id, ok: false, code: e.code, message: e.message, ...(e.fields !== undefined ? { fields: [...e.fields] } : {}) }
        : { id: m.id, ok: false, code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
    } finally {
      // Committed or rolled back, the cached rows may be out of date (custody/state.ts).
      state.invalidate();
      known = store.head().size;
      Atomics.store(done, 1, 0);
    }
    port.postMessage(reply);
  });
}

if (parentPort !== null) run(parentPort, workerData as WriterInit);
