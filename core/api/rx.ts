// The prescription API's answers (issue 16; docs/architecture.md, Prescriptions and The wire): their shapes,
// declared once, and the parsers every client reads them with.
import type { Medicine } from '../entry/bodies.js';
import { RX_STATUSES, type RxStatus } from '../rx/rx.js';
import type { PartyRef } from './answers.js';
import { WireReader, type Json } from './wire.js';

export interface RxDispenseAnswer {
  index: number;
  at: string;
  gtin: string;
  serial: string;
  /** The product's name, when registered. */
  product: string | null;
  pharmacy: PartyRef;
  /** True when an undo reversed the dispense. */
  undone: boolean;
}

/**
 * A prescription as the ledger has it. The public part (the patient's page) has no `patient`: nothing a public
 * answer carries links the prescription to a person. A signed read by its prescriber, the claiming or a
 * dispensing pharmacy or a regulator adds the commitment.
 */
export interface RxAnswer {
  id: string;
  index: number;
  leafHash: string;
  at: string;
  prescriber: PartyRef & { region: string; type: string };
  medicine: Medicine;
  /** The medicine in words (product name for a GTIN). */
  medicineText: string;
  quantity: number;
  repeats: number;
  dosage: string;
  validFrom: string;
  validUntil: string;
  status: RxStatus;
  /** Packs allowed in all (quantity x (1 + repeats)) and dispensed so far. */
  total: number;
  dispensed: number;
  claimedBy: PartyRef | null;
  cancelReason: string | null;
  dispenses: RxDispenseAnswer[];
  patient?: string;
}

export interface RxInclusion {
  index: number;
  size: number;
  leafHash: string;
  proof: string[];
}

/**
 * POST /rx/view: the prescription for the holder of its access code, with what the page checks itself
 * (web/common/rx-evidence.ts): the prescribe leaf and the prescriber's participant leaf, each with its inclusion
 * proof against `checkpoint`.
 */
export interface RxViewAnswer {
  prescription: RxAnswer;
  evidence: { checkpoint: string; leaf: string; inclusion: RxInclusion; prescriberLeaf: string | null; prescriberInclusion: RxInclusion | null };
}

/** POST /rx: where the prescription went. */
export interface RxCreatedAnswer {
  id: string;
  index: number;
  leafHash: string;
}

export interface RxListAnswer {
  prescriptions: RxAnswer[];
}

/** One cell of a report; a count under the threshold is null (suppressed). */
export interface RxReportRow {
  month?: string;
  region?: string;
  substance?: string;
  prescriberType?: string;
  prescriptions: number | null;
  packsPrescribed: number | null;
  packsDispensed: number | null;
}

export const RX_REPORT_DIMENSIONS = ['month', 'region', 'substance', 'prescriberType'] as const;
export type RxReportDimension = (typeof RX_REPORT_DIMENSIONS)[number];

export interface RxReportAnswer {
  by: RxReportDimension[];
  /** Counts below this are suppressed (null), so that no cell can single out a patient. */
  threshold: number;
  rows: RxReportRow[];
}

// ---- parsers ------------------------------------------------------------------------------------------------

function party(r: WireReader, v: unknown, p: string): PartyRef | undefined {
  const o = r.obj(v, p);
  const gln = r.str(o, 'gln', p);
  const name = r.str(o, 'name', p);
  return gln === undefined || name === undefined ? undefined : { gln, name };
}

function medicine(r: WireReader, v: unknown, p: string): Medicine | undefined {
  const o = r.obj(v, p);
  if (o === undefined) return undefined;
  if (o['gtin'] !== undefined) {
    const gtin = r.str(o, 'gtin', p);
    return gtin === undefined ? undefined : { gtin };
  }
  const substance = r.str(o, 'substance', p);
  const strength = r.str(o, 'strength', p);
  const form = r.str(o, 'form', p);
  const atc = r.optStr(o, 'atc', p);
  if (substance === undefined || strength === undefined || form === undefined) return undefined;
  return { substance, strength, form, ...(atc !== undefined ? { atc } : {}) };
}

function dispenseOf(r: WireReader, v: unknown, p: string): RxDispenseAnswer | undefined {
  const o = r.obj(v, p);
  const index = r.int(o, 'index', p);
  const at = r.str(o, 'at', p);
  const gtin = r.str(o, 'gtin', p);
  const serial = r.str(o, 'serial', p);
  const product = r.strOrNull(o, 'product', p);
  const pharmacy = party(r, o?.['pharmacy'], `${p}.pharmacy`);
  const undone = r.bool(o, 'undone', p);
  if (index === undefined || at === undefined || gtin === undefined || serial === undefined || pharmacy === undefined || undone === undefined) return undefined;
  return { index, at, gtin, serial, product, pharmacy, undone };
}

