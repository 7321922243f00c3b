// core/log/policy.ts: c2sp.org/tlog-policy parsing (the spec's example policy with its keys filled in, every
// rule of the spec as a refused line) and the quorum check on real signed and cosigned checkpoints.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utf8 } from '../../core/bytes.js';
import { publicKeyFromSeed } from '../../core/crypto/ed25519.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { sha256 } from '../../core/crypto/hash.js';
import { checkpointBody, signCheckpoint, verifierKey, type Checkpoint } from '../../core/log/checkpoint.js';
import { addSignatureLines, cosignatureLine, cosignerVerifierKey } from '../../core/log/cosignature.js';
import { checkQuorum, describeQuorum, parsePolicy, requireQuorum } from '../../core/log/policy.js';
import { expectCode, throwsOnlyCoded } from '../support/expect-code.js';

installNodeCrypto();

const here = path.dirname(fileURLToPath(import.meta.url));
const SPEC = (JSON.parse(readFileSync(path.resolve(here, '../vectors/c2sp/witness.json'), 'utf8')) as { policySpec: { policy: string } }).policySpec.policy;

const seedOf = (s: string): Uint8Array => sha256(utf8(s));
const ORIGIN = 'medtrail.example/log';
const LOG_SEED = seedOf('log');
const LOG_VKEY = verifierKey(ORIGIN, publicKeyFromSeed(LOG_SEED));
const W = ['X1', 'X2', 'X3', 'Y1', 'Y2', 'Y3'].map((n) => ({ policyName: n, name: `${n.toLowerCase()}.witness.example`, seed: seedOf(n) }));
const wvkey = (i: number): string => cosignerVerifierKey(W[i]!.name, publicKeyFromSeed(W[i]!.seed));

/** The spec's example with its `<vkey>`s filled in, in order: the log, then X1..X3, Y1..Y3. */
function specPolicy(): string {
  const keys = [LOG_VKEY, ...W.map((_, i) => wvkey(i))];
  let i = 0;
  return SPEC.replace(/<vkey>/g, () => keys[i++]!);
}

const cp: Checkpoint = { origin: ORIGIN, size: 1000, root: sha256(utf8('root')), extensions: [] };
const NOTE = signCheckpoint(cp, ORIGIN, LOG_SEED);

function cosigned(note: string, witnesses: number[], t = 1_700_000_000): string {
  let out = note;
  for (const i of witnesses) out = addSignatureLines(out, cosignatureLine(checkpointBody(cp), W[i]!.name, W[i]!.seed, t));
  return out;
}

