import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { toBase64Url } from '../../core/bytes.js';
import { formatDigitalLink, parseDigitalLink, type DigitalLink } from '../../core/gs1/digital-link.js';
import { expectCode, throwsOnlyCoded } from '../support/expect-code.js';
import { gtin14, hostileString, x20, yymmdd } from '../support/gs1-arbitraries.js';

const G = '09521234543213';
const SIG = toBase64Url(new Uint8Array(64).map((_, i) => (i * 37) & 255)); // 86 characters
const PICC = '00112233445566778899AABBCCDDEEFF';
const CMAC = '0123456789abcdef';

describe('parseDigitalLink: GS1 examples (test/vectors/gs1/README.md)', () => {
  it('GTIN, lot, serial and expiry (GS1 Digital Link URI Syntax example)', () => {
    expect(parseDigitalLink('https://id.gs1.org/01/09520123456788/10/ABC1/21/12345?17=180426')).toEqual({
      resolver: 'https://id.gs1.org',
      gtin: '09520123456788',
      lot: 'ABC1',
      serial: '12345',
      expiry: '180426',
      query: {},
    });
  });
  it('a brand domain with a path of its own and a GTIN-13', () => {
    const dl = parseDigitalLink('https://brand.example.com/some-extra/pathinfo/01/9520123456788');
    expect(dl.resolver).toBe('https://brand.example.com/some-extra/pathinfo');
    expect(dl.gtin).toBe('09520123456788');
  });
  it('normalises GTIN-8, -12 and -13 to GTIN-14', () => {
    expect(parseDigitalLink('https://a/01/02345673').gtin).toBe('00000002345673');
    expect(parseDigitalLink('https://a/01/416000336108').gtin).toBe('00416000336108');
    expect(parseDigitalLink('https://a/01/2112345678900').gtin).toBe('02112345678900');
  });
  it('the consumer product variant and percent-escaped values', () => {
    const dl = parseDigitalLink('https://a/01/12312312312333/22/ABC%2d123?99=ABC&98=XYZ%2f987');
    expect(dl.cpv).toBe('ABC-123');
    expect(dl.query).toEqual({ '99': 'ABC', '98': 'XYZ/987' });
    expect(parseDigitalLink('https://id.gs1.org/01/09520123456788/22/2A').cpv).toBe('2A');
  });
  it('ignores a fragment', () => {
    const dl = parseDigitalLink('https://a/01/12312312312333/22/test/10/abc/21/xyz#fragment');
    expect(dl).toMatchObject({ cpv: 'test', lot: 'abc', serial: 'xyz' });
  });
  it('refuses a trailing slash, a non-http scheme and a missing path', () => {
    expectCode(() => parseDigitalLink('https://a/01/12312312312333/'), 'DL_BAD_URI');
    expectCode(() => parseDigitalLink('ftp://a/01/12312312312333'), 'DL_BAD_URI');
    expectCode(() => parseDigitalLink('http://a'), 'DL_BAD_URI');
    expectCode(() => parseDigitalLink('http://a/'), 'DL_BAD_URI');
  });
});

