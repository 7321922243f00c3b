// The shapes of the HTTP API's answers, declared once (docs/architecture.md, The wire): the server builds its
// answers as these types, and every client (the CLI, the reader, the browser) reads them with the parsers
// below, which check each member and name every bad one in one BAD_ANSWER error. A refusal is
// `{"error":{"code","message","fields"?}}` with a status from server/http/errors.ts.
import { isErrorCode, MedtrailError, type ErrorCode, type FieldError } from '../errors.js';
import { isReasonCode, VERDICTS, type Reason, type ReasonCode, type Verdict } from '../verdict.js';
import { isJsonObject, WireReader, type Json } from './wire.js';

// ---- shapes -------------------------------------------------------------------------------------------------

/** POST /entries: where the log put an entry. */
export interface Appended {
  index: number;
  leafHash: string;
}

/**
 * GET /log/entries: base64 of the exact leaf bytes. A page holds at most 1,000 leaves and stops once its leaf
 * bytes pass a cap; when it stops short of what was asked, `next` is the index to ask from.
 */
export interface LogEntriesAnswer {
  entries: { index: number; leaf: string }[];
  next?: number;
}

export interface InclusionAnswer {
  index: number;
  size: number;
  leafHash: string;
  proof: string[];
  checkpoint: string;
}

/**
 * The pack's state proven (issue 13): compact proofs (core/map/smt.ts, base64) of the pack's key in the pack
 * map and of its lot's key in the lot map, against the `medtrail-map` roots of `checkpoint`, with the records
 * whose hashes the proofs show (null: the key is absent). A client recomputes everything from these.
 */
export interface MapAnswer {
  checkpoint: string;
  pack: string;
  value: { state: string; lot: string; expiry: string; maker: string; lastEntry: string } | null;
  lot: string | null;
  lotValue: { state: string; lastEntry: string } | null;
}

export interface PartyRef {
  gln: string;
  name: string;
}

export type JourneyStepName = 'made' | 'in_transit' | 'distributed' | 'at_pharmacy' | 'missing' | 'dispensed' | 'returned' | 'decommissioned' | 'recalled';
export const JOURNEY_STEPS: readonly JourneyStepName[] = ['made', 'in_transit', 'distributed', 'at_pharmacy', 'missing', 'dispensed', 'returned', 'decommissioned', 'recalled'];

export interface JourneyStep {
  step: JourneyStepName;
  /** Public: the date (YYYY-MM-DD); participants in the chain: the entry's full time. */
  at: string;
  /** Participants in the chain only: who signed the step, the other party of a hand-off, the ledger index. */
  who?: PartyRef;
  with?: PartyRef | null;
  index?: number;
}

export interface ProductAnswer {
  gtin: string;
  name: string;
  form: string;
  strength: string;
  packSize: number;
  /** The maker is printed on the box; `index` is its participant entry, for a client to prove its key. */
  manufacturer: PartyRef & { index?: number };
}

export interface PackAnswer {
  gtin: string;
  serial: string;
  lot: string;
  expiry: string;
  expiryDate?: string;
  state: string;
  recall?: { at: string | null; reason: string | null };
  // Participants in the chain only:
  holder?: string;
  inTransitTo?: string | null;
  lastIndex?: number;
  lastHash?: string;
  dispensedBy?: string | null;
  dispensedAt?: string | null;
}

/** POST /verify. */
export interface VerifyAnswer {
  verdict: Verdict;
  reasons: Reason[];
  message: string;
  product: ProductAnswer | null;
  pack: PackAnswer | null;
  journey: JourneyStep[];
  proof: InclusionAnswer | null;
  /** The pack's state proven against the checkpoint's map roots; absent from servers without state maps. */
  map?: MapAnswer;
}

export interface ChainStep {
  index: number;
  leafHash: string;
  kind: string;
  signer: string;
  signerName: string | null;
  counterparty: string | null;
  counterpartyName: string | null;
  at: string;
  proof: { size: number; hashes: string[] };
}

