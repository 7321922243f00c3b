// The HTTP API described in OpenAPI 3.1 (served at GET /api/v1/openapi.json), so that any client in any language
// can be generated or checked against it. The answer shapes are the ones core/api/answers.ts declares and parses;
// test/server/openapi.test.ts validates real answers of a running server against these schemas, so the
// description cannot drift from what the server says. Schemas are JSON Schema 2020-12, as OpenAPI 3.1 uses.
import { ERROR_CODES } from '../../core/errors.js';
import { JOURNEY_STEPS } from '../../core/api/answers.js';
import { VERDICTS } from '../../core/verdict.js';
import { RX_STATUSES } from '../../core/rx/rx.js';
import { RX_REPORT_DIMENSIONS } from '../../core/api/rx.js';

type Schema = Record<string, unknown>;

const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer', minimum: 0 };
const hex64: Schema = { type: 'string', pattern: '^[0-9a-f]{64}$' };
const gln: Schema = { type: 'string', pattern: '^[0-9]{13}$' };
const gtin14: Schema = { type: 'string', pattern: '^[0-9]{14}$' };
const nullable = (s: Schema): Schema => ({ oneOf: [s, { type: 'null' }] });
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const obj = (required: Record<string, Schema>, optional: Record<string, Schema> = {}): Schema => ({
  type: 'object',
  required: Object.keys(required),
  properties: { ...required, ...optional },
});
const list = (item: Schema): Schema => ({ type: 'array', items: item });

