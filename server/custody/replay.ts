// Brings the custody tables up to the log: entries appended before the custody module was mounted (or by
// another path) are replayed through the same rules, in order, in one transaction. The tables are an index
// of the log, so this is also how they are rebuilt: drop them and open the ledger again. An entry the rules
// refuse on replay simply has no custody effect (it is in the log all the same, and audit sees it).
import { decodeEntry } from '../../core/entry/entry.js';
import { validateBody } from '../../core/entry/bodies.js';
import { isMedtrailError } from '../../core/errors.js';
import type { LogService } from '../log/log-service.js';
import { applyOne, type ApplyContext } from './apply.js';

export interface ReplayResult {
  applied: number;
  refused: number;
}

export function catchUp(c: Omit<ApplyContext, 'now'>, log: LogService): ReplayResult {
  const from = c.writer.applied();
  const size = log.size();
  const out = { applied: 0, refused: 0 };
  if (from >= size) return out;
  c.store.transaction(() => {
    // Pages, not an open iterator: better-sqlite3 refuses writes while a read statement is being stepped.
    for (let start = from; start < size; start += 1000) {
      for (const leaf of c.store.leaves(start, Math.min(size, start + 1000))) replayLeaf(leaf);
    }
    c.writer.markApplied(size);
  });
  return out;

  function replayLeaf(leaf: { index: number; hash: Uint8Array; bytes: Uint8Array }): void {
    const e = decodeEntry(leaf.bytes);
    // Savepoint per entry, so that a refused entry's partial changes are undone and the rest go on.
    try {
      c.store.savepoint(() => {
        validateBody(e.kind, e.body);
        applyOne({ ...c, now: Date.parse(e.at) }, e, { index: leaf.index, leafHash: leaf.hash });
      });
      out.applied++;
    } catch (err) {
      if (!isMedtrailError(err)) throw err;
      out.refused++;
    }
  }
}