/** GET /packs/:gtin/:serial: the public's coarse answer, or the chain with proofs for a party in it. */
export interface PackReadAnswer {
  verdict: Verdict;
  reasons: Reason[];
  message: string;
  product: ProductAnswer | null;
  pack: PackAnswer;
  journey: JourneyStep[];
  checkpoint?: string;
  chain?: ChainStep[];
}

export interface ParticipantAnswer {
  gln: string;
  name: string;
  role: string;
  publicKey: string;
  prefixes: string[];
  revoked: boolean;
}

/** GET /products/:gtin. */
export interface ProductMasterAnswer {
  gtin: string;
  name: string;
  form: string;
  strength: string;
  packSize: number;
  manufacturer: string;
  index: number;
}

/** GET /shipments: a shipment addressed to the asker (the recipient is the asker, so it is not repeated). */
export interface ShipmentAnswer {
  index: number;
  hash: string;
  from: string;
  at: string;
  count: number;
}

export interface HeldPack {
  gtin: string;
  serial: string;
  lot: string;
  expiry: string;
  state: string;
  holder: string;
  lastIndex: number;
  lastHash: string;
}

/** GET /held: packs a party holds, and the leaf hashes a ship of them must name as prev. */
export interface HeldAnswer {
  packs: HeldPack[];
  prev: string[];
}

/** A patient's report as the regulator reads it (GET /reports). */
export interface PatientReport {
  id: number;
  at: string;
  code: string;
  gtin: string | null;
  serial: string | null;
  /** The server's own verdict on the code when it was reported (null: the code names no pack). */
  verdict: string | null;
  note: string | null;
  /** What the sender said the verdict was (its word only). */
  claimed: string | null;
}

/** GET /products/:gtin/maker-key: the maker's key entry, with its inclusion proof and checkpoint. */
export interface MakerKeyAnswer {
  gtin: string;
  gln: string;
  index: number;
  leaf: string;
  size: number;
  leafHash: string;
  proof: string[];
  checkpoint: string;
}

// ---- parsers ------------------------------------------------------------------------------------------------

/** A refusal's body as a coded error; the server's code is kept, even one this build does not list. */
export function refusalOf(status: number, text: string): MedtrailError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const e = isJsonObject(body) ? body['error'] : undefined;
  if (isJsonObject(e) && typeof e['code'] === 'string' && /^[A-Z][A-Z0-9_]*$/.test(e['code'])) {
    const code = e['code'];
    const fields = Array.isArray(e['fields']) ? e['fields'].filter(isFieldError) : undefined;
    // A code this build does not know still travels as the server said it: the code is the contract.
    return new MedtrailError(isErrorCode(code) ? code : unknownCode(code), typeof e['message'] === 'string' ? e['message'] : code, fields !== undefined ? { fields } : undefined);
  }
  return new MedtrailError(status === 404 ? 'NOT_FOUND' : 'INTERNAL', `server answered HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`);
}

/** The one place a code from a newer server is let through untyped. */
function unknownCode(code: string): ErrorCode {
  return code as ErrorCode;
}

/** The one place a reason code from a newer server is let through untyped. */
function unknownReason(code: string): ReasonCode {
  return code as ReasonCode;
}

function isFieldError(v: unknown): v is FieldError {
  return isJsonObject(v) && typeof v['path'] === 'string' && typeof v['code'] === 'string' && typeof v['message'] === 'string';
}

export function parseAppended(v: unknown): Appended {
  const r = new WireReader('POST /entries answer');
  const o = r.obj(v, '');
  const index = r.int(o, 'index', '');
  const leafHash = r.str(o, 'leafHash', '');
  return r.done(index !== undefined && leafHash !== undefined ? { index, leafHash } : undefined);
}

export function parseLogEntries(v: unknown): LogEntriesAnswer {
  const r = new WireReader('GET /log/entries answer');
  const o = r.obj(v, '');
  const entries = r.list(o, 'entries', '', (x, p) => {
    const e = r.obj(x, p);
    const index = r.int(e, 'index', p);
    const leaf = r.str(e, 'leaf', p);
    return index !== undefined && leaf !== undefined ? { index, leaf } : undefined;
  });
  const next = r.optInt(o, 'next', '');
  return r.done(next === undefined ? { entries } : { entries, next });
}

