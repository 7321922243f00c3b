// The custody services of one ledger: its KeyBook, its CustodyState and the submit path every entry takes.
// Memoized per Ledger so that the custody routes, the verify routes and the console share one KeyBook (the
// signature check and the rules must agree on who holds which key) and one set of prepared statements.
//
// submit(entries), all or nothing, cheapest checks first (entry-checks.ts):
//   1. every signer enrolled and not revoked, then every signature against the KeyBook;
//   2. only then every body validated (ENTRY_MALFORMED lists every bad field) and dated at most 5 minutes ahead;
//   3. in ONE transaction the leaves are appended and the rules run (apply.ts), which write the custody
//      tables; any refusal rolls all of it back;
//   4. after the commit the KeyBook observes participant entries.
// A request body over ENTRY_INLINE_BYTES (server/http/app.ts) takes submitBytes(): steps 1 and 2, and the
// JSON parse before them, run in the entry-check worker (entry-checker.ts), off the event loop.
import { equalBytes } from '../../core/bytes.js';
import { decodeEntry, type Entry } from '../../core/entry/entry.js';
import { isMedtrailError, MedtrailError } from '../../core/errors.js';
import { openCheckpoint, type Checkpoint } from '../../core/log/checkpoint.js';
import { mapExtensionLine, readMapRoots } from '../../core/map/extension.js';
import type { StoredCheckpoint } from '../store/ledger-store.js';
import type { RecordedChanges } from '../store/pg/pg-custody.js';
import type { Ledger } from '../context.js';
import { appendChecked, loadKeyBook, toAppendInput } from '../log/ingest.js';
import type { KeyBook } from '../log/keybook.js';
import { RequestAuth } from '../http/auth.js';
import type { Appended, AppendInput } from '../log/log-service.js';
import { applyAppended, type ApplyContext } from './apply.js';
import { EntryChecker } from './entry-checker.js';
import { checkEntries, checkSigners, entriesOf, isSingle, within, type SignerLookup } from './entry-checks.js';
import { catchUp } from './replay.js';
import { CustodyState, PACK_ROW_COLS } from './state.js';
import { CustodyWriter } from './writer.js';
import { LedgerWriter } from './ledger-writer.js';
import { MapService } from '../map/map-service.js';

export { MAX_ENTRIES_PER_SUBMIT, MAX_FUTURE_MS } from './entry-checks.js';

/** What a request of entries got: where each went, and whether the request held one entry (answered as one). */
export interface Submitted {
  appended: Appended[];
  single: boolean;
}

export interface CustodyServices {
  keys: KeyBook;
  /** The ledger's one request authenticator (server/http/auth.ts): one replay set for every route. */
  auth: RequestAuth;
  state: CustodyState;
  /** The state maps every checkpoint commits to, and their proofs. */
  map: MapService;
  /**
   * Checks signers and signatures, then bodies, then rules, appends: all entries or none. `now` is for tests of
   * time rules. Synchronous, so for a ledger in SQLite only (PG_ASYNC_ONLY otherwise): the routes use `commit`.
   */
  submit(entries: Entry[], now?: number): Appended[];
  /** submit() on any ledger: resolves once the entries are committed (in PostgreSQL when the ledger is there). */
  commit(entries: Entry[], now?: number): Promise<Appended[]>;
  /** A parsed request body: one entry or {"entries":[...]}. */
  submitBody(body: unknown, now?: number): Promise<Submitted>;
  /** A request body's bytes, parsed and checked in the entry-check worker, then appended here. */
  submitBytes(bytes: Buffer, now?: number): Promise<Submitted>;
  /** Stops the entry-check worker and the ledger writer thread (after the appends it was asked for). */
  close(): void;
  /**
   * Whether the ledger writer thread has an append open or committed since the last call: the integrity guard
   * tells the file moved by this server's own hand from another's by it (server/log/integrity.ts).
   */
  ownWrites(): boolean;
  /** What the rules run against (state, writer, store, authority): a mirror replays the operator's entries with it (server/mirror). */
  rules: Omit<ApplyContext, 'now'>;
}

const cache = new WeakMap<Ledger, CustodyServices>();

/** Thrown to roll back a dry run's local transaction (appendDurable). */
const DRY_RUN = Symbol('dry run');

/**
 * A checkpoint the signing server stored in PostgreSQL, adopted by a server that does not sign, its copy at
 * exactly the checkpoint's size: the log's signature, the root of its own tree, and its own state maps' roots
 * must all be the note's, or the log is frozen (LOG_INTEGRITY).
 */
