// The bodies of the ledger's entries (docs/architecture.md, Entries): their types
// and validators. Pure, so the staff console builds and checks bodies with the same code the server runs.
//
// validateBody() reports every bad field at once (ENTRY_MALFORMED with `fields`, paths like
// `body.items[3].serial`), and refuses anything not already canonical: GTIN-14 only, canonical base64, no
// unknown members. A signed body is what it is; the server never rewrites one into another form.
import { BodyCheck, isObj, MAX_LIST_ERRORS } from './body-check.js';
import type { EntryKind } from './envelope.js';
import { MedtrailError } from '../errors.js';

// A mirror (issue 14) holds and checks a copy of the whole ledger: it reads every entry and signs none of
// custody's (no custody rule admits it), and answers verifications from its copy (docs/architecture.md, Mirrors).
// A prescriber (issue 16) is a doctor or a clinic: it signs prescriptions and cancels its own, nothing of custody's.
export const ROLES = ['manufacturer', 'distributor', 'pharmacy', 'regulator', 'mirror', 'prescriber'] as const;
export type Role = (typeof ROLES)[number];
export const PARTICIPANT_ACTIONS = ['admit', 'rotate', 'revoke'] as const;
/** What kind of prescriber a participant is: a dimension of the prescription reports (docs/architecture.md, Prescriptions). */
export const PRESCRIBER_TYPES = ['doctor', 'dentist', 'clinic', 'hospital', 'midwife', 'other'] as const;
export type PrescriberType = (typeof PRESCRIBER_TYPES)[number];
/** Most packs one fill of a prescription may ask for, and most repeats. */
export const MAX_RX_QUANTITY = 100;
export const MAX_RX_REPEATS = 12;
/** A region code for reports: ISO 3166-1 alpha-2, optionally with an ISO 3166-2 subdivision (DE, DE-BY). */
export const REGION = /^[A-Z]{2}(-[A-Z0-9]{1,3})?$/;
/** An ATC code at any of its five levels (WHO ATC/DDD index: N, N02, N02B, N02BE, N02BE01). */
export const ATC = /^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$/;
/** A prescription id: 32 lowercase hex digits (16 random bytes). */
export const RX_ID = /^[0-9a-f]{32}$/;
/** Decommissioned states of the EU verification system (Delegated Regulation 2016/161, art. 12, 22, 25). */
export const DECOMMISSION_STATES = ['destroyed', 'stolen', 'sample', 'free_sample', 'exported', 'locked'] as const;
export type DecommissionState = (typeof DECOMMISSION_STATES)[number];

/** Most serials one batch may list; a 200,000-pack batch entry stays well under MAX_ENTRY_BYTES. */
export const MAX_BATCH_SERIALS = 200_000;
/** Most items (or packs named one by one, cases included) in one ship or one receive list. */
export const MAX_SHIP_ITEMS = 200_000;
export const MAX_TEXT = 200;
export const MAX_REASON = 1000;

export interface PackRef {
  gtin: string;
  serial: string;
}

export interface ParticipantBody {
  action: (typeof PARTICIPANT_ACTIONS)[number];
  gln: string;
  name?: string;
  role?: Role;
  /** base64 of the 32-byte Ed25519 public key. */
  publicKey?: string;
  /** GS1 company prefixes (manufacturers). */
  prefixes?: string[];
  /** Region of a prescriber (REGION), for the prescription reports. */
  region?: string;
  /** What kind of prescriber (PRESCRIBER_TYPES); only with role prescriber. */
  prescriberType?: PrescriberType;
}

export interface ProductBody {
  gtin: string;
  name: string;
  form: string;
  strength: string;
  packSize: number;
  /** The active substance (INN), which a prescription by substance names (issue 16). */
  substance?: string;
  /** Its ATC code (ATC), the substance dimension of the reports. */
  atc?: string;
}

export interface BatchBody {
  gtin: string;
  lot: string;
  /** YYMMDD. */
  expiry: string;
  serials: string[];
}