describe('parseDigitalLink: medtrail tags', () => {
  it('reads a signed tag with NTAG 424 SUN parameters', () => {
    const dl = parseDigitalLink(`https://id.example.org/01/${G}/10/L%2F1/21/A%2BB?17=261231&s=${SIG}&picc=${PICC}&cmac=${CMAC}&x=1`);
    expect(dl).toEqual({
      resolver: 'https://id.example.org',
      gtin: G,
      lot: 'L/1',
      serial: 'A+B',
      expiry: '261231',
      sig: SIG,
      sun: { picc: PICC, cmac: CMAC },
      query: { x: '1' },
    });
  });
  it('lets any qualifier be left out: /01/<GTIN>/21/<serial>', () => {
    const dl = parseDigitalLink(`https://id.example.org/01/${G}/21/S1`);
    expect(dl.lot).toBeUndefined();
    expect(dl.serial).toBe('S1');
  });
  it('finds the key from the right: a prefix or a value may be "01"', () => {
    const dl = parseDigitalLink(`https://example.com/01/x/01/${G}/10/01/21/01`);
    expect(dl).toMatchObject({ resolver: 'https://example.com/01/x', gtin: G, lot: '01', serial: '01' });
  });
  it('lower-cases scheme and host, keeps the port and the case of the prefix path', () => {
    expect(parseDigitalLink(`HTTPS://Example.COM:8443/DL/01/${G}`).resolver).toBe('https://example.com:8443/DL');
    expect(parseDigitalLink(`http://[::1]:8080/01/${G}`).resolver).toBe('http://[::1]:8080');
  });
  it('treats "+" in the query as a space (form encoding), but literally in the path', () => {
    const dl = parseDigitalLink(`https://a/01/${G}/21/A+B?note=a+b`);
    expect(dl.serial).toBe('A+B');
    expect(dl.query).toEqual({ note: 'a b' });
  });
  it('keeps "__proto__" and "constructor" as plain data', () => {
    const dl = parseDigitalLink(`https://a/01/${G}?__proto__=x&constructor=y`);
    expect(Object.keys(dl.query)).toEqual(['__proto__', 'constructor']);
    expect(dl.query['__proto__']).toBe('x');
    expect(formatDigitalLink(dl)).toBe(`https://a/01/${G}?__proto__=x&constructor=y`);
  });
  it('ignores empty query pieces and keeps a bare key as ""', () => {
    expect(parseDigitalLink(`https://a/01/${G}?&&flag&&`).query).toEqual({ flag: '' });
  });
});

describe('parseDigitalLink: failures one by one', () => {
  it.each([
    ['serial before lot', `https://a/01/${G}/21/S/10/L`],
    ['lot before variant', `https://a/01/${G}/10/L/22/V`],
    ['lot twice', `https://a/01/${G}/10/L/10/M`],
    ['serial twice', `https://a/01/${G}/21/S/21/T`],
    ['an unknown qualifier among known ones', `https://a/01/${G}/99/x/21/S`],
    ['a stray segment after the GTIN', `https://a/01/${G}/x/21/S`],
    ['malformed percent-encoding in the path', `https://a/01/${G}/21/%E0%A4%A`],
  ])('%s → DL_BAD_PATH', (_, uri) => {
    expectCode(() => parseDigitalLink(uri), 'DL_BAD_PATH');
  });
  it.each([
    ['empty', ''],
    ['no scheme', `a/01/${G}`],
    ['javascript:', `javascript:alert(1)//01/${G}`],
    ['mailto:', `mailto:a@b/01/${G}`],
    ['user-info', `https://id.example.org@evil.example/01/${G}`],
    ['no host', `https:///01/${G}`],
    ['a space in the host', `https://exa mple.com/01/${G}`],
    ['a bad port', `https://a:99999999/01/${G}`],
    ['another primary key (SSCC)', 'https://a/00/106141411234567897'],
    ['a key without value', 'https://a/01'],
    ['no key at the end of the path', `https://a/01/${G}/10/L/235/x`],
    ['backslashes in the prefix', `https://a/x\\y/01/${G}`],
  ])('%s → DL_BAD_URI', (_, uri) => {
    expectCode(() => parseDigitalLink(uri), 'DL_BAD_URI');
  });
  it.each([
    ['s not base64url', `https://a/01/${G}?s=ab+/`],
    ['empty s', `https://a/01/${G}?s=`],
    ['non-canonical s', `https://a/01/${G}?s=AB`],
    ['picc without cmac', `https://a/01/${G}?picc=${PICC}`],
    ['cmac without picc', `https://a/01/${G}?cmac=${CMAC}`],
    ['short picc', `https://a/01/${G}?picc=0011&cmac=${CMAC}`],
    ['cmac not hex', `https://a/01/${G}?picc=${PICC}&cmac=0123456789abcdeg`],
    ['a repeated parameter', `https://a/01/${G}?17=261231&17=261231`],
    ['an empty parameter name', `https://a/01/${G}?=x`],
    ['a key qualifier in the query', `https://a/01/${G}?21=S`],
    ['malformed percent-encoding in the query', `https://a/01/${G}?x=%ZZ`],
  ])('%s → DL_BAD_QUERY', (_, uri) => {
    expectCode(() => parseDigitalLink(uri), 'DL_BAD_QUERY');
  });
  it.each([
    ['GTIN check digit', `https://a/01/09521234543214`, 'GS1_BAD_CHECK_DIGIT', 'gtin'],
    ['GTIN length (11 digits)', `https://a/01/09521234543`, 'GS1_BAD_GTIN', 'gtin'],
    ['GTIN not digits', `https://a/01/0952123454321X`, 'GS1_BAD_GTIN', 'gtin'],
    ['lot too long', `https://a/01/${G}/10/${'L'.repeat(21)}`, 'GS1_BAD_LOT', 'lot'],
    ['serial with a space', `https://a/01/${G}/21/A%20B`, 'GS1_BAD_SERIAL', 'serial'],
    ['empty serial', `https://a/01/${G}/21/`, 'GS1_BAD_SERIAL', 'serial'],
    ['variant outside AI 82', `https://a/01/${G}/22/%C3%A9`, 'GS1_BAD_CPV', 'cpv'],
    ['expiry month 13', `https://a/01/${G}?17=261301`, 'GS1_BAD_DATE', 'expiry'],
  ] as const)('%s → %s', (_, uri, code, path) => {
    const e = expectCode(() => parseDigitalLink(uri), code);
    expect(e.fields?.[0]?.path).toBe(path);
  });
  it('a non-string → DL_BAD_URI; an oversized URI → TOO_LARGE', () => {
    expectCode(() => parseDigitalLink(42 as unknown as string), 'DL_BAD_URI');
    expectCode(() => parseDigitalLink(`https://a/01/${G}?x=${'a'.repeat(5000)}`), 'TOO_LARGE');
  });
});

