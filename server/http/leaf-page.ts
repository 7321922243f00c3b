// The answer of GET /api/v1/log/entries (server/custody/routes.ts), written so that no page holds the event
// loop for long (issue 12 item 4): a page is capped in leaves and bytes by the log (log-service.ts
// MAX_PAGE_BYTES), says where to go on when it stops short (`next`), and its text is written in slices.
import type { ServerResponse } from 'node:http';
import type { StoredLeaf } from '../store/ledger-store.js';

/** Leaf bytes base64-encoded per turn of the event loop (a multiple of 3, so the pieces join into one text). */
const SLICE_BYTES = 3 * 128 * 1024;

/**
 * Writes `{"entries":[{"index","leaf"}...][,"next":n]}` with an exact Content-Length, encoding at most
 * SLICE_BYTES of leaf bytes per turn of the event loop: one 16 MiB leaf is about 60 ms of base64 and
 * JSON text, which must not hold every other request (issue 12 item 4). Base64 needs no JSON escaping.
 */
export function writeEntries(res: ServerResponse, leaves: readonly StoredLeaf[], next: number | undefined): void {
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
