// core/map/pack-proof.ts, the c2sp.org/tlog-proof@v1 envelope: held to the specification's own example
// (test/vectors/c2sp/tlog-proof-example.txt), then every way a text can fail to be one. Pack proofs of a real
// ledger, and what tampering with them gets, are in test/cli/pack-proof.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toBase64 } from '../../core/bytes.js';
import { formatTlogProof, packProofFileName, parseTlogProof, TLOG_PROOF_HEADER } from '../../core/map/pack-proof.js';
import { expectCode } from '../support/expect-code.js';
import { REPO_ROOT } from '../support/tmp.js';

const EXAMPLE = readFileSync(join(REPO_ROOT, 'test/vectors/c2sp/tlog-proof-example.txt'), 'utf8');

describe('c2sp.org/tlog-proof@v1, the specification example', () => {
  it('reads its header, extra data, index, five inclusion hashes and the checkpoint verbatim', () => {
    const p = parseTlogProof(EXAMPLE);
    expect(toBase64(p.extra!)).toBe('YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ');
    expect(Buffer.from(p.extra!).subarray(0, 30).toString('latin1')).toBe('age-v1.2.1-darwin-arm64.tar.gz');
    expect(p.index).toBe(73894);
    expect(p.hashes.map(toBase64)).toEqual([
      'gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=',
      'B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=',
      'EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=',
      'RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=',
      'AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=',
    ]);
    expect(p.checkpoint.startsWith('example.com/fancylog\n109482\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n— example.com/fancylog ')).toBe(true);
    expect(p.checkpoint.split('\n— ')).toHaveLength(5);
  });

  it('writes the same bytes back', () => {
    expect(formatTlogProof(parseTlogProof(EXAMPLE))).toBe(EXAMPLE);
  });

  it('without extra data and without hashes (a one-leaf tree), as the format allows', () => {
    const text = `${TLOG_PROOF_HEADER}\nindex 0\n\nexample.com/log\n1\nsFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n— example.com/log AAAA\n`;
    const p = parseTlogProof(text);
    expect(p.extra).toBeUndefined();
    expect(p.index).toBe(0);
    expect(p.hashes).toEqual([]);
    expect(formatTlogProof(p)).toBe(text);
  });
});

describe('what is not a tlog-proof', () => {
  const lines = EXAMPLE.split('\n');
  const variant = (i: number, line: string | null): string => lines.flatMap((l, k) => (k === i ? (line === null ? [] : [line]) : [l])).join('\n');
  const cases: [string, string][] = [
    ['another header', variant(0, 'c2sp.org/tlog-proof@v2')],
    ['no header', variant(0, null)],
    ['extra that is not base64', variant(1, 'extra !!notbase64!!')],
    ['extra not canonical (padding bits set)', variant(1, 'extra YR==')],
    ['no index line', variant(2, null)],
    ['an index with a leading zero', variant(2, 'index 073894')],
    ['a negative index', variant(2, 'index -1')],
    ['an index that is no number', variant(2, 'index notanumber')],
    ['an index past 2^53', variant(2, 'index 99999999999999999')],
    ['a hash of 31 bytes', variant(3, toBase64(new Uint8Array(31)))],
    ['a hash in base64url', variant(4, 'B95lDa8R83lS8n0eG-o0buTxRKQTYFi__1U8anccXmA=')],
    ['no blank line before the checkpoint', variant(8, null)],
    ['nothing after the blank line', `${lines.slice(0, 9).join('\n')}\n`],
    ['a checkpoint not ending in a newline', EXAMPLE.slice(0, -1)],
  ];
  for (const [name, text] of cases) {
    it(`refuses ${name} (TLOG_PROOF_MALFORMED)`, () => {
      expectCode(() => parseTlogProof(text), 'TLOG_PROOF_MALFORMED');
    });
  }

  it('refuses a text over 1 MiB before reading it', () => {
    expectCode(() => parseTlogProof(`${TLOG_PROOF_HEADER}\nindex 0\n${'A'.repeat(1 << 20)}`), 'TLOG_PROOF_MALFORMED');
  });

  it('writes no proof with a bad index or a checkpoint without its newline', () => {
    expectCode(() => formatTlogProof({ extra: undefined, index: -1, hashes: [], checkpoint: 'x\n' }), 'TLOG_PROOF_MALFORMED');
    expectCode(() => formatTlogProof({ extra: undefined, index: 0, hashes: [], checkpoint: 'x' }), 'TLOG_PROOF_MALFORMED');
  });

  it('names files with the .tlog-proof extension the format asks for, and nothing a file system would read as a path', () => {
    expect(packProofFileName('04012345000019', 'A/B..C')).toBe('04012345000019-A_B..C.tlog-proof');
  });
});
