// The log's routes, in the fixed shapes of docs/architecture.md (The wire), so that any client in any language can
// check the ledger: the checkpoint, the verifier key, raw leaves, inclusion and consistency proofs.
// A page of raw leaves is capped in count (1,000) and in bytes (log-service.ts MAX_PAGE_BYTES); a page that
// stops short of what was asked says where to go on: `next`, the index of the first leaf it left out.
import type { ServerResponse } from 'node:http';
import { Router } from 'express';
import { toHex } from '../../core/bytes.js';
import type { StoredLeaf } from '../store/ledger-store.js';
import type { LogService } from '../log/log-service.js';
import { intParams } from './params.js';

/** Leaf bytes base64-encoded per turn of the event loop (a multiple of 3, so the pieces join into one text). */
const SLICE_BYTES = 3 * 128 * 1024;

/**
 * Writes `{"entries":[{"index","leaf"}...][,"next":n]}` with an exact Content-Length, encoding at most
 * SLICE_BYTES of leaf bytes per turn of the event loop: one 16 MiB leaf is about 60 ms of base64 and
 * JSON text, which must not hold every other request (issue 12 item 4). Base64 needs no JSON escaping.
 */
function writeEntries(res: ServerResponse, leaves: readonly StoredLeaf[], next: number | undefined): void {
  const tail = next === undefined ? ']}' : `],"next":${next}}`;
  const heads = leaves.map((l, i) => `${i === 0 ? '' : ','}{"index":${l.index},"leaf":"`);
  let length = '{"entries":['.length + tail.length;
  leaves.forEach((l, i) => (length += heads[i]!.length + 4 * Math.ceil(l.bytes.length / 3) + 2));
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', length);
  let i = 0;
  let at = 0;
  let open = false;
  const step = (): void => {
    let budget = SLICE_BYTES;
    const parts: string[] = i === 0 && at === 0 && !open ? ['{"entries":['] : [];
    while (i < leaves.length && budget >= 3) {
      const b = leaves[i]!.bytes;
      if (!open) {
        parts.push(heads[i]!);
        open = true;
      }
      // A piece that stops inside a leaf stops at a multiple of 3 bytes: no padding in the middle of the text.
      let to = Math.min(b.length, at + budget);
      if (to < b.length) to = at + Math.floor((to - at) / 3) * 3;
      if (to > at) parts.push(Buffer.from(b.buffer, b.byteOffset + at, to - at).toString('base64'));
      budget -= to - at;
      at = to;
      if (at === b.length) {
        parts.push('"}');
        i++;
        at = 0;
        open = false;
      }
    }
    if (i < leaves.length) {
      res.write(parts.join(''));
      if (!res.destroyed) setImmediate(step);
      return;
    }
    parts.push(tail);
    res.end(parts.join(''));
  };
  step();
}

export function logRoutes(log: LogService): Router {
  const r = Router();

  r.get('/checkpoint', (_req, res) => {
    res.type('text/plain; charset=utf-8').setHeader('Cache-Control', 'no-store');
    res.send(log.checkpoint().note);
  });

  r.get('/log/key', (_req, res) => {
    res.type('text/plain; charset=utf-8').send(`${log.verifierKey}\n`);
  });

  r.get('/log/entries', (req, res) => {
    const { start, end } = intParams(req, ['start', 'end'] as const);
    const leaves = log.entries(start, end);
    // `next` when the page stops short of what was asked (and of the log): at 1,000 leaves or MAX_PAGE_BYTES.
    // (No leaves at all only when rows are missing under the head: a tampered file, which audit names.)
    const last = leaves[leaves.length - 1];
    const after = last === undefined ? undefined : last.index + 1;
    writeEntries(res, leaves, after !== undefined && after < Math.min(end, log.size()) ? after : undefined);
  });

  r.get('/log/proof/inclusion', (req, res) => {
    const { index, size } = intParams(req, ['index', 'size'] as const);
    const p = log.inclusion(index, size);
    res.json({ index, size, leafHash: toHex(p.leafHash), proof: p.proof.map(toHex) });
  });

  r.get('/log/proof/consistency', (req, res) => {
    const { from, to } = intParams(req, ['from', 'to'] as const);
    res.json({ from, to, proof: log.consistency(from, to).map(toHex) });
  });

  return r;
}
