// A mirror's own ledger (docs/architecture.md, Mirrors): an SQLite database like the one `medtrail init` makes,
// holding the SAME log as the operator's (same origin, same log verifier key, same leaves at the same indexes,
// so the same tree root), but no log private key: its LogService appends leaves the mirror checked and never
// signs a checkpoint. The checkpoints it keeps are the operator's notes it verified (server/mirror/follower.ts).
//
//   meta 'origin', 'log_vkey', 'authority_gln', 'authority_public_key'  as `medtrail init` writes them
//   meta 'mirror_of'  the operator's URL it follows (informative)
import { toBase64, equalBytes, fromBase64 } from '../../core/bytes.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { MedtrailError } from '../../core/errors.js';
import { parseVerifierKey } from '../../core/log/checkpoint.js';
import type { Ledger } from '../context.js';
import { LogService } from '../log/log-service.js';
import { openDatabase, SqliteLedgerStore } from '../store/ledger-store.js';

export interface MirrorIdentity {
  /** The log's verifier key (`GET /api/v1/log/key`, or the mirror's policy). */
  vkey: string;
  /** The authority that admits participants: its GLN and public key, given to the mirror out of band. */
  authority: { gln: string; publicKey: Uint8Array };
  /** The operator's URL. */
  from: string;
}

/**
 * Opens the mirror database at `db`, creating it for `id` when missing. An existing one must be of the same
 * log and authority (MIRROR_MISMATCH): a mirror never mixes two ledgers in one file.
 */
export function openMirrorLedger(db: string, id: MirrorIdentity): Ledger {
  installNodeCrypto();
  const { name: origin, publicKey } = parseVerifierKey(id.vkey);
  const store = new SqliteLedgerStore(openDatabase(db, { create: true }));
  try {
    if (store.getMeta('origin') === undefined) {
      store.transaction(() => {
        store.setMeta('origin', origin);
        store.setMeta('log_vkey', id.vkey);
        store.setMeta('authority_gln', id.authority.gln);
        store.setMeta('authority_public_key', toBase64(id.authority.publicKey));
        store.setMeta('mirror_of', id.from);
        store.setMeta('created', new Date().toISOString());
      });
    }
    const held = { vkey: store.getMeta('log_vkey'), gln: store.getMeta('authority_gln'), pk: store.getMeta('authority_public_key') };
    if (held.vkey !== id.vkey) throw new MedtrailError('MIRROR_MISMATCH', `${db} mirrors the log ${String(held.vkey)}, not ${id.vkey}`);
    if (held.gln !== id.authority.gln || held.pk === undefined || !equalBytes(fromBase64(held.pk, 32), id.authority.publicKey)) {
      throw new MedtrailError('MIRROR_MISMATCH', `${db} was made for another authority (${String(held.gln)})`);
    }
    const log = new LogService(store, { origin, publicKey });
    return { store, log, close: () => store.close() };
  } catch (e) {
    store.close();
    throw e;
  }
}