describe('parsing', () => {
  it('reads the spec’s example policy (two levels of groups)', () => {
    const p = parsePolicy(specPolicy());
    expect(p.logs.map((l) => l.name)).toEqual([ORIGIN]);
    expect(p.witnesses.map((w) => w.name)).toEqual(['X1', 'X2', 'X3', 'Y1', 'Y2', 'Y3']);
    expect(p.groups).toEqual([
      { name: 'X-witnesses', threshold: 2, members: ['X1', 'X2', 'X3'] },
      { name: 'Y-witnesses', threshold: 1, members: ['Y1', 'Y2', 'Y3'] },
      { name: 'X-and-Y', threshold: 2, members: ['X-witnesses', 'Y-witnesses'] },
    ]);
    expect(p.quorum).toBe('X-and-Y');
    expect(describeQuorum(p)).toBe('all of (2 of (X1, X2, X3), 1 of (Y1, Y2, Y3))');
  });

  it('takes comments, blank lines, tabs, URLs, a last line without newline, keywords as names, opaque non-ASCII', () => {
    const p = parsePolicy(`\n# comment\n\t # another\n\twitness \t w1  ${wvkey(0)}   https://w1.example/  \nwitness all ${wvkey(1)}\nwitness Kelvin\u212a ${wvkey(2)}\ngroup g 2 w1 all Kelvin\u212a\n  quorum\tg`);
    expect(p.witnesses.map((w) => [w.name, w.url])).toEqual([
      ['w1', 'https://w1.example/'],
      ['all', undefined],
      ['Kelvin\u212a', undefined],
    ]);
    expect(parsePolicy('quorum none\n')).toEqual({ logs: [], witnesses: [], groups: [], quorum: 'none' });
  });

  const w1 = wvkey(0);
  const w2 = wvkey(1);
  const refused: [string, string][] = [
    ['a control octet', 'quorum none\n\u0001'],
    ['a carriage return', 'quorum none\r\n'],
    ['DEL', 'quorum none\n#\u007f'],
    ['an unknown keyword', 'quibble w1\nquorum none\n'],
    ['an inline comment (extra words)', `witness w1 ${w1} https://w1.example/ # comment\nquorum w1\n`],
    ['a log without key', 'log\nquorum none\n'],
    ['a log with a bad key', 'log garbage\nquorum none\n'],
    ['a log with a cosigner (0x04) key', `log ${w1}\nquorum none\n`],
    ['a duplicate log key', `log ${LOG_VKEY}\nlog ${LOG_VKEY} https://log.example/\nquorum none\n`],
    ['a witness without key', 'witness w1\nquorum none\n'],
    ['a witness with a log (0x01) key', `witness w1 ${LOG_VKEY}\nquorum w1\n`],
    ['a witness named none', `witness none ${w1}\nquorum none\n`],
    ['a duplicate witness name', `witness w1 ${w1}\nwitness w1 ${w2}\nquorum w1\n`],
    ['a duplicate witness key under another name', `witness w1 ${w1}\nwitness w2 ${w1}\nquorum w1\n`],
    ['a group named like a witness', `witness w1 ${w1}\ngroup w1 any w1\nquorum w1\n`],
    ['a group without members', `witness w1 ${w1}\ngroup g1 1\nquorum w1\n`],
    ['a group named none', `witness w1 ${w1}\ngroup none any w1\nquorum none\n`],
    ['threshold 0', `witness w1 ${w1}\ngroup g1 0 w1\nquorum g1\n`],
    ['threshold -1', `witness w1 ${w1}\ngroup g1 -1 w1\nquorum g1\n`],
    ['threshold 01', `witness w1 ${w1}\ngroup g1 01 w1\nquorum g1\n`],
    ['threshold above the members', `witness w1 ${w1}\ngroup g1 2 w1\nquorum g1\n`],
    ['an unknown member', `witness w1 ${w1}\ngroup g1 any w2\nquorum g1\n`],
    ['a member defined later', `group g1 any w1\nwitness w1 ${w1}\nquorum g1\n`],
    ['none as a member', `witness w1 ${w1}\ngroup g1 any none w1\nquorum g1\n`],
    ['a member twice in a group', `witness w1 ${w1}\ngroup g1 all w1 w1\nquorum g1\n`],
    ['a member in two groups', `witness w1 ${w1}\nwitness w2 ${w2}\ngroup g1 any w1 w2\ngroup g2 any w1\nquorum g1\n`],
    ['no quorum', `witness w1 ${w1}\n`],
    ['two quorums', `witness w1 ${w1}\nquorum w1\nquorum w1\n`],
    ['an unknown quorum', 'quorum unknown\n'],
    ['a quorum before its definition', `quorum w1\nwitness w1 ${w1}\n`],
    ['a quorum without name', 'quorum\n'],
  ];
  for (const [what, text] of refused) {
    it(`refuses ${what}`, () => {
      const e = expectCode(() => parsePolicy(text), 'POLICY_MALFORMED');
      expect(e.fields?.length).toBeGreaterThan(0);
    });
  }

  it('lists every bad line at once, by line number', () => {
    const e = expectCode(() => parsePolicy('quibble\nwitness w1\nquorum none\n'), 'POLICY_MALFORMED');
    expect(e.fields?.map((f) => f.path)).toEqual(['line 1', 'line 2']);
  });

  it('hostile text only ever gives coded errors', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => throwsOnlyCoded(() => parsePolicy(s))), { numRuns: 500 });
  });
});

