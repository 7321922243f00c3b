// A mirror whose ledger of record is in PostgreSQL (`medtrail mirror --db postgres://...?schema=name`; issue 15,
// docs/architecture.md, Mirrors). Crash-only:
//
//   - the schema holds the same tables as an operator's (server/store/pg/pg-log.ts, pg-custody.ts) and the
//     mirror's meta rows (server/mirror/ledger.ts); a schema of another log or authority, or an operator's own
//     ledger, is MIRROR_MISMATCH, with nothing written;
//   - the process works on a local SQLite copy in a fresh temporary directory (server/mirror/ledger.ts), filled
//     at start from PostgreSQL: every leaf appended again (its hash recomputed and compared with the row), the
//     tree's root compared with PostgreSQL's head, every checkpoint's signature checked with the log key and its
//     root with the copy's; the custody services then replay the rules over it as on any start;
//   - the follower (server/mirror/follower.ts) checks everything as it always does; each page it committed
//     locally goes to PostgreSQL in ONE transaction (push): its leaves and the interior hashes they complete,
//     the head moved by compare-and-swap from the page's start only, the custody rows its rules wrote, and the
//     checkpoint it kept. If that fails the copy is ahead of the database: the follower halts, the process exits,
//     and the next start rebuilds the copy from PostgreSQL. Nothing reaches PostgreSQL that the follower did not
//     first check and commit in the copy.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { equalBytes, fromBase64, toBase64, toHex } from '../../core/bytes.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { isMedtrailError, MedtrailError, messageOf } from '../../core/errors.js';
import { openCheckpoint, parseVerifierKey, type Checkpoint } from '../../core/log/checkpoint.js';
import { readMapRoots } from '../../core/map/extension.js';
import type { Ledger } from '../context.js';
import type { MapService } from '../map/map-service.js';
import type { PgTarget } from '../pg/target.js';
import { prepareAppend, PgLogStore } from '../store/pg/pg-log.js';
import { writeCustody } from '../store/pg/pg-custody.js';
import type { CommittedPage } from './follower.js';
import { openMirrorLedger, type MirrorIdentity } from './ledger.js';

/** Leaves per page, and leaf bytes per page at most, when the copy is filled from PostgreSQL. */
const FILL_PAGE = 1000;
const FILL_BYTES = 16 * 1024 * 1024;

export interface PgMirror {
  /** The working copy the follower checks into and the server answers from. */
  ledger: Ledger;
  /** Its SQLite file. */
  copy: string;
  pg: PgLogStore;
  /** The follower's sink: one committed page into PostgreSQL, in one transaction. */
  push(page: CommittedPage): Promise<void>;
  /** Stores the copy's divergence evidence in the schema's meta (a restarted mirror stays stopped). */
  recordDivergence(): Promise<void>;
  close(): Promise<void>;
}

/** The mirror's meta rows, as openMirrorLedger writes them in SQLite. */
function mirrorMeta(id: MirrorIdentity): Record<string, string> {
  return {
    origin: parseVerifierKey(id.vkey).name,
    log_vkey: id.vkey,
    authority_gln: id.authority.gln,
    authority_public_key: toBase64(id.authority.publicKey),
    mirror_of: id.from,
    created: new Date().toISOString(),
  };
}

/** The schema's meta, checked to be this mirror's; the first run writes it. MIRROR_MISMATCH with nothing written otherwise. */
async function ownMeta(pg: PgLogStore, id: MirrorIdentity, shown: string): Promise<Record<string, string>> {
  let meta = await pg.allMeta();
  if (meta['origin'] === undefined) {
    try {
      await pg.initMeta(mirrorMeta(id));
    } catch (e) {
      // Another mirror process made it first: held to the same checks below.
      if (!isMedtrailError(e, 'STORE_EXISTS')) throw e;
    }
    meta = await pg.allMeta();
  }
  if (meta['mirror_of'] === undefined) throw new MedtrailError('MIRROR_MISMATCH', `${shown} holds a ledger that is not a mirror's (an operator's, made by medtrail init): a mirror keeps a schema of its own`);
  if (meta['log_vkey'] !== id.vkey) throw new MedtrailError('MIRROR_MISMATCH', `${shown} mirrors the log ${String(meta['log_vkey'])}, not ${id.vkey}`);
  const pk = meta['authority_public_key'];
  if (meta['authority_gln'] !== id.authority.gln || pk === undefined || !equalBytes(fromBase64(pk, 32), id.authority.publicKey)) {
    throw new MedtrailError('MIRROR_MISMATCH', `${shown} was made for another authority (${String(meta['authority_gln'])})`);
  }
  return meta;
}

/** Opens the schema, the schema's tables made on first use. */
async function openStore(target: PgTarget): Promise<PgLogStore> {
  try {
    return await PgLogStore.open(target.url, target.schema, { create: false, max: 4 });
  } catch (e) {
    if (!isMedtrailError(e, 'STORE_MISSING')) throw e;
    return PgLogStore.open(target.url, target.schema, { create: true, max: 4 });
  }
}

/** The log key a mirror's schema holds (when the operator cannot be asked), or undefined for a new schema. */
export async function storedPgVkey(target: PgTarget): Promise<string | undefined> {
  let pg: PgLogStore;
  try {
    pg = await PgLogStore.open(target.url, target.schema, { create: false, max: 1 });
  } catch (e) {
    if (isMedtrailError(e, 'STORE_MISSING')) return undefined;
    throw e;
  }
  try {
    return await pg.getMeta('log_vkey');
  } finally {
    await pg.close();
  }
}

function altered(reason: string): MedtrailError {
  return new MedtrailError('LOG_INTEGRITY', `the mirror's ledger in PostgreSQL does not hold: ${reason}`);
}