export type ShipItem = ({ type: 'pack' } & PackRef) | { type: 'lot'; gtin: string; lot: string } | { type: 'case'; sscc: string; packs: PackRef[] };

export interface ShipBody {
  to: string;
  items: ShipItem[];
}

export interface ReceiveBody {
  /** Hex leaf hash of the ship entry. */
  ship: string;
  missing: PackRef[];
  extra: PackRef[];
}

export interface DispenseBody extends PackRef {
  /** The prescription (its id) this pack is dispensed against (issue 16): the pharmacy must have claimed it. */
  rx?: string;
}

/** What a prescription asks for: one GTIN, or a substance with strength and form that several GTINs satisfy. */
export type Medicine = { gtin: string } | { substance: string; strength: string; form: string; atc?: string };

/**
 * A prescription (docs/architecture.md, Prescriptions). The patient is only `patient`, hex SHA-256 of a fresh
 * random salt and the patient's identifier (the salt is kept off the ledger, erasable); `token` is the public
 * key whose seed is the patient's access code, so the ledger holds nothing that opens the prescription.
 */
export interface PrescribeBody {
  id: string;
  patient: string;
  medicine: Medicine;
  /** Packs per fill. */
  quantity: number;
  /** The dosage instruction (e.g. "1 tablet 3 times a day"); nothing about the patient. */
  dosage: string;
  /** YYYY-MM-DD, both inclusive. */
  validFrom: string;
  validUntil: string;
  /** Fills after the first. */
  repeats: number;
  /** base64 of the 32-byte Ed25519 public key of the access code. */
  token: string;
}

/** A pharmacy claims a prescription with the patient's token: `tokenSig` signs rxClaimMessage (core/rx). */
export interface RxClaimBody {
  id: string;
  tokenSig: string;
}

/** The claiming pharmacy hands the prescription back. */
export interface RxReleaseBody {
  id: string;
}

/** The prescriber cancels what is left of a prescription. */
export interface RxCancelBody {
  id: string;
  reason: string;
}

export interface UndoBody extends PackRef {
  /** Hex leaf hash of the dispense entry being undone. */
  of: string;
}

export interface RecallBody {
  gtin: string;
  lot: string;
  reason: string;
}

export interface DecommissionBody extends PackRef {
  state: DecommissionState;
}

export interface BodyOf {
  participant: ParticipantBody;
  product: ProductBody;
  batch: BatchBody;
  ship: ShipBody;
  receive: ReceiveBody;
  dispense: DispenseBody;
  undo: UndoBody;
  recall: RecallBody;
  decommission: DecommissionBody;
  prescribe: PrescribeBody;
  rx_claim: RxClaimBody;
  rx_release: RxReleaseBody;
  rx_cancel: RxCancelBody;
}

const key = (p: PackRef): string => `${p.gtin}\u0000${p.serial}`;

function packRef(c: BodyCheck, v: unknown, path: string, extra: readonly string[] = []): PackRef | undefined {
  const o = c.object(v, path, ['gtin', 'serial', ...extra]);
  const gtin = c.gtin14(o?.['gtin'], `${path}.gtin`);
  const serial = c.serial(o?.['serial'], `${path}.serial`);
  return o === undefined || gtin === undefined || serial === undefined ? undefined : { gtin, serial };
}

/** A list of packs, each valid and none twice; at most MAX_LIST_ERRORS element errors are reported. */
function packList(c: BodyCheck, v: unknown, path: string, min: number, seen = new Map<string, string>()): PackRef[] | undefined {
  const a = c.array(v, path, min, MAX_SHIP_ITEMS);
  if (a === undefined) return undefined;
  const out: PackRef[] = [];
  for (let i = 0; i < a.length && c.errs.list.length < MAX_LIST_ERRORS; i++) {
    const p = packRef(c, a[i], `${path}[${i}]`);
    if (p === undefined) continue;
    const was = seen.get(key(p));
    if (was !== undefined) c.add(`${path}[${i}]`, 'BAD_INPUT', `the same pack as ${was}`);
    else seen.set(key(p), `${path}[${i}]`);
    out.push(p);
  }
  return out;
}