function adoptCheckpoint(ledger: Ledger, map: MapService, cp: StoredCheckpoint): void {
  const fail = (reason: string): never => {
    ledger.log.freeze(reason);
    throw new MedtrailError('LOG_INTEGRITY', reason);
  };
  let c: Checkpoint;
  try {
    c = openCheckpoint(cp.note, ledger.log.verifierKey);
  } catch (e) {
    return fail(`a checkpoint in PostgreSQL (size ${cp.size}) is not signed by the log key: ${isMedtrailError(e) ? e.code : 'INTERNAL'}`);
  }
  if (c.size !== cp.size || c.size !== ledger.log.size() || !equalBytes(c.root, ledger.log.rootAt(c.size))) {
    fail(`the checkpoint of size ${cp.size} in PostgreSQL does not sign the tree its leaves give`);
  }
  ledger.store.transaction(() => {
    const roots = map.catchUp(c.size);
    const shown = readMapRoots(c);
    if (shown === undefined || !equalBytes(shown.packs, roots.packs) || !equalBytes(shown.lots, roots.lots)) {
      fail(`the checkpoint of size ${cp.size} signs state maps other than those its leaves give`);
    }
    ledger.store.saveCheckpoint({ size: c.size, root: c.root, note: cp.note, signedAt: cp.signedAt });
  });
}

