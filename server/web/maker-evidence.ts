// The evidence a patient's page needs to trust a manufacturer's key without trusting this server:
//
//   GET /api/v1/products/:gtin/maker-key[?serial=<serial>]
//   -> {gtin, gln, index, leaf: base64 leaf bytes, size, leafHash: hex, proof: hex[], checkpoint: note}
//
// the participant entry that admitted or rotated the key of the GTIN's manufacturer, with its RFC 9162
// inclusion proof against a signed checkpoint. With a serial of a registered pack it is the key that was valid
// when the pack's batch was registered (the newest entry below the batch's index): a pack tagged before the
// manufacturer rotated its key still verifies with the key that signed it. Without one, the current key. The page decodes the leaf and checks everything itself
// (web/common/evidence.ts: signature of the checkpoint with the pinned log key, the proof, the role, and that
// the entry's prefixes cover the GTIN); this route only finds the leaf. It is keyed by GTIN, which the page
// reads from its own URI, so the page asks for it at the same time as the verdict (one round trip, not two).
// Participant entries are signed by the authority, so the (signer, nonce) index narrows the search to them.
import { Router } from 'express';
import { toBase64, toHex } from '../../core/bytes.js';
import { decodeEntry } from '../../core/entry/entry.js';
import { MedtrailError } from '../../core/errors.js';
import { normalizeGtin, validateSerial } from '../../core/gs1/identifiers.js';
import type { Ledger } from '../context.js';
import { custodyServices } from '../custody/services.js';

export function makerEvidenceRouter(ledger: Ledger): Router {
  const r = Router();
  const authority = ledger.store.getMeta('authority_gln') ?? '';

  r.get('/products/:gtin/maker-key', (req, res) => {
    const gtin = normalizeGtin(req.params.gtin, 'gtin');
    const { state } = custodyServices(ledger);
    const product = state.product(gtin);
    if (product === undefined) throw new MedtrailError('PRODUCT_UNKNOWN', `GTIN ${gtin} is not registered`);
    const gln = product.manufacturer;
    const serial = req.query['serial'];
    if (serial !== undefined && typeof serial !== 'string') throw new MedtrailError('BAD_INPUT', 'serial must be given once', { fields: [{ path: 'serial', code: 'BAD_INPUT', message: 'given once' }] });
    const pack = serial === undefined ? undefined : state.pack(gtin, validateSerial(serial, 'serial'));
    const below = pack?.batchIndex ?? Number.MAX_SAFE_INTEGER;
    let found: { idx: number; leaf: Uint8Array } | undefined;
    const leaves = ledger.store.participantLeaves();
    for (let i = leaves.length - 1; i >= 0; i--) {
      const { index, bytes } = leaves[i]!;
      if (index >= below) continue;
      const e = decodeEntry(bytes);
      if (e.signer !== authority || e.kind !== 'participant' || e.body.gln !== gln) continue;
      if (e.body.action === 'admit' || e.body.action === 'rotate') found = { idx: index, leaf: bytes };
      break; // the newest entry about this GLN (below the batch) decides; a revoke leaves no key to prove
    }
    if (found !== undefined) {
      const cp = ledger.log.checkpoint(found.idx + 1);
      const p = ledger.log.inclusion(found.idx, cp.size);
      res.setHeader('Cache-Control', 'no-store');
      res.json({ gtin, gln, index: found.idx, leaf: toBase64(found.leaf), size: cp.size, leafHash: toHex(p.leafHash), proof: p.proof.map(toHex), checkpoint: cp.note });
      return;
    }
    throw new MedtrailError('NOT_FOUND', `no current key entry for the manufacturer ${gln}`);
  });
  return r;
}
