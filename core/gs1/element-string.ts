// GS1 element strings: what a 2D scanner sends for a GS1 DataMatrix, GS1 QR or GS1-128 code, and the
// human-readable bracket form printed under it. Supported AIs: (00) SSCC, (01) GTIN, (10) lot, (17) expiry,
// (21) serial, (414) GLN.
//
// Raw form: an optional symbology identifier (`]d2` DataMatrix, `]Q3` QR, `]C1` GS1-128; any `]`, letter,
// digit is accepted and reported), an optional leading GS standing for FNC1 in first position, then AI/value
// pairs. Fixed-length values end by length; variable-length ones (10, 21) end at a GS (0x1D) or at the end.
// A GS after a fixed-length value is tolerated (some encoders emit it; it cannot be part of a value).
//
// Bracket form: `(01)09521234543213(21)ABC`. `(` is in the AI 82 set, so a literal `(` inside a value is
// written `\(` (the escape GS1's own syntax engine uses); `\` itself is outside AI 82, so this is unambiguous.
//
// Lost separators are not repaired here (that is the reader's scanner-repair module), but whatever can be
// detected is refused with a code: a lot or serial over 20 characters, a value with characters outside AI 82,
// a fixed-length value that is short or not numeric.
//
// Errors: structure (GS1_BAD_ELEMENT_STRING, GS1_UNKNOWN_AI, GS1_DUPLICATE_AI) throws at once; bad values
// are collected and thrown together, coded as the first bad field, with every bad field in `fields`.
import { FieldErrors, MedtrailError, type ErrorCode } from '../errors.js';
import { fieldError } from '../field-error.js';
import { assertGln, normalizeGtin, normalizeSscc, validateLot, validateSerial } from './identifiers.js';
import { parseGs1Date } from './date.js';

export type Ai = '00' | '01' | '10' | '17' | '21' | '414';

export interface ElementAis {
  sscc?: string;
  gtin?: string;
  lot?: string;
  expiry?: string;
  serial?: string;
  gln?: string;
}

export interface ElementString {
  /** The symbology identifier that prefixed the data, e.g. `]d2`, if any. */
  symbology?: string;
  ais: ElementAis;
  /** The AIs in the order they appeared. */
  order: Ai[];
}

interface AiSpec {
  key: keyof ElementAis;
  /** Fixed length of the value, or undefined for variable length (max 20). */
  fixed?: number;
  code: ErrorCode;
}

const SPECS: Record<Ai, AiSpec> = {
  '00': { key: 'sscc', fixed: 18, code: 'GS1_BAD_SSCC' },
  '01': { key: 'gtin', fixed: 14, code: 'GS1_BAD_GTIN' },
  '17': { key: 'expiry', fixed: 6, code: 'GS1_BAD_DATE' },
  '414': { key: 'gln', fixed: 13, code: 'GS1_BAD_GLN' },
  '10': { key: 'lot', code: 'GS1_BAD_LOT' },
  '21': { key: 'serial', code: 'GS1_BAD_SERIAL' },
};

/** Fixed-length AIs first (they need no separator), then the variable-length ones. */
const CANONICAL_ORDER: readonly Ai[] = ['00', '01', '17', '414', '10', '21'];

const GS = '\x1d';
const MAX_INPUT = 4096;
const SYMBOLOGY_RE = /^\][A-Za-z][0-9]$/;

function bad(message: string): never {
  throw new MedtrailError('GS1_BAD_ELEMENT_STRING', message);
}

function isAi(s: string): s is Ai {
  return Object.prototype.hasOwnProperty.call(SPECS, s);
}

/** Validates one value; returns its normal form (GTIN-14). Throws a field error. */
function checkValue(ai: Ai, value: string, path: string): string {
  const spec = SPECS[ai];
  if (spec.fixed !== undefined && (value.length !== spec.fixed || !/^[0-9]*$/.test(value))) {
    fieldError(spec.code, path, `AI (${ai}) takes exactly ${spec.fixed} digits`);
  }
  switch (ai) {
    case '00':
      return normalizeSscc(value, path);
    case '01':
      return normalizeGtin(value, path);
    case '17':
      parseGs1Date(value, undefined, path);
      return value;
    case '414':
      assertGln(value, path);
      return value;
    case '10':
      return validateLot(value, path);
    case '21':
      return validateSerial(value, path);
  }
}

/** Splits raw (GS-separated) data into AI/value pairs without validating values. */
function splitRaw(s: string): Array<[Ai, string]> {
  const out: Array<[Ai, string]> = [];
  let pos = s.startsWith(GS) ? 1 : 0; // FNC1 in first position
  if (pos >= s.length) bad('no application identifiers');
  while (pos < s.length) {
    if (!/^[0-9]{2}/.test(s.slice(pos, pos + 2))) bad(`expected an application identifier at offset ${pos}`);
    const two = s.slice(pos, pos + 2);
    const ai: Ai | undefined = isAi(two) ? two : s.slice(pos, pos + 3) === '414' ? '414' : undefined;
    if (ai === undefined) throw new MedtrailError('GS1_UNKNOWN_AI', `application identifier at offset ${pos} not supported`);
    const start = pos + ai.length;
    const spec = SPECS[ai];
    if (spec.fixed !== undefined) {
      const value = s.slice(start, start + spec.fixed);
      // A short or non-numeric fixed-length value leaves no trustworthy place to resume: stop here.
      if (value.length !== spec.fixed || !/^[0-9]+$/.test(value)) {
        fieldError(spec.code, `ais.${spec.key}`, `AI (${ai}) takes exactly ${spec.fixed} digits`);
      }
      out.push([ai, value]);
      pos = start + spec.fixed;
      if (s[pos] === GS) pos++;
    } else {
      const gs = s.indexOf(GS, start);
      const end = gs === -1 ? s.length : gs;
      out.push([ai, s.slice(start, end)]);
      pos = gs === -1 ? s.length : gs + 1;
    }
  }
  return out;
}