export function custodyServices(ledger: Ledger): CustodyServices {
  const have = cache.get(ledger);
  if (have !== undefined) return have;
  const db = ledger.store.connectionFor('custody');
  const keys = loadKeyBook(ledger.store);
  const state = new CustodyState(db);
  const writer = new CustodyWriter(db);
  const base = { state, writer, store: ledger.store, authority: keys.authority.gln };
  catchUp(base, ledger.log);
  state.invalidate();
  // Every checkpoint commits to the state of every pack and lot (server/map), brought up to date as it is signed.
  const map = new MapService(ledger.store.connectionFor('map'), ledger.store, state);
  ledger.log.setExtension((size) => map.extensionLine(size));
  // A ledger in a file signs in rounds, the maps brought up between requests (server/log/log-service.ts), unless
  // MEDTRAIL_MAP_ROUNDS=off (the benchmarks' side-by-side baseline). A copy of a ledger in PostgreSQL adopts or
  // signs at once (server/pg/replica.ts).
  const inFile = ledger.store.path !== '' && ledger.store.path !== ':memory:';
  if (ledger.pg === undefined && ledger.log.signs && inFile && process.env['MEDTRAIL_MAP_ROUNDS'] !== 'off') {
    ledger.log.setAsyncMaps({
      advance: () => map.advance(),
      publish: (size) => {
        map.publish(size);
        return mapExtensionLine(map.roots());
      },
      waiting: (delta) => map.waiting(delta),
    });
  }

  const lookup: SignerLookup = (gln) => {
    const r = keys.get(gln);
    if (r === undefined) return undefined;
    return r.revoked ? { revoked: true } : { key: r.publicKey };
  };

  /** Appends checked entries with their leaf bytes, running the rules in the append's transaction. */
  const append = (entries: readonly Entry[], inputs: readonly AppendInput[], now: number): Appended[] => {
    const many = entries.length > 1;
    const c: ApplyContext = { ...base, now };
    try {
      return appendChecked(ledger.log, keys, entries, inputs, (appended) => {
        for (let i = 0; i < entries.length; i++) within(i, many, () => applyAppended(c, [entries[i]!], [appended[i]!]));
      });
    } finally {
      // Committed or rolled back, the state's cached rows may be out of date (custody/state.ts).
      state.invalidate();
    }
  };

  const pgCopy = ledger.pg;
  // A ledger in a file that this server signs: entries are appended by the ledger writer thread
  // (writer-thread.ts), unless MEDTRAIL_LEDGER_WRITER=off (the benchmarks' side-by-side baseline).
  const writerThread =
    pgCopy === undefined && ledger.log.signs && inFile && process.env['MEDTRAIL_LEDGER_WRITER'] !== 'off'
      ? new LedgerWriter({ path: ledger.store.path, origin: ledger.log.origin, publicKey: ledger.log.publicKey })
      : undefined;
  // The thread commits nearly every write, and with it SQLite's WAL checkpoints (their fsync) leave this one.
  if (writerThread !== undefined) ledger.store.autoCheckpoint(false);
  /**
   * On PostgreSQL a signer may have been admitted (or its key rotated) through another server since this copy
   * last followed: a signer check that fails is tried again once the copy is at the database's head.
   */
  const checkedAfterSync = async <T>(check: () => T | Promise<T>): Promise<T> => {
    try {
      return await check();
    } catch (e) {
      if (pgCopy === undefined || !(isMedtrailError(e, 'SIGNER_UNKNOWN') || isMedtrailError(e, 'ENTRY_BAD_SIGNATURE') || isMedtrailError(e, 'KEY_REVOKED'))) throw e;
      await pgCopy.follow();
      return check();
    }
  };
  /**
   * The same append on a ledger in PostgreSQL (server/pg/replica.ts): the rules run in a dry run on the working
   * copy (rolled back), the leaves are committed in PostgreSQL, and then the copy replays them like anyone's.
   */
  const appendDurable = (maybe: readonly (Entry | null)[], inputs: readonly AppendInput[], now: number): Promise<Appended[]> => {
    // Entries left out by the entry-check worker (large ones) are decoded from their leaf bytes where needed.
    const whole = (): Entry[] => maybe.map((e, i) => e ?? decodeEntry(inputs[i]!.bytes));
    if (pgCopy === undefined) {
      if (writerThread === undefined || !writerThread.running) {
        if (writerThread !== undefined) ledger.store.autoCheckpoint(true);
        return Promise.resolve().then(() => append(whole(), inputs, now));
      }
      // Off the event loop (writer-thread.ts); afterwards what appendChecked does after its commit here.
      const frozen = ledger.log.frozen();
      if (frozen !== undefined) return Promise.reject(new MedtrailError('LOG_INTEGRITY', `the ledger failed an integrity check; nothing is appended or signed: ${frozen}`));
      return writerThread.append(maybe, inputs, now).then(
        (out) => {
          // Only participant entries change the KeyBook, and those are small (never left out).
          maybe.forEach((e, i) => {
            if (inputs[i]!.kind === 'participant') keys.observe(e ?? decodeEntry(inputs[i]!.bytes));
          });
          state.invalidate();
          return out;
        },
        (e: unknown) => {
          state.invalidate();
          throw e;
        },
      );
    }
    const entries = whole();
    const many = entries.length > 1;
    const c: ApplyContext = { ...base, now };
    const seen = keys.version;
    return pgCopy.write(inputs, () => {
      // A key admitted, rotated or revoked through another server since the signatures were checked: again.
      if (keys.version !== seen) checkSigners([...entries], lookup, keys.origin);
      let out: Appended[] = [];
      const custody: RecordedChanges[] = [];
      writer.recorder = (ref, changes) => custody.push({ ref, changes });
      try {
        ledger.store.transaction(() => {
          out = ledger.log.append(inputs);
          for (let i = 0; i < entries.length; i++) within(i, many, () => applyAppended(c, [entries[i]!], [out[i]!]));
          throw DRY_RUN;
        });
      } catch (e) {
        if (e !== DRY_RUN) throw e;
      } finally {
        writer.recorder = undefined;
        state.invalidate();
      }
      return { appended: out, custody };
    });
  };
  if (pgCopy !== undefined) {
    pgCopy.attach({
      applied: (leaves) => {
        catchUp(base, ledger.log);
        for (const l of leaves) if (l.kind === 'participant') keys.observe(decodeEntry(l.bytes));
        state.invalidate();
      },
      adopt: (cp) => adoptCheckpoint(ledger, map, cp),
      packRowsAfter: (gtin, serial, limit) => state.packRowsAfter(gtin, serial, limit),
      packColumns: PACK_ROW_COLS,
    });
  }

  const submit = (entries: Entry[], now = Date.now()): Appended[] => {
    if (pgCopy !== undefined) throw new MedtrailError('INTERNAL', 'a ledger in PostgreSQL is appended to asynchronously (commit)');
    checkEntries(entries, lookup, keys.origin, now);
    return append(entries, entries.map(toAppendInput), now);
  };
  const commit = async (entries: Entry[], now = Date.now()): Promise<Appended[]> => {
    await checkedAfterSync(() => checkEntries(entries, lookup, keys.origin, now));
    return appendDurable(entries, entries.map(toAppendInput), now);
  };

  const checker = new EntryChecker(keys);
  const submitBytes = async (bytes: Buffer, now = Date.now()): Promise<Submitted> => {
    // The worker takes the body's memory; on PostgreSQL a copy goes first, so the bytes are still here for a
    // second check after following the database.
    let first = pgCopy !== undefined;
    const got = await checkedAfterSync(() => {
      const sent = first ? Buffer.from(bytes) : bytes;
      first = false;
      return checker.check(sent, now);
    });
    // The worker checked each signature with the key the KeyBook had when the body was sent; a key rotated
    // or revoked since is checked again here (rare: the authority's own entries).
    got.metas.forEach((e, i) => {
      const active = keys.activeKey(e.signer);
      if (active === undefined || !equalBytes(active, got.keys[i]!)) checkSigners([got.entries[i] ?? decodeEntry(got.leaves[i]!)], lookup, keys.origin);
    });
    const inputs = got.metas.map((e, i): AppendInput => ({ bytes: got.leaves[i]!, leafHash: got.hashes[i]!, kind: e.kind, signer: e.signer, nonce: e.nonce, at: e.at }));
    return { appended: await appendDurable(got.entries, inputs, now), single: got.single };
  };

  // The replay set survives a clean restart beside the database (server/http/auth.ts).
  const stateFile = ledger.store.path === ':memory:' || ledger.store.path === '' ? undefined : `${ledger.store.path}.replay.json`;
  const services: CustodyServices = {
    keys,
    auth: new RequestAuth(keys, { stateFile }),
    state,
    map,
    submit,
    commit,
    submitBody: async (body, now) => ({ appended: await commit(entriesOf(body), now), single: isSingle(body) }),
    submitBytes,
    close: () => {
      checker.close();
      writerThread?.close();
      map.close();
    },
    ownWrites: () => writerThread?.wroteSince() ?? false,
    rules: base,
  };
  cache.set(ledger, services);
  return services;
}