describe('formatDigitalLink', () => {
  it('writes the tag URI: path 01/22/10/21, query 17, s, picc, cmac, then the rest sorted', () => {
    const uri = formatDigitalLink({
      resolver: 'https://id.example.org',
      gtin: '9521234543213',
      lot: 'L/1',
      serial: 'A+B',
      expiry: '261231',
      sig: SIG,
      sun: { picc: PICC, cmac: CMAC },
      query: { z: '1', a: 'x y' },
    });
    expect(uri).toBe(`https://id.example.org/01/${G}/10/L%2F1/21/A%2BB?17=261231&s=${SIG}&picc=${PICC}&cmac=${CMAC}&a=x%20y&z=1`);
  });
  it('leaves out what is absent', () => {
    expect(formatDigitalLink({ resolver: 'http://localhost:8080', gtin: G, serial: 'S', query: {} })).toBe(`http://localhost:8080/01/${G}/21/S`);
  });
  it('escapes every AI 82 character a path segment cannot carry as is', () => {
    const uri = formatDigitalLink({ resolver: 'https://a', gtin: G, serial: `!"%&'()*+,/:;<=>?`, query: {} });
    expect(uri).toBe(`https://a/01/${G}/21/%21%22%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3C%3D%3E%3F`);
  });
  it.each([
    ['a trailing slash', 'https://a/'],
    ['ftp', 'ftp://a'],
    ['a query', 'https://a?x=1'],
    ['user-info', 'https://u@a'],
    ['no host', 'https://'],
  ])('refuses a resolver with %s (DL_BAD_URI)', (_, resolver) => {
    expectCode(() => formatDigitalLink({ resolver, gtin: G, query: {} }), 'DL_BAD_URI');
  });
  it('refuses bad values with their own codes', () => {
    const base = { resolver: 'https://a', gtin: G, query: {} };
    expectCode(() => formatDigitalLink({ ...base, gtin: '09521234543214' }), 'GS1_BAD_CHECK_DIGIT');
    expectCode(() => formatDigitalLink({ ...base, serial: '' }), 'GS1_BAD_SERIAL');
    expectCode(() => formatDigitalLink({ ...base, expiry: '260230' }), 'GS1_BAD_DATE');
    expectCode(() => formatDigitalLink({ ...base, sig: 'a/b' }), 'DL_BAD_QUERY');
    expectCode(() => formatDigitalLink({ ...base, sun: { picc: 'zz', cmac: CMAC } }), 'DL_BAD_QUERY');
    expectCode(() => formatDigitalLink({ ...base, query: { '17': '261231' } }), 'DL_BAD_QUERY');
    expectCode(() => formatDigitalLink({ ...base, query: { x: '\ud800' } }), 'DL_BAD_QUERY');
  });
});