const schemas: Record<string, Schema> = {
  Error: obj({ error: obj({ code: { type: 'string', enum: Object.keys(ERROR_CODES) }, message: str }, { fields: list(obj({ path: str, code: str, message: str })) }) }),
  Appended: obj({ index: int, leafHash: hex64 }),
  AppendedMany: obj({ entries: list(ref('Appended')) }),
  LogEntries: obj({ entries: list(obj({ index: int, leaf: { type: 'string', contentEncoding: 'base64' } })) }, { next: int }),
  InclusionProof: obj({ index: int, size: int, leafHash: hex64, proof: list(hex64) }),
  ConsistencyProof: obj({ from: int, to: int, proof: list(hex64) }),
  Reason: obj({ code: str, message: str }, { emvs: str, lmv: str }),
  Party: obj({ gln, name: str }),
  Product: obj({ gtin: gtin14, name: str, form: str, strength: str, packSize: int, manufacturer: obj({ gln, name: str }, { index: int }) }),
  Pack: obj(
    { gtin: gtin14, serial: str, lot: str, expiry: { type: 'string', pattern: '^[0-9]{6}$' }, state: str },
    {
      expiryDate: str,
      recall: obj({ at: nullable(str), reason: nullable(str) }),
      holder: gln,
      inTransitTo: nullable(gln),
      lastIndex: int,
      lastHash: hex64,
      dispensedBy: nullable(gln),
      dispensedAt: nullable(str),
    },
  ),
  JourneyStep: obj({ step: { type: 'string', enum: [...JOURNEY_STEPS] }, at: str }, { who: ref('Party'), with: nullable(ref('Party')), index: int }),
  Inclusion: obj({ index: int, size: int, leafHash: hex64, proof: list(hex64), checkpoint: str }),
  VerifyRequest: obj({ code: str }, { scanner: obj({}, { gln: nullable(gln), location: nullable(str) }), scannedAt: str }),
  VerifyAnswer: obj({
    verdict: { type: 'string', enum: [...VERDICTS] },
    reasons: list(ref('Reason')),
    message: str,
    product: nullable(ref('Product')),
    pack: nullable(ref('Pack')),
    journey: list(ref('JourneyStep')),
    proof: nullable(ref('Inclusion')),
  }),
  PackRead: obj(
    { verdict: { type: 'string', enum: [...VERDICTS] }, reasons: list(ref('Reason')), message: str, product: nullable(ref('Product')), pack: ref('Pack'), journey: list(ref('JourneyStep')) },
    {
      checkpoint: str,
      chain: list(
        obj({
          index: int,
          leafHash: hex64,
          kind: str,
          signer: gln,
          signerName: nullable(str),
          counterparty: nullable(gln),
          counterpartyName: nullable(str),
          at: str,
          proof: obj({ size: int, hashes: list(hex64) }),
        }),
      ),
    },
  ),
  Participant: obj({ gln, name: str, role: str, publicKey: str, prefixes: list(str), revoked: { type: 'boolean' } }),
  Participants: obj({ participants: list(ref('Participant')) }),
  ProductMaster: obj({ gtin: gtin14, name: str, form: str, strength: str, packSize: int, manufacturer: gln, index: int }),
  MakerKey: obj({ gtin: gtin14, gln, index: int, leaf: str, size: int, leafHash: hex64, proof: list(hex64), checkpoint: str }),
  Shipments: obj({ shipments: list(obj({ index: int, hash: hex64, from: gln, at: str, count: int })) }),
  Held: obj({ packs: list(obj({ gtin: gtin14, serial: str, lot: str, expiry: str, state: str, holder: gln, lastIndex: int, lastHash: hex64 })), prev: list(hex64) }),
  ReportRequest: obj({ code: str }, { verdict: str, note: str }),
  ReportAccepted: obj({ id: int, at: str }),
  Reports: obj({ reports: list(obj({ id: int, at: str, code: str, gtin: nullable(str), serial: nullable(str), verdict: nullable(str), note: nullable(str), claimed: nullable(str) })) }),
  EpcisDocument: obj({ '@context': {}, type: { const: 'EPCISDocument' }, schemaVersion: str, creationDate: str, epcisBody: obj({ eventList: list({ type: 'object' }) }) }),
  Alerts: obj({ alerts: list(obj({ gtin: gtin14, serial: str, signals: list({ type: 'string', enum: ['SEEN_APART', 'REPEATED'] }), scans: int, places: int, firstAt: str, lastAt: str })), since: str, forgeable: { const: true } }),
  // Prescriptions (issue 16; server/rx/routes.ts, core/api/rx.ts)
  Medicine: { oneOf: [obj({ gtin: gtin14 }), obj({ substance: str, strength: str, form: str }, { atc: str })] },
  RxDispense: obj({ index: int, at: str, gtin: gtin14, serial: str, product: nullable(str), pharmacy: ref('Party'), undone: { type: 'boolean' } }),
  Rx: obj(
    {
      id: { type: 'string', pattern: '^[0-9a-f]{32}$' },
      index: int,
      leafHash: hex64,
      at: str,
      prescriber: obj({ gln, name: str, region: str, type: str }),
      medicine: ref('Medicine'),
      medicineText: str,
      quantity: int,
      repeats: int,
      dosage: str,
      validFrom: str,
      validUntil: str,
      status: { type: 'string', enum: [...RX_STATUSES] },
      total: int,
      dispensed: int,
      claimedBy: nullable(ref('Party')),
      cancelReason: nullable(str),
      dispenses: list(ref('RxDispense')),
    },
    { patient: hex64 },
  ),
  RxList: obj({ prescriptions: list(ref('Rx')) }),
  RxRequest: obj({}, { entry: { type: 'object' }, details: ref('RxDetails'), items: list(obj({ entry: { type: 'object' }, details: ref('RxDetails') })) }),
  RxDetails: obj({ salt: hex64, patient: obj({ id: str }, { name: str, birthDate: str }) }, { note: str }),
  RxCreated: { oneOf: [obj({ id: str, index: int, leafHash: hex64 }), obj({ items: list(obj({ id: str, index: int, leafHash: hex64 })) })] },
  RxViewRequest: obj({ id: str, at: str, sig: str }),
  RxInclusion: obj({ index: int, size: int, leafHash: hex64, proof: list(hex64) }),
  RxView: obj({
    prescription: ref('Rx'),
    evidence: obj({ checkpoint: str, leaf: str, inclusion: ref('RxInclusion'), prescriberLeaf: nullable(str), prescriberInclusion: nullable(ref('RxInclusion')) }),
  }),
  RxReport: obj({
    by: list({ type: 'string', enum: [...RX_REPORT_DIMENSIONS] }),
    threshold: int,
    rows: list(obj({ prescriptions: nullable(int), packsPrescribed: nullable(int), packsDispensed: nullable(int) }, { month: str, region: str, substance: str, prescriberType: str })),
  }),
  FhirBundle: obj({ resourceType: { const: 'Bundle' }, type: str, entry: list(obj({ fullUrl: str, resource: { type: 'object' } })) }),
  Health: obj({ ok: { type: 'boolean' }, inFlight: int, maxInFlight: int, lagging: { type: 'boolean' }, draining: { type: 'boolean' } }),
};

