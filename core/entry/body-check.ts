// A small collector for validating entry bodies (core/entry/bodies.ts): each check records a field error under its
// path and returns undefined instead of throwing, so that one pass reports every bad field (every bad field at once).
// Signed bodies must already be canonical: a GTIN is checked to be GTIN-14, not padded into one.
import { fromBase64, toBase64 } from '../bytes.js';
import { checkedString, FieldErrors, isMedtrailError, type ErrorCode } from '../errors.js';
import { isValidCompanyPrefix, normalizeGtin, normalizeSscc, parseGs1Date, validateLot, validateSerial, assertGln } from '../gs1/identifiers.js';
import { memberPath } from './jcs.js';

/** A long list full of garbage yields this many field errors, not one per element. */
export const MAX_LIST_ERRORS = 20;

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class BodyCheck {
  readonly errs = new FieldErrors();
  // Paths already reported as missing: their (undefined) value is not reported a second time.
  private readonly missing = new Set<string>();

  add(path: string, code: ErrorCode, message: string): undefined {
    this.errs.add(path, code, message);
    return undefined;
  }

  /** Runs a core/gs1 assertion, turning its coded error into a field error. */
  private guard<T>(fn: () => T, path: string): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (!isMedtrailError(e)) throw e;
      for (const f of e.fields ?? [{ path, code: e.code, message: e.message }]) this.errs.add(f.path, f.code, f.message);
      return undefined;
    }
  }

  /**
   * An object with exactly these members (required ones present, nothing unknown). Returns the object even
   * when members are missing or unknown, so that the members it has are still checked.
   */
  object(v: unknown, path: string, required: readonly string[], optional: readonly string[] = []): Obj | undefined {
    if (!isObj(v)) {
      if (v === undefined && this.missing.has(path)) return undefined;
      return this.add(path, 'BAD_TYPE', 'must be a JSON object');
    }
    for (const k of required) {
      if (!Object.prototype.hasOwnProperty.call(v, k)) {
        this.add(memberPath(path, k), 'ENTRY_MALFORMED', 'missing');
        this.missing.add(memberPath(path, k));
      }
    }
    for (const k of Object.keys(v)) {
      if (!required.includes(k) && !optional.includes(k)) this.add(memberPath(path, k), 'ENTRY_MALFORMED', 'unknown member');
    }
    return v;
  }

  /** True when `v` is absent and its absence is already reported. */
  private skip(v: unknown, path: string): boolean {
    return v === undefined && this.missing.has(path);
  }

  array(v: unknown, path: string, min: number, max: number, tooLarge: ErrorCode = 'TOO_LARGE'): unknown[] | undefined {
    if (this.skip(v, path)) return undefined;
    if (!Array.isArray(v)) return this.add(path, 'BAD_TYPE', 'must be an array');
    if (v.length < min) return this.add(path, 'ENTRY_MALFORMED', `must hold at least ${min} element${min === 1 ? '' : 's'}`);
    if (v.length > max) return this.add(path, tooLarge, `holds ${v.length} elements, over the limit of ${max}`);
    return v;
  }

  text(v: unknown, path: string, max: number): string | undefined {
    if (this.skip(v, path)) return undefined;
    if (typeof v !== 'string') return this.add(path, 'BAD_TYPE', 'must be a string');
    if (v.trim() === '' || v !== v.trim()) return this.add(path, 'BAD_INPUT', 'must be non-empty, without leading or trailing spaces');
    if (v.length > max) return this.add(path, 'TOO_LARGE', `longer than ${max} characters`);
    // Control characters would make a name print as something else in a terminal or a label.
    if (/[\u0000-\u001f\u007f]/.test(v)) return this.add(path, 'BAD_INPUT', 'contains a control character');
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T | undefined {
    if (this.skip(v, path)) return undefined;
    const hit = values.find((x) => x === v);
    if (hit !== undefined) return hit;
    return this.add(path, 'BAD_INPUT', `must be one of ${values.join(', ')}`);
  }

  int(v: unknown, path: string, min: number, max: number): number | undefined {
    if (this.skip(v, path)) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) return this.add(path, 'BAD_TYPE', 'must be an integer');
    if (v < min || v > max) return this.add(path, 'BAD_INPUT', `must be from ${min} to ${max}`);
    return v;
  }

  /** A GTIN-14 with a valid check digit, exactly as it must appear in a signed body. */
  gtin14(v: unknown, path: string): string | undefined {
    if (this.skip(v, path)) return undefined;
    const g = this.guard(() => normalizeGtin(v, path), path);
    if (g === undefined) return undefined;
    if (g !== v) return this.add(path, 'GS1_BAD_GTIN', `must be the GTIN-14 form (${g})`);
    return g;
  }

  gln(v: unknown, path: string): string | undefined {
    if (this.skip(v, path)) return undefined;
    return this.guard(() => {
      assertGln(v, path);
      return v;
    }, path);
  }

  sscc(v: unknown, path: string): string | undefined {
    if (this.skip(v, path)) return undefined;
    return this.guard(() => normalizeSscc(v, path), path);
  }

  serial(v: unknown, path: string): string | undefined {
    if (this.skip(v, path)) return undefined;
    return this.guard(() => validateSerial(v, path), path);
  }

  lot(v: unknown, path: string): string | undefined {
    if (this.skip(v, path)) return undefined;
    return this.guard(() => validateLot(v, path), path);
  }

  /** YYMMDD that is a real calendar date (DD 00 allowed, as in AI 17). */
  gs1Date(v: unknown, path: string): string | undefined {
    if (this.skip(v, path)) return undefined;
    return this.guard(() => {
      parseGs1Date(v, undefined, path);
      return checkedString(v);
    }, path);
  }

  leafHash(v: unknown, path: string): string | undefined {
    if (this.skip(v, path)) return undefined;
    if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) return this.add(path, 'BAD_HEX', 'must be a leaf hash: 64 lowercase hex digits');
    return v;
  }

  /** Canonical standard base64 of exactly `len` bytes (one value, one string). */
  base64(v: unknown, path: string, len: number): string | undefined {
    if (this.skip(v, path)) return undefined;
    if (typeof v !== 'string') return this.add(path, 'BAD_TYPE', 'must be a string');
    let b: Uint8Array;
    try {
      b = fromBase64(v, len);
    } catch {
      return this.add(path, 'BAD_BASE64', `must be base64 of ${len} bytes`);
    }
    if (toBase64(b) !== v) return this.add(path, 'BAD_BASE64', 'must be canonical base64 (with padding)');
    return v;
  }

  /** A string matching `re`; `what` says what it must be. */
  pattern(v: unknown, path: string, re: RegExp, what: string): string | undefined {
    if (this.skip(v, path)) return undefined;
    if (typeof v !== 'string') return this.add(path, 'BAD_TYPE', 'must be a string');
    return re.test(v) ? v : this.add(path, 'BAD_INPUT', `must be ${what}`);
  }

  /** A calendar date YYYY-MM-DD that exists. */
  isoDate(v: unknown, path: string): string | undefined {
    if (this.skip(v, path)) return undefined;
    if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(v)) return this.add(path, 'BAD_INPUT', 'must be a date YYYY-MM-DD');
    const t = Date.parse(`${v}T00:00:00.000Z`);
    if (Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== v) return this.add(path, 'BAD_INPUT', 'is not a calendar date');
    return v;
  }

  companyPrefix(v: unknown, path: string): string | undefined {
    if (this.skip(v, path)) return undefined;
    return isValidCompanyPrefix(v) ? v : this.add(path, 'BAD_INPUT', 'must be a GS1 company prefix: 4 to 12 digits');
  }
}