export function readRx(r: WireReader, v: unknown, p: string): RxAnswer | undefined {
  const o = r.obj(v, p);
  const po = r.obj(o?.['prescriber'], `${p}.prescriber`);
  const pres = party(r, po, `${p}.prescriber`);
  const region = r.str(po, 'region', `${p}.prescriber`);
  const type = r.str(po, 'type', `${p}.prescriber`);
  const claimed = o?.['claimedBy'] === null || o?.['claimedBy'] === undefined ? null : party(r, o['claimedBy'], `${p}.claimedBy`);
  const out = {
    id: r.str(o, 'id', p),
    index: r.int(o, 'index', p),
    leafHash: r.str(o, 'leafHash', p),
    at: r.str(o, 'at', p),
    medicine: medicine(r, o?.['medicine'], `${p}.medicine`),
    medicineText: r.str(o, 'medicineText', p),
    quantity: r.int(o, 'quantity', p),
    repeats: r.int(o, 'repeats', p),
    dosage: r.str(o, 'dosage', p),
    validFrom: r.str(o, 'validFrom', p),
    validUntil: r.str(o, 'validUntil', p),
    status: r.oneOf(o, 'status', p, RX_STATUSES),
    total: r.int(o, 'total', p),
    dispensed: r.int(o, 'dispensed', p),
    cancelReason: r.strOrNull(o, 'cancelReason', p),
    dispenses: r.list(o, 'dispenses', p, (x, q) => dispenseOf(r, x, q)),
    patient: r.optStr(o, 'patient', p),
  };
  if (pres === undefined || region === undefined || type === undefined || claimed === undefined) return undefined;
  const { id, index, leafHash, at, medicine: m, medicineText, quantity, repeats, dosage, validFrom, validUntil, status, total, dispensed, cancelReason, dispenses, patient } = out;
  if (id === undefined || index === undefined || leafHash === undefined || at === undefined || m === undefined || medicineText === undefined) return undefined;
  if (quantity === undefined || repeats === undefined || dosage === undefined || validFrom === undefined || validUntil === undefined || status === undefined) return undefined;
  if (total === undefined || dispensed === undefined) return undefined;
  return {
    id,
    index,
    leafHash,
    at,
    prescriber: { ...pres, region, type },
    medicine: m,
    medicineText,
    quantity,
    repeats,
    dosage,
    validFrom,
    validUntil,
    status,
    total,
    dispensed,
    claimedBy: claimed,
    cancelReason,
    dispenses,
    ...(patient !== undefined ? { patient } : {}),
  };
}

export function parseRx(v: unknown): RxAnswer {
  const r = new WireReader('prescription answer');
  return r.done(readRx(r, v, ''));
}

export function parseRxList(v: unknown): RxListAnswer {
  const r = new WireReader('prescription list');
  const o = r.obj(v, '');
  return r.done({ prescriptions: r.list(o, 'prescriptions', '', (x, p) => readRx(r, x, p)) });
}

function inclusion(r: WireReader, v: unknown, p: string): RxInclusion | undefined {
  const o = r.obj(v, p);
  const index = r.int(o, 'index', p);
  const size = r.int(o, 'size', p);
  const leafHash = r.str(o, 'leafHash', p);
  const proof = r.strings(o, 'proof', p);
  return index === undefined || size === undefined || leafHash === undefined ? undefined : { index, size, leafHash, proof };
}

export function parseRxView(v: unknown): RxViewAnswer {
  const r = new WireReader('prescription view');
  const o = r.obj(v, '');
  const prescription = readRx(r, o?.['prescription'], '.prescription');
  const e: Json | undefined = r.obj(o?.['evidence'], '.evidence');
  const checkpoint = r.str(e, 'checkpoint', '.evidence');
  const leaf = r.str(e, 'leaf', '.evidence');
  const inc = inclusion(r, e?.['inclusion'], '.evidence.inclusion');
  const prescriberLeaf = r.strOrNull(e, 'prescriberLeaf', '.evidence');
  const prescriberInclusion = e?.['prescriberInclusion'] === null || e?.['prescriberInclusion'] === undefined ? null : (inclusion(r, e['prescriberInclusion'], '.evidence.prescriberInclusion') ?? null);
  const ok = prescription !== undefined && checkpoint !== undefined && leaf !== undefined && inc !== undefined;
  return r.done(ok ? { prescription, evidence: { checkpoint, leaf, inclusion: inc, prescriberLeaf, prescriberInclusion } } : undefined);
}

export function parseRxCreated(v: unknown): RxCreatedAnswer {
  const r = new WireReader('prescription created');
  const o = r.obj(v, '');
  const id = r.str(o, 'id', '');
  const index = r.int(o, 'index', '');
  const leafHash = r.str(o, 'leafHash', '');
  return r.done(id === undefined || index === undefined || leafHash === undefined ? undefined : { id, index, leafHash });
}

export function parseRxCreatedList(v: unknown): RxCreatedAnswer[] {
  const r = new WireReader('prescriptions created');
  const o = r.obj(v, '');
  return r.done(
    r.list(o, 'items', '', (x, p) => {
      const xo = r.obj(x, p);
      const id = r.str(xo, 'id', p);
      const index = r.int(xo, 'index', p);
      const leafHash = r.str(xo, 'leafHash', p);
      return id === undefined || index === undefined || leafHash === undefined ? undefined : { id, index, leafHash };
    }),
  );
}

function countOrNull(r: WireReader, o: Json | undefined, k: string, p: string): number | null {
  return o?.[k] === null ? null : (r.int(o, k, p) ?? null);
}

export function parseRxReport(v: unknown): RxReportAnswer {
  const r = new WireReader('prescription report');
  const o = r.obj(v, '');
  const by = r.list(o, 'by', '', (x, p) => {
    const hit = RX_REPORT_DIMENSIONS.find((d) => d === x);
    if (hit === undefined) r.errs.add(p, 'BAD_ANSWER', 'not a report dimension');
    return hit;
  });
  const threshold = r.int(o, 'threshold', '');
  const rows = r.list(o, 'rows', '', (x, p) => {
    const ro = r.obj(x, p);
    if (ro === undefined) return undefined;
    const row: RxReportRow = {
      prescriptions: countOrNull(r, ro, 'prescriptions', p),
      packsPrescribed: countOrNull(r, ro, 'packsPrescribed', p),
      packsDispensed: countOrNull(r, ro, 'packsDispensed', p),
    };
    for (const d of RX_REPORT_DIMENSIONS) {
      const s = r.optStr(ro, d, p);
      if (s !== undefined) row[d] = s;
    }
    return row;
  });
  return r.done(threshold === undefined ? undefined : { by, threshold, rows });
}
