// What the console asks of the server and sends to it. Every entry body is checked with core/entry/bodies.ts (the
// code the server runs) and signed here with tweetnacl (core/crypto/ed25519.ts default); only the signed entry
// leaves the page. Reads are signed requests (core/api/request-auth.ts) as the participant.
import { parseAppended, parseLogEntries, parseReports, type Appended, type PatientReport } from '../../core/api/answers.js';
import { buildEntry as buildOne } from '../../core/entry/builder.js';
import { fromBase64 } from '../../core/bytes.js';
import { validateBody, type BodyOf } from '../../core/entry/bodies.js';
import { decodeEntry, type Entry, type EntryKind } from '../../core/entry/entry.js';
import { keyFileSeed, parseKeyFile, type KeyFile } from '../../core/crypto/keys.js';
import { getJson, getParsed, obj, postJson, type Signer } from './api.js';
import { LedgerClient } from '../../client/ledger-client.js';

export interface Session extends Signer {
  /** The origin of this ledger's log, which every entry and request signed here signs. */
  log: string;
  name: string;
  role: string;
  /** The key file's JSON text (kept only in memory, or sealed in localStorage by key-store.ts). */
  keyText: string;
}

export interface HeldPack {
  gtin: string;
  serial: string;
  lot: string;
  expiry: string;
  lastHash: string;
}

export interface Shipment {
  index: number;
  hash: string;
  from: string;
  at: string;
  count: number;
}

/** Opens a key file's text: it must carry a GLN enrolled in this ledger. */
export async function openSession(keyText: string): Promise<Session> {
  let key: KeyFile;
  try {
    key = parseKeyFile(JSON.parse(keyText));
  } catch {
    throw new Error('not a medtrail key file');
  }
  if (key.gln === undefined) throw new Error('this key file has no GLN: it is not a participant key');
  const p = obj(await getJson(`/api/v1/participants/${key.gln}`));
  if (p['publicKey'] !== key.publicKey) throw new Error('this key is not the one the ledger holds for that GLN');
  if (p['revoked'] === true) throw new Error('this key has been revoked');
  const log = await new LedgerClient(location.origin, { fetchInit: { credentials: 'omit', cache: 'no-store' } }).origin();
  return { gln: key.gln, seed: keyFileSeed(key), log, name: String(p['name'] ?? key.name), role: String(p['role'] ?? ''), keyText };
}

/** Signs an entry with the session's key, through the one entry builder (core/entry/builder.ts). */
export function buildEntry<K extends EntryKind>(s: Session, kind: K, body: BodyOf[K], prev: string[]): Entry<BodyOf[K]> {
  return buildOne(kind, s, body, prev);
}

export async function submit(e: Entry<object>): Promise<Appended> {
  return parseAppended(await postJson('/api/v1/entries', e));
}

function packs(x: unknown): HeldPack[] {
  const list = obj(x)['packs'];
  return Array.isArray(list) ? list.map(obj).map((p) => ({ gtin: String(p['gtin']), serial: String(p['serial']), lot: String(p['lot']), expiry: String(p['expiry']), lastHash: String(p['lastHash']) })) : [];
}

export async function held(s: Session): Promise<HeldPack[]> {
  return packs(await getJson(`/api/v1/held?gln=${s.gln}&limit=500`, s));
}

/** The pack if this participant holds it (active), else null. */
export async function heldPack(s: Session, gtin: string, serial: string): Promise<HeldPack | null> {
  return packs(await getJson(`/api/v1/held?gln=${s.gln}&gtin=${gtin}&serial=${encodeURIComponent(serial)}`, s))[0] ?? null;
}

export async function shipmentsWaiting(s: Session): Promise<Shipment[]> {
  const list = obj(await getJson(`/api/v1/shipments?to=${s.gln}&open=1`, s))['shipments'];
  return Array.isArray(list) ? list.map(obj).map((x) => ({ index: Number(x['index']), hash: String(x['hash']), from: String(x['from']), at: String(x['at']), count: Number(x['count']) })) : [];
}

/** The packs a ship entry names one by one (packs and cases), read from the signed leaf itself; lots by name. */
export async function shippedItems(s: Session, index: number): Promise<{ packs: { gtin: string; serial: string }[]; lots: { gtin: string; lot: string }[] }> {
  const page = await getParsed(`/api/v1/log/entries?start=${index}&end=${index + 1}`, parseLogEntries, s);
  const leaf = page.entries[0]?.leaf;
  if (leaf === undefined) throw new Error(`no entry at index ${index}`);
  const e = decodeEntry(fromBase64(leaf));
  const body = validateBody('ship', e.body);
  const out: { packs: { gtin: string; serial: string }[]; lots: { gtin: string; lot: string }[] } = { packs: [], lots: [] };
  for (const it of body.items) {
    if (it.type === 'pack') out.packs.push({ gtin: it.gtin, serial: it.serial });
    else if (it.type === 'case') out.packs.push(...it.packs.map((p) => ({ gtin: p.gtin, serial: p.serial })));
    else out.lots.push({ gtin: it.gtin, lot: it.lot });
  }
  return out;
}

export async function participants(): Promise<{ gln: string; name: string; role: string }[]> {
  const list = obj(await getJson('/api/v1/participants'))['participants'];
  return Array.isArray(list) ? list.map(obj).filter((p) => p['revoked'] !== true).map((p) => ({ gln: String(p['gln']), name: String(p['name']), role: String(p['role']) })) : [];
}

export type { PatientReport } from '../../core/api/answers.js';

/** Reports patients sent from the patient page (regulators only; a signed request). */
export async function patientReports(s: Session): Promise<PatientReport[]> {
  return getParsed('/api/v1/reports', parseReports, s);
}
