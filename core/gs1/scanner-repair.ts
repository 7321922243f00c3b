// Repairs of what USB 2D scanners acting as keyboards do to a pack's code (docs/architecture.md, Tag payload: the first
// cause of false alerts in the EU system). Pure: the reader daemon calls it on each stdin line, the tests on
// generated codes.
//
// The rule that keeps this safe: a line that already reads as a complete code is returned untouched (never
// "repaired"); a repair is only kept when exactly one reading of the line gives a valid code, and every
// repair is reported so the verdict can say what was done (SCANNER_REPAIRED). When two readings are valid,
// SCANNER_AMBIGUOUS lists them instead of guessing.
//
// What is repaired, in order:
//  1. A German (QWERTZ) keyboard layout under a scanner that sends US key codes: each US character arrives as
//     the character on the same key of the German layout (`:` -> `Ö`, `/` -> `-`, `-` -> `ß`, `?` -> `_`,
//     `=` -> `´`, `&` -> `/`, `_` -> `?`, `]` -> `+`, Y <-> Z, ...). Undone on the whole line when the line
//     does not read as it is and the undone line does (for URIs `httpsÖ--` is unmistakable).
//  2. CapsLock on: letters arrive with their case inverted. For a URI this shows as an upper-case scheme with
//     the signature parameter `S=` instead of `s=`; only then is the case inverted back.
//  3. A substitute typed for the GS separator (FNC1): `^`, `~`, `|`, `{GS}`, `<GS>`, `[GS]`, `\x1d`,
//     `\u001d`, `<0x1D>`; none of `^ ~ | { } [ ] \` is in the GS1 AI 82 set, so they cannot be data.
//  4. A lost GS: the element string is re-read trying every place a variable-length value (lot, serial) may
//     end before another AI; the readings that give a complete pack code (GTIN, expiry, lot, serial: the EU
//     FMD data elements) are kept.
// Not repaired (cannot be told locally): an all-lower-cased line, and a Y/Z swap or inverted case inside a
// plain element string (every reading is valid). For those, `alternatives` lists the other readings so a
// verifier may try them when the ledger does not know the first.
import { parseDigitalLink } from './digital-link.js';
import { parseElementString, type ElementString } from './element-string.js';
import { MedtrailError, isMedtrailError } from '../errors.js';

export type RepairKind = 'KEYBOARD_DE' | 'CAPS_LOCK' | 'GS_SUBSTITUTE' | 'GS_RESTORED' | 'AIM_PREFIX';

export interface ScanRepair {
  readonly kind: RepairKind;
  /** What was done, for a person. */
  readonly detail: string;
}

export interface RepairedScan {
  /** The code to verify: a Digital Link URI or a raw element string with real GS (0x1D) separators. */
  readonly text: string;
  readonly kind: 'uri' | 'element-string';
  /** Empty when the line was valid as scanned. */
  readonly repairs: readonly ScanRepair[];
  /** Other readings worth trying if the ledger does not know `text` (undetectable garbling). */
  readonly alternatives: readonly { readonly text: string; readonly repair: ScanRepair }[];
}

const GS = '\x1d';
const MAX_LINE = 4096;
const AIM = /^\][A-Za-z][0-9]/;

// The key a US layout types `us` on, read under a German QWERTZ layout (ISO 105-key), as [us, de] pairs.
const US_TO_DE: ReadonlyArray<readonly [string, string]> = [
  ['-', 'ß'], ['=', '´'], ['_', '?'], ['+', '`'], ['@', '"'], ['#', '§'], ['^', '&'], ['&', '/'], ['*', '('],
  ['(', ')'], [')', '='], ['y', 'z'], ['z', 'y'], ['Y', 'Z'], ['Z', 'Y'], ['[', 'ü'], [']', '+'], ['\\', '#'],
  ['{', 'Ü'], ['}', '*'], ['|', "'"], [';', 'ö'], ["'", 'ä'], [':', 'Ö'], ['"', 'Ä'], ['/', '-'], ['?', '_'],
  ['<', ';'], ['>', ':'], ['`', '^'], ['~', '°'],
];
const DE_TO_US = new Map(US_TO_DE.map(([us, de]) => [de, us]));

/** What a German layout makes of a line a US-layout scanner typed (for tests and the inverse). */
export function typeOnGermanLayout(line: string): string {
  const m = new Map(US_TO_DE);
  return Array.from(line, (c) => m.get(c) ?? c).join('');
}

function fromGermanLayout(line: string): string {
  return Array.from(line, (c) => DE_TO_US.get(c) ?? c).join('');
}

