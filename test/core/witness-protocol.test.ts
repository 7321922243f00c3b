// core/log/witness-protocol.ts and core/log/witness-client.ts: the add-checkpoint body held to the C2SP
// example (parsed and written back byte for byte), every malformed variant, and the submitter against a
// scripted witness (409 resync, refusals, answers that are not a cosignature, an unreachable witness).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toBase64, utf8 } from '../../core/bytes.js';
import { publicKeyFromSeed } from '../../core/crypto/ed25519.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { sha256 } from '../../core/crypto/hash.js';
import { parseNote } from '../../core/log/checkpoint.js';
import { addSignatureLines, cosignatureLine, cosignerKey, decodeCosignature, parseSignatureLines, verifyCosignatures } from '../../core/log/cosignature.js';
import { submitCheckpoint, submitToWitnesses, type WitnessFetch } from '../../core/log/witness-client.js';
import { formatAddCheckpoint, formatSizeBody, parseAddCheckpoint, parseSizeBody } from '../../core/log/witness-protocol.js';
import { isMedtrailError } from '../../core/errors.js';
import { expectCode, throwsOnlyCoded } from '../support/expect-code.js';
import { MiniLog } from '../support/mini-log.js';

installNodeCrypto();

const here = path.dirname(fileURLToPath(import.meta.url));
const SPEC = (JSON.parse(readFileSync(path.resolve(here, '../vectors/c2sp/witness.json'), 'utf8')) as { witnessSpec: { request: string; response: string } }).witnessSpec;

describe('add-checkpoint bodies', () => {
  it('parses the spec’s example request and writes it back byte for byte', () => {
    const r = parseAddCheckpoint(SPEC.request);
    expect(r.oldSize).toBe(20852014);
    expect(r.proof.map(toBase64)).toEqual([
      'PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=',
      'jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=',
      '5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=',
      '/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=',
    ]);
    expect(parseNote(r.checkpoint).signatures).toHaveLength(2);
    expect(formatAddCheckpoint(r)).toBe(SPEC.request);
  });

  it('parses the spec’s example response: three lines of two witnesses, 72 bytes after each key ID', () => {
    const lines = parseSignatureLines(SPEC.response);
    expect(lines.map((l) => l.name)).toEqual(['witness.example/w1', 'witness.example/w1', 'witness.example/w2']);
    for (const l of lines) {
      expect(l.signature).toHaveLength(8 + 64);
      // The example's bytes are placeholders: their timestamps lie past 2^53 (two past the spec's own 2^63 - 1).
      expectCode(() => decodeCosignature(l), 'COSIGNATURE_MALFORMED');
    }
  });

  const cp = SPEC.request.slice(SPEC.request.indexOf('\n\n') + 2);
  const h = toBase64(sha256(utf8('h')));
  const refused: [string, string][] = [
    ['no old line', `10 stuff\n${h}\n\n${cp}`],
    ['a size with a leading zero', `old 010\n\n${cp}`],
    ['a negative size', `old -1\n\n${cp}`],
    ['a size past 2^53', `old 9007199254740993\n\n${cp}`],
    ['a space after the size', `old 10 \n\n${cp}`],
    ['no empty line after the proof', `old 10\n${h}\n${cp}`],
    ['a proof line that is not base64', `old 10\nZ043!\n\n${cp}`],
    ['a proof line of 2 bytes (transparency-dev’s "abc=")', `old 10\nabc=\n\n${cp}`],
    ['64 proof lines', `old 10\n${`${h}\n`.repeat(64)}\n${cp}`],
    ['no checkpoint', `old 10\n${h}\n\n`],
    ['nothing but the old line', 'old 10'],
  ];
  for (const [what, body] of refused) it(`refuses ${what}`, () => expectCode(() => parseAddCheckpoint(body), 'WITNESS_REQUEST_MALFORMED'));

  it('takes 63 proof lines and old 0 without proof', () => {
    expect(parseAddCheckpoint(`old 10\n${`${h}\n`.repeat(63)}\n${cp}`).proof).toHaveLength(63);
    expect(parseAddCheckpoint(`old 0\n\n${cp}`)).toEqual({ oldSize: 0, proof: [], checkpoint: cp });
  });

  it('409 bodies; hostile bodies only ever give coded errors', () => {
    expect(formatSizeBody(20852014)).toBe('20852014\n');
    expect(parseSizeBody('20852014\n')).toBe(20852014);
    for (const bad of ['', '12', '012\n', '12\n\n', '-1\n', 'x\n']) expectCode(() => parseSizeBody(bad), 'WITNESS_BAD_RESPONSE');
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => throwsOnlyCoded(() => parseAddCheckpoint(`old 1\n${s}`))), { numRuns: 300 });
  });
});

