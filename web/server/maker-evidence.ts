// The evidence a patient's page needs to trust a manufacturer's key without trusting this server:
//
//   GET /api/v1/participants/:gln/key-entry?size=N
//   -> {gln, index, leaf: base64 leaf bytes, size: N, leafHash: hex, proof: hex[]}
//
// the newest participant entry below tree size N that admitted or rotated that GLN's key, with its RFC 9162
// inclusion proof in the tree of size N (the size of the checkpoint the page already holds). The page decodes
// the leaf and checks the proof itself (web/shared/evidence.ts); this route only finds the leaf. Participant
// entries are signed by the authority, so the (signer, nonce) index narrows the search to them.
import { Router } from 'express';
import { toBase64, toHex } from '../../core/bytes.js';
import { decodeEntry } from '../../core/entry.js';
import { MedtrailError } from '../../core/errors.js';
import { assertGln } from '../../core/gs1.js';
import type { Ledger } from '../../server/context.js';
import { intParams } from '../../server/http/params.js';

export function makerEvidenceRouter(ledger: Ledger): Router {
  const r = Router();
  const db = ledger.store.db;
  const authority = ledger.store.getMeta('authority_gln') ?? '';
  const rows = db.prepare<[string, number], { idx: number; entry: Buffer }>(
    "SELECT idx, entry FROM leaves WHERE signer = ? AND kind = 'participant' AND idx < ? ORDER BY idx DESC",
  );

  r.get('/participants/:gln/key-entry', (req, res) => {
    const gln = req.params.gln;
    assertGln(gln, 'gln');
    const { size } = intParams(req, ['size'] as const);
    const head = ledger.log.size();
    if (size < 1 || size > head) throw new MedtrailError('PROOF_BAD_SIZE', `size must be 1..${head}`);
    for (const row of rows.iterate(authority, size)) {
      const leaf = new Uint8Array(row.entry.buffer, row.entry.byteOffset, row.entry.byteLength);
      const body = decodeEntry(leaf).body as Record<string, unknown>;
      if (body['gln'] !== gln) continue;
      if (body['action'] !== 'admit' && body['action'] !== 'rotate') break; // revoked: no key to prove
      const p = ledger.log.inclusion(row.idx, size);
      res.json({ gln, index: row.idx, leaf: toBase64(leaf), size, leafHash: toHex(p.leafHash), proof: p.proof.map(toHex) });
      return;
    }
    throw new MedtrailError('NOT_FOUND', `no key entry for ${gln} in the first ${size} leaves`);
  });
  return r;
}
