// RFC 8785 JSON Canonicalization Scheme (JCS): the one byte string that a JSON value signs as.
//
// The serialisation itself is the `canonicalize` package (keys sorted by UTF-16 code units, ECMAScript
// number-to-string, JSON.stringify's string escaping: exactly what RFC 8785 prescribes; the RFC's examples are
// held to it in test/core/jcs.test.ts). What the package does not do, and we must, is refuse anything that is
// not plain JSON before it is silently turned into something else: `undefined` members are dropped, `toJSON`
// is called, Dates become strings, sparse arrays get nulls, lone surrogates are escaped instead of refused
// (RFC 8785 requires an error), cycles overflow the stack. assertPlainJson() walks
// the value first and throws a coded error naming the path of the first offending value.
import canonicalizeCjs from 'canonicalize';
import { MedtrailError, type ErrorCode } from '../errors.js';

type Serialize = (input: unknown) => string | undefined;

// `canonicalize` is CommonJS with a `export default` declaration file. Node's ESM loader, esbuild and vitest
// all hand us module.exports (the function) as the default import; the typings claim a `.default` member.
// Accept either shape so that the Node server, the browser bundle and the tests run the same function.
const serialize: Serialize = (() => {
  const m = canonicalizeCjs as unknown as Serialize & { default?: Serialize };
  return typeof m.default === 'function' ? m.default : m;
})();

/** Nesting limit for arrays and objects: deeper input is refused (TOO_LARGE) rather than recursed into. */
export const MAX_JSON_DEPTH = 64;

// Any surrogate at all (a cheap first test: most strings have none), then a lone (unpaired) one: a high
// surrogate not followed by a low one, or a low one not preceded by a high one.
const SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Path of a member below `base`, in the FieldError style: `body.items[3].serial`, `body["a b"]`. */
export function memberPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  if (IDENTIFIER.test(key)) return base === '' ? key : `${base}.${key}`;
  return `${base}[${JSON.stringify(key)}]`;
}

function fail(code: ErrorCode, path: string, message: string): never {
  throw new MedtrailError(code, path === '' ? message : `${path}: ${message}`, { fields: [{ path, code, message }] });
}

export interface PlainJsonOptions {
  /** Path prefix for error reports (e.g. `body`). */
  path?: string;
  /** Nesting allowed below this value (default MAX_JSON_DEPTH). */
  maxDepth?: number;
}

/**
 * Asserts that `value` is plain JSON: null, booleans, finite numbers, strings without lone surrogates,
 * arrays without holes, and objects whose prototype is Object.prototype or null, with string keys only,
 * nested at most `maxDepth` deep. Throws BAD_INPUT (or TOO_LARGE for depth), with one FieldError.
 */
export function assertPlainJson(value: unknown, options: PlainJsonOptions = {}): void {
  const base = options.path ?? '';
  const trail: (string | number)[] = [];
  // The path is only spelled out on failure: building it for every member would double the cost of the walk.
  const failAt = (code: ErrorCode, message: string): never => fail(code, trail.reduce<string>(memberPath, base), message);
  const walk = (v: unknown, depthLeft: number): void => {
    switch (typeof v) {
      case 'string':
        if (SURROGATE.test(v) && LONE_SURROGATE.test(v)) failAt('BAD_INPUT', 'string contains a lone UTF-16 surrogate');
        return;
      case 'number':
        if (!Number.isFinite(v)) failAt('BAD_INPUT', `${String(v)} is not a JSON number`);
        return;
      case 'boolean':
        return;
      case 'object':
        break;
      default:
        failAt('BAD_INPUT', `a ${typeof v} is not JSON`);
    }
    if (v === null) return;
    if (depthLeft <= 0) failAt('TOO_LARGE', `nested deeper than ${MAX_JSON_DEPTH} levels`);
    if (Array.isArray(v)) {
      if (Object.getPrototypeOf(v) !== Array.prototype) failAt('BAD_INPUT', 'not a plain array');
      for (let i = 0; i < v.length; i++) {
        trail.push(i);
        if (!Object.prototype.hasOwnProperty.call(v, i)) failAt('BAD_INPUT', 'array hole');
        walk(v[i], depthLeft - 1);
        trail.pop();
      }
      return;
    }
    const proto: unknown = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) failAt('BAD_INPUT', 'not a plain object');
    if (Object.getOwnPropertySymbols(v).length > 0) failAt('BAD_INPUT', 'object has symbol keys');
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      trail.push(k);
      if (SURROGATE.test(k) && LONE_SURROGATE.test(k)) failAt('BAD_INPUT', 'key contains a lone UTF-16 surrogate');
      walk(o[k], depthLeft - 1);
      trail.pop();
    }
  };
  walk(value, options.maxDepth ?? MAX_JSON_DEPTH);
}

/** The RFC 8785 canonical JSON text of `value`. Anything that is not plain JSON: BAD_INPUT / TOO_LARGE. */
export function canonicalJson(value: unknown): string {
  assertPlainJson(value);
  return serializeChecked(value);
}

/** canonicalJson for a value already checked with assertPlainJson (skips the second walk on hot paths). */
export function serializeChecked(value: unknown): string {
  const out = serialize(value);
  // Only `undefined` (or a function) at the top level yields no text, and the walk refuses both.
  if (typeof out !== 'string') throw new MedtrailError('BAD_INPUT', 'value has no JSON form');
  return out;
}
