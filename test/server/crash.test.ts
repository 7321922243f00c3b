// SIGKILL in the middle of a run of batched appends: after restart every acknowledged batch is there, no batch
// is partly there, the last checkpoint still verifies and is consistent with the tree, and audit passes.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { openCheckpoint } from '../../core/log/checkpoint.js';
import { verifyConsistency } from '../../core/log/merkle.js';
import { openLedger } from '../../server/context.js';
import { makeLedger } from '../support/ledger.js';
import { cli } from '../support/cli.js';
import { REPO_ROOT } from '../support/tmp.js';

const WORKER = join(REPO_ROOT, 'dist/test/support/append-worker.js');
const BATCH = 400;

function runAndKill(db: string, authority: string, killAfterAcks: number, extraDelayMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, db, authority, String(BATCH)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acked = -1;
    let buf = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^acked (\d+)$/.exec(line);
        if (m) {
          acked = Number(m[1]);
          if (--killAfterAcks === 0) setTimeout(() => child.kill('SIGKILL'), extraDelayMs);
        }
      }
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve(acked) : reject(new Error(`worker exited on its own: ${stderr}`))));
  });
}

describe('crash in the middle of batched appends', () => {
  it('keeps every acknowledged batch, never part of one, and stays verifiable', async () => {
    const t = makeLedger();
    try {
      for (const [acks, delay] of [[3, 7], [2, 23], [4, 41]] as const) {
        const before = openLedger({ db: t.db });
        const cpBefore = before.log.signNow();
        before.close();
        const acked = await runAndKill(t.db, t.init.authorityKey, acks, delay);
        const l = openLedger({ db: t.db });
        const size = l.store.head().size;
        expect(size).toBeGreaterThanOrEqual(acked);
        expect(size % BATCH).toBe(0);
        const latest = l.store.latestCheckpoint()!;
        const cp = openCheckpoint(latest.note, l.log.verifierKey);
        expect(cp.size).toBeLessThanOrEqual(size);
        // A consistency proof from the empty tree proves nothing (RFC 9162), so sizes start at 1.
        for (const old of [cp, cpBefore]) {
          if (old.size > 0) verifyConsistency(old.size, size, l.log.consistency(old.size, size), old.root, l.log.rootAt(size));
        }
        l.close();
      }
      const r = cli(['audit', '--db', t.db, '--json']);
      expect(JSON.parse(r.stdout).findings).toEqual([]);
      expect(r.status).toBe(0);
    } finally {
      t.cleanup();
    }
  });
});
