// The prescription services of one ledger (issue 16; docs/architecture.md, Prescriptions): the answers built
// from the custody tables (server/custody/state.ts owns them; the rules write them), the off-ledger details
// (private.ts) and the access guard (access.ts). Memoized per Ledger like custodyServices.
import { join } from 'node:path';
import { toBase64, toHex } from '../../core/bytes.js';
import { decodeEntry } from '../../core/entry/entry.js';
import type { RxAnswer, RxInclusion, RxViewAnswer } from '../../core/api/rx.js';
import { medicineText, rxStatus, totalPacks } from '../../core/rx/rx.js';
import type { Ledger } from '../context.js';
import { custodyServices, type CustodyServices } from '../custody/services.js';
import type { RxRow } from '../custody/state.js';
import { AccessGuard } from './access.js';
import { PgRxPrivateStore, RxPrivateStore, sqliteRxDetails, type RxDetailsStore } from './private.js';

export interface RxServices {
  custody: CustodyServices;
  priv: RxDetailsStore;
  guard: AccessGuard;
  /** The answer for a prescription; `withPatient` adds the commitment (signed reads of its parties only). */
  answer(row: RxRow, withPatient: boolean, now?: number): RxAnswer;
  /** The patient's answer with the evidence its page checks. */
  view(row: RxRow): RxViewAnswer;
  close(): void;
}

const cache = new WeakMap<Ledger, RxServices>();

export function rxServices(ledger: Ledger): RxServices {
  const have = cache.get(ledger);
  if (have !== undefined) return have;
  const custody = custodyServices(ledger);
  const { state } = custody;
  // With the ledger in PostgreSQL the details are there too, for every server, sealed with the rx.key kept
  // beside the log key (server/rx/private.ts PgRxPrivateStore).
  const priv: RxDetailsStore =
    ledger.pg !== undefined && ledger.keyDir !== undefined ? new PgRxPrivateStore(ledger.pg.pg.rows, join(ledger.keyDir, 'rx.key')) : sqliteRxDetails(new RxPrivateStore(ledger.store.path));
  const party = (gln: string): { gln: string; name: string } => ({ gln, name: state.participant(gln)?.name ?? gln });
  const authority = ledger.store.getMeta('authority_gln') ?? '';

  const answer = (r: RxRow, withPatient: boolean, now = Date.now()): RxAnswer => {
    const product = 'gtin' in r.medicine ? state.product(r.medicine.gtin) : undefined;
    return {
      id: r.id,
      index: r.index,
      leafHash: r.hash,
      at: r.at,
      prescriber: { ...party(r.prescriber), region: r.region, type: r.ptype },
      medicine: r.medicine,
      medicineText: medicineText(r.medicine, product?.name),
      quantity: r.quantity,
      repeats: r.repeats,
      dosage: r.dosage,
      validFrom: r.validFrom,
      validUntil: r.validUntil,
      status: rxStatus({ ...r, cancelled: r.cancelledIndex !== null }, now),
      total: totalPacks(r),
      dispensed: r.dispensed,
      claimedBy: r.claimedBy === null ? null : party(r.claimedBy),
      cancelReason: r.cancelReason,
      dispenses: state.rxDispenses(r.id).map((d) => ({
        index: d.index,
        at: d.at,
        gtin: d.gtin,
        serial: d.serial,
        product: state.product(d.gtin)?.name ?? null,
        pharmacy: party(d.pharmacy),
        undone: d.undoneIndex !== null,
      })),
      ...(withPatient ? { patient: r.patient } : {}),
    };
  };

  const inclusion = (index: number, size: number): RxInclusion => {
    const p = ledger.log.inclusion(index, size);
    return { index, size, leafHash: toHex(p.leafHash), proof: p.proof.map(toHex) };
  };

  const view = (r: RxRow): RxViewAnswer => {
    const cp = ledger.log.served(r.index + 1);
    const leaf = ledger.store.leaf(r.index);
    // The prescriber's key as the log had it when the prescription was signed: the newest admit or rotate below it.
    let pres: { index: number; bytes: Uint8Array } | undefined;
    const leaves = ledger.store.participantLeaves();
    for (let i = leaves.length - 1; i >= 0; i--) {
      const l = leaves[i]!;
      if (l.index >= r.index) continue;
      const e = decodeEntry(l.bytes);
      if (e.signer !== authority || e.kind !== 'participant' || e.body['gln'] !== r.prescriber) continue;
      if (e.body['action'] === 'admit' || e.body['action'] === 'rotate') pres = l;
      break;
    }
    return {
      prescription: answer(r, false),
      evidence: {
        checkpoint: cp.note,
        leaf: leaf === undefined ? '' : toBase64(leaf.bytes),
        inclusion: inclusion(r.index, cp.size),
        prescriberLeaf: pres === undefined ? null : toBase64(pres.bytes),
        prescriberInclusion: pres === undefined ? null : inclusion(pres.index, cp.size),
      },
    };
  };

  const services: RxServices = { custody, priv, guard: new AccessGuard(), answer, view, close: () => priv.close() };
  cache.set(ledger, services);
  return services;
}