describe('the submitter, against a scripted witness', () => {
  const log = new MiniLog('medtrail.example/log', sha256(utf8('log'))).append(20);
  const wSeed = sha256(utf8('w'));
  const key = cosignerKey('witness.example/w1', publicKeyFromSeed(wSeed));
  const note = log.note();
  const body = parseNote(note).body;
  const good = cosignatureLine(body, key.name, wSeed, 1_700_000_000);

  /** A fetch answering from a list, recording the requests it got. */
  function scripted(answers: (readonly [number, string] | Error)[], want = 'http://w.example/sub/add-checkpoint'): { fetch: WitnessFetch; requests: string[] } {
    const requests: string[] = [];
    const fetch: WitnessFetch = (url, init) => {
      expect(url).toBe(want);
      requests.push(init.body);
      const a = answers.shift();
      if (a === undefined) throw new Error('no more answers');
      if (a instanceof Error) return Promise.reject(a);
      return Promise.resolve({ status: a[0], text: () => Promise.resolve(a[1]) });
    };
    return { fetch, requests };
  }

  const target = { url: 'http://w.example/sub/', key };
  const proofFrom = (n: number): Uint8Array[] => log.proof(n);

  it('resubmits from the size a 409 names, with the proof from there, and keeps the witness’s verified line', async () => {
    const s = scripted([
      [409, '12\n'],
      [200, `\u2014 other.example AAAAAAAA\n${good}`],
    ]);
    const r = await submitCheckpoint(target, { note, proofFrom, fetch: s.fetch });
    expect(r).toEqual({ lines: good, timestamp: 1_700_000_000, size: 20, resyncs: 1 });
    expect(parseAddCheckpoint(s.requests[0]!)).toEqual({ oldSize: 0, proof: [], checkpoint: note });
    expect(parseAddCheckpoint(s.requests[1]!)).toEqual({ oldSize: 12, proof: log.proof(12), checkpoint: note });
    expect(verifyCosignatures(`${body}\n${r.lines}`, [key]).cosigned).toHaveLength(1);
  });

  it('maps refusals to codes; gives up on a witness that holds a newer checkpoint or keeps answering 409', async () => {
    const cases: [(readonly [number, string] | Error)[], string][] = [
      [[[404, '']], 'WITNESS_UNKNOWN_LOG'],
      [[[403, '']], 'WITNESS_UNTRUSTED'],
      [[[422, '']], 'WITNESS_INCONSISTENT'],
      [[[400, '']], 'WITNESS_REQUEST_MALFORMED'],
      [[[500, '']], 'WITNESS_BAD_RESPONSE'],
      [[[409, '25\n']], 'WITNESS_CONFLICT'],
      [[[409, '3\n'], [409, '4\n'], [409, '5\n']], 'WITNESS_CONFLICT'],
      [[[409, 'soon']], 'WITNESS_BAD_RESPONSE'],
      [[[200, 'not lines']], 'WITNESS_BAD_RESPONSE'],
      [[[200, cosignatureLine(body, 'witness.example/w2', wSeed, 5)]], 'WITNESS_BAD_RESPONSE'],
      [[[200, cosignatureLine(parseNote(log.note(19)).body, key.name, wSeed, 5)]], 'WITNESS_BAD_RESPONSE'],
      [[new Error('ECONNREFUSED')], 'WITNESS_UNREACHABLE'],
    ];
    for (const [answers, code] of cases) {
      const s = scripted(answers);
      await expect(submitCheckpoint(target, { note, proofFrom, fetch: s.fetch })).rejects.toSatisfy((e: unknown) => isMedtrailError(e) && e.code === code);
    }
  });

  it('submits to several witnesses at once; one failing does not hold up the others', async () => {
    const k2 = cosignerKey('witness.example/w2', publicKeyFromSeed(sha256(utf8('w2'))));
    const a = scripted([[200, good]], 'http://w1.example/add-checkpoint');
    const b = scripted([[404, '']], 'http://w2.example/add-checkpoint');
    const fetch: WitnessFetch = (url, init) => (url.startsWith('http://w1.') ? a.fetch : b.fetch)(url, init);
    const r = await submitToWitnesses([{ url: 'http://w1.example', key }, { url: 'http://w2.example/', key: k2 }], { note, proofFrom, fetch });
    expect(r.outcomes.map((o) => o.ok)).toEqual([true, false]);
    const failed = r.outcomes[1]!;
    expect(failed.ok === false && failed.error.code).toBe('WITNESS_UNKNOWN_LOG');
    expect(r.note).toBe(addSignatureLines(note, good));
  });
});