function participant(c: BodyCheck, b: unknown): void {
  const o = c.object(b, 'body', ['action', 'gln'], ['name', 'role', 'publicKey', 'prefixes', 'region', 'prescriberType']);
  const action = c.oneOf(o?.['action'], 'body.action', PARTICIPANT_ACTIONS);
  c.gln(o?.['gln'], 'body.gln');
  if (o === undefined) return;
  // admit needs everything; rotate needs the new key; revoke needs only the GLN. Present members are checked.
  const need = action === 'admit' ? ['name', 'role', 'publicKey', 'prefixes'] : action === 'rotate' ? ['publicKey'] : [];
  for (const k of need) if (o[k] === undefined) c.add(`body.${k}`, 'ENTRY_MALFORMED', `missing (required for ${action})`);
  if (o['name'] !== undefined) c.text(o['name'], 'body.name', MAX_TEXT);
  const role = o['role'] === undefined ? undefined : c.oneOf(o['role'], 'body.role', ROLES);
  if (o['publicKey'] !== undefined) c.base64(o['publicKey'], 'body.publicKey', 32);
  if (o['prefixes'] !== undefined) {
    const a = c.array(o['prefixes'], 'body.prefixes', 0, 100);
    a?.forEach((p, i) => c.companyPrefix(p, `body.prefixes[${i}]`));
    if (a !== undefined && new Set(a).size !== a.length) c.add('body.prefixes', 'BAD_INPUT', 'lists a prefix twice');
    // Company prefixes decide who may register which GTINs: only a manufacturer has any.
    if (a !== undefined && a.length > 0 && role !== undefined && role !== 'manufacturer') {
      c.add('body.prefixes', 'BAD_INPUT', 'only a manufacturer has GS1 company prefixes');
    }
  }
  if (o['region'] !== undefined) c.pattern(o['region'], 'body.region', REGION, 'a region code: ISO 3166-1 alpha-2, optionally -subdivision (DE, DE-BY)');
  if (o['prescriberType'] !== undefined) {
    c.oneOf(o['prescriberType'], 'body.prescriberType', PRESCRIBER_TYPES);
    if (role !== undefined && role !== 'prescriber') c.add('body.prescriberType', 'BAD_INPUT', 'only a prescriber has a prescriber type');
  }
}

function product(c: BodyCheck, b: unknown): void {
  const o = c.object(b, 'body', ['gtin', 'name', 'form', 'strength', 'packSize'], ['substance', 'atc']);
  c.gtin14(o?.['gtin'], 'body.gtin');
  if (o === undefined) return;
  for (const k of ['name', 'form', 'strength']) c.text(o[k], `body.${k}`, MAX_TEXT);
  c.int(o['packSize'], 'body.packSize', 1, 1_000_000);
  if (o['substance'] !== undefined) c.text(o['substance'], 'body.substance', MAX_TEXT);
  if (o['atc'] !== undefined) c.pattern(o['atc'], 'body.atc', ATC, 'an ATC code (e.g. J01CA04)');
}

function batch(c: BodyCheck, b: unknown): void {
  const o = c.object(b, 'body', ['gtin', 'lot', 'expiry', 'serials']);
  c.gtin14(o?.['gtin'], 'body.gtin');
  c.lot(o?.['lot'], 'body.lot');
  c.gs1Date(o?.['expiry'], 'body.expiry');
  const a = c.array(o?.['serials'], 'body.serials', 1, MAX_BATCH_SERIALS, 'BATCH_TOO_LARGE');
  if (a === undefined) return;
  const seen = new Map<string, number>();
  let bad = 0;
  for (let i = 0; i < a.length && bad < MAX_LIST_ERRORS; i++) {
    const s = c.serial(a[i], `body.serials[${i}]`);
    if (s === undefined) bad++;
    else if (seen.has(s)) {
      c.add(`body.serials[${i}]`, 'SERIAL_DUPLICATE', `the same serial as body.serials[${seen.get(s)}]`);
      bad++;
    } else seen.set(s, i);
  }
}