describe('quorum', () => {
  const p = parsePolicy(specPolicy());

  it('holds with 2 of X and 1 of Y, not with less, whatever the order of lines', () => {
    const cases: [number[], boolean][] = [
      [[0, 1, 3], true],
      [[3, 1, 0], true],
      [[0, 1, 2, 3, 4, 5], true],
      [[0, 3], false],
      [[0, 1], false],
      [[3, 4, 5], false],
      [[], false],
    ];
    for (const [ws, ok] of cases) {
      const r = checkQuorum(p, cosigned(NOTE, ws));
      expect(r.satisfied).toBe(ok);
      expect(r.witnessed).toEqual(W.filter((_, i) => ws.includes(i)).map((w) => w.policyName));
      expect(r.checkpoint).toEqual(cp);
      expect(r.log).toBe(LOG_VKEY);
    }
    const e = expectCode(() => requireQuorum(p, cosigned(NOTE, [0, 3])), 'CHECKPOINT_QUORUM');
    expect(e.message).toContain('X1, Y1');
    expect(e.message).toContain('2 of (X1, X2, X3)');
  });

  it('a client with a quorum of two refuses a checkpoint carrying one witness', () => {
    const two = parsePolicy(`log ${LOG_VKEY}\nwitness a ${wvkey(0)}\nwitness b ${wvkey(1)}\ngroup both all a b\nquorum both\n`);
    expectCode(() => requireQuorum(two, cosigned(NOTE, [0])), 'CHECKPOINT_QUORUM');
    expect(requireQuorum(two, cosigned(NOTE, [0, 1])).witnessed).toEqual(['a', 'b']);
  });

  it('needs a listed log’s valid signature; ignores unknown cosigners; a known cosigner’s bad line spoils the note', () => {
    const other = signCheckpoint({ ...cp, origin: 'other.example/log' }, 'other.example/log', LOG_SEED);
    expectCode(() => checkQuorum(p, other), 'CHECKPOINT_UNKNOWN_KEY');
    const byStranger = signCheckpoint(cp, ORIGIN, seedOf('stranger'));
    expectCode(() => checkQuorum(p, byStranger), 'CHECKPOINT_UNKNOWN_KEY');
    expectCode(() => checkQuorum(p, cosigned(NOTE, [0, 1, 3]).replace('\n1000\n', '\n1001\n')), 'CHECKPOINT_BAD_SIGNATURE');
    const stranger = addSignatureLines(NOTE, cosignatureLine(checkpointBody(cp), 'stranger.example', seedOf('s'), 5));
    expect(checkQuorum(p, stranger).witnessed).toEqual([]);
    // X1's line over another checkpoint text, pasted under this one.
    const elsewhere = cosignatureLine(checkpointBody({ ...cp, size: 999 }), W[0]!.name, W[0]!.seed, 5);
    expectCode(() => checkQuorum(p, addSignatureLines(cosigned(NOTE, [1, 3]), elsewhere)), 'COSIGNATURE_BAD_SIGNATURE');
  });

  it('quorum none; a policy without logs takes the log key from elsewhere; a rotated log key of the same origin', () => {
    expect(checkQuorum(parsePolicy(`log ${LOG_VKEY}\nquorum none\n`), NOTE).satisfied).toBe(true);
    const bare = parsePolicy(`witness a ${wvkey(0)}\nquorum a\n`);
    expectCode(() => checkQuorum(bare, cosigned(NOTE, [0])), 'CHECKPOINT_UNKNOWN_KEY');
    expect(checkQuorum(bare, cosigned(NOTE, [0]), { log: LOG_VKEY }).satisfied).toBe(true);
    const newSeed = seedOf('log 2');
    const rotated = parsePolicy(`log ${verifierKey(ORIGIN, publicKeyFromSeed(newSeed))}\nlog ${LOG_VKEY}\nquorum none\n`);
    expect(checkQuorum(rotated, NOTE).log).toBe(LOG_VKEY);
    expect(checkQuorum(rotated, signCheckpoint(cp, ORIGIN, newSeed)).satisfied).toBe(true);
  });
});