/** Splits the bracket form `(AI)value...` into AI/value pairs, undoing `\(` escapes. */
function splitBrackets(s: string): Array<[Ai, string]> {
  const out: Array<[Ai, string]> = [];
  let pos = 0;
  while (pos < s.length) {
    if (s[pos] !== '(') bad(`expected "(" at offset ${pos}`);
    const close = s.indexOf(')', pos);
    if (close === -1) bad('unterminated "(AI)"');
    const ai = s.slice(pos + 1, close);
    if (!/^[0-9]{2,4}$/.test(ai)) bad(`"(${ai})" is not an application identifier`);
    if (!isAi(ai)) throw new MedtrailError('GS1_UNKNOWN_AI', `application identifier (${ai}) not supported`);
    let value = '';
    pos = close + 1;
    while (pos < s.length && s[pos] !== '(') {
      if (s[pos] === '\\' && s[pos + 1] === '(') {
        value += '(';
        pos += 2;
      } else {
        value += s[pos];
        pos++;
      }
    }
    out.push([ai, value]);
  }
  return out;
}

/** Parses a raw or bracketed GS1 element string; every value is validated (check digits, dates, AI 82). */
export function parseElementString(input: string): ElementString {
  if (typeof input !== 'string') bad('element string must be a string');
  if (input.length > MAX_INPUT) throw new MedtrailError('TOO_LARGE', `element string longer than ${MAX_INPUT}`);
  let s = input;
  let symbology: string | undefined;
  if (s.startsWith(']')) {
    if (!SYMBOLOGY_RE.test(s.slice(0, 3))) bad('malformed symbology identifier');
    symbology = s.slice(0, 3);
    s = s.slice(3);
  }
  if (s.length === 0) bad('no application identifiers');
  const pairs = s.startsWith('(') ? splitBrackets(s) : splitRaw(s);

  const ais: ElementAis = {};
  const order: Ai[] = [];
  const errors = new FieldErrors();
  for (const [ai, value] of pairs) {
    const { key } = SPECS[ai];
    if (order.includes(ai)) throw new MedtrailError('GS1_DUPLICATE_AI', `application identifier (${ai}) appears twice`);
    order.push(ai);
    try {
      ais[key] = checkValue(ai, value, `ais.${key}`);
    } catch (e) {
      if (!(e instanceof MedtrailError) || e.fields === undefined) throw e;
      for (const f of e.fields) errors.add(f.path, f.code, f.message);
    }
  }
  if (!errors.empty) errors.throwIfAny(errors.list[0]!.code, 'invalid element string value');
  return symbology === undefined ? { ais, order } : { symbology, ais, order };
}

export interface FormatOptions {
  style: 'gs' | 'brackets';
  /** A symbology identifier to prefix, e.g. `]d2`. */
  symbology?: string;
}

/**
 * Builds an element string from validated values, fixed-length AIs first so that only variable-length values
 * need a GS after them (none after the last). GTINs are written as GTIN-14.
 */
export function formatElementString(ais: ElementAis, options: FormatOptions = { style: 'gs' }): string {
  const { style, symbology } = options;
  if (symbology !== undefined && !SYMBOLOGY_RE.test(symbology)) fieldError('BAD_INPUT', 'symbology', 'not "]" + letter + digit');
  const errors = new FieldErrors();
  const parts: Array<[Ai, string]> = [];
  for (const ai of CANONICAL_ORDER) {
    const { key } = SPECS[ai];
    const value = ais[key];
    if (value === undefined) continue;
    try {
      // A GTIN-8/12/13 is accepted here and written as the GTIN-14 an element string requires.
      const v = ai === '01' ? normalizeGtin(value, `ais.${key}`) : value;
      parts.push([ai, checkValue(ai, v, `ais.${key}`)]);
    } catch (e) {
      if (!(e instanceof MedtrailError) || e.fields === undefined) throw e;
      for (const f of e.fields) errors.add(f.path, f.code, f.message);
    }
  }
  if (!errors.empty) errors.throwIfAny(errors.list[0]!.code, 'invalid element string value');
  if (parts.length === 0) throw new MedtrailError('GS1_MISSING_AI', 'no application identifier to format');

  let out = symbology ?? '';
  parts.forEach(([ai, value], i) => {
    if (style === 'brackets') {
      out += `(${ai})${value.replace(/\(/g, '\\(')}`;
    } else {
      out += ai + value;
      if (SPECS[ai].fixed === undefined && i < parts.length - 1) out += GS;
    }
  });
  return out;
}