function shipItem(c: BodyCheck, v: unknown, path: string, seen: Map<string, string>): void {
  const type = c.oneOf(isObj(v) ? v['type'] : undefined, `${path}.type`, ['pack', 'lot', 'case'] as const);
  if (type === 'pack') {
    const p = packRef(c, v, path, ['type']);
    if (p === undefined) return;
    const was = seen.get(key(p));
    if (was !== undefined) c.add(path, 'BAD_INPUT', `the same pack as ${was}`);
    else seen.set(key(p), path);
  } else if (type === 'lot') {
    const o = c.object(v, path, ['type', 'gtin', 'lot']);
    c.gtin14(o?.['gtin'], `${path}.gtin`);
    c.lot(o?.['lot'], `${path}.lot`);
  } else if (type === 'case') {
    const o = c.object(v, path, ['type', 'sscc', 'packs']);
    c.sscc(o?.['sscc'], `${path}.sscc`);
    if (o !== undefined) packList(c, o['packs'], `${path}.packs`, 1, seen);
  }
}

function ship(c: BodyCheck, b: unknown): void {
  const o = c.object(b, 'body', ['to', 'items']);
  c.gln(o?.['to'], 'body.to');
  const items = c.array(o?.['items'], 'body.items', 1, MAX_SHIP_ITEMS);
  if (items === undefined) return;
  const seen = new Map<string, string>();
  const ssccs = new Set<string>();
  let packs = 0;
  for (let i = 0; i < items.length && c.errs.list.length < MAX_LIST_ERRORS; i++) {
    const it = items[i];
    shipItem(c, it, `body.items[${i}]`, seen);
    if (isObj(it) && it['type'] === 'case' && typeof it['sscc'] === 'string') {
      if (ssccs.has(it['sscc'])) c.add(`body.items[${i}].sscc`, 'BAD_INPUT', 'the same case twice');
      ssccs.add(it['sscc']);
    }
    packs += isObj(it) && it['type'] === 'case' && Array.isArray(it['packs']) ? it['packs'].length : 1;
  }
  if (packs > MAX_SHIP_ITEMS) c.add('body.items', 'TOO_LARGE', `names ${packs} packs, over the limit of ${MAX_SHIP_ITEMS}`);
}

function receive(c: BodyCheck, b: unknown): void {
  const o = c.object(b, 'body', ['ship', 'missing', 'extra']);
  c.leafHash(o?.['ship'], 'body.ship');
  if (o === undefined) return;
  // One map for both lists: a pack cannot be both missing and extra.
  const seen = new Map<string, string>();
  packList(c, o['missing'], 'body.missing', 0, seen);
  packList(c, o['extra'], 'body.extra', 0, seen);
}

function dispense(c: BodyCheck, b: unknown): void {
  packRef(c, b, 'body', isObj(b) && b['rx'] !== undefined ? ['rx'] : []);
  if (isObj(b) && b['rx'] !== undefined) c.pattern(b['rx'], 'body.rx', RX_ID, 'a prescription id: 32 lowercase hex digits');
}

function medicine(c: BodyCheck, v: unknown, path: string): void {
  if (isObj(v) && v['gtin'] !== undefined) {
    const o = c.object(v, path, ['gtin']);
    c.gtin14(o?.['gtin'], `${path}.gtin`);
    return;
  }
  const o = c.object(v, path, ['substance', 'strength', 'form'], ['atc']);
  if (o === undefined) return;
  for (const k of ['substance', 'strength', 'form']) c.text(o[k], `${path}.${k}`, MAX_TEXT);
  if (o['atc'] !== undefined) c.pattern(o['atc'], `${path}.atc`, ATC, 'an ATC code (e.g. J01CA04)');
}

