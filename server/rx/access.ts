// Access-code guessing, slowed and bounded (issue 16; SECURITY.md, Prescriptions). A wrong (id, code) pair on
// the patient's route costs the client one of MAX_CLIENT_FAILURES and the prescription id one of
// MAX_RX_FAILURES per window; past either, every attempt (a right one too) is RX_ACCESS_LIMITED until the window
// ends. The code itself is 256 random bits, so the bound is defence in depth: it keeps an attacker from even
// learning which ids exist, since an unknown id and a wrong code fail alike. Memory is bounded (oldest first).
export const MAX_CLIENT_FAILURES = 5;
export const MAX_RX_FAILURES = 20;
export const FAILURE_WINDOW_MS = 15 * 60 * 1000;
const MAX_KEYS = 100_000;

class Window {
  private readonly m = new Map<string, { n: number; until: number }>();
  constructor(
    private readonly max: number,
    private readonly ms: number,
  ) {}

  limited(key: string, now: number): number {
    const w = this.m.get(key);
    if (w === undefined || w.until <= now) return 0;
    return w.n >= this.max ? w.until - now : 0;
  }

  fail(key: string, now: number): void {
    let w = this.m.get(key);
    if (w === undefined || w.until <= now) {
      if (w !== undefined) this.m.delete(key);
      if (this.m.size >= MAX_KEYS) {
        const oldest = this.m.keys().next();
        if (oldest.done !== true) this.m.delete(oldest.value);
      }
      w = { n: 0, until: now + this.ms };
      this.m.set(key, w);
    }
    w.n++;
  }
}

export class AccessGuard {
  private readonly clients: Window;
  private readonly rxs: Window;

  constructor(o: { clientFailures?: number; rxFailures?: number; windowMs?: number } = {}) {
    const ms = o.windowMs ?? FAILURE_WINDOW_MS;
    this.clients = new Window(o.clientFailures ?? MAX_CLIENT_FAILURES, ms);
    this.rxs = new Window(o.rxFailures ?? MAX_RX_FAILURES, ms);
  }

  /** Milliseconds until this client may try this id again; 0 when it may now. */
  wait(client: string, id: string, now = Date.now()): number {
    return Math.max(this.clients.limited(client, now), this.rxs.limited(id, now));
  }

  fail(client: string, id: string, now = Date.now()): void {
    this.clients.fail(client, now);
    this.rxs.fail(id, now);
  }
}