/**
 * Once the custody services replayed the copy: when it stands exactly at its newest checkpoint, the state maps
 * its leaves give must be the ones that checkpoint signs (a checkpoint row the follower never verified is found).
 */
export function checkCopyMaps(ledger: Ledger, map: MapService): void {
  const cp = ledger.store.latestCheckpoint();
  if (cp === undefined || cp.size !== ledger.store.head().size) return;
  const shown = readMapRoots(openCheckpoint(cp.note, ledger.log.verifierKey));
  const mine = ledger.store.transaction(() => map.catchUp(cp.size));
  if (shown === undefined || !equalBytes(shown.packs, mine.packs) || !equalBytes(shown.lots, mine.lots)) {
    throw altered(`the checkpoint of size ${cp.size} signs state maps other than those its leaves give`);
  }
}

/**
 * `cache`: a copy kept across restarts (`--cache FILE`), brought up from where it stands; it must be a prefix of
 * the schema's log (STORE_MISMATCH otherwise: remove the file). Without it, a fresh temporary copy each start.
 */
export async function openPgMirror(target: PgTarget, id: MirrorIdentity, cache?: string): Promise<PgMirror> {
  installNodeCrypto();
  const pg = await openStore(target);
  let tmp: string | undefined;
  let ledger: Ledger | undefined;
  try {
    const meta = await ownMeta(pg, id, target.shown);
    if (cache === undefined) tmp = mkdtempSync(join(tmpdir(), 'medtrail-mirror-copy-'));
    const dir = tmp;
    const copy = cache ?? join(tmp!, 'mirror.db');
    ledger = openMirrorLedger(copy, id);
    const { store, log } = ledger;
    const diverged = meta['mirror_diverged'];
    if (diverged !== undefined) store.setMeta('mirror_diverged', diverged);
    // A kept copy: the tree it holds must be the schema's at that size.
    const head = await pg.head();
    const kept = store.head();
    if (kept.size > head.size || (kept.size > 0 && !equalBytes(await pg.rootAt(kept.size), kept.root))) {
      throw new MedtrailError('STORE_MISMATCH', `the kept copy ${copy} holds a tree of ${kept.size} leaves that the mirror's database (${head.size} leaves) does not contain: remove it, and the next start copies the database afresh`);
    }
    // The leaves, each hash recomputed from its bytes and held to the row's.
    for (let start = kept.size; start < head.size; ) {
      const rows = await pg.leafRows(start, Math.min(head.size, start + FILL_PAGE), FILL_BYTES);
      if (rows.length === 0 || rows.some((r, i) => r.index !== start + i)) throw altered(`its leaves from ${start} are not all there`);
      const appended = log.append(rows.map((r) => ({ bytes: r.bytes, kind: r.kind, signer: r.signer, nonce: r.nonce, at: r.at })));
      rows.forEach((r, i) => {
        if (!equalBytes(appended[i]!.leafHash, r.hash)) throw altered(`leaf ${r.index} hashes to ${toHex(appended[i]!.leafHash)}, its row says ${toHex(r.hash)}`);
      });
      start += rows.length;
    }
    if (!equalBytes(store.head().root, head.root)) throw altered(`its head root at ${head.size} leaves is not the root of its leaves`);
    // The checkpoints: signed by the log, of the tree the copy holds.
    const held = store.latestCheckpoint()?.size ?? -1;
    for (const cp of await pg.checkpoints()) {
      if (cp.size <= held) continue;
      let c: Checkpoint;
      try {
        c = openCheckpoint(cp.note, log.verifierKey);
      } catch (e) {
        throw altered(`the checkpoint of size ${cp.size} does not open with the log key (${messageOf(e)})`);
      }
      if (c.size !== cp.size || !equalBytes(c.root, cp.root)) throw altered(`the checkpoint row of size ${cp.size} is not its note's`);
      if (cp.size > head.size || !equalBytes(log.rootAt(cp.size), cp.root)) throw altered(`the checkpoint of size ${cp.size} is not of the tree its leaves give`);
      store.saveCheckpoint(cp);
    }
    const own = ledger;
    const push = async (page: CommittedPage): Promise<void> => {
      const end = page.start + page.leaves.length;
      const committed = await pg.lockedAppend(async (at) => {
        if (at.size !== page.start) throw new MedtrailError('STORE_CONFLICT', `the mirror's database holds ${at.size} leaves, the page starts at ${page.start}`);
        const known = await pg.frontierOf(at.size);
        const prepared = prepareAppend(
          at.size,
          page.leaves.map((l) => ({ bytes: l.bytes, kind: l.kind, signer: l.signer, nonce: l.nonce, at: l.at, leafHash: l.hash })),
          known,
        );
        if (!equalBytes(prepared.head.root, page.root)) throw altered(`its tree of ${at.size} leaves and the page give another root at ${end} than the copy's`);
        return {
          ...prepared,
          also: async (q) => {
            if (page.leaves.length > 0) await writeCustody(q, pg.schema, page.custody, end);
            if (page.checkpoint !== undefined) await pg.saveCheckpoint(page.checkpoint, q);
          },
        };
      });
      if (committed === undefined) throw new MedtrailError('STORE_CONFLICT', 'nothing was written');
    };
    return {
      ledger: own,
      copy,
      pg,
      push,
      recordDivergence: async () => {
        const ev = own.store.getMeta('mirror_diverged');
        if (ev !== undefined) await pg.rows("INSERT INTO $schema.meta (key, value) VALUES ('mirror_diverged', $1) ON CONFLICT (key) DO NOTHING", [ev]);
      },
      close: async () => {
        own.close();
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
        await pg.close();
      },
    };
  } catch (e) {
    ledger?.close();
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
    await pg.close().catch(() => undefined);
    throw e;
  }
}
