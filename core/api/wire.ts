// Reading what comes over the wire (docs/architecture.md, The wire): a JSON answer is input like any other, so
// each member is checked for its type as it is read, every bad member is recorded under its path, and one
// coded error (BAD_ANSWER) lists them all at the end. Members this build does not know are ignored: a newer
// server may add members without breaking older clients. Pure: runs in Node and in the browser.
import { FieldErrors, MedtrailError, type ErrorCode } from '../errors.js';

export type Json = Record<string, unknown>;

export function isJsonObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON text parsed, or a coded error naming what it was meant to be. */
export function parseJsonText(text: string, what: string, code: ErrorCode = 'BAD_JSON'): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new MedtrailError(code, `${what} is not JSON`, { cause: e });
  }
}

export class WireReader {
  readonly errs = new FieldErrors();

  constructor(private readonly what: string) {}

  private bad<T>(path: string, message: string): T | undefined {
    this.errs.add(path, 'BAD_ANSWER', message);
    return undefined;
  }

  obj(v: unknown, path: string): Json | undefined {
    return isJsonObject(v) ? v : this.bad(path, 'must be an object');
  }

  str(o: Json | undefined, key: string, path: string): string | undefined {
    if (o === undefined) return undefined;
    const v = o[key];
    return typeof v === 'string' ? v : this.bad(`${path}.${key}`, 'must be a string');
  }

  /** A string, or null when the member is null or absent. */
  strOrNull(o: Json | undefined, key: string, path: string): string | null {
    const v = o?.[key];
    if (v === undefined || v === null) return null;
    return typeof v === 'string' ? v : (this.bad(`${path}.${key}`, 'must be a string or null') ?? null);
  }

  /** A string when present, undefined when absent. */
  optStr(o: Json | undefined, key: string, path: string): string | undefined {
    const v = o?.[key];
    if (v === undefined) return undefined;
    return typeof v === 'string' ? v : this.bad(`${path}.${key}`, 'must be a string');
  }

  int(o: Json | undefined, key: string, path: string): number | undefined {
    if (o === undefined) return undefined;
    const v = o[key];
    return typeof v === 'number' && Number.isSafeInteger(v) ? v : this.bad(`${path}.${key}`, 'must be an integer');
  }

  optInt(o: Json | undefined, key: string, path: string): number | undefined {
    return o?.[key] === undefined ? undefined : this.int(o, key, path);
  }

  bool(o: Json | undefined, key: string, path: string): boolean | undefined {
    if (o === undefined) return undefined;
    const v = o[key];
    return typeof v === 'boolean' ? v : this.bad(`${path}.${key}`, 'must be true or false');
  }

  oneOf<T extends string>(o: Json | undefined, key: string, path: string, values: readonly T[]): T | undefined {
    if (o === undefined) return undefined;
    const v = o[key];
    const hit = values.find((x) => x === v);
    return hit ?? this.bad(`${path}.${key}`, `must be one of ${values.join(', ')}`);
  }

  /** An array member, each element read by `each` (which records its own errors). */
  list<T>(o: Json | undefined, key: string, path: string, each: (v: unknown, path: string) => T | undefined): T[] {
    if (o === undefined) return [];
    const v = o[key];
    if (!Array.isArray(v)) return this.bad(`${path}.${key}`, 'must be an array') ?? [];
    const out: T[] = [];
    v.forEach((x, i) => {
      const r = each(x, `${path}.${key}[${i}]`);
      if (r !== undefined) out.push(r);
    });
    return out;
  }

  strings(o: Json | undefined, key: string, path: string): string[] {
    return this.list(o, key, path, (v, p) => (typeof v === 'string' ? v : this.bad(p, 'must be a string')));
  }

  /** Throws BAD_ANSWER with every bad member when any was recorded; returns `value` otherwise. */
  done<T>(value: T | undefined): T {
    this.errs.throwIfAny('BAD_ANSWER', `${this.what} does not have the documented shape`);
    if (value === undefined) throw new MedtrailError('BAD_ANSWER', `${this.what} does not have the documented shape`);
    return value;
  }
}
