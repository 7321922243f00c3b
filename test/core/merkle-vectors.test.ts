// Holds core/log/merkle.ts to the published RFC 6962/9162 proof cases of transparency-dev/merkle (testdata/, commit
// 417fb0c314750d94e53942e9f92e79b6d35915db, Apache-2.0), kept in test/vectors/rfc9162-proofs (see its README).
// Every file is one case with its expected outcome.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isMedtrailError, type ErrorCode } from '../../core/errors.js';
import { verifyConsistency, verifyInclusion } from '../../core/log/merkle.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const vectorDir = path.resolve(repoRoot, 'test/vectors/rfc9162-proofs');

function jsonFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return jsonFiles(p);
    return e.name.endsWith('.json') ? [p] : [];
  });
}

// Lenient decoding on purpose (Node's Buffer, like Go's encoding/base64 the cases were written for): the cases
// test the verifier, not our base64 parser.
const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const hashes = (list: string[] | null): Uint8Array[] => (list ?? []).map(b64);

interface InclusionCase {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}
interface ConsistencyCase {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

const PROOF_CODES: readonly ErrorCode[] = ['PROOF_BAD_INDEX', 'PROOF_BAD_SIZE', 'PROOF_BAD_LENGTH', 'PROOF_MISMATCH', 'BAD_LENGTH'];

function outcome(run: () => void): { ok: true } | { ok: false; code: ErrorCode } {
  try {
    run();
    return { ok: true };
  } catch (e) {
    if (!isMedtrailError(e)) throw e; // anything but a coded error fails the test
    return { ok: false, code: e.code };
  }
}

const files = jsonFiles(vectorDir).sort();

describe('RFC 9162 proof vectors (transparency-dev/merkle testdata)', () => {
  it('finds all 196 cases', () => {
    expect(files).toHaveLength(196);
  });

  let ran = 0;
  for (const file of files) {
    const rel = path.relative(vectorDir, file).split(path.sep).join('/');
    const kind = rel.split('/')[0];
    it(rel, () => {
      let result: ReturnType<typeof outcome>;
      let wantErr: boolean;
      if (kind === 'inclusion') {
        const c = JSON.parse(readFileSync(file, 'utf8')) as InclusionCase;
        wantErr = c.wantErr;
        result = outcome(() => verifyInclusion(b64(c.leafHash), c.leafIdx, c.treeSize, hashes(c.proof), b64(c.root)));
      } else {
        expect(kind).toBe('consistency');
        const c = JSON.parse(readFileSync(file, 'utf8')) as ConsistencyCase;
        wantErr = c.wantErr;
        result = outcome(() => verifyConsistency(c.size1, c.size2, hashes(c.proof), b64(c.root1), b64(c.root2)));
      }
      if (wantErr) {
        expect(result.ok).toBe(false);
        if (!result.ok) expect(PROOF_CODES).toContain(result.code);
      } else {
        expect(result).toEqual({ ok: true });
      }
      ran++;
    });
  }

  it('ran every case', () => {
    expect(ran).toBe(196);
  });
});
