// The custody services of one ledger: its KeyBook, its CustodyState and the submit path every entry takes.
// Memoized per Ledger so that the custody routes, the verify routes and the console share one KeyBook (the
// signature check and the rules must agree on who holds which key) and one set of prepared statements.
//
// submit(entries), all or nothing:
//   1. every body is validated (ENTRY_MALFORMED lists every bad field) and dated at most 5 minutes ahead;
//   2. appendSigned checks every signature against the KeyBook, then in ONE transaction appends the leaves
//      and runs the rules (apply.ts), which write the custody tables; any refusal rolls all of it back;
//   3. after the commit the KeyBook observes participant entries.
import { validateBody } from '../../core/entry/bodies.js';
import type { Entry } from '../../core/entry/entry.js';
import { isMedtrailError, MedtrailError } from '../../core/errors.js';
import type { Ledger } from '../context.js';
import { appendSigned, loadKeyBook } from '../log/ingest.js';
import type { KeyBook } from '../log/keybook.js';
import { RequestAuth } from '../http/auth.js';
import type { Appended } from '../log/log-service.js';
import { applyAppended, type ApplyContext } from './apply.js';
import { catchUp } from './replay.js';
import { CustodyState } from './state.js';
import { CustodyWriter } from './writer.js';
import { MapService } from '../map/map-service.js';

/** Clock skew tolerated between a signer and the server. */
export const MAX_FUTURE_MS = 5 * 60 * 1000;
/** Most entries in one request. */
export const MAX_ENTRIES_PER_SUBMIT = 1000;

export interface CustodyServices {
  keys: KeyBook;
  /** The ledger's one request authenticator (server/http/auth.ts): one replay set for every route. */
  auth: RequestAuth;
  state: CustodyState;
  /** The state maps every checkpoint commits to, and their proofs. */
  map: MapService;
  /** Validates, checks signatures and rules, appends: all entries or none. `now` is for tests of time rules. */
  submit(entries: Entry[], now?: number): Appended[];
}

const cache = new WeakMap<Ledger, CustodyServices>();

/** Re-throws a per-entry error with its field paths under `entries[i]` when a request holds several. */
function within<T>(i: number, many: boolean, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (!many || !isMedtrailError(e)) throw e;
    throw new MedtrailError(e.code, `entries[${i}]: ${e.message}`, {
      cause: e,
      fields: (e.fields ?? [{ path: '', code: e.code, message: e.message }]).map((f) => ({ ...f, path: `entries[${i}]${f.path === '' ? '' : `.${f.path}`}` })),
    });
  }
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

  const submit = (entries: Entry[], now = Date.now()): Appended[] => {
    if (entries.length === 0) throw new MedtrailError('BAD_INPUT', 'no entries');
    if (entries.length > MAX_ENTRIES_PER_SUBMIT) throw new MedtrailError('TOO_LARGE', `more than ${MAX_ENTRIES_PER_SUBMIT} entries in one request`);
    const many = entries.length > 1;
    entries.forEach((e, i) =>
      within(i, many, () => {
        validateBody(e.kind, e.body);
        if (Date.parse(e.at) > now + MAX_FUTURE_MS) {
          throw new MedtrailError('DATE_INVALID', `entry is dated ${e.at}, more than 5 minutes ahead of the server`, {
            fields: [{ path: 'at', code: 'DATE_INVALID', message: 'in the future' }],
          });
        }
      }),
    );
    const c: ApplyContext = { ...base, now };
    try {
      return appendSigned(ledger.log, keys, entries, (appended) => {
        for (let i = 0; i < entries.length; i++) within(i, many, () => applyAppended(c, [entries[i]!], [appended[i]!]));
      });
    } finally {
      // Committed or rolled back, the state's cached rows may be out of date (custody/state.ts).
      state.invalidate();
    }
  };

  // The replay set survives a clean restart beside the database (server/http/auth.ts).
  const stateFile = ledger.store.path === ':memory:' || ledger.store.path === '' ? undefined : `${ledger.store.path}.replay.json`;
  const services: CustodyServices = { keys, auth: new RequestAuth(keys, { stateFile }), state, map, submit };
  cache.set(ledger, services);
  return services;
}