const host = fc
  .array(fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/), { minLength: 1, maxLength: 3 })
  .map((labels) => labels.join('.'));
const PCHAR = "ABCXYZabcxyz0123456789-._~!$&'()*+,;=:@";
const resolver = fc
  .tuple(
    fc.constantFrom('http', 'https'),
    host,
    fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    fc.array(fc.string({ unit: fc.constantFrom(...PCHAR), minLength: 1, maxLength: 6 }), { maxLength: 3 }),
  )
  .map(([scheme, h, port, segs]) => `${scheme}://${h}${port === undefined ? '' : `:${port}`}${segs.map((s) => `/${s}`).join('')}`);
const RESERVED = new Set(['17', 's', 'picc', 'cmac', '01', '22', '10', '21']);
const dlArb: fc.Arbitrary<DigitalLink> = fc
  .record(
    {
      resolver,
      gtin: gtin14,
      cpv: x20,
      lot: x20,
      serial: x20,
      expiry: yymmdd,
      sig: fc.uint8Array({ minLength: 1, maxLength: 64 }).map(toBase64Url),
      sun: fc.record({ picc: fc.stringMatching(/^[0-9A-Fa-f]{32}$/), cmac: fc.stringMatching(/^[0-9A-Fa-f]{16}$/) }),
      query: fc.dictionary(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 6 }).filter((k) => !RESERVED.has(k)),
        fc.string({ unit: 'grapheme', maxLength: 10 }),
        { maxKeys: 4 },
      ),
    },
    { requiredKeys: ['resolver', 'gtin', 'query'] },
  );

describe('properties', () => {
  it('parse ∘ format is the identity', () => {
    fc.assert(
      fc.property(dlArb, (dl) => {
        expect(parseDigitalLink(formatDigitalLink(dl))).toEqual(dl);
      }),
      { numRuns: 1000 },
    );
  });
  it('format ∘ parse is the identity on formatted URIs', () => {
    fc.assert(
      fc.property(dlArb, (dl) => {
        const uri = formatDigitalLink(dl);
        expect(formatDigitalLink(parseDigitalLink(uri))).toBe(uri);
      }),
      { numRuns: 300 },
    );
  });
  it('hostile strings only ever produce MedtrailError', () => {
    fc.assert(fc.property(hostileString, (s) => throwsOnlyCoded(() => parseDigitalLink(s))), { numRuns: 3000 });
  });
  it('near-valid URIs (known pieces spliced together) only produce MedtrailError', () => {
    const piece = fc.oneof(
      fc.constantFrom('/01/', '/22/', '/10/', '/21/', '/', G, '9520123456788', '%', '%2F', '%C3', '?', '&', '=', '#', '17=', 's=', 'picc=', 'cmac=', '@', ':', '[', ']'),
      x20,
      hostileString,
    );
    fc.assert(
      fc.property(fc.constantFrom('https://a', 'http://x.y:80/p', 'HTTPS://', ''), fc.array(piece, { maxLength: 10 }), (start, parts) =>
        throwsOnlyCoded(() => parseDigitalLink(start + parts.join(''))),
      ),
      { numRuns: 3000 },
    );
  });
});
