// A server over a PostgreSQL ledger (docs/postgres.md; issue 15). PostgreSQL holds the ledger of record: the
// leaves, interior hashes, head and checkpoints (server/store/pg/pg-log.ts), shared by any number of
// `medtrail serve` processes. Each process answers from a local working copy, an SQLite database that holds
// a prefix of the PostgreSQL log and everything the rules derive from it (custody tables, key book, state
// maps), so that verify, packs, proofs and pages stay synchronous and never wait on a round trip. The copy
// only ever holds committed leaves:
//
// An append (write()):
//   1. BEGIN; lock the PostgreSQL head row (every process's appends queue here);
//   2. bring the copy up to that head (the leaves other processes committed, replayed through the rules);
//   3. a dry run in a local transaction that is always rolled back: the rules judge the entries against the
//      state at that head and the leaves, interior hashes and new head are computed; a refusal ends here with
//      nothing written anywhere;
//   4. the leaves and hashes go to PostgreSQL with the head's compare-and-swap, and the custody rows from the
//      changes the rules made in the dry run (server/store/pg/pg-custody.ts), a NOTIFY, COMMIT: only now is the
//      entry acknowledged;
//   5. the copy appends the same leaves and replays the rules over them (as for anyone else's leaves).
// A crash anywhere leaves PostgreSQL with the whole append or none of it; the copy catches up at the next start.
//
// Checkpoints: one process at a time holds the signing lease (a session advisory lock); it signs over its copy's
// head (committed leaves only) and stores each checkpoint in PostgreSQL. The others follow the newest stored
// checkpoint: they bring their copy to exactly its size, check its signature, its root against their own tree
// and its state-map line against their own maps, and only then serve it. They never sign, so a verify of state
// newer than their newest checkpoint is CHECKPOINT_PENDING (ask again: the signer signs within a second). If
// the holder dies its session ends, the lock is free, and another process takes it within a round.
//
// The running guard (every round): the append-only triggers are still there and enabled, PostgreSQL's head is
// not behind the copy, and a rolling window of leaves and interior hashes read back from PostgreSQL matches the
// copy, so a row edited behind the servers' backs is found within one pass over the log (docs/postgres.md gives
// the pace). What it finds freezes the log: LOG_INTEGRITY on every route, nothing appended or signed.
import type pg from 'pg';
import { equalBytes, toHex } from '../../core/bytes.js';
import { isMedtrailError, MedtrailError, messageOf } from '../../core/errors.js';
import { leafHash, perfectSubtrees } from '../../core/log/merkle.js';
import type { AppendInput, Appended, LogService } from '../log/log-service.js';
import type { LedgerStore, NewLeaf, StoredCheckpoint } from '../store/ledger-store.js';
import { prepareAppend, type PgLogStore } from '../store/pg/pg-log.js';
import { writeCustody, type PgQuery, type RecordedChanges } from '../store/pg/pg-custody.js';

/** What the rest of the server does when the copy moves (server/custody/services.ts registers them). */
export interface ReplicaHooks {
  /** Leaves just appended to the copy, committed in PostgreSQL: replay the rules, observe keys. */
  applied(leaves: readonly NewLeaf[]): void;
  /** A checkpoint the signer stored, the copy at exactly its size: check it against the copy and keep it. */
  adopt(cp: StoredCheckpoint): void;
  /** The copy's whole custody_packs rows after (gtin, serial), in key order (columns `packColumns`). */
  packRowsAfter(gtin: string, serial: string, limit: number): unknown[][];
  packColumns: string;
}

export interface ReplicaOptions {
  /** How often the copy follows PostgreSQL and the guard runs without a NOTIFY (default 1,000 ms). */
  roundMs?: number;
  /** Leaves and interior hashes the guard reads back per round (default 2,000 each). */
  guardWindow?: number;
  /** Whether this process may hold the signing lease (default true). */
  mayLead?: boolean;
  /**
   * A streaming replica of the database to follow from (`--db-replica`): the copy's leaves and checkpoints are
   * read there, appends, the lease and the checkpoints this server signs go to the primary. A server following a
   * replica never signs (it may lag the primary; its answers cite the checkpoint its copy is at, never older).
   */
  source?: PgLogStore;
  /** One line per event worth an operator's eye (lease taken or lost, a round that failed). */
  say?: (line: string) => void;
}