type Op = { summary: string; signed?: 'optional' | 'required'; query?: string[]; path?: string[]; body?: string; answers: Record<string, string>; text?: boolean };

/** The routes under /api/v1 (and /healthz), each with the schema of every answer. */
const OPS: Record<string, Record<string, Op>> = {
  '/healthz': { get: { summary: 'whether new requests are taken now (503 while they would be shed)', answers: { '200': 'Health', '503': 'Health' } } },
  '/api/v1/checkpoint': { get: { summary: 'the newest signed checkpoint (C2SP signed note)', text: true, answers: {} } },
  '/api/v1/log/key': { get: { summary: "the log's verifier key (C2SP signed-note form)", text: true, answers: {} } },
  '/api/v1/log/entries': { get: { summary: 'leaves [start, end), at most 1,000 and about 1 MiB, `next` where a short page stops (signed by an enrolled participant: entries name trading partners)', signed: 'required', query: ['start', 'end'], answers: { '200': 'LogEntries' } } },
  '/api/v1/tile/{L}/{N}': { get: { summary: 'c2sp.org/tlog-tiles hash tile: 256 (or .p/<W>) hashes of 32 bytes; N as x001/x234/067', path: ['L', 'N'], text: true, answers: {} } },
  '/api/v1/tile/entries/{N}': { get: { summary: 'c2sp.org/tlog-tiles entry bundle (uint16-length-prefixed entries; signed by an enrolled participant; TOO_LARGE when an entry exceeds 65,535 bytes)', signed: 'required', path: ['N'], text: true, answers: {} } },
  '/api/v1/log/proof/inclusion': { get: { summary: 'RFC 9162 inclusion proof', query: ['index', 'size'], answers: { '200': 'InclusionProof' } } },
  '/api/v1/log/proof/consistency': { get: { summary: 'RFC 9162 consistency proof', query: ['from', 'to'], answers: { '200': 'ConsistencyProof' } } },
  '/api/v1/entries': { post: { summary: 'append a signed entry, or {"entries":[...]} all or nothing', answers: { '201': 'Appended' } } },
  '/api/v1/verify': { post: { summary: 'the verdict on a scanned code', signed: 'optional', body: 'VerifyRequest', answers: { '200': 'VerifyAnswer' } } },
  '/api/v1/packs/{gtin}/{serial}': { get: { summary: "a pack's verdict and journey (full chain with proofs for a party in it)", signed: 'optional', path: ['gtin', 'serial'], answers: { '200': 'PackRead' } } },
  '/api/v1/epcis/events': { get: { summary: "a pack's history as an EPCIS 2.0 document", signed: 'optional', query: ['gtin', 'serial'], answers: { '200': 'EpcisDocument' } } },
  '/api/v1/participants': { get: { summary: 'enrolled participants', answers: { '200': 'Participants' } } },
  '/api/v1/participants/{gln}': { get: { summary: 'one participant', path: ['gln'], answers: { '200': 'Participant' } } },
  '/api/v1/products/{gtin}': { get: { summary: 'product master data', path: ['gtin'], answers: { '200': 'ProductMaster' } } },
  '/api/v1/products/{gtin}/maker-key': { get: { summary: "the maker's key entry with its inclusion proof", path: ['gtin'], answers: { '200': 'MakerKey' } } },
  '/api/v1/shipments': { get: { summary: 'shipments addressed to a party (signed by it or a regulator)', signed: 'required', query: ['to', 'open'], answers: { '200': 'Shipments' } } },
  '/api/v1/held': { get: { summary: 'packs a party holds (signed by it or a regulator)', signed: 'required', query: ['gln', 'gtin', 'lot', 'serial', 'limit', 'offset'], answers: { '200': 'Held' } } },
  '/api/v1/alerts': { get: { summary: "patient-page and app scans that look like a clone (forgeable signals), for the product's maker or a regulator", signed: 'required', query: ['since'], answers: { '200': 'Alerts' } } },
  '/api/v1/rx': {
    post: { summary: 'a prescriber signs a prescription: {entry, details} or {items:[...]} (up to 1,000, all or none); the details are sealed off the ledger', signed: 'required', body: 'RxRequest', answers: { '201': 'RxCreated' } },
    get: { summary: "a prescriber's newest prescriptions (?prescriber=) or those a pharmacy holds the claim of (?claimedBy=); signed by that party or a regulator", signed: 'required', query: ['prescriber', 'claimedBy'], answers: { '200': 'RxList' } },
  },
  '/api/v1/rx/view': { post: { summary: "the prescription for the holder of its access code (sig: the code's Ed25519 signature over medtrail/v1/rx-view, origin, id, at), without the patient, with evidence; wrong codes are bounded (RX_ACCESS_LIMITED)", body: 'RxViewRequest', answers: { '200': 'RxView' } } },
  '/api/v1/rx/reports': { get: { summary: 'prescribed and dispensed medicines by month, region, substance, prescriberType (?by=, filters by the same names, format=csv for text/csv); regulators; counts under the threshold suppressed', signed: 'required', query: ['by', 'month', 'region', 'substance', 'prescriberType', 'format'], answers: { '200': 'RxReport' } } },
  '/api/v1/rx/{id}': { get: { summary: 'a prescription, to its prescriber, the claiming or a dispensing pharmacy, or a regulator', signed: 'required', path: ['id'], answers: { '200': 'Rx' } } },
  '/api/v1/rx/{id}/fhir': { get: { summary: 'the prescription and its dispenses as a FHIR R4 Bundle (MedicationRequest, MedicationDispense), served as application/fhir+json', signed: 'required', path: ['id'], answers: { '200': 'FhirBundle' } } },
  '/api/v1/rx/{id}/details': { get: { summary: 'the sealed off-ledger details, to the prescriber and the pharmacy holding the claim (410 RX_ERASED once erased)', signed: 'required', path: ['id'], answers: { '200': 'RxDetails' } } },
  '/api/v1/reports': {
    post: { summary: "a patient's report", body: 'ReportRequest', answers: { '201': 'ReportAccepted' } },
    get: { summary: 'patient reports (signed by a regulator)', signed: 'required', query: ['after'], answers: { '200': 'Reports' } },
  },
};