function prescribe(c: BodyCheck, b: unknown): void {
  const o = c.object(b, 'body', ['id', 'patient', 'medicine', 'quantity', 'dosage', 'validFrom', 'validUntil', 'repeats', 'token']);
  c.pattern(o?.['id'], 'body.id', RX_ID, 'a prescription id: 32 lowercase hex digits');
  c.pattern(o?.['patient'], 'body.patient', /^[0-9a-f]{64}$/, 'the patient commitment: 64 lowercase hex digits');
  if (o === undefined) return;
  medicine(c, o['medicine'], 'body.medicine');
  c.int(o['quantity'], 'body.quantity', 1, MAX_RX_QUANTITY);
  c.int(o['repeats'], 'body.repeats', 0, MAX_RX_REPEATS);
  c.text(o['dosage'], 'body.dosage', MAX_TEXT);
  const from = c.isoDate(o['validFrom'], 'body.validFrom');
  const until = c.isoDate(o['validUntil'], 'body.validUntil');
  if (from !== undefined && until !== undefined && until < from) c.add('body.validUntil', 'BAD_INPUT', 'before validFrom');
  c.base64(o['token'], 'body.token', 32);
}

function rxClaim(c: BodyCheck, b: unknown): void {
  const o = c.object(b, 'body', ['id', 'tokenSig']);
  c.pattern(o?.['id'], 'body.id', RX_ID, 'a prescription id: 32 lowercase hex digits');
  c.base64(o?.['tokenSig'], 'body.tokenSig', 64);
}

function rxRelease(c: BodyCheck, b: unknown): void {
  const o = c.object(b, 'body', ['id']);
  c.pattern(o?.['id'], 'body.id', RX_ID, 'a prescription id: 32 lowercase hex digits');
}

function rxCancel(c: BodyCheck, b: unknown): void {
  const o = c.object(b, 'body', ['id', 'reason']);
  c.pattern(o?.['id'], 'body.id', RX_ID, 'a prescription id: 32 lowercase hex digits');
  c.text(o?.['reason'], 'body.reason', MAX_REASON);
}

function undo(c: BodyCheck, b: unknown): void {
  const o = c.object(b, 'body', ['of', 'gtin', 'serial']);
  c.leafHash(o?.['of'], 'body.of');
  c.gtin14(o?.['gtin'], 'body.gtin');
  c.serial(o?.['serial'], 'body.serial');
}

function recall(c: BodyCheck, b: unknown): void {
  const o = c.object(b, 'body', ['gtin', 'lot', 'reason']);
  c.gtin14(o?.['gtin'], 'body.gtin');
  c.lot(o?.['lot'], 'body.lot');
  c.text(o?.['reason'], 'body.reason', MAX_REASON);
}

function decommission(c: BodyCheck, b: unknown): void {
  const o = c.object(b, 'body', ['gtin', 'serial', 'state']);
  c.gtin14(o?.['gtin'], 'body.gtin');
  c.serial(o?.['serial'], 'body.serial');
  c.oneOf(o?.['state'], 'body.state', DECOMMISSION_STATES);
}

const CHECKS: Record<EntryKind, (c: BodyCheck, b: unknown) => void> = {
  participant,
  product,
  batch,
  ship,
  receive,
  dispense,
  undo,
  recall,
  decommission,
  prescribe,
  rx_claim: rxClaim,
  rx_release: rxRelease,
  rx_cancel: rxCancel,
};

/**
 * Checks an entry body of `kind` and returns it typed. Every bad field is reported at once; the error's code
 * is ENTRY_MALFORMED, or the one specific code when every error is of it (SERIAL_DUPLICATE, BATCH_TOO_LARGE).
 */
export function validateBody<K extends EntryKind>(kind: K, body: unknown): BodyOf[K] {
  const check = CHECKS[kind];
  if (check === undefined) throw new MedtrailError('ENTRY_BAD_KIND', `unknown entry kind ${String(kind)}`);
  const c = new BodyCheck();
  check(c, body);
  const list = c.errs.list;
  const only = list.length > 0 && list.every((f) => f.code === list[0]!.code) ? list[0]!.code : undefined;
  c.errs.throwIfAny(only === 'SERIAL_DUPLICATE' || only === 'BATCH_TOO_LARGE' ? only : 'ENTRY_MALFORMED', `malformed ${kind} body`);
  return body as BodyOf[K];
}
