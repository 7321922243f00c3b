// An operator turned rogue, for the mirror's tests (issue 14): an HTTP server that holds the log's private key
// and the real leaves (read from the operator's database, as a rogue operator could) and serves the three routes
// a mirror follows (GET /checkpoint, /log/entries, /log/proof/consistency, and /log/key) from a list of leaves
// it may have altered, with checkpoints it signs itself over that list. With no lie it serves the real log
// exactly (the control: the mirror follows it), so a test that lies shows the mirror refuses only the lie.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toBase64, toHex } from '../../core/bytes.js';
import { signCheckpoint } from '../../core/log/checkpoint.js';
import { consistencyProof, leafHash, rootFromLeafHashes } from '../../core/log/merkle.js';
import { readMapRoots, withMapRoots, type MapRoots } from '../../core/map/extension.js';
import { parseCheckpointBody, parseNote } from '../../core/log/checkpoint.js';

export interface Forgery {
  /** The leaves to serve (exact bytes). */
  leaves: Uint8Array[];
  /** The map roots of the checkpoint (the real ones, taken from a real checkpoint, unless a test forges them). */
  mapRoots: MapRoots;
  /** A root to sign instead of the leaves' own (a fork at the same size). */
  root?: Uint8Array;
}

/** The map roots a real checkpoint note carries. */
export function mapRootsOfNote(note: string): MapRoots {
  return readMapRoots(parseCheckpointBody(parseNote(note).body))!;
}

export async function forgingOperator(origin: string, seed: Uint8Array, vkey: string, forge: () => Forgery): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const f = forge();
    const hashes = f.leaves.map((l) => leafHash(l));
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (url.pathname === '/api/v1/log/key') return send(200, 'text/plain', `${vkey}\n`);
    if (url.pathname === '/api/v1/checkpoint') {
      const size = hashes.length;
      const cp = withMapRoots({ origin, size, root: f.root ?? rootFromLeafHashes(hashes), extensions: [] }, f.mapRoots);
      return send(200, 'text/plain', signCheckpoint(cp, origin, seed));
    }
    if (url.pathname === '/api/v1/log/entries') {
      const start = Number(url.searchParams.get('start'));
      const end = Math.min(Number(url.searchParams.get('end')), hashes.length, start + 50);
      const entries = f.leaves.slice(start, end).map((l, i) => ({ index: start + i, leaf: toBase64(l) }));
      return send(200, 'application/json', JSON.stringify({ entries, ...(end < Number(url.searchParams.get('end')) ? { next: end } : {}) }));
    }
    if (url.pathname === '/api/v1/log/proof/consistency') {
      const from = Number(url.searchParams.get('from'));
      const to = Number(url.searchParams.get('to'));
      const read = (level: number, index: number): Uint8Array => rootFromLeafHashes(hashes.slice(index << level, (index + 1) << level));
      return send(200, 'application/json', JSON.stringify({ from, to, proof: consistencyProof(from, to, read).map(toHex) }));
    }
    return send(404, 'application/json', JSON.stringify({ error: { code: 'NOT_FOUND', message: 'not here' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}
