// How a person names packs on the command line and in files: `GTIN:SERIAL`, `GTIN:LOT`, or a pack's Digital
// Link URI (so the tags file written by `medtrail batch` can be fed straight to `ship --packs-file`).
import { readFileSync } from 'node:fs';
import { parseDigitalLink } from '../core/gs1/digital-link.js';
import type { PackRef } from '../core/entry/bodies.js';
import { MedtrailError } from '../core/errors.js';
import { isJsonObject } from '../core/api/wire.js';
import { normalizeGtin, validateLot, validateSerial } from '../core/gs1/identifiers.js';

export type { PackRef };

function usage(what: string, got: string, cause?: unknown): never {
  throw new MedtrailError('CLI_USAGE', `expected ${what}, got ${JSON.stringify(got.slice(0, 80))}`, cause === undefined ? undefined : { cause });
}

/** `GTIN:SERIAL` or a Digital Link URI with a serial (a JSON line from `batch --json` works too). */
export function parsePackRef(s: string): PackRef {
  const t = s.trim();
  if (t.startsWith('{')) {
    let o: unknown;
    try {
      o = JSON.parse(t);
    } catch (e) {
      usage('GTIN:SERIAL, a Digital Link URI or a JSON tag line', t, e);
    }
    const uri = isJsonObject(o) ? o['uri'] : undefined;
    if (typeof uri !== 'string') usage('a JSON tag line with "uri"', t);
    return parsePackRef(uri);
  }
  if (/^https?:\/\//i.test(t)) {
    const dl = parseDigitalLink(t);
    if (dl.serial === undefined) usage('a Digital Link URI with a serial (/21/)', t);
    return { gtin: dl.gtin, serial: dl.serial };
  }
  const i = t.indexOf(':');
  if (i <= 0) usage('GTIN:SERIAL', t);
  return { gtin: normalizeGtin(t.slice(0, i)), serial: validateSerial(t.slice(i + 1)) };
}

export function parseLotRef(s: string): { gtin: string; lot: string } {
  const i = s.indexOf(':');
  if (i <= 0) usage('GTIN:LOT', s);
  return { gtin: normalizeGtin(s.slice(0, i)), lot: validateLot(s.slice(i + 1)) };
}

/** Non-empty, non-comment lines of a file. */
/** The non-empty, non-comment lines of a file, each with its line number (for messages that name it). */
export function readNumberedLines(path: string): { line: number; text: string }[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read ${path}`, { cause: e });
  }
  return text
    .split(/\r?\n/)
    .map((l, i) => ({ line: i + 1, text: l.trim() }))
    .filter((l) => l.text !== '' && !l.text.startsWith('#'));
}

export function readLines(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read ${path}`, { cause: e });
  }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

export function readPackRefs(path: string): PackRef[] {
  return readLines(path).map(parsePackRef);
}

/** Commander collector for repeatable options. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
