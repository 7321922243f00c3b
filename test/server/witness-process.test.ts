// The witness as a process of its own (test/support/witness-worker.ts, compiled to dist/ by `npm run build`),
// attacked by a log operator who holds the log key: a split view (two checkpoints of one size, two histories)
// that the witnesses refuse and that a client with a quorum of two refuses; then SIGKILL at random points of
// a stream of add-checkpoint requests from competing histories, 30 times, with every cosignature the witness
// ever returned collected: no two of them are inconsistent, and after every restart the witness holds a
// checkpoint at least as new as the last it cosigned.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toBase64, toHex, utf8 } from '../../core/bytes.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { sha256 } from '../../core/crypto/hash.js';
import { generateKeyFile } from '../../core/crypto/keys.js';
import { isMedtrailError } from '../../core/errors.js';
import { openCheckpoint, parseNote } from '../../core/log/checkpoint.js';
import { addSignatureLines, parseCosignerVerifierKey, verifyCosignatures, type CosignerKey } from '../../core/log/cosignature.js';
import { verifyConsistency } from '../../core/log/merkle.js';
import { parsePolicy, requireQuorum } from '../../core/log/policy.js';
import { submitCheckpoint, type WitnessFetch } from '../../core/log/witness-client.js';
import { MiniLog } from '../support/mini-log.js';
import { REPO_ROOT, tempDir } from '../support/tmp.js';

installNodeCrypto();

const WORKER = join(REPO_ROOT, 'dist/test/support/witness-worker.js');
const t = tempDir('medtrail-witness-proc-');
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  t.cleanup();
});

interface Proc {
  child: ChildProcess;
  url: string;
  key: CosignerKey;
  vkey: string;
}

function keyFile(name: string): string {
  const path = join(t.dir, `${name.replace(/\W/g, '_')}.json`);
  writeFileSync(path, JSON.stringify(generateKeyFile(name)), { mode: 0o600 });
  return path;
}

function spawnWitness(db: string, key: string, vkeys: string[]): Promise<Proc> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, db, key, '0', ...vkeys], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.on('exit', () => children.delete(child));
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        const { url, vkey } = JSON.parse(out.slice(0, nl)) as { url: string; vkey: string };
        resolve({ child, url, vkey, key: parseCosignerVerifierKey(vkey) });
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`witness exited (${code}) before listening: ${err}`)));
  });
}

function kill(p: Proc): Promise<void> {
  return new Promise((resolve) => {
    if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve();
    p.child.once('exit', () => resolve());
    p.child.kill('SIGKILL');
  });
}

const f: WitnessFetch = (url, init) => fetch(url, init);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (!isMedtrailError(e)) throw e;
    return e.code;
  }
}

