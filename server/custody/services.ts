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
import type { Entry } from '../../core/entry/entry.js';
import type { Ledger } from '../context.js';
import { appendChecked, loadKeyBook, toAppendInput } from '../log/ingest.js';
import type { KeyBook } from '../log/keybook.js';
import { RequestAuth } from '../http/auth.js';
import type { Appended, AppendInput } from '../log/log-service.js';
import { applyAppended, type ApplyContext } from './apply.js';
import { EntryChecker } from './entry-checker.js';
import { checkEntries, checkSigners, entriesOf, isSingle, within, type SignerLookup } from './entry-checks.js';
import { catchUp } from './replay.js';
import { CustodyState } from './state.js';
import { CustodyWriter } from './writer.js';
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
  /** Checks signers and signatures, then bodies, then rules, appends: all entries or none. `now` is for tests of time rules. */
  submit(entries: Entry[], now?: number): Appended[];
  /** A parsed request body: one entry or {"entries":[...]}. */
  submitBody(body: unknown, now?: number): Submitted;
  /** A request body's bytes, parsed and checked in the entry-check worker, then appended here. */
  submitBytes(bytes: Buffer, now?: number): Promise<Submitted>;
  /** Stops the entry-check worker. */
  close(): void;
  /** What the rules run against (state, writer, store, authority): a mirror replays the operator's entries with it (server/mirror). */
  rules: Omit<ApplyContext, 'now'>;
}

const cache = new WeakMap<Ledger, CustodyServices>();

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

  const submit = (entries: Entry[], now = Date.now()): Appended[] => {
    checkEntries(entries, lookup, keys.origin, now);
    return append(entries, entries.map(toAppendInput), now);
  };

  const checker = new EntryChecker(keys);
  const submitBytes = async (bytes: Buffer, now = Date.now()): Promise<Submitted> => {
    const got = await checker.check(bytes, now);
    // The worker checked each signature with the key the KeyBook had when the body was sent; a key rotated
    // or revoked since is checked again here (rare: the authority's own entries).
    got.entries.forEach((e, i) => {
      const active = keys.activeKey(e.signer);
      if (active === undefined || !equalBytes(active, got.keys[i]!)) checkSigners([e], lookup, keys.origin);
    });
    const inputs = got.entries.map((e, i): AppendInput => ({ bytes: got.leaves[i]!, leafHash: got.hashes[i]!, kind: e.kind, signer: e.signer, nonce: e.nonce, at: e.at }));
    return { appended: append(got.entries, inputs, now), single: got.single };
  };

  // The replay set survives a clean restart beside the database (server/http/auth.ts).
  const stateFile = ledger.store.path === ':memory:' || ledger.store.path === '' ? undefined : `${ledger.store.path}.replay.json`;
  const services: CustodyServices = {
    keys,
    auth: new RequestAuth(keys, { stateFile }),
    state,
    map,
    submit,
    submitBody: (body, now) => ({ appended: submit(entriesOf(body), now), single: isSingle(body) }),
    submitBytes,
    close: () => checker.close(),
    rules: base,
  };
  cache.set(ledger, services);
  return services;
}