/** GET /log/proof/consistency: the hex hashes proving the tree of size `from` a prefix of the tree of size `to`. */
export interface ConsistencyAnswer {
  from: number;
  to: number;
  proof: string[];
}

/** GET /log/proof/inclusion. */
export interface InclusionProofAnswer {
  index: number;
  size: number;
  leafHash: string;
  proof: string[];
}

export function parseInclusionProof(v: unknown): InclusionProofAnswer {
  const r = new WireReader('GET /log/proof/inclusion answer');
  const o = r.obj(v, '');
  const index = r.int(o, 'index', '');
  const size = r.int(o, 'size', '');
  const leafHash = r.str(o, 'leafHash', '');
  const proof = r.strings(o, 'proof', '');
  return r.done(index !== undefined && size !== undefined && leafHash !== undefined ? { index, size, leafHash, proof } : undefined);
}

export function parseConsistency(v: unknown): ConsistencyAnswer {
  const r = new WireReader('GET /log/proof/consistency answer');
  const o = r.obj(v, '');
  const from = r.int(o, 'from', '');
  const to = r.int(o, 'to', '');
  const proof = r.strings(o, 'proof', '');
  return r.done(from !== undefined && to !== undefined ? { from, to, proof } : undefined);
}

function reasonOf(r: WireReader, v: unknown, p: string): Reason | undefined {
  const o = r.obj(v, p);
  const code = r.str(o, 'code', p);
  const message = r.str(o, 'message', p);
  const emvs = r.optStr(o, 'emvs', p);
  const lmv = r.optStr(o, 'lmv', p);
  if (code === undefined || message === undefined) return undefined;
  // Reason codes a newer server adds are kept: the page and the reader show their message as given.
  return { code: isReasonCode(code) ? code : unknownReason(code), message, ...(emvs !== undefined ? { emvs } : {}), ...(lmv !== undefined ? { lmv } : {}) };
}

function partyOf(r: WireReader, v: unknown, p: string): PartyRef | undefined {
  const o = r.obj(v, p);
  const gln = r.str(o, 'gln', p);
  const name = r.str(o, 'name', p);
  return gln !== undefined && name !== undefined ? { gln, name } : undefined;
}

function productOf(r: WireReader, v: unknown, p: string): ProductAnswer | null {
  if (v === null || v === undefined) return null;
  const o = r.obj(v, p);
  const m = r.obj(o?.['manufacturer'], `${p}.manufacturer`);
  const maker = partyOf(r, m, `${p}.manufacturer`);
  const makerIndex = r.optInt(m, 'index', `${p}.manufacturer`);
  const gtin = r.str(o, 'gtin', p);
  const name = r.str(o, 'name', p);
  const form = r.str(o, 'form', p);
  const strength = r.str(o, 'strength', p);
  const packSize = r.int(o, 'packSize', p);
  if (gtin === undefined || name === undefined || form === undefined || strength === undefined || packSize === undefined || maker === undefined) return null;
  return { gtin, name, form, strength, packSize, manufacturer: { ...maker, ...(makerIndex !== undefined ? { index: makerIndex } : {}) } };
}

