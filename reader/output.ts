// What the daemon prints: one plain terminal line per verdict (a symbol, colour AND a word, so it reads on a
// monochrome terminal and for colour-blind staff), or with --json one JSON object per line:
//   {"verdict","source":"nfc"|"scanner"|"image","uri","reasons":[{code,message}],"layer":"offline"|"online",
//    "offline":bool,"provisional":bool,"queued"?:true,"product"?,"pack"?,"repairs"?,"originality"?,"uid"?,
//    "reader"?,"dispense"?,"timings":{"readMs"?,"verifyMs","totalMs"?}}
//   {"error":{code,message},"source",...}    a tap or line that could not be read (no verdict)
//   {"alert":code,"message",...}               a queued item the server refused (e.g. dispensed elsewhere)
//   {"info":...}                               sync and queue notes (only with --verbose); always: "ready", and
//                                              {"info":"pcsc","state":"lost"|"restored"} and
//                                              {"info":"reader","reader","attached"} after start-up
import type { Reason, Verdict } from '../core/verdict.js';

export type Source = 'nfc' | 'scanner' | 'image';

/** A verdict, or NOT_CHECKED: offline, with nothing cached to judge the pack by (never a verdict of fraud). */
export type LineVerdict = Verdict | 'NOT_CHECKED';

export interface VerdictLine {
  verdict: LineVerdict;
  /** With NOT_CHECKED: why the reader cannot check this pack offline yet (or the server's answer at all). */
  cannotCheck?: string;
  /** With --policy: the witnesses whose cosignatures made the quorum on the answer's checkpoint. */
  witnessed?: string[];
  source: Source;
  /** The code as verified (a URI, or an element string with GS shown as \u001d in JSON). */
  uri: string;
  reasons: Reason[];
  layer: 'offline' | 'online';
  /** True when the server was not (yet) heard: the verdict is the reader's own, as of the last sync. */
  offline: boolean;
  /** An offline verdict printed while the online one is still on its way. */
  provisional: boolean;
  queued?: boolean;
  product?: { gtin: string; name: string; strength?: string } | null;
  pack?: { serial: string; lot?: string; expiry?: string; expiryDate?: string; state?: string } | null;
  repairs?: { kind: string; detail: string }[];
  originality?: 'nxp' | 'not-nxp' | 'unknown';
  uid?: string;
  reader?: string;
  syncedAt?: string;
  /** The server that answered online when it was not the first one given (failover to a mirror). */
  via?: string;
  /** `since`: the dispense was already queued by an earlier scan of this pack (its scan time); none added. */
  dispense?: { index: number; leafHash: string } | { queued: true; since?: string } | { refused: string };
  timings: { readMs?: number; verifyMs: number; totalMs?: number };
}

export interface ErrorLine {
  error: { code: string; message: string };
  source: Source;
  uid?: string;
  reader?: string;
  input?: string;
}

export interface AlertLine {
  alert: string;
  message: string;
  item?: Record<string, unknown>;
}

const GREEN = '\x1b[32m';
const RED = '\x1b[31m';
const YELLOW = '\x1b[33m';
const RESET = '\x1b[0m';

function isoExpiry(yymmdd: string | undefined): string | undefined {
  if (yymmdd === undefined || !/^\d{6}$/.test(yymmdd)) return yymmdd;
  const dd = yymmdd.slice(4, 6);
  return `20${yymmdd.slice(0, 2)}-${yymmdd.slice(2, 4)}-${dd === '00' ? '00' : dd}`;
}

export class Printer {
  constructor(
    private readonly json: boolean,
    private readonly colour: boolean,
    private readonly write: (s: string) => void = (s) => process.stdout.write(s),
  ) {}

  private paint(c: string, s: string): string {
    return this.colour ? `${c}${s}${RESET}` : s;
  }

  verdict(v: VerdictLine): void {
    if (this.json) return this.write(JSON.stringify(v) + '\n');
    const ok = v.verdict === 'GENUINE';
    const unchecked = v.verdict === 'NOT_CHECKED';
    const head = unchecked
      ? this.paint(YELLOW, '? CANNOT CHECK OFFLINE YET')
      : this.paint(ok ? GREEN : v.provisional ? YELLOW : RED, `${ok ? '✔' : '✖'} ${v.verdict.padEnd(10)}`);
    const parts = [head];
    if (v.product?.name) parts.push(v.product.name);
    if (v.pack?.lot) parts.push(`lot ${v.pack.lot}`);
    const exp = v.pack?.expiryDate ?? isoExpiry(v.pack?.expiry);
    if (exp) parts.push(`exp ${exp}`);
    if (v.pack?.serial) parts.push(`sn ${v.pack.serial}`);
    const notes: string[] = [];
    const why = v.reasons.filter((r) => r.code !== 'PACK_ACTIVE');
    if (unchecked && v.cannotCheck !== undefined) notes.push(v.cannotCheck);
    else if (!ok && why[0]) notes.push(why[0].message);
    if (v.repairs?.length) notes.push(`scanner code repaired: ${v.repairs.map((r) => r.detail).join('; ')}`);
    if (v.originality === 'nxp') notes.push('chip: genuine NXP');
    else if (v.originality === 'not-nxp') notes.push('chip: NOT an NXP-signed chip');
    if (v.dispense && 'index' in v.dispense) notes.push(`dispensed (entry ${v.dispense.index})`);
    else if (v.dispense && 'queued' in v.dispense) {
      notes.push(v.dispense.since !== undefined ? `dispense already queued (scanned ${v.dispense.since}), not repeated` : 'dispense queued until the server is back');
    }
    else if (v.dispense && 'refused' in v.dispense) notes.push(`dispense refused: ${v.dispense.refused}`);
    if (v.offline && !unchecked) {
      notes.push(v.provisional ? 'offline check, server answer pending' : `OFFLINE: ${v.syncedAt ? `as of the last sync (${v.syncedAt})` : 'never synced'}${v.queued ? ', scan queued' : ''}`);
    } else if (v.offline && v.queued) notes.push('scan queued');
    else if (!v.offline && v.queued) notes.push('delivered from the offline queue');
    this.write(`${parts.join('  ')}${notes.length ? `  — ${notes.join(' · ')}` : ''}\n`);
  }

  error(e: ErrorLine): void {
    if (this.json) return this.write(JSON.stringify(e) + '\n');
    this.write(`${this.paint(RED, '✖ UNREADABLE')}  ${e.error.code}: ${e.error.message}\n`);
  }

  alert(a: AlertLine): void {
    if (this.json) return this.write(JSON.stringify(a) + '\n');
    this.write(`${this.paint(RED, '⚠ ALERT')}  ${a.alert}: ${a.message}\n`);
  }
}
