// A manufacturer's key, proven from the log itself (docs/architecture.md, Trust without a centre): the
// participant entry that admitted or rotated the maker's key, shown to be in a checkpoint's tree at its index,
// naming the maker's GLN with the manufacturer role and a company prefix that covers the GTIN. The patient
// page (web/common/evidence.ts), `medtrail verify --policy` and `medtrail-reader --policy` check a tag's
// signature with a key proven this way, so a server cannot vouch for a tag its maker never signed.
// Pure; every failure is a coded error.
import { fromBase64 } from '../bytes.js';
import { decodeEntry, entryLeafHash } from '../entry/entry.js';
import { MedtrailError } from '../errors.js';
import { gtinHasCompanyPrefix } from '../gs1/identifiers.js';
import type { Checkpoint } from '../log/checkpoint.js';
import { verifyInclusion } from '../log/merkle.js';

/** The maker's participant leaf, its index and its RFC 9162 inclusion proof in the checkpoint it is checked against. */
export interface MakerKeyEvidence {
  index: number;
  leaf: Uint8Array;
  proof: readonly Uint8Array[];
}

/**
 * The Ed25519 key of the manufacturer `gln` (any, when null) for `gtin`, from `ev` proven in `cp`'s tree.
 * Inclusion failures keep their codes (PROOF_MISMATCH, ...); MAKER_ENTRY_MISMATCH when the leaf is not an admit
 * or rotate of that GLN, MAKER_NOT_MANUFACTURER, MAKER_PREFIX_MISMATCH when no prefix of the entry covers the GTIN.
 */
export function provenMakerKey(ev: MakerKeyEvidence, cp: Checkpoint, gln: string | null, gtin: string | undefined): Uint8Array {
  const entry = decodeEntry(ev.leaf);
  verifyInclusion(entryLeafHash(entry), ev.index, cp.size, ev.proof, cp.root);
  const b = entry.body;
  if (entry.kind !== 'participant' || (gln !== null && b['gln'] !== gln) || (b['action'] !== 'admit' && b['action'] !== 'rotate')) {
    throw new MedtrailError('MAKER_ENTRY_MISMATCH', `leaf ${ev.index} does not admit or rotate the key of ${gln ?? 'the manufacturer'}`);
  }
  if (b['role'] !== 'manufacturer') throw new MedtrailError('MAKER_NOT_MANUFACTURER', `leaf ${ev.index} admits ${String(b['gln'])} in another role than manufacturer`);
  const prefixes = Array.isArray(b['prefixes']) ? b['prefixes'] : [];
  if (gtin !== undefined && !prefixes.some((p) => typeof p === 'string' && gtinHasCompanyPrefix(gtin, p))) {
    throw new MedtrailError('MAKER_PREFIX_MISMATCH', `no company prefix of ${String(b['gln'])} covers GTIN ${gtin}`);
  }
  return fromBase64(String(b['publicKey']), 32);
}
