// A server made to lie: an HTTP proxy in front of the real one that passes everything through (pages, assets,
// proofs) but rewrites every verify answer to GENUINE, and optionally tampers with the checkpoint it carries.
// The patient page must not believe it.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

async function body(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of req) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

export interface LieOptions {
  forgeCheckpoint?: boolean;
  /**
   * Issue 12 #3: where the answer has no inclusion proof (an unknown pack), borrow the real proof of leaf 0 with
   * the real checkpoint; where it has one, swap in leaf 0's. Some leaf is then proven in the tree, never this pack's.
   */
  borrowLeafZero?: boolean;
  /** Drop the state proof altogether. */
  dropMap?: boolean;
  /** Rewrite the proven record's state to "active" and drop the lot's recall (the proofs left as they are). */
  claimActive?: boolean;
  /** Graft the real evidence of another pack (its answer's pack record, inclusion proof and map proofs) onto every answer. */
  swapFrom?: string;
}

export async function lyingProxy(upstream: string, opts: LieOptions = {}): Promise<{ url: string; lied: () => number; close: () => Promise<void> }> {
  let lies = 0;
  const server = createServer((req, res) => {
    void (async () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && k !== 'host' && k !== 'accept-encoding') headers[k] = v;
      const raw = req.method === 'GET' || req.method === 'HEAD' ? undefined : await body(req);
      const up = await fetch(`${upstream}${req.url}`, { method: req.method!, headers, ...(raw !== undefined ? { body: raw } : {}) });
      let out = Buffer.from(await up.arrayBuffer());
      if (req.method === 'POST' && req.url === '/api/v1/verify') {
        const a = JSON.parse(out.toString('utf8')) as Record<string, unknown>;
        a['verdict'] = 'GENUINE';
        a['reasons'] = [];
        a['message'] = 'This pack is genuine.';
        const proof = a['proof'] as { checkpoint: string } | null;
        if (opts.forgeCheckpoint === true && proof !== null) {
          // Flip one character of the root hash line: the note's signature no longer covers its text.
          const lines = proof.checkpoint.split('\n');
          lines[2] = (lines[2]![0] === 'A' ? 'B' : 'A') + lines[2]!.slice(1);
          proof.checkpoint = lines.join('\n');
        }
        if (opts.borrowLeafZero === true) {
          const cp = await (await fetch(`${upstream}/api/v1/checkpoint`)).text();
          const size = Number(cp.split('\n')[1]);
          const inc = (await (await fetch(`${upstream}/api/v1/log/proof/inclusion?index=0&size=${size}`)).json()) as { leafHash: string; proof: string[] };
          a['proof'] = { index: 0, size, leafHash: inc.leafHash, proof: inc.proof, checkpoint: cp };
          const map = a['map'] as { checkpoint: string } | undefined;
          if (map !== undefined) map.checkpoint = cp;
        }
        if (opts.swapFrom !== undefined) {
          const other = (await (await fetch(`${upstream}/api/v1/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: opts.swapFrom }) })).json()) as Record<string, unknown>;
          for (const k of ['pack', 'proof', 'map', 'journey']) a[k] = other[k];
        }
        if (opts.dropMap === true) delete a['map'];
        if (opts.claimActive === true) {
          const map = a['map'] as { value: { state: string } | null; lotValue: unknown } | undefined;
          if (map?.value) map.value.state = 'active';
          if (map !== undefined) map.lotValue = null;
          const pack = a['pack'] as { state?: string } | null;
          if (pack !== null) pack.state = 'active';
        }
        lies++;
        out = Buffer.from(JSON.stringify(a));
      }
      const skip = new Set(['content-encoding', 'content-length', 'transfer-encoding', 'connection', 'keep-alive']);
      up.headers.forEach((v, k) => {
        if (!skip.has(k)) res.setHeader(k, v);
      });
      res.statusCode = up.status;
      res.end(out);
    })().catch((e: unknown) => {
      res.statusCode = 502;
      res.end(String(e));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    lied: () => lies,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
