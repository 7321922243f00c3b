// Who may sign, as the log itself says: the authority's key (fixed at `medtrail init`) and every key that a
// `participant` entry admitted, rotated or revoked. Replaying the log through a KeyBook gives, at each index,
// the key that was valid then; `medtrail audit` does exactly that, without trusting any index table.
//
// participant body (signed by the authority):
//   { gln, name, role, publicKey (base64, 32 bytes), prefixes: string[], action: 'admit' | 'rotate' | 'revoke' }
import { fromBase64 } from '../../core/bytes.js';
import type { Entry } from '../../core/entry/entry.js';

export { ROLES, type Role } from '../../core/entry/bodies.js';
import { ROLES, type Role } from '../../core/entry/bodies.js';

export interface KeyRecord {
  gln: string;
  name: string;
  role: Role | 'authority';
  publicKey: Uint8Array;
  prefixes: string[];
  revoked: boolean;
}

export class KeyBook {
  private readonly byGln = new Map<string, KeyRecord>();
  private changes = 0;

  /**
   * The keys of one ledger: its authority, and `origin`, the log origin that every entry and signed request
   * made for this ledger signs (core/entry/entry.ts, core/api/request-auth.ts).
   */
  constructor(
    readonly authority: { gln: string; publicKey: Uint8Array },
    readonly origin: string,
  ) {
    this.byGln.set(authority.gln, {
      gln: authority.gln,
      name: 'authority',
      role: 'authority',
      publicKey: authority.publicKey,
      prefixes: [],
      revoked: false,
    });
  }

  get(gln: string): KeyRecord | undefined {
    return this.byGln.get(gln);
  }

  /** The key that must have signed an entry by `gln` now, or undefined when unknown or revoked. */
  activeKey(gln: string): Uint8Array | undefined {
    const r = this.byGln.get(gln);
    return r === undefined || r.revoked ? undefined : r.publicKey;
  }

  /** Moves whenever a key is admitted, rotated or revoked (copies of the book, such as the entry-check worker's, compare it). */
  get version(): number {
    return this.changes;
  }

  /** Applies a participant entry already accepted into the log (its validity is the custody rules' job). */
  observe(entry: Entry): void {
    if (entry.kind !== 'participant' || entry.signer !== this.authority.gln) return;
    const b = entry.body;
    const gln = b['gln'];
    if (typeof gln !== 'string') return;
    const action = b['action'];
    const prev = this.byGln.get(gln);
    if (action === 'revoke') {
      if (prev !== undefined) prev.revoked = true;
      this.changes++;
      return;
    }
    const pk = b['publicKey'];
    if (typeof pk !== 'string') return;
    let publicKey: Uint8Array;
    try {
      publicKey = fromBase64(pk, 32);
    } catch {
      return;
    }
    const role = ROLES.find((r) => r === b['role']) ?? prev?.role;
    if (role === undefined) return;
    this.byGln.set(gln, {
      gln,
      name: typeof b['name'] === 'string' ? b['name'] : (prev?.name ?? gln),
      role,
      publicKey,
      prefixes: Array.isArray(b['prefixes']) ? b['prefixes'].filter((p): p is string => typeof p === 'string') : (prev?.prefixes ?? []),
      revoked: false,
    });
    this.changes++;
  }

  all(): KeyRecord[] {
    return [...this.byGln.values()];
  }
}
