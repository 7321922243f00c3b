// server/witness: the witness's rule case by case (transparency-dev/witness's test log and proof from
// test/vectors/c2sp/witness.json, then medtrail's own logs), the HTTP statuses and content types the spec
// prescribes over a real socket, the monitoring endpoint, evidence kept, state across reopening, two witness
// stores on one file, and the submitter (core/log/witness-client.ts) against a live witness.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase64, fromHex, toHex, utf8 } from '../../core/bytes.js';
import { publicKeyFromSeed } from '../../core/crypto/ed25519.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { sha256 } from '../../core/crypto/hash.js';
import { generateKeyFile } from '../../core/crypto/keys.js';
import { isMedtrailError, type ErrorCode } from '../../core/errors.js';
import { openCheckpoint, parseNote, signCheckpoint, signNote } from '../../core/log/checkpoint.js';
import { addSignatureLines, cosignerKey, parseCosignerVerifierKey, verifyCosignatures } from '../../core/log/cosignature.js';
import { emptyRoot } from '../../core/log/merkle.js';
import { parsePolicy, requireQuorum } from '../../core/log/policy.js';
import { submitCheckpoint, type WitnessFetch } from '../../core/log/witness-client.js';
import { formatAddCheckpoint } from '../../core/log/witness-protocol.js';
import { startWitness, type RunningWitness } from '../../server/witness/server.js';
import { WitnessStore } from '../../server/witness/store.js';
import { Witness } from '../../server/witness/witness.js';
import { MiniLog } from '../support/mini-log.js';
import { tempDir } from '../support/tmp.js';

installNodeCrypto();

const here = path.dirname(fileURLToPath(import.meta.url));
const V = (
  JSON.parse(readFileSync(path.resolve(here, '../vectors/c2sp/witness.json'), 'utf8')) as {
    witnessLog: { logSignerKey: string; logVkey: string; init: string; next: string; proof5to8Hex: string[]; witnessSignerKey: string };
  }
).witnessLog;
/** The seed of a Go note signer key, PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>. */
const goSeed = (skey: string): Uint8Array => fromBase64(skey.split('+').slice(4).join('+')).slice(1);

const t = tempDir('medtrail-witness-');
afterAll(() => t.cleanup());
let dbs = 0;

function witnessFor(logs: { vkey: string }[], name = 'witness', seed = goSeed(V.witnessSignerKey), db = join(t.dir, `w${dbs++}.db`)): { w: Witness; store: WitnessStore; db: string } {
  const store = new WitnessStore(db);
  return { w: new Witness({ store, name, seed, logs, now: () => 1_700_000_000 }), store, db };
}

/** The status the witness answers for this request: 200, 409 or the coded error's status. */
function statusOf(w: Witness, body: string): number | ErrorCode {
  try {
    return w.addCheckpoint(body).status;
  } catch (e) {
    if (!isMedtrailError(e)) throw e;
    return e.code;
  }
}

const req = (oldSize: number, note: string, proof: Uint8Array[] = []): string => formatAddCheckpoint({ oldSize, proof, checkpoint: note });

