// Runs the real NFC path for a test file: pcscd (shared), one virtual reader taken for this file, and a
// watchNfc() restricted to that reader, whose events are queued so a test can tap a virtual card and await
// what the daemon would see.
import type { Reader } from 'nfc-pcsc';
import { watchNfc, type NfcEvent, type NfcWatch } from '../../reader/nfc.js';
import { VIRTUAL_READERS, acquireVirtualReader, ensurePcscd } from './pcscd.js';
import type { VirtualNtag } from './virtual-ntag.js';

export type TagResult = Extract<NfcEvent, { kind: 'tag' | 'tag-error' }>;

export class NfcHarness {
  readonly readerName: string;
  private readonly events: { e: NfcEvent; r: Reader | undefined }[] = [];
  private waiters: (() => void)[] = [];
  private watch: NfcWatch | undefined;
  private release: (() => void) | undefined;
  private readonly onField = new Set<VirtualNtag>();
  private cardOnReader = false;

  private constructor(readonly index: 0 | 1) {
    this.readerName = VIRTUAL_READERS[index];
  }

  static async start(index: 0 | 1): Promise<NfcHarness> {
    const h = new NfcHarness(index);
    // The lock first: a file that restarts pcscd holds every reader, and must not see pcscd come back from
    // this file's ensurePcscd meanwhile.
    h.release = await acquireVirtualReader(index);
    await ensurePcscd();
    h.watch = watchNfc(
      (e, r) => {
        if (e.kind === 'card-off') h.cardOnReader = false;
        if (e.kind === 'tag' || e.kind === 'tag-error') h.cardOnReader = true;
        h.events.push({ e, r });
        for (const w of h.waiters.splice(0)) w();
      },
      { readers: (n) => n === h.readerName },
    );
    await h.next((e) => e.kind === 'reader' && e.attached, 10_000);
    return h;
  }

  /** Waits for (and consumes) the first queued event matching `pred`. */
  async next(pred: (e: NfcEvent) => boolean, timeoutMs = 5000): Promise<{ e: NfcEvent; r: Reader | undefined }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.events.findIndex((x) => pred(x.e));
      if (i >= 0) return this.events.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching NFC event in ${timeoutMs} ms; queued: ${JSON.stringify(this.events.map((x) => x.e))}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  /** Taps `card`, waits for its tag / tag-error event (and the reader handle, still connected). */
  async tap(card: VirtualNtag): Promise<{ result: TagResult; reader: Reader | undefined; tapMs: number }> {
    // pcscd must have seen the previous card go, or this one would not be a new card to it.
    await this.until(() => !this.cardOnReader);
    this.events.splice(0);
    this.onField.add(card);
    const t0 = performance.now();
    await card.tap(this.index);
    const { e, r } = await this.next((e) => e.kind === 'tag' || e.kind === 'tag-error');
    return { result: e as TagResult, reader: r, tapMs: performance.now() - t0 };
  }

  /** Takes the card away and waits until the reader has noticed, so the next tap is a new card. */
  async lift(card: VirtualNtag): Promise<void> {
    this.onField.delete(card);
    await card.remove();
    await this.until(() => !this.cardOnReader);
  }

  /** Waits until `cond` holds, re-checked on every event. */
  private async until(cond: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('the virtual reader still reports a card');
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  /** Lifts every card still on the reader (afterEach: a failed test must not leave its card there). */
  async liftAll(): Promise<void> {
    for (const c of [...this.onField]) await this.lift(c).catch(() => {});
  }

  close(): void {
    this.watch?.close();
    this.release?.();
  }
}