const PAGE = 1000;
/** How long a round waits after a NOTIFY for others to arrive with it. */
const NOTIFY_COALESCE_MS = 25;
/** Leaf bytes the guard reads back and hashes per round (about 2 ms of hashing). */
const GUARD_BYTES = 1024 * 1024;
/** Leaf bytes a copy takes from PostgreSQL per page. */
const COPY_BYTES = 16 * 1024 * 1024;
/** Leaf bytes a server that does not sign holds back to append and adopt a checkpoint in one stretch. */
const ADOPT_BYTES = 64 * 1024 * 1024;

export class PgReplica {
  private hooks: ReplicaHooks | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private lease: pg.Client | undefined;
  private listener: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private unsaved: StoredCheckpoint[] = [];
  private guardLeaf = 0;
  private guardNode = 0;
  private guardPack: [string, string] = ['', ''];
  private lastGuard = 0;
  private readonly roundMs: number;
  private readonly window: number;
  private readonly say: (line: string) => void;
  /** Where the copy's follow rounds read: the primary, or a streaming replica of it. */
  private readonly source: PgLogStore;

  constructor(
    readonly pg: PgLogStore,
    private readonly store: LedgerStore,
    private readonly log: LogService,
    private readonly opts: ReplicaOptions = {},
  ) {
    this.roundMs = opts.roundMs ?? 1000;
    this.source = opts.source ?? pg;
    this.window = opts.guardWindow ?? 2000;
    this.say = opts.say ?? ((line) => process.stderr.write(`medtrail: ${line}\n`));
    log.setSigningGate(() => this.lease !== undefined && !this.stopped);
    log.onSigned((cp) => {
      this.unsaved.push(cp);
      // Kept until stored: a failure (PostgreSQL unreachable) is tried again every round.
      this.saveSigned().catch(() => undefined);
    });
  }

  /** Whether this process holds the signing lease now. */
  get signer(): boolean {
    return this.lease !== undefined;
  }

  private readonly extraRounds: (() => Promise<void>)[] = [];

  /** Runs `fn` every round too: modules whose tables other servers write (tag keys) copy what is new. */
  eachRound(fn: () => Promise<void>): void {
    this.extraRounds.push(fn);
  }

  /** Called once, by the services that replay the rules and hold the maps. */
  attach(hooks: ReplicaHooks): void {
    this.hooks = hooks;
  }

