import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, assertPlainJson, canonicalJson } from '../../core/entry/jcs.js';
import { MedtrailError, type ErrorCode } from '../../core/errors.js';

const dir = fileURLToPath(new URL('../vectors/rfc8785/', import.meta.url));
const text = (name: string): string => readFileSync(dir + name, 'utf8');
const bytes = (name: string): Uint8Array => new Uint8Array(readFileSync(dir + name));

function codeOf(fn: () => unknown): { code: ErrorCode; path: string | undefined } {
  try {
    fn();
  } catch (e) {
    if (e instanceof MedtrailError) return { code: e.code, path: e.fields?.[0]?.path };
    throw e;
  }
  throw new Error('expected a MedtrailError, nothing was thrown');
}

describe('RFC 8785 examples (test/vectors/rfc8785)', () => {
  it('section 3.2.2 sample object', () => {
    expect(canonicalJson(JSON.parse(text('sample.input.json')))).toBe(text('sample.expected.json'));
  });

  it('section 3.2.3 property sorting by UTF-16 code units', () => {
    expect(canonicalJson(JSON.parse(text('sorting.input.json')))).toBe(text('sorting.expected.json'));
  });

  it('section 3.2.4 UTF-8 generation, no normalisation', () => {
    const out = new TextEncoder().encode(canonicalJson(JSON.parse(text('utf8.input.json'))));
    expect(out).toEqual(bytes('utf8.expected.json'));
    const hex = text('utf8.expected.hex').trim().split(/\s+/).join('');
    expect(Buffer.from(out).toString('hex')).toBe(hex);
  });

  const rows = text('numbers.csv')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split(','));
  it('has all of Appendix B', () => expect(rows.length).toBe(26));
  for (const [hex, expected] of rows) {
    it(`Appendix B: ${hex} -> ${expected}`, () => {
      const value = new DataView(new Uint8Array(Buffer.from(hex!, 'hex')).buffer).getFloat64(0, false);
      if (expected === 'ERROR') {
        expect(codeOf(() => canonicalJson(value)).code).toBe('BAD_INPUT');
        expect(codeOf(() => canonicalJson({ n: [value] })).path).toBe('n[0]');
      } else {
        expect(canonicalJson(value)).toBe(expected);
        expect(canonicalJson([value])).toBe(`[${expected}]`);
      }
    });
  }
});

describe('canonicalJson refuses what is not plain JSON', () => {
  const cases: [string, unknown, string][] = [
    ['undefined', undefined, ''],
    ['undefined member', { a: { b: undefined } }, 'a.b'],
    ['undefined in array', [1, undefined], '[1]'],
    ['function', { f: () => 1 }, 'f'],
    ['symbol', { s: Symbol('x') }, 's'],
    ['bigint', { n: 10n }, 'n'],
    ['NaN', { n: NaN }, 'n'],
    ['Infinity', [Infinity], '[0]'],
    ['-Infinity', { 'a b': -Infinity }, '["a b"]'],
    ['Date', { d: new Date(0) }, 'd'],
    ['Map', new Map(), ''],
    ['Uint8Array', { b: new Uint8Array(2) }, 'b'],
    ['class instance', { x: new (class X {})() }, 'x'],
    ['sparse array', { a: [1, , 3] }, 'a[1]'],
    ['symbol key', { [Symbol('k')]: 1 }, ''],
    ['lone high surrogate', { s: 'a\uD800b' }, 's'],
    ['lone low surrogate', ['\uDC00'], '[0]'],
    ['reversed pair', 'x\uDC00\uD800', ''],
    ['high surrogate at the end', 'abc\uDBFF', ''],
    ['lone surrogate in a key', { 'k\uD83D': 1 }, '["k\\ud83d"]'],
    ['object with toJSON', { t: { toJSON: () => 1 } }, 't.toJSON'],
  ];
  for (const [name, value, path] of cases) {
    it(name, () => {
      const r = codeOf(() => canonicalJson(value));
      expect(r.code).toBe('BAD_INPUT');
      expect(r.path).toBe(path);
    });
  }

  it('keeps well-formed surrogate pairs and escapes control characters as RFC 8785 says', () => {
    expect(canonicalJson({ e: '\uD83D\uDE00', c: '\u0000\u001f\u007f\b\t\n\f\r"\\' })).toBe(
      '{"c":"\\u0000\\u001f\u007f\\b\\t\\n\\f\\r\\"\\\\","e":"\uD83D\uDE00"}',
    );
  });

  it('serialises -0 as 0 and accepts null-prototype objects', () => {
    const o = Object.create(null) as Record<string, unknown>;
    o['b'] = -0;
    o['a'] = null;
    expect(canonicalJson(o)).toBe('{"a":null,"b":0}');
  });

  it('keeps an own "__proto__" member as data', () => {
    expect(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":2}'))).toBe('{"__proto__":{"x":1},"a":2}');
  });

  it(`allows ${MAX_JSON_DEPTH} levels of nesting and refuses ${MAX_JSON_DEPTH + 1} with TOO_LARGE`, () => {
    const nest = (n: number): unknown => (n === 0 ? 1 : n % 2 ? [nest(n - 1)] : { a: nest(n - 1) });
    expect(() => canonicalJson(nest(MAX_JSON_DEPTH))).not.toThrow();
    expect(codeOf(() => canonicalJson(nest(MAX_JSON_DEPTH + 1))).code).toBe('TOO_LARGE');
    expect(codeOf(() => assertPlainJson(nest(3), { maxDepth: 2 })).code).toBe('TOO_LARGE');
  });

  it('refuses a cycle with TOO_LARGE instead of overflowing the stack', () => {
    const a: unknown[] = [];
    a.push(a);
    expect(codeOf(() => canonicalJson(a)).code).toBe('TOO_LARGE');
  });
});

describe('properties', () => {
  it('parse(canonicalJson(x)) deep-equals x, and canonicalJson is idempotent over parse', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const c = canonicalJson(v);
        const back: unknown = JSON.parse(c);
        expect(back).toEqual(JSON.parse(JSON.stringify(v)));
        expect(canonicalJson(back)).toBe(c);
      }),
      { numRuns: 300 },
    );
  });

  it('key order of the input never changes the output', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })), (o) => {
        const reversed = Object.fromEntries(Object.entries(o).reverse());
        expect(canonicalJson(reversed)).toBe(canonicalJson(o));
      }),
    );
  });

  it('on any value, either a string or a coded error', () => {
    fc.assert(
      fc.property(fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true, withBoxedValues: true }), (v) => {
        try {
          expect(typeof canonicalJson(v)).toBe('string');
        } catch (e) {
          expect(e).toBeInstanceOf(MedtrailError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