function invertCase(s: string): string {
  return Array.from(s, (c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');
}

const GS_SUBSTITUTES: ReadonlyArray<readonly [RegExp, string]> = [
  [/\{GS\}|<GS>|\[GS\]|<0x1D>|\\x1[dD]|\\u001[dD]/g, 'a written-out GS'],
  [/[\^~|]/g, 'a substitute character'],
];

/** A URI line is usable when it parses and names a serial. */
function uriOk(s: string): boolean {
  try {
    return parseDigitalLink(s).serial !== undefined;
  } catch {
    return false;
  }
}

function parseEs(s: string): ElementString | undefined {
  try {
    return parseElementString(s);
  } catch {
    return undefined;
  }
}

/** Complete: GTIN, expiry, lot and serial, as every EU FMD pack carries them. */
function complete(es: ElementString | undefined): boolean {
  const a = es?.ais;
  return a !== undefined && a.gtin !== undefined && a.serial !== undefined && a.lot !== undefined && a.expiry !== undefined;
}

const FIXED: Readonly<Record<string, number>> = { '01': 14, '17': 6, '00': 18 };
const VARIABLE = new Set(['10', '21']);
const MAX_READINGS = 32;

/**
 * Every way to read `body` (no symbology prefix) as AI/value pairs when a variable-length value may end
 * wherever another pack AI (01, 17, 10, 21) could start; answers each reading with GS separators restored.
 */
function readings(body: string): string[] {
  const out: string[] = [];
  const walk = (pos: number, acc: string): void => {
    if (out.length >= MAX_READINGS) return;
    if (pos === body.length) return void out.push(acc);
    const ai = body.slice(pos, pos + 2);
    const fixed = FIXED[ai];
    if (fixed !== undefined) {
      const v = body.slice(pos + 2, pos + 2 + fixed);
      if (v.length !== fixed || !/^[0-9]+$/.test(v)) return;
      let next = pos + 2 + fixed;
      if (body[next] === GS) next++;
      return walk(next, acc + ai + v);
    }
    if (!VARIABLE.has(ai)) return;
    const start = pos + 2;
    const gs = body.indexOf(GS, start);
    const limit = Math.min(start + 20, gs === -1 ? body.length : gs);
    for (let end = start + 1; end <= limit; end++) {
      const sep = end < body.length ? GS : '';
      if (end === body.length) walk(end, acc + ai + body.slice(start, end));
      else if (body[end] === GS) walk(end + 1, acc + ai + body.slice(start, end) + sep);
      else if (/^(01|17|10|21)/.test(body.slice(end))) walk(end, acc + ai + body.slice(start, end) + sep);
    }
  };
  walk(body.startsWith(GS) ? 1 : 0, '');
  return out;
}

function describeRestored(original: string, repaired: string): string {
  const n = repaired.split(GS).length - original.split(GS).length;
  const before = repaired
    .split(GS)
    .slice(1)
    .map((p) => `(${p.slice(0, 2)})`);
  return `${n} lost GS separator${n === 1 ? '' : 's'} restored (before ${before.join(', ')})`;
}

interface Step {
  text: string;
  repairs: ScanRepair[];
}

/** The element-string repairs (3, 4) on one candidate line; undefined when nothing valid comes out. */
function repairElementString(c: Step): Step | Step[] | undefined {
  let { text } = c;
  const repairs = [...c.repairs];
  let prefix = '';
  if (AIM.test(text)) {
    prefix = text.slice(0, 3);
    text = text.slice(3);
  }
  if (text.startsWith('(')) return parseEs(prefix + text) ? { text: prefix + text, repairs } : undefined;
  if (complete(parseEs(prefix + text))) return { text: prefix + text, repairs }; // valid as it is: never touched
  for (const [re, what] of GS_SUBSTITUTES) {
    const replaced = text.replace(re, GS);
    if (replaced !== text) {
      repairs.push({ kind: 'GS_SUBSTITUTE', detail: `${what} (${[...new Set(text.match(re) ?? [])].join(' ')}) read as the GS separator` });
      text = replaced;
    }
  }
  const es = parseEs(prefix + text);
  if (complete(es)) return { text: prefix + text, repairs };
  const found = [...new Set(readings(text).filter((r) => r !== text && complete(parseEs(r))))];
  if (found.length === 1) return { text: prefix + found[0]!, repairs: [...repairs, { kind: 'GS_RESTORED', detail: describeRestored(text, found[0]!) }] };
  if (found.length > 1) return found.map((f) => ({ text: prefix + f, repairs: [...repairs, { kind: 'GS_RESTORED', detail: describeRestored(text, f) }] }));
  // Valid but incomplete (a code without lot or expiry is still a pack code), with nothing better on offer.
  return es !== undefined ? { text: prefix + text, repairs } : undefined;
}

function show(s: string): string {
  return JSON.stringify(s.replace(/\x1d/g, '<GS>'));
}

/**
 * Reads one scanner line. Throws SCANNER_UNREADABLE (nothing valid even after repairs) or SCANNER_AMBIGUOUS
 * (several valid readings; `fields` lists them); TOO_LARGE for an absurd line. Never anything else.
 */
export function repairScan(line: string): RepairedScan {
  if (typeof line !== 'string') throw new MedtrailError('SCANNER_UNREADABLE', 'a scanner line must be text');
  if (line.length > MAX_LINE) throw new MedtrailError('TOO_LARGE', `scanner line longer than ${MAX_LINE}`);
  const raw = line.replace(/^[\r\n\uFEFF]+|[\r\n]+$/g, '');
  if (raw.trim() === '') throw new MedtrailError('SCANNER_UNREADABLE', 'empty scanner line');

  // URIs: a QR code's symbology prefix (]Q1, ]Q3 ...) is dropped first; it is not a repair.
  const uriCandidates: Step[] = [];
  const bare = AIM.test(raw) && /^\][A-Za-z][0-9]h/i.test(raw) ? raw.slice(3) : raw;
  uriCandidates.push({ text: bare, repairs: [] });
  const de = fromGermanLayout(raw);
  const deBare = /^[+\]][A-Za-z][0-9]h/i.test(de) ? de.slice(3) : de;
  uriCandidates.push({ text: deBare, repairs: [{ kind: 'KEYBOARD_DE', detail: 'characters typed under a German keyboard layout mapped back (e.g. Ö -> :, - -> /, ß -> -, Y <-> Z)' }] });
  if (/^(HTTPS?):/.test(bare) && /[?&]S=/.test(bare) && !/[?&]s=/.test(bare)) {
    uriCandidates.push({ text: invertCase(bare), repairs: [{ kind: 'CAPS_LOCK', detail: 'CapsLock was on: the case of every letter inverted back' }] });
  }
  // The CapsLock signature (HTTPS scheme, `S=` but no `s=`) wins over the line as it is: it reads as a URI too,
  // but one whose signature parameter nobody wrote.
  const caps = uriCandidates.find((c) => c.repairs[0]?.kind === 'CAPS_LOCK');
  if (caps !== undefined && uriOk(caps.text)) return { text: caps.text, kind: 'uri', repairs: caps.repairs, alternatives: [] };
  const first = uriCandidates[0]!;
  if (/^https?:\/\//i.test(first.text) && uriOk(first.text)) return { text: first.text, kind: 'uri', repairs: [], alternatives: [] };
  for (const c of uriCandidates.slice(1)) {
    if (/^https?:\/\//i.test(c.text) && uriOk(c.text)) return { text: c.text, kind: 'uri', repairs: c.repairs, alternatives: [] };
  }
  if (/^(\][A-Za-z][0-9])?https?:/i.test(raw) || /^(\][A-Za-z][0-9])?https?Ö/i.test(raw)) {
    try {
      parseDigitalLink(bare);
    } catch (e) {
      throw new MedtrailError('SCANNER_UNREADABLE', `not a pack's Digital Link URI: ${isMedtrailError(e) ? e.message : String(e)}`, { cause: e });
    }
    throw new MedtrailError('SCANNER_UNREADABLE', 'the URI names no serial (21)');
  }

  // Element strings: as scanned first, then under the German layout (whose AIM prefix starts with `+`).
  const esCandidates: Step[] = [{ text: raw, repairs: [] }];
  const deEs = fromGermanLayout(raw.replace(/^\+([A-Za-z][0-9])/, ']$1'));
  if (deEs !== raw) esCandidates.push({ text: deEs, repairs: [{ kind: 'KEYBOARD_DE', detail: 'characters typed under a German keyboard layout mapped back' }] });
  for (const c of esCandidates) {
    const r = repairElementString(c);
    if (r === undefined) continue;
    if (Array.isArray(r)) {
      throw new MedtrailError('SCANNER_AMBIGUOUS', `the line can be read ${r.length} ways: ${r.map((x) => show(x.text)).join(', ')}`, {
        fields: r.map((x, i) => ({ path: `readings[${i}]`, code: 'SCANNER_AMBIGUOUS' as const, message: show(x.text) })),
      });
    }
    const alternatives: { text: string; repair: ScanRepair }[] = [];
    const body = r.text;
    if (/[YZyz]/.test(body)) {
      const swapped = body.replace(/[YZyz]/g, (ch) => ({ Y: 'Z', Z: 'Y', y: 'z', z: 'y' })[ch]!);
      if (parseEs(swapped)) alternatives.push({ text: swapped, repair: { kind: 'KEYBOARD_DE', detail: 'Y and Z swapped back (German keyboard layout)' } });
    }
    const inverted = (AIM.test(body) ? body.slice(0, 3) : '') + invertCase(AIM.test(body) ? body.slice(3) : body);
    if (/[A-Za-z]/.test(AIM.test(body) ? body.slice(3) : body) && parseEs(inverted)) {
      alternatives.push({ text: inverted, repair: { kind: 'CAPS_LOCK', detail: 'letter case inverted back (CapsLock)' } });
    }
    return { text: r.text, kind: 'element-string', repairs: r.repairs, alternatives };
  }
  throw new MedtrailError('SCANNER_UNREADABLE', `neither a Digital Link URI nor a GS1 element string: ${show(raw.slice(0, 80))}`);
}