function packOf(r: WireReader, v: unknown, p: string): PackAnswer | undefined {
  const o = r.obj(v, p);
  const gtin = r.str(o, 'gtin', p);
  const serial = r.str(o, 'serial', p);
  const lot = r.str(o, 'lot', p);
  const expiry = r.str(o, 'expiry', p);
  const state = r.str(o, 'state', p);
  if (o === undefined || gtin === undefined || serial === undefined || lot === undefined || expiry === undefined || state === undefined) return undefined;
  const out: PackAnswer = { gtin, serial, lot, expiry, state };
  const expiryDate = r.optStr(o, 'expiryDate', p);
  if (expiryDate !== undefined) out.expiryDate = expiryDate;
  if (o['recall'] !== undefined) {
    const rc = r.obj(o['recall'], `${p}.recall`);
    out.recall = { at: r.strOrNull(rc, 'at', `${p}.recall`), reason: r.strOrNull(rc, 'reason', `${p}.recall`) };
  }
  const holder = r.optStr(o, 'holder', p);
  if (holder !== undefined) out.holder = holder;
  if ('inTransitTo' in o) out.inTransitTo = r.strOrNull(o, 'inTransitTo', p);
  const lastIndex = r.optInt(o, 'lastIndex', p);
  if (lastIndex !== undefined) out.lastIndex = lastIndex;
  const lastHash = r.optStr(o, 'lastHash', p);
  if (lastHash !== undefined) out.lastHash = lastHash;
  if ('dispensedBy' in o) out.dispensedBy = r.strOrNull(o, 'dispensedBy', p);
  if ('dispensedAt' in o) out.dispensedAt = r.strOrNull(o, 'dispensedAt', p);
  return out;
}

function journeyOf(r: WireReader, v: unknown, p: string): JourneyStep | undefined {
  const o = r.obj(v, p);
  const step = r.oneOf(o, 'step', p, JOURNEY_STEPS);
  const at = r.str(o, 'at', p);
  if (o === undefined || step === undefined || at === undefined) return undefined;
  const out: JourneyStep = { step, at };
  if (o['who'] !== undefined) {
    const who = partyOf(r, o['who'], `${p}.who`);
    if (who !== undefined) out.who = who;
  }
  if (o['with'] !== undefined) out.with = o['with'] === null ? null : (partyOf(r, o['with'], `${p}.with`) ?? null);
  const index = r.optInt(o, 'index', p);
  if (index !== undefined) out.index = index;
  return out;
}

function inclusionOf(r: WireReader, v: unknown, p: string): InclusionAnswer | null {
  if (v === null || v === undefined) return null;
  const o = r.obj(v, p);
  const index = r.int(o, 'index', p);
  const size = r.int(o, 'size', p);
  const leafHash = r.str(o, 'leafHash', p);
  const proof = r.strings(o, 'proof', p);
  const checkpoint = r.str(o, 'checkpoint', p);
  if (index === undefined || size === undefined || leafHash === undefined || checkpoint === undefined) return null;
  return { index, size, leafHash, proof, checkpoint };
}

function mapOf(r: WireReader, v: unknown, p: string): MapAnswer | undefined {
  if (v === undefined) return undefined;
  const o = r.obj(v, p);
  const checkpoint = r.str(o, 'checkpoint', p);
  const pack = r.str(o, 'pack', p);
  const lot = r.strOrNull(o, 'lot', p);
  const rawValue = o?.['value'];
  let value: MapAnswer['value'] = null;
  if (rawValue !== null && rawValue !== undefined) {
    const vo = r.obj(rawValue, `${p}.value`);
    const state = r.str(vo, 'state', `${p}.value`);
    const lotName = r.str(vo, 'lot', `${p}.value`);
    const expiry = r.str(vo, 'expiry', `${p}.value`);
    const maker = r.str(vo, 'maker', `${p}.value`);
    const lastEntry = r.str(vo, 'lastEntry', `${p}.value`);
    if (state !== undefined && lotName !== undefined && expiry !== undefined && maker !== undefined && lastEntry !== undefined) value = { state, lot: lotName, expiry, maker, lastEntry };
  }
  const rawLot = o?.['lotValue'];
  let lotValue: MapAnswer['lotValue'] = null;
  if (rawLot !== null && rawLot !== undefined) {
    const lo = r.obj(rawLot, `${p}.lotValue`);
    const state = r.str(lo, 'state', `${p}.lotValue`);
    const lastEntry = r.str(lo, 'lastEntry', `${p}.lotValue`);
    if (state !== undefined && lastEntry !== undefined) lotValue = { state, lastEntry };
  }
  if (checkpoint === undefined || pack === undefined) return undefined;
  return { checkpoint, pack, value, lot, lotValue };
}

