// Failover between a log's servers (docs/architecture.md, Mirrors: Failover; issue 14): the operator first,
// then mirrors. Shared by `medtrail verify` (cli/client/verify.ts) and the reader (reader/online.ts). Plain
// timers and promises only (no node:* import), like the client it drives.
//
// Fast for the two ways a server is gone, without calling a slow one dead:
// - refused or reset (a stopped process, a closed port): the request fails at once, the next server is asked at
//   once;
// - silent (a hung process, SIGSTOP; a dropped SYN): the server it asked keeps its own timeout (the operator's
//   5 s), but after a head start (HEAD_START_MS) the next server is asked too, and the first answer wins. A slow
//   operator is not declared dead by this: only a request that fails (refused, reset, past its timeout) marks
//   a server down. Its late answer, when it comes, marks it up again.
// - remembered: a server marked down is asked after the others for DOWN_FOR_MS (still asked, last, so that
//   an answer is never lost for it), then first again.
// A refusal on the merits (a coded answer that is not "try elsewhere") ends the search: another server of the
// same log would answer the same.

/** How long the server asked first has alone before the next one is asked too. */
export const HEAD_START_MS = 600;
/** How long a server that could not be reached is asked only after the others. */
export const DOWN_FOR_MS = 30_000;

export interface FailoverOptions {
  headStartMs?: number;
  downForMs?: number;
  now?: () => number;
}

export interface FailoverAnswer<C, T> {
  value: T;
  /** The server that gave it. */
  client: C;
  /** Its place in the list as given (0: the first, the operator). */
  index: number;
}

export class Failover<C extends { readonly base: string }> {
  private readonly downUntil: number[];
  private readonly headStartMs: number;
  private readonly downForMs: number;
  private readonly now: () => number;

  constructor(
    readonly clients: readonly C[],
    o: FailoverOptions = {},
  ) {
    this.downUntil = clients.map(() => 0);
    this.headStartMs = o.headStartMs ?? HEAD_START_MS;
    this.downForMs = o.downForMs ?? DOWN_FOR_MS;
    this.now = o.now ?? Date.now;
  }

  /** The indexes in the order they are asked now: the servers not marked down first, each group in list order. */
  order(): number[] {
    const t = this.now();
    const idx = this.clients.map((_, i) => i);
    return [...idx.filter((i) => this.downUntil[i]! <= t), ...idx.filter((i) => this.downUntil[i]! > t)];
  }

  /** Whether the server at `index` is marked down now. */
  isDown(index: number): boolean {
    return this.downUntil[index]! > this.now();
  }

  /**
   * Asks the servers as described at the top of this file. `handOn(e)`: whether an error passes on to the next
   * server (unreachable, catching up, overloaded); `unreachable(e)`: whether it also marks the server down.
   * `say` hears each hand-on. Rejects with the refusal that ended the search, or the last error when every
   * server failed.
   */
  first<T>(
    ask: (c: C) => Promise<T>,
    o: { handOn: (e: unknown) => boolean; unreachable: (e: unknown) => boolean; say?: (from: C, e: unknown, to: C) => void },
  ): Promise<FailoverAnswer<C, T>> {
    const order = this.order();
    return new Promise((resolve, reject) => {
      let next = 0;
      let pending = 0;
      let done = false;
      let lastError: unknown;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (): void => {
        done = true;
        if (timer !== undefined) clearTimeout(timer);
      };
      const launch = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
        if (done || next >= order.length) return;
        const i = order[next++]!;
        const c = this.clients[i]!;
        pending++;
        ask(c).then(
          (value) => {
            pending--;
            this.downUntil[i] = 0;
            if (done) return;
            finish();
            resolve({ value, client: c, index: i });
          },
          (e: unknown) => {
            pending--;
            if (o.unreachable(e)) this.downUntil[i] = this.now() + this.downForMs;
            if (done) return;
            if (!o.handOn(e)) {
              finish();
              reject(e);
              return;
            }
            lastError = e;
            if (next < order.length) {
              o.say?.(c, e, this.clients[order[next]!]!);
              launch();
            } else if (pending === 0) {
              finish();
              reject(lastError);
            }
          },
        );
        // Silent past the head start: the next server is asked too.
        if (next < order.length) timer = setTimeout(launch, this.headStartMs);
      };
      launch();
    });
  }
}