  /** Runs `fn` after every other sync or write of this process: the copy is changed by one thing at a time. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Tries to take the signing lease (a session advisory lock on a connection of its own). */
  async tryLead(): Promise<boolean> {
    if (this.lease !== undefined || this.opts.mayLead === false || this.opts.source !== undefined || this.stopped) return this.lease !== undefined;
    let c: pg.Client | undefined;
    try {
      c = await this.pg.dedicatedClient();
      const r = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [`medtrail-signer:${this.pg.schema}`]);
      if (r.rows[0]?.ok !== true) {
        await c.end();
        return false;
      }
      const held = c;
      held.on('error', () => this.loseLease(held));
      held.on('end', () => this.loseLease(held));
      this.lease = held;
      this.say(`signing lease taken for ${this.pg.schema}`);
      return true;
    } catch {
      await c?.end().catch(() => undefined);
      return false;
    }
  }

  private loseLease(c: pg.Client): void {
    if (this.lease !== c) return;
    this.lease = undefined;
    if (!this.stopped) this.say('signing lease lost (the connection to PostgreSQL ended); another server may sign now');
  }

  /**
   * Brings the copy to PostgreSQL: the signer (or a process opening) to the head, the others to the newest
   * stored checkpoint (their state is always exactly a signed one, see the top of this file).
   */
  async open(): Promise<void> {
    await this.tryLead();
    await this.serial(async () => {
      if (this.signer) await this.syncTo((await this.pg.head()).size, this.pg);
      else {
        const cp = await this.source.latestCheckpoint();
        if (cp !== undefined && cp.size > this.log.size()) await this.syncTo(cp.size);
      }
    });
  }

  /** Brings the copy to PostgreSQL's head now (before judging a signer the copy does not know yet). */
  follow(): Promise<void> {
    return this.serial(async () => this.syncTo((await this.pg.head()).size, this.pg)).catch((e: unknown) => {
      throw asUnavailable(e);
    });
  }

  /** Starts following: LISTEN for commits, and a round every roundMs (lease, sync, adopt, save, guard). */
  async start(): Promise<void> {
    await this.round();
    await this.listen();
    this.timer = setInterval(() => void this.round().catch(() => undefined), this.roundMs);
    this.timer.unref();
  }

  /**
   * LISTENs on the ledger's channel on a connection of its own (again after it dropped: a PostgreSQL restart);
   * until it works, the rounds every roundMs follow the ledger all the same.
   */
  private async listen(): Promise<void> {
    if (this.listener !== undefined || this.stopped) return;
    try {
      const l = await this.pg.dedicatedClient();
      const lost = (): void => {
        if (this.listener === l) this.listener = undefined;
      };
      l.on('error', lost);
      l.on('end', lost);
      l.on('notification', () => this.soon());
      await l.query(`LISTEN ${this.pg.channel}`);
      this.listener = l;
    } catch (e) {
      if (!this.listenFailed) this.say(`cannot LISTEN for commits (following every ${this.roundMs} ms meanwhile): ${messageOf(e)}`);
      this.listenFailed = true;
    }
  }

  private listenFailed = false;
  private soonTimer: NodeJS.Timeout | undefined;

  /**
   * A round shortly after a NOTIFY (another server committed, signed or shared scans): notifications arriving
   * together (scans are shared every few tens of milliseconds under load) make one round, not one each.
   */
  private soon(): void {
    if (this.soonTimer !== undefined || this.stopped) return;
    this.soonTimer = setTimeout(() => {
      this.soonTimer = undefined;
      void this.round().catch(() => undefined);
    }, NOTIFY_COALESCE_MS);
    this.soonTimer.unref();
  }

  private rounding: Promise<void> | undefined;
  private again = false;

  /** One round; rounds asked for while one runs are folded into one more after it. */
  round(): Promise<void> {
    if (this.rounding !== undefined) {
      this.again = true;
      return this.rounding;
    }
    const run = async (): Promise<void> => {
      do {
        this.again = false;
        await this.roundOnce();
      } while (this.again && !this.stopped);
    };
    this.rounding = run().finally(() => {
      this.rounding = undefined;
    });
    return this.rounding;
  }

  private async roundOnce(): Promise<void> {
    if (this.stopped || this.log.frozen() !== undefined) return;
    try {
      if (this.lease === undefined) await this.tryLead();
      await this.serial(async () => {
        if (this.signer) {
          await this.syncTo((await this.pg.head()).size, this.pg);
          // Leaves other servers appended get a checkpoint now (at most every checkpoint interval), so that
          // those servers, which do not sign, can serve them.
          this.log.checkpoint();
        } else {
          const cp = await this.source.latestCheckpoint();
          const mine = this.store.latestCheckpoint();
          // A copy ahead of the newest checkpoint (this process appended since) waits for one that covers it.
          if (cp !== undefined && (mine === undefined || cp.size > mine.size) && cp.size >= this.log.size()) await this.syncAndAdopt(cp);
        }
      });
      await this.saveSigned();
      if (this.timer !== undefined) await this.listen();
      for (const fn of this.extraRounds) await fn();
      // The guard's reads run once a roundMs, however often NOTIFYs start a round.
      if (Date.now() - this.lastGuard >= this.roundMs) {
        this.lastGuard = Date.now();
        await this.guard();
      }
    } catch (e) {
      if (isMedtrailError(e, 'LOG_INTEGRITY')) return;
      this.say(`following PostgreSQL: ${isMedtrailError(e) ? `${e.code}: ` : ''}${messageOf(e)}`);
    }
  }

  private saveQueue: Promise<void> = Promise.resolve();

  /**
   * Stores the checkpoints this process signed in PostgreSQL, for the other servers (retried each round); one
   * call at a time, each checkpoint taken off the list only once it is stored.
   */
  private saveSigned(): Promise<void> {
    const run = this.saveQueue.then(async () => {
      while (this.unsaved.length > 0) {
        const cp = this.unsaved[0]!;
        await this.pg.saveCheckpoint(cp);
        if (this.unsaved[0] === cp) this.unsaved.shift();
      }
    });
    this.saveQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * Appends PostgreSQL's leaves [copy size, target) to the copy, page by page, each replayed through the rules.
   * A leaf whose bytes do not hash to the hash PostgreSQL holds, or a tree whose root differs from
   * PostgreSQL's at the same size, freezes the log.
   */
  private async syncTo(target: number, from: PgLogStore = this.source): Promise<void> {
    const have = this.log.size();
    if (target < have) {
      this.fail(`PostgreSQL holds ${target} leaves, fewer than the ${have} this server copied from it: the ledger was rolled back or replaced`);
    }
    for (let start = have; start < target; ) {
      const rows = await this.fetchPage(start, target, from);
      this.appendChecked(rows);
      start += rows.length;
    }
    if (target > have) this.checkRoot(target, await from.rootAt(target));
  }

  /**
   * A server that does not sign, to the signer's checkpoint `cp`: the leaves and PostgreSQL's root are fetched
   * first, and then appended, checked and the checkpoint adopted in one synchronous stretch, so that no request
   * finds the copy past its newest checkpoint (it would be answered CHECKPOINT_PENDING). A gap too large to hold
   * (past ADOPT_BYTES) is appended as it comes.
   */
  private async syncAndAdopt(cp: StoredCheckpoint): Promise<void> {
    const held: NewLeaf[][] = [];
    let bytes = 0;
    for (let at = this.log.size(); at < cp.size; ) {
      const rows = await this.fetchPage(at, cp.size, this.source);
      held.push(rows);
      bytes += rows.reduce((n, r) => n + r.bytes.length, 0);
      at += rows.length;
      if (bytes > ADOPT_BYTES) {
        for (const page of held.splice(0)) this.appendChecked(page);
        bytes = 0;
      }
    }
    const theirs = await this.source.rootAt(cp.size);
    for (const page of held) this.appendChecked(page);
    this.checkRoot(cp.size, theirs);
    this.hooks?.adopt(cp);
  }

  /** The next page of leaves [start, target) from `from`, all there and in order. */
  private async fetchPage(start: number, target: number, from: PgLogStore): Promise<NewLeaf[]> {
    const end = Math.min(target, start + PAGE);
    const rows = await from.leafRows(start, end, COPY_BYTES);
    if (rows.length === 0 || rows.some((r, i) => r.index !== start + i)) this.fail(`PostgreSQL's leaves ${start}..${end} are not all there`);
    return rows;
  }

  /** Appends a page to the copy, each leaf's hash recomputed and held to PostgreSQL's row. */
  private appendChecked(rows: readonly NewLeaf[]): void {
    if (rows.length > 0 && rows[0]!.index !== this.log.size()) this.fail(`a page of PostgreSQL's leaves starts at ${rows[0]!.index}, the copy holds ${this.log.size()}`);
    this.appendLocal(rows, (r, got) => {
      if (!equalBytes(got, r.hash)) this.fail(`leaf ${r.index} in PostgreSQL: its bytes hash to ${toHex(got)}, its row says ${toHex(r.hash)} (edited behind the servers' backs)`);
    });
  }

  private checkRoot(size: number, theirs: Uint8Array): void {
    if (!equalBytes(theirs, this.log.rootAt(size))) this.fail(`PostgreSQL's tree of ${size} leaves has another root than the leaves give (an interior hash edited)`);
  }

  /** Appends committed leaves to the copy (their hashes recomputed from the bytes) and lets the rules replay them. */
  private appendLocal(rows: readonly NewLeaf[], check?: (row: NewLeaf, computed: Uint8Array) => void): void {
    const appended = this.log.append(rows.map((r) => ({ bytes: r.bytes, kind: r.kind, signer: r.signer, nonce: r.nonce, at: r.at })));
    if (check !== undefined) rows.forEach((r, i) => check(r, appended[i]!.leafHash));
    this.hooks?.applied(rows);
  }

  private fail(reason: string): never {
    this.log.freeze(reason);
    this.say(`LEDGER ALTERED in PostgreSQL: ${reason}`);
    throw new MedtrailError('LOG_INTEGRITY', reason);
  }

  /**
   * An append of checked entries (see the top of this file). `dryRun` runs the rules and the log append in a
   * local transaction it rolls back, against the copy brought to PostgreSQL's head, and returns where each
   * entry would go; it throws the rules' refusal.
   */
  write(inputs: readonly AppendInput[], dryRun: () => { appended: Appended[]; custody: RecordedChanges[] }): Promise<Appended[]> {
    return this.serial(async () => {
      if (this.stopped) throw new MedtrailError('STORE_UNAVAILABLE', 'this server is stopping');
      let appended: Appended[] = [];
      const committed = await this.pg.lockedAppend(async (head) => {
        await this.syncTo(head.size, this.pg);
        if (!equalBytes(head.root, this.log.rootAt(head.size))) this.fail(`PostgreSQL's head root at ${head.size} leaves is not the root of its leaves`);
        const run = dryRun();
        appended = run.appended;
        const known = new Map<string, Uint8Array>();
        for (const [level, index] of perfectSubtrees(head.size)) known.set(`${level}/${index}`, this.store.perfectHash(level, index));
        const withHashes = inputs.map((x, i) => ({ ...x, leafHash: appended[i]!.leafHash }));
        const prepared = prepareAppend(head.size, withHashes, known);
        return { ...prepared, also: (q: PgQuery) => writeCustody(q, this.pg.schema, run.custody, prepared.head.size) };
      });
      if (committed === undefined) throw new MedtrailError('STORE_CONFLICT', 'nothing was appended');
      // Committed in PostgreSQL: the copy takes the same leaves (as anyone else's, through the rules).
      this.appendLocal(committed.leaves);
      if (!equalBytes(this.store.head().root, committed.head.root)) this.fail('the copy and PostgreSQL disagree on the root after an append');
      return appended;
    });
  }

  /** The running guard's share of a round (see the top of this file). */
  private async guard(): Promise<void> {
    if (!(await this.pg.appendOnlyHeld())) this.fail("an append-only trigger of the ledger's tables in PostgreSQL was disabled or dropped");
    const size = this.log.size();
    const head = await this.pg.head();
    if (head.size < size) this.fail(`PostgreSQL holds ${head.size} leaves, fewer than the ${size} this server copied from it`);
    if (size === 0) return;
    if (this.guardLeaf >= size) this.guardLeaf = 0;
    const leaves = await this.source.leafWindow(this.guardLeaf, Math.min(this.window, size - this.guardLeaf), GUARD_BYTES);
    for (const r of leaves) {
      const mine = this.store.perfectHash(0, r.index);
      if (!equalBytes(r.hash, mine) || !equalBytes(leafHash(r.bytes), mine)) this.fail(`leaf ${r.index} in PostgreSQL differs from the one this server copied (edited behind the servers' backs)`);
    }
    this.guardLeaf = leaves.length === 0 ? 0 : leaves[leaves.length - 1]!.index + 1;
    const nodes = await this.source.nodesPage(this.guardNode, this.window);
    for (const n of nodes) {
      if (n.index * 2 ** n.level + 2 ** n.level > size) continue;
      const mine = this.store.storedNode(n.level, n.index);
      if (mine === undefined || !equalBytes(mine, n.hash)) this.fail(`interior hash ${n.level}/${n.index} in PostgreSQL differs from the copy's`);
    }
    this.guardNode = nodes.length < this.window ? 0 : this.guardNode + nodes.length;
    await this.guardPacks(size);
  }

  /**
   * A window of the copy's pack rows against PostgreSQL's: a row missing there, or different while its newest
   * entry is one the copy holds (PostgreSQL may be ahead of the copy, never behind), was edited there.
   */
  private async guardPacks(size: number): Promise<void> {
    const h = this.hooks;
    if (h === undefined) return;
    const mine = h.packRowsAfter(this.guardPack[0], this.guardPack[1], this.window);
    if (mine.length === 0) {
      this.guardPack = ['', ''];
      return;
    }
    const keys = mine.map((r) => [String(r[0]), String(r[1])] as const);
    const theirs = new Map((await this.pg.packRows(h.packColumns, keys)).map((r) => [`${String(r[0])}\u0000${String(r[1])}`, r]));
    for (const r of mine) {
      const t = theirs.get(`${String(r[0])}\u0000${String(r[1])}`);
      if (t === undefined) this.fail(`pack ${String(r[1])} of ${String(r[0])} is missing from custody_packs in PostgreSQL`);
      if (Number(t[LAST_IDX]) >= size) continue;
      if (rowText(t) !== rowText(r)) this.fail(`pack ${String(r[1])} of ${String(r[0])}: its custody_packs row in PostgreSQL differs from the one its leaves give`);
    }
    const last = keys[keys.length - 1]!;
    this.guardPack = mine.length < this.window ? ['', ''] : [last[0], last[1]];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.soonTimer !== undefined) clearTimeout(this.soonTimer);
    await this.rounding?.catch(() => undefined);
    await this.queue.catch(() => undefined);
    await this.saveSigned().catch(() => undefined);
    const lease = this.lease;
    this.lease = undefined;
    await Promise.all([lease?.end().catch(() => undefined), this.listener?.end().catch(() => undefined)]);
    await this.pg.close();
    if (this.source !== this.pg) await this.source.close();
  }
}

/** A failure that is not the ledger's answer (a connection cut, PostgreSQL restarting): transient, 503. */
function asUnavailable(e: unknown): MedtrailError {
  return e instanceof MedtrailError ? e : new MedtrailError('STORE_UNAVAILABLE', `the ledger database cannot be used now: ${messageOf(e)}`, { cause: e });
}

/** Where last_idx is in a pack row (PACK_ROW_COLS, server/custody/state.ts). */
const LAST_IDX = 7;

/** A row's values as one comparable text (bytes as hex, numbers and text as they are). */
function rowText(r: readonly unknown[]): string {
  return JSON.stringify(r.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)));
}