/** A MapAnswer read on its own (a kept pack proof's record, core/map/pack-proof.ts): BAD_ANSWER when malformed. */
export function parseMapAnswer(v: unknown, what: string): MapAnswer {
  const r = new WireReader(what);
  return r.done(mapOf(r, v, ''));
}

function verdictHead(r: WireReader, o: Json | undefined): { verdict: Verdict | undefined; reasons: Reason[]; message: string | undefined } {
  return {
    verdict: r.oneOf(o, 'verdict', '', VERDICTS),
    reasons: r.list(o, 'reasons', '', (x, p) => reasonOf(r, x, p)),
    message: r.str(o, 'message', ''),
  };
}

export function parseVerifyAnswer(v: unknown): VerifyAnswer {
  const r = new WireReader('POST /verify answer');
  const o = r.obj(v, '');
  const { verdict, reasons, message } = verdictHead(r, o);
  const product = productOf(r, o?.['product'], '.product');
  const pack = o?.['pack'] === null || o?.['pack'] === undefined ? null : (packOf(r, o['pack'], '.pack') ?? null);
  const journey = r.list(o, 'journey', '', (x, p) => journeyOf(r, x, p));
  const proof = inclusionOf(r, o?.['proof'], '.proof');
  const map = mapOf(r, o?.['map'], '.map');
  return r.done(verdict !== undefined && message !== undefined ? { verdict, reasons, message, product, pack, journey, proof, ...(map !== undefined ? { map } : {}) } : undefined);
}

export function parsePackRead(v: unknown): PackReadAnswer {
  const r = new WireReader('GET /packs answer');
  const o = r.obj(v, '');
  const { verdict, reasons, message } = verdictHead(r, o);
  const product = productOf(r, o?.['product'], '.product');
  const pack = packOf(r, o?.['pack'], '.pack');
  const journey = r.list(o, 'journey', '', (x, p) => journeyOf(r, x, p));
  const out: PackReadAnswer | undefined = verdict !== undefined && message !== undefined && pack !== undefined ? { verdict, reasons, message, product, pack, journey } : undefined;
  if (out !== undefined && o !== undefined && o['chain'] !== undefined) {
    const checkpoint = r.str(o, 'checkpoint', '');
    if (checkpoint !== undefined) out.checkpoint = checkpoint;
    out.chain = r.list(o, 'chain', '', (x, p) => {
      const c = r.obj(x, p);
      const index = r.int(c, 'index', p);
      const leafHash = r.str(c, 'leafHash', p);
      const kind = r.str(c, 'kind', p);
      const signer = r.str(c, 'signer', p);
      const at = r.str(c, 'at', p);
      const pr = r.obj(c?.['proof'], `${p}.proof`);
      const size = r.int(pr, 'size', `${p}.proof`);
      const hashes = r.strings(pr, 'hashes', `${p}.proof`);
      if (index === undefined || leafHash === undefined || kind === undefined || signer === undefined || at === undefined || size === undefined) return undefined;
      return {
        index, leafHash, kind, signer, at,
        signerName: r.strOrNull(c, 'signerName', p),
        counterparty: r.strOrNull(c, 'counterparty', p),
        counterpartyName: r.strOrNull(c, 'counterpartyName', p),
        proof: { size, hashes },
      };
    });
  }
  return r.done(out);
}

export function parseParticipant(v: unknown, r = new WireReader('participant answer'), p = ''): ParticipantAnswer | undefined {
  const o = r.obj(v, p);
  const gln = r.str(o, 'gln', p);
  const name = r.str(o, 'name', p);
  const role = r.str(o, 'role', p);
  const publicKey = r.str(o, 'publicKey', p);
  const prefixes = r.strings(o, 'prefixes', p);
  const revoked = r.bool(o, 'revoked', p);
  return gln !== undefined && name !== undefined && role !== undefined && publicKey !== undefined && revoked !== undefined ? { gln, name, role, publicKey, prefixes, revoked } : undefined;
}

export function parseParticipants(v: unknown): ParticipantAnswer[] {
  const r = new WireReader('GET /participants answer');
  const o = r.obj(v, '');
  return r.done(r.list(o, 'participants', '', (x, p) => parseParticipant(x, r, p)));
}