describe('transparency-dev/witness’s test log', () => {
  const proof = V.proof5to8Hex.map((h) => fromHex(h));
  const logSeed = goSeed(V.logSignerKey);
  const root5 = openCheckpoint(V.init, V.logVkey).root;
  const signed = (size: number, root: Uint8Array, seed = logSeed): string => signCheckpoint({ origin: 'monkeys', size, root, extensions: [] }, 'monkeys', seed);

  it('cosigns 5, then 8 with the published proof; its cosignature verifies under the 0x04 key', () => {
    const { w } = witnessFor([{ vkey: V.logVkey }]);
    const a = w.addCheckpoint(req(0, V.init));
    const b = w.addCheckpoint(req(5, V.next, proof));
    expect([a.status, b.status]).toEqual([200, 200]);
    const key = cosignerKey('witness', publicKeyFromSeed(goSeed(V.witnessSignerKey)));
    expect(parseCosignerVerifierKey(w.vkey)).toEqual(key);
    if (b.status !== 200) throw new Error('unreachable');
    expect(verifyCosignatures(addSignatureLines(V.next, b.lines), [key]).cosigned).toEqual([{ key, timestamp: 1_700_000_000 }]);
  });

  it('answers each case of its TestUpdate and TestUpdateSignatureVerification as the spec says', () => {
    const empty = signed(0, emptyRoot());
    const cases: [string, string | undefined, string, number | ErrorCode][] = [
      ['valid zero size hash', empty, req(0, empty), 200],
      ['invalid zero size hash', empty, req(0, signed(0, root5)), 'WITNESS_INCONSISTENT'],
      ['old size does not match', V.init, req(2, V.next, proof), 409],
      ['a proof from size 0', empty, req(0, V.init, proof), 'WITNESS_INCONSISTENT'],
      ['resubmit the known checkpoint', V.init, req(5, V.init), 200],
      ['resubmit with a changed root', V.init, req(5, signed(5, sha256(root5))), 'WITNESS_INCONSISTENT'],
      ['missing proof', signed(4, root5), req(4, signed(5, root5)), 'WITNESS_INCONSISTENT'],
      ['submit a smaller checkpoint', V.next, req(8, V.init, proof), 'WITNESS_REQUEST_MALFORMED'],
      ['a proof that does not verify', V.init, req(5, V.next, [...proof.slice(0, 3), sha256(proof[3]!)]), 'WITNESS_INCONSISTENT'],
      ['a signature by the trusted key that fails', undefined, req(0, V.init.replace('202fftz', '202fftx')), 'WITNESS_UNTRUSTED'],
      ['signed only by an untrusted key', undefined, req(0, signed(5, root5, sha256(utf8('bananas')))), 'WITNESS_UNTRUSTED'],
      ['an unsigned checkpoint', undefined, req(0, 'monkeys\n5\n41smjBUiAU70EtKlT6lIOIYtRTYxYXsDB+XHfcvu/BE=\n'), 'CHECKPOINT_MALFORMED'],
      ['not a note', undefined, req(0, 'monkeys\nthis is not a checkpoint\n'), 'CHECKPOINT_MALFORMED'],
      ['well signed but no checkpoint', undefined, req(0, signNote('monkeys\nnot-a-size\nnot-a-hash\n', 'monkeys', logSeed)), 'CHECKPOINT_MALFORMED'],
      ['an unknown origin', undefined, req(0, signCheckpoint({ origin: 'bananas', size: 5, root: root5, extensions: [] }, 'bananas', logSeed)), 'WITNESS_UNKNOWN_LOG'],
    ];
    for (const [what, init, body, want] of cases) {
      const { w } = witnessFor([{ vkey: V.logVkey }]);
      if (init !== undefined) expect(w.addCheckpoint(req(0, init)).status, what).toBe(200);
      expect(statusOf(w, body), what).toBe(want);
    }
  });
});

describe('medtrail’s rules', () => {
  const log = new MiniLog('medtrail.example/log', sha256(utf8('log key'))).append(10);

  it('at the size it holds, cosigns only the same text (a second map root of one tree is refused) and keeps evidence', () => {
    const { w, store } = witnessFor([{ vkey: log.vkey }]);
    const a = log.note(10, ['medtrail-map AAAA AAAA']);
    const b = log.note(10, ['medtrail-map AAAA BBBB']);
    expect(w.addCheckpoint(req(0, a)).status).toBe(200);
    expect(w.addCheckpoint(req(10, a)).status).toBe(200);
    expect(statusOf(w, req(10, b))).toBe('WITNESS_INCONSISTENT');
    expect(store.evidence().map((e) => e.note)).toEqual([b]);
  });

  it('a split view: two histories under one key; the second is refused however it is presented', () => {
    const { w } = witnessFor([{ vkey: log.vkey }]);
    const honest = log.fork(10, 'honest').append(6);
    const liar = log.fork(10, 'liar').append(6);
    expect(w.addCheckpoint(req(10, honest.note(), honest.proof(10))).status).toBe(409); // it holds nothing yet
    expect(w.addCheckpoint(req(0, honest.note())).status).toBe(200);
    expect(statusOf(w, req(16, liar.note()))).toBe('WITNESS_INCONSISTENT'); // same size, other root
    expect(statusOf(w, req(16, liar.append(4).note(), liar.proof(16)))).toBe('WITNESS_INCONSISTENT'); // proof from the liar's 16
    expect(w.addCheckpoint(req(0, liar.note()))).toEqual({ status: 409, size: 16 });
    expect(statusOf(w, req(16, liar.note(), liar.proof(10)))).toBe('WITNESS_INCONSISTENT');
    expect(w.addCheckpoint(req(16, honest.append(4).note(), honest.proof(16))).status).toBe(200);
  });

  it('state survives reopening; two stores on one file serialise (compare-and-swap on the size)', () => {
    const one = witnessFor([{ vkey: log.vkey }]);
    expect(one.w.addCheckpoint(req(0, log.note(5))).status).toBe(200);
    const two = witnessFor([{ vkey: log.vkey }], 'witness', goSeed(V.witnessSignerKey), one.db);
    const a = log.fork(5, 'a').append(3);
    const b = log.fork(5, 'b').append(3);
    expect(one.w.addCheckpoint(req(5, a.note(), a.proof(5))).status).toBe(200);
    expect(two.w.addCheckpoint(req(5, b.note(), b.proof(5)))).toEqual({ status: 409, size: 8 });
    one.store.close();
    two.store.close();
    const again = witnessFor([{ vkey: log.vkey }], 'witness', goSeed(V.witnessSignerKey), one.db);
    expect(again.w.latest(log.origin)?.size).toBe(8);
    expect(statusOf(again.w, req(8, b.note()))).toBe('WITNESS_INCONSISTENT');
  });
});

