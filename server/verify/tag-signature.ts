// The tag's signature (docs/architecture.md, Tag payload): `s=` is base64url of the manufacturer's Ed25519 signature
// over packIdentityBytes({gtin, lot, serial, expiry}) (core/tag/pack.ts). It is checked against the key of the
// manufacturer of the GTIN, as the log says it: that manufacturer's current key first, then any key the log
// ever admitted for it (a key rotated since the batch was signed still made that batch's tags).
//
// When it does not verify, the other manufacturers' keys are tried, so that a tag signed by a real participant
// who is not this product's maker is named as such (TAG_SIGNATURE_WRONG_KEY) rather than as noise; this runs
// only on the failure path and over at most MAX_OTHER_KEYS keys, so a flood of forged tags costs bounded work.
//
// Valid results are cached (signature + identity): a pack scanned again costs a map lookup, not a verification.
import { fromBase64, fromBase64Url } from '../../core/bytes.js';
import { decodeEntry } from '../../core/entry/entry.js';
import { verify, SIGNATURE_BYTES } from '../../core/crypto/ed25519.js';
import { packIdentityBytes, type PackIdentity } from '../../core/tag/pack.js';
import type { KeyBook } from '../log/keybook.js';
import type { LedgerStore } from '../store/ledger-store.js';

export type TagSignatureResult = 'valid' | 'invalid' | 'wrong_key';

const MAX_OTHER_KEYS = 64;
const MAX_CACHE = 100_000;

export class TagSignatureChecker {
  private readonly valid = new Map<string, true>();
  private readonly history = new Map<string, { current: string; keys: Uint8Array[] }>();

  constructor(
    private readonly keys: KeyBook,
    private readonly store: LedgerStore,
  ) {}

  /** Checks `sig` (base64url) over `id` against the keys of `manufacturer` (a GLN). */
  check(id: PackIdentity, sig: string, manufacturer: string): TagSignatureResult {
    const cacheKey = `${sig}|${id.gtin}|${id.serial}|${id.lot}|${id.expiry}|${manufacturer}`;
    if (this.valid.has(cacheKey)) return 'valid';
    let signature: Uint8Array;
    let message: Uint8Array;
    try {
      signature = fromBase64Url(sig);
      message = packIdentityBytes(id);
    } catch {
      return 'invalid';
    }
    if (signature.length !== SIGNATURE_BYTES) return 'invalid';
    const current = this.keys.get(manufacturer)?.publicKey;
    if (current !== undefined && verify(message, signature, current)) return this.remember(cacheKey);
    for (const k of this.pastKeys(manufacturer)) {
      if (verify(message, signature, k)) return this.remember(cacheKey);
    }
    let tried = 0;
    for (const r of this.keys.all()) {
      if (r.gln === manufacturer || r.role !== 'manufacturer') continue;
      if (tried++ >= MAX_OTHER_KEYS) break;
      if (verify(message, signature, r.publicKey)) return 'wrong_key';
    }
    return 'invalid';
  }

  private remember(key: string): 'valid' {
    if (this.valid.size >= MAX_CACHE) this.valid.clear();
    this.valid.set(key, true);
    return 'valid';
  }

  /** Every key the log ever admitted or rotated in for `gln` (read from the log; cached until it rotates). */
  private pastKeys(gln: string): Uint8Array[] {
    const current = this.keys.get(gln);
    if (current === undefined) return [];
    const tag = Buffer.from(current.publicKey).toString('base64');
    const hit = this.history.get(gln);
    if (hit !== undefined && hit.current === tag) return hit.keys;
    const keys: Uint8Array[] = [];
    for (const leaf of this.store.participantLeaves()) {
      const e = decodeEntry(leaf.bytes);
      const b = e.body;
      if (e.signer !== this.keys.authority.gln || b['gln'] !== gln || typeof b['publicKey'] !== 'string') continue;
      try {
        const k = fromBase64(b['publicKey'], 32);
        if (Buffer.from(k).toString('base64') !== tag) keys.push(k);
      } catch {
        /* a malformed key in the log verifies nothing */
      }
    }
    this.history.set(gln, { current: tag, keys });
    return keys;
  }
}
