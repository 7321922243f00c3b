// The tag's signature (docs/architecture.md, Tag payload): `s=` is base64url of the manufacturer's Ed25519 signature
// over packIdentityBytes({gtin, lot, serial, expiry}) (core/tag/pack.ts). A pack's tag is checked against ONE
// key: the one the log held for the maker when the pack's batch was registered (its newest admit or rotate
// before the batch entry). A key rotated since made the older batches' tags and only those; the new key makes
// only the later batches'. So a rotated-out key (perhaps leaked) cannot make a tag that passes for a pack of a
// later lot, nor the new key one for an older lot. The patient page proves the same key (server/web/
// maker-evidence.ts answers the key entry below the batch), so the page and the server agree.
//
// Revoked makers: a revocation says the maker's keys can no longer be trusted, whenever they signed, so a tag of
// any of its packs is TAG_KEY_REVOKED (SUSPICIOUS: the pack may be genuine, its tag cannot vouch for it).
//
// When the signature does not verify, the other manufacturers' current keys are tried, so that a tag signed by
// a real participant who is not this product's maker is named as such (TAG_SIGNATURE_WRONG_KEY) rather than as
// noise; this runs only on the failure path and over at most MAX_OTHER_KEYS keys, so a flood of forged tags
// costs bounded work. Valid results are cached (signature + identity + batch).
import { fromBase64, fromBase64Url } from '../../core/bytes.js';
import { decodeEntry } from '../../core/entry/entry.js';
import { verify, SIGNATURE_BYTES } from '../../core/crypto/ed25519.js';
import { packIdentityBytes, type PackIdentity } from '../../core/tag/pack.js';
import type { KeyBook } from '../log/keybook.js';
import type { LedgerStore } from '../store/ledger-store.js';

export type TagSignatureResult = 'valid' | 'invalid' | 'wrong_key' | 'key_revoked';

const MAX_OTHER_KEYS = 64;
const MAX_CACHE = 100_000;

/** One key the log held for a maker, from the leaf that admitted or rotated it in. */
interface KeySpan {
  index: number;
  key: Uint8Array;
}

export class TagSignatureChecker {
  private readonly valid = new Map<string, true>();
  // Per maker: its keys in log order, read from the participant leaves; rebuilt when the key book moves on.
  private readonly history = new Map<string, { current: string; spans: KeySpan[] }>();

  constructor(
    private readonly keys: KeyBook,
    private readonly store: LedgerStore,
  ) {}

  /** Checks `sig` (base64url) over `id` against the key `manufacturer` (a GLN) held when leaf `batchIndex` was registered. */
  check(id: PackIdentity, sig: string, manufacturer: string, batchIndex: number): TagSignatureResult {
    const maker = this.keys.get(manufacturer);
    if (maker?.revoked === true) return 'key_revoked';
    const cacheKey = `${sig}|${id.gtin}|${id.serial}|${id.lot}|${id.expiry}|${manufacturer}|${batchIndex}`;
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
    const key = this.keyAt(manufacturer, batchIndex);
    if (key !== undefined && verify(message, signature, key)) return this.remember(cacheKey);
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

  /** The key the log held for `gln` just before leaf `index`: its newest admit or rotate below it. */
  private keyAt(gln: string, index: number): Uint8Array | undefined {
    let found: Uint8Array | undefined;
    for (const s of this.spans(gln)) {
      if (s.index >= index) break;
      found = s.key;
    }
    return found;
  }

  /** Every key the log admitted or rotated in for `gln`, in log order (cached until its current key changes). */
  private spans(gln: string): KeySpan[] {
    const current = this.keys.get(gln);
    if (current === undefined) return [];
    const tag = Buffer.from(current.publicKey).toString('base64');
    const hit = this.history.get(gln);
    if (hit !== undefined && hit.current === tag) return hit.spans;
    const spans: KeySpan[] = [];
    for (const leaf of this.store.participantLeaves()) {
      const e = decodeEntry(leaf.bytes);
      const b = e.body;
      if (e.signer !== this.keys.authority.gln || b['gln'] !== gln || typeof b['publicKey'] !== 'string') continue;
      try {
        spans.push({ index: leaf.index, key: fromBase64(b['publicKey'], 32) });
      } catch {
        /* a malformed key in the log verifies nothing */
      }
    }
    this.history.set(gln, { current: tag, spans });
    return spans;
  }
}