describe('a split view against witness processes', () => {
  it('the witnesses refuse the second view and the second history; a quorum of two refuses one cosignature', async () => {
    const log = new MiniLog('medtrail.example/log', sha256(utf8('operator key'))).append(40);
    const honest = log.fork(40, 'honest').append(10);
    const liar = log.fork(40, 'liar').append(10); // size 50 too, another root, the same key
    const [w1, w2, w3] = await Promise.all(['w1', 'w2', 'w3'].map((n) => spawnWitness(join(t.dir, `${n}.db`), keyFile(`witness.example/${n}`), [log.vkey])));
    try {
      const submit = (w: Proc, l: MiniLog, oldSize = 0) => submitCheckpoint({ url: w!.url, key: w!.key, oldSize }, { note: l.note(), proofFrom: (n) => l.proof(n), fetch: f });
      const a = await submit(w1!, honest);
      const b = await submit(w2!, honest);
      // The same size with another root: 422, whether the liar says what the witness holds or learns it from a 409.
      expect(await codeOf(submit(w1!, liar, 50))).toBe('WITNESS_INCONSISTENT');
      expect(await codeOf(submit(w1!, liar, 0))).toBe('WITNESS_INCONSISTENT');
      // The liar's history grown further, with a proof from its own size 50: 422.
      liar.append(10);
      expect(await codeOf(submit(w2!, liar, 50))).toBe('WITNESS_INCONSISTENT');
      // A rewritten history (leaf 20 on) passed off as the continuation of 50: 422.
      const rewritten = log.fork(20, 'rewritten').append(45);
      expect(await codeOf(submit(w1!, rewritten, 50))).toBe('WITNESS_INCONSISTENT');
      // A witness that never saw the honest log cosigns the liar's view: one cosignature.
      const liarNote = liar.note();
      const liarLines = (await submit(w3!, liar)).lines;
      const policy = parsePolicy(
        `log ${log.vkey}\nwitness w1 ${w1!.vkey}\nwitness w2 ${w2!.vkey}\nwitness w3 ${w3!.vkey}\ngroup two 2 w1 w2 w3\nquorum two\n`,
      );
      const liarView = addSignatureLines(liarNote, liarLines);
      expect(() => requireQuorum(policy, liarView)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_QUORUM' }));
      // Pasting an honest witness's line under the liar's checkpoint does not help: it does not verify there.
      expect(() => requireQuorum(policy, addSignatureLines(liarView, a.lines))).toThrow(expect.objectContaining({ code: 'COSIGNATURE_BAD_SIGNATURE' }));
      const honestView = addSignatureLines(addSignatureLines(honest.note(), a.lines), b.lines);
      expect(requireQuorum(policy, honestView).witnessed).toEqual(['w1', 'w2']);
    } finally {
      await Promise.all([w1, w2, w3].map((w) => kill(w!)));
    }
  });
});

interface Cosigned {
  log: MiniLog;
  size: number;
  body: string;
  root: Uint8Array;
}

describe('SIGKILL at random points', () => {
  it('never cosigns two inconsistent checkpoints, and never forgets one it cosigned', async () => {
    const KILLS = 30;
    const origin = 'medtrail.example/log';
    const seed = sha256(utf8('operator key 2'));
    const db = join(t.dir, 'killed.db');
    const key = keyFile('witness.example/killed');
    // `head` is the history the witness follows (as far as the submitters know); every note sent is kept by its
    // text, so that the history of whatever the witness holds can be found again after a lost answer.
    let head = new MiniLog(origin, seed, 'h').append(5);
    const sent = new Map<string, MiniLog>();
    let w = await spawnWitness(db, key, [head.vkey]);
    const all: Cosigned[] = [];
    let known = 0; // the size the submitters believe the witness holds
    let stop = false;
    let rng = 0x2545f491;
    const rand = (n: number): number => {
      rng ^= rng << 13;
      rng ^= rng >>> 17;
      rng ^= rng << 5;
      return (rng >>> 0) % n;
    };
    const errors: string[] = [];
    const codes = new Map<string, number>();
    let cutOff = 0; // requests that met a dead witness (in flight at the kill, or sent while it restarted)
    const monitor = (): string => `${w.url}/${toHex(sha256(utf8(origin)))}/checkpoint`;

    /** After an answer lost to a kill the witness may follow another history than `head`: ask it which. */
    async function resync(): Promise<void> {
      try {
        const res = await fetch(monitor());
        if (res.status !== 200) return;
        const note = await res.text();
        const l = sent.get(parseNote(note).body);
        if (l !== undefined) head = l;
        known = openCheckpoint(note, head.vkey).size;
      } catch {
        // the witness is down again: the next round asks again
      }
    }

    async function submitOne(l: MiniLog, extensions: string[]): Promise<boolean> {
      const note = l.note(l.size, extensions);
      const { body } = parseNote(note);
      sent.set(body, l);
      try {
        const r = await submitCheckpoint({ url: w.url, key: w.key, oldSize: known }, { note, proofFrom: (n) => l.proof(n, l.size), fetch: f, timeoutMs: 3000 });
        known = r.size;
        head = l;
        expect(verifyCosignatures(addSignatureLines(note, r.lines), [w.key]).cosigned).toHaveLength(1);
        all.push({ log: l, size: r.size, body, root: l.root(r.size) });
        return true;
      } catch (e) {
        if (!isMedtrailError(e)) throw e;
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
        if (!['WITNESS_UNREACHABLE', 'WITNESS_INCONSISTENT', 'WITNESS_CONFLICT'].includes(e.code)) errors.push(`${e.code}: ${e.message}`);
        if (e.code === 'WITNESS_UNREACHABLE') {
          // A killed witness: wait for the next one rather than spin.
          cutOff++;
          await new Promise((r) => setTimeout(r, 20));
        }
        return false;
      }
    }

    /** Two operators' worth of traffic: the log growing, and forks of it (same key) racing it. */
    async function traffic(who: 'honest' | 'liar'): Promise<void> {
      while (!stop) {
        if (who === 'honest') {
          const l = head;
          // Grow a copy, so that a size already sent keeps its one text in `sent`.
          const next = l.fork(l.size, l.tag).append(1 + rand(4));
          if (!(await submitOne(next, []))) await resync();
        } else {
          const l = head;
          const fork = l.fork(Math.max(5, l.size - rand(4)), `liar${rand(1e6)}`).append(rand(3));
          // Sometimes the same tree under another map line: a second text of one size.
          const ext = rand(3) === 0 ? [`medtrail-map ${toBase64(sha256(utf8(String(rand(1e6)))))} ${toBase64(sha256(utf8('l')))}`] : [];
          await submitOne(fork, ext);
        }
        await new Promise((r) => setTimeout(r, rand(3)));
      }
    }

    const runners = [traffic('honest'), traffic('liar'), traffic('liar')];
    let restarts = 0;
    for (let k = 0; k < KILLS; k++) {
      await new Promise((r) => setTimeout(r, 30 + rand(220)));
      const before = all.length;
      const newest = all.reduce<Cosigned | undefined>((m, c) => (m === undefined || c.size > m.size ? c : m), undefined);
      await kill(w);
      w = await spawnWitness(db, key, [head.vkey]);
      restarts++;
      // Whatever it cosigned before the kill, it still holds that or something newer and consistent.
      const res = await fetch(monitor());
      if (newest !== undefined) {
        expect(res.status).toBe(200);
        const held = openCheckpoint(await res.text(), head.vkey);
        expect(held.size).toBeGreaterThanOrEqual(newest.size);
      }
      expect(all.length).toBeGreaterThanOrEqual(before);
    }
    stop = true;
    await Promise.all(runners);
    await kill(w);

    expect(errors).toEqual([]);
    expect(restarts).toBe(KILLS);
    expect(all.length).toBeGreaterThanOrEqual(KILLS);
    expect(cutOff).toBeGreaterThan(0);
    // Every pair of cosigned checkpoints is consistent: the larger one's history proves the smaller one a prefix
    // of it; at one size, one text.
    let pairs = 0;
    for (let i = 0; i < all.length; i++) {
      for (let j = 0; j < all.length; j++) {
        const a = all[i]!;
        const b = all[j]!;
        if (a.size > b.size || i === j) continue;
        if (a.size === b.size) expect(b.body).toBe(a.body);
        else verifyConsistency(a.size, b.size, b.log.proof(a.size, b.size), a.root, b.root);
        pairs++;
      }
    }
    expect(pairs).toBeGreaterThan(0);
    // Each fork that won a race starts a tag the log then grows on: the histories the witness followed in turn.
    const forks = new Set(all.map((c) => c.log.tag)).size - 1;
    process.stdout.write(`witness under SIGKILL: ${KILLS} kills, ${all.length} cosignatures (${forks} forks won a race and were followed), ${pairs} pairs consistent; refused ${JSON.stringify(Object.fromEntries(codes))}\n`);
  }, 240_000);
});