const SIGNED_HEADERS = ['X-Medtrail-Signer', 'X-Medtrail-At', 'X-Medtrail-Signature'];

function operation(op: Op): Schema {
  const parameters = [
    ...(op.path ?? []).map((name) => ({ name, in: 'path', required: true, schema: str })),
    ...(op.query ?? []).map((name) => ({ name, in: 'query', schema: str })),
    ...(op.signed !== undefined ? SIGNED_HEADERS.map((name) => ({ name, in: 'header', required: op.signed === 'required', schema: str })) : []),
  ];
  const responses: Record<string, Schema> = {};
  if (op.text === true) responses['200'] = { description: 'ok', content: { 'text/plain': { schema: str } } };
  for (const [status, schema] of Object.entries(op.answers)) responses[status] = { description: 'ok', content: { 'application/json': { schema: ref(schema) } } };
  responses['default'] = { description: 'a coded error', content: { 'application/json': { schema: ref('Error') } } };
  return {
    summary: op.summary,
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(op.body !== undefined ? { requestBody: { required: true, content: { 'application/json': { schema: ref(op.body) } } } } : {}),
    responses,
  };
}

export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'medtrail ledger API', version: '1', description: 'Signed custody entries in an RFC 9162 log; verification of medicine packs. See docs/architecture.md, The wire.' },
  paths: Object.fromEntries(Object.entries(OPS).map(([path, ops]) => [path, Object.fromEntries(Object.entries(ops).map(([m, op]) => [m, operation(op)]))])),
  components: { schemas },
} as const;

/** The schema of the JSON answer of `method path` with `status`, for tests and tools. */
export function answerSchema(path: string, method: string, status: string): string | undefined {
  return OPS[path]?.[method]?.answers[status];
}