export function parseProductMaster(v: unknown): ProductMasterAnswer {
  const r = new WireReader('GET /products answer');
  const o = r.obj(v, '');
  const gtin = r.str(o, 'gtin', '');
  const name = r.str(o, 'name', '');
  const form = r.str(o, 'form', '');
  const strength = r.str(o, 'strength', '');
  const packSize = r.int(o, 'packSize', '');
  const manufacturer = r.str(o, 'manufacturer', '');
  const index = r.int(o, 'index', '');
  return r.done(
    gtin !== undefined && name !== undefined && form !== undefined && strength !== undefined && packSize !== undefined && manufacturer !== undefined && index !== undefined
      ? { gtin, name, form, strength, packSize, manufacturer, index }
      : undefined,
  );
}

export function parseShipments(v: unknown): ShipmentAnswer[] {
  const r = new WireReader('GET /shipments answer');
  const o = r.obj(v, '');
  return r.done(
    r.list(o, 'shipments', '', (x, p) => {
      const s = r.obj(x, p);
      const index = r.int(s, 'index', p);
      const hash = r.str(s, 'hash', p);
      const from = r.str(s, 'from', p);
      const at = r.str(s, 'at', p);
      const count = r.int(s, 'count', p);
      if (index === undefined || hash === undefined || from === undefined || at === undefined || count === undefined) return undefined;
      return { index, hash, from, at, count };
    }),
  );
}

export function parseHeld(v: unknown): HeldAnswer {
  const r = new WireReader('GET /held answer');
  const o = r.obj(v, '');
  const packs = r.list(o, 'packs', '', (x, p) => {
    const k = r.obj(x, p);
    const gtin = r.str(k, 'gtin', p);
    const serial = r.str(k, 'serial', p);
    const lot = r.str(k, 'lot', p);
    const expiry = r.str(k, 'expiry', p);
    const state = r.str(k, 'state', p);
    const holder = r.str(k, 'holder', p);
    const lastIndex = r.int(k, 'lastIndex', p);
    const lastHash = r.str(k, 'lastHash', p);
    if (gtin === undefined || serial === undefined || lot === undefined || expiry === undefined || state === undefined || holder === undefined || lastIndex === undefined || lastHash === undefined) return undefined;
    return { gtin, serial, lot, expiry, state, holder, lastIndex, lastHash };
  });
  return r.done({ packs, prev: r.strings(o, 'prev', '') });
}

export function parseReports(v: unknown): PatientReport[] {
  const r = new WireReader('GET /reports answer');
  const o = r.obj(v, '');
  return r.done(
    r.list(o, 'reports', '', (x, p) => {
      const e = r.obj(x, p);
      const id = r.int(e, 'id', p);
      const at = r.str(e, 'at', p);
      const code = r.str(e, 'code', p);
      if (id === undefined || at === undefined || code === undefined) return undefined;
      return { id, at, code, gtin: r.strOrNull(e, 'gtin', p), serial: r.strOrNull(e, 'serial', p), verdict: r.strOrNull(e, 'verdict', p), note: r.strOrNull(e, 'note', p), claimed: r.strOrNull(e, 'claimed', p) };
    }),
  );
}

export function parseMakerKey(v: unknown): MakerKeyAnswer {
  const r = new WireReader('GET /products/:gtin/maker-key answer');
  const o = r.obj(v, '');
  const gtin = r.str(o, 'gtin', '');
  const gln = r.str(o, 'gln', '');
  const index = r.int(o, 'index', '');
  const leaf = r.str(o, 'leaf', '');
  const size = r.int(o, 'size', '');
  const leafHash = r.str(o, 'leafHash', '');
  const proof = r.strings(o, 'proof', '');
  const checkpoint = r.str(o, 'checkpoint', '');
  return r.done(
    gtin !== undefined && gln !== undefined && index !== undefined && leaf !== undefined && size !== undefined && leafHash !== undefined && checkpoint !== undefined
      ? { gtin, gln, index, leaf, size, leafHash, proof, checkpoint }
      : undefined,
  );
}