describe('over HTTP', () => {
  const log = new MiniLog('medtrail.example/log', sha256(utf8('http log key'))).append(30);
  const keys = [generateKeyFile('witness.example/w1'), generateKeyFile('witness.example/w2')];
  const running: RunningWitness[] = [];
  beforeAll(async () => {
    for (const [i, k] of keys.entries()) {
      const keyFile = join(t.dir, `http-w${i}.json`);
      writeFileSync(keyFile, JSON.stringify(k));
      running.push(await startWitness({ db: join(t.dir, `http-w${i}.db`), port: 0, keyFile, logs: [{ vkey: log.vkey }] }));
    }
  });
  afterAll(async () => {
    for (const r of running) await r.close();
  });
  const post = (url: string, body: string | Buffer): Promise<Response> => fetch(`${url}/add-checkpoint`, { method: 'POST', body });

  it('statuses and content types of the spec; the monitoring endpoint', async () => {
    const w = running[0]!;
    const origin = toHex(sha256(utf8(log.origin)));
    expect((await fetch(`${w.url}/${origin}/checkpoint`)).status).toBe(404);
    const ok = await post(w.url, req(0, log.note(20)));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const line = await ok.text();
    expect(line).toMatch(/^\u2014 witness\.example\/w1 [A-Za-z0-9+/]{102}==\n$/);
    const conflict = await post(w.url, req(3, log.note(25), log.proof(3, 25)));
    expect([conflict.status, conflict.headers.get('content-type'), await conflict.text()]).toEqual([409, 'text/x.tlog.size', '20\n']);
    expect((await post(w.url, req(20, log.fork(20, 'x').append(5).note(), log.proof(20, 25)))).status).toBe(422);
    expect((await post(w.url, req(0, log.note(20).replace('medtrail.example/log', 'other.example/log')))).status).toBe(404);
    expect((await post(w.url, req(0, signCheckpoint(log.checkpoint(20), log.origin, sha256(utf8('x')))))).status).toBe(403);
    expect((await post(w.url, 'old 1\nnot base64\n\n')).status).toBe(400);
    expect((await post(w.url, Buffer.from([0x6f, 0x6c, 0x64, 0x20, 0xff]))).status).toBe(400);
    expect((await post(w.url, 'x'.repeat(70_000))).status).toBe(413);
    expect((await fetch(`${w.url}/add-checkpoint`)).status).toBe(405);
    const mon = await fetch(`${w.url}/${origin}/checkpoint`);
    const note = await mon.text();
    expect(parseNote(note).signatures.map((s) => s.name)).toEqual([log.origin, 'witness.example/w1']);
    expect(openCheckpoint(note, log.vkey).size).toBe(20);
    expect(verifyCosignatures(note, [parseCosignerVerifierKey(w.vkey)]).cosigned).toHaveLength(1);
  });

  it('the submitter resyncs from a 409 and two witnesses make a quorum of two; one does not', async () => {
    const note = log.note(30);
    const f: WitnessFetch = (url, init) => fetch(url, init);
    const targets = running.map((r) => ({ url: r.url, key: parseCosignerVerifierKey(r.vkey) }));
    const policy = parsePolicy(`log ${log.vkey}\nwitness a ${running[0]!.vkey}\nwitness b ${running[1]!.vkey}\ngroup two all a b\nquorum two\n`);
    const first = await submitCheckpoint(targets[0]!, { note, proofFrom: (n) => log.proof(n, 30), fetch: f });
    expect(first.resyncs).toBe(1); // it held 20
    const withOne = addSignatureLines(note, first.lines);
    expect(() => requireQuorum(policy, withOne)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_QUORUM' }));
    const second = await submitCheckpoint(targets[1]!, { note, proofFrom: (n) => log.proof(n, 30), fetch: f });
    expect(second.resyncs).toBe(0);
    expect(requireQuorum(policy, addSignatureLines(withOne, second.lines)).witnessed).toEqual(['a', 'b']);
  });
});
