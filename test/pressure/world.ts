// A small but complete supply chain on a real ledger, for the pressure tests: a manufacturer's product and a
// batch with signed tags, packs shipped to a distributor and on to a pharmacy, one dispensed, scans with a
// location; plus an outsider distributor, a revoked participant and a key that was never enrolled. Built over
// HTTP against a running server (in process or a child process: only the URL matters).
import { fromBase64, toHex } from '../../core/bytes.js';
import { openCheckpoint, type Checkpoint } from '../../core/log/checkpoint.js';
import { newNonce, signEntry, type Entry, type EntryKind } from '../../core/entry/entry.js';
import { keyFileSeed, type KeyFile } from '../../core/crypto/keys.js';
import { leafHash, verifyConsistency, verifyInclusion } from '../../core/log/merkle.js';
import { signRequest } from '../../core/api/request-auth.js';
import { signTag } from '../../cli/client/batch.js';
import { gtinOf, type Party } from '../support/custody.js';
import { participantKey, TEST_ORIGIN } from '../support/ledger.js';

export const PREFIX = '4012345';
export const GTIN = gtinOf(7);
export const LOT = 'LOT-P1';
export const EXPIRY = '301231';
export const SCAN_PLACE = 'Apotheke am Markt, Hauptstrasse 5';

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

export async function call(url: string, method: string, path: string, body?: unknown, as?: Party, extraHeaders: Record<string, string> = {}): Promise<Answer> {
  const raw = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const headers: Record<string, string> = { ...extraHeaders };
  if (raw !== undefined) headers['content-type'] ??= 'application/json';
  if (as !== undefined) Object.assign(headers, signRequest({ log: TEST_ORIGIN, method, path, ...(raw !== undefined ? { body: new TextEncoder().encode(raw) } : {}) }, as.gln, keyFileSeed(as)));
  const r = await fetch(url + path, { method, headers, ...(raw !== undefined ? { body: raw } : {}) });
  const text = await r.text();
  let json: Record<string, unknown> = {};
  try {
    const j: unknown = JSON.parse(text);
    if (j !== null && typeof j === 'object' && !Array.isArray(j)) json = j as Record<string, unknown>;
  } catch {
    /* pages, checkpoints: text */
  }
  return { status: r.status, headers: r.headers, text, json };
}

export function signed(kind: EntryKind, who: KeyFile & { gln: string }, body: Record<string, unknown>, prev: string[] = []): Entry {
  return signEntry({ v: 1, kind, signer: who.gln, at: new Date().toISOString(), nonce: newNonce(), prev, body }, keyFileSeed(who), TEST_ORIGIN);
}

export interface World {
  url: string;
  authority: Party;
  m: Party;
  d: Party;
  p: Party;
  reg: Party;
  /** A distributor outside this pack's chain. */
  outsider: Party;
  /** Enrolled, then revoked. */
  revoked: Party;
  /** Never enrolled. */
  unknown: Party;
  serials: string[];
  /** Signed tag URI per serial. */
  tags: Map<string, string>;
  /** serial -> where it is: 'm' (at the manufacturer), 'd' (received by the distributor), 'p' (at the pharmacy), 'dispensed'. */
  at: Map<string, string>;
  hashes: Record<string, string>;
  post(e: Entry | { entries: Entry[] }): Promise<Answer>;
}

async function ok(url: string, e: Entry | { entries: Entry[] }): Promise<string[]> {
  const r = await call(url, 'POST', '/api/v1/entries', e);
  if (r.status !== 201) throw new Error(`expected 201, got ${r.status} ${r.text}`);
  const list = 'entries' in e ? (r.json['entries'] as Record<string, unknown>[]) : [r.json];
  return list.map((x) => String(x['leafHash']));
}

/** Enrolls the parties and moves packs along the chain; `authority` is the ledger's authority key. */
export async function buildWorld(url: string, authority: Party, base = 100): Promise<World> {
  const m = participantKey(base + 1);
  const d = participantKey(base + 2);
  const p = participantKey(base + 3);
  const reg = participantKey(base + 4);
  const outsider = participantKey(base + 5);
  const revoked = participantKey(base + 6);
  const unknown = participantKey(base + 7);
  const admit = (who: Party, role: string, prefixes: string[] = []): Entry =>
    signed('participant', authority, { action: 'admit', gln: who.gln, name: who.name, role, publicKey: who.publicKey, prefixes });
  await ok(url, { entries: [admit(m, 'manufacturer', [PREFIX]), admit(d, 'distributor'), admit(p, 'pharmacy'), admit(reg, 'regulator'), admit(outsider, 'distributor'), admit(revoked, 'pharmacy')] });
  await ok(url, signed('participant', authority, { action: 'revoke', gln: revoked.gln }));
  const [product] = await ok(url, signed('product', m, { gtin: GTIN, name: 'Pressurol', form: 'tablet', strength: '5 mg', packSize: 30 }));
  const serials = Array.from({ length: 12 }, (_, i) => `PS${String(i).padStart(4, '0')}X`);
  const [batch] = await ok(url, signed('batch', m, { gtin: GTIN, lot: LOT, expiry: EXPIRY, serials }, [product!]));
  const seed = keyFileSeed(m);
  const tags = new Map(serials.map((s) => [s, signTag(seed, 'https://id.medtrail.test', { gtin: GTIN, lot: LOT, expiry: EXPIRY, serial: s })]));
  const at = new Map(serials.map((s) => [s, 'm']));
  const packs = (list: string[]): Record<string, unknown>[] => list.map((serial) => ({ type: 'pack', gtin: GTIN, serial }));
  const toD = serials.slice(0, 6);
  const [ship1] = await ok(url, signed('ship', m, { to: d.gln, items: packs(toD) }, [batch!]));
  const [recv1] = await ok(url, signed('receive', d, { ship: ship1!, missing: [], extra: [] }, [ship1!]));
  const toP = serials.slice(0, 3);
  const [ship2] = await ok(url, signed('ship', d, { to: p.gln, items: packs(toP) }, [recv1!]));
  const [recv2] = await ok(url, signed('receive', p, { ship: ship2!, missing: [], extra: [] }, [ship2!]));
  const [disp] = await ok(url, signed('dispense', p, { gtin: GTIN, serial: serials[0]! }, [recv2!]));
  for (const s of toD) at.set(s, 'd');
  for (const s of toP) at.set(s, 'p');
  at.set(serials[0]!, 'dispensed');
  // Scans with a place, by the pharmacy (signed) and by a patient (anonymous): places must never leak.
  await call(url, 'POST', '/api/v1/verify', { code: tags.get(serials[1]!)!, scanner: { location: SCAN_PLACE } }, p);
  await call(url, 'POST', '/api/v1/verify', { code: tags.get(serials[2]!)!, scanner: { location: SCAN_PLACE } });
  return {
    url,
    authority,
    m,
    d,
    p,
    reg,
    outsider,
    revoked,
    unknown,
    serials,
    tags,
    at,
    hashes: { product: product!, batch: batch!, ship1: ship1!, recv1: recv1!, ship2: ship2!, recv2: recv2!, dispense: disp! },
    post: (e) => call(url, 'POST', '/api/v1/entries', e),
  };
}

/** The log's verifier key and its newest checkpoint, as a client sees them. */
export async function fetchCheckpoint(url: string): Promise<{ note: string; vkey: string; cp: Checkpoint }> {
  const vkey = (await call(url, 'GET', '/api/v1/log/key')).text.trim();
  const note = (await call(url, 'GET', '/api/v1/checkpoint')).text;
  return { note, vkey, cp: openCheckpoint(note, vkey) };
}

/**
 * What a client that kept a checkpoint does to check the log today, over HTTP with core/ only: the current
 * checkpoint must verify, must not be smaller, must be consistent with the one kept; and every leaf it asks
 * about (by index) must be served at that index and be included in the kept checkpoint (the entries are a
 * signed read: `as`, an enrolled participant, asks for them). Returns the first failure, or 'ok'.
 */
export async function clientCheck(url: string, vkey: string, kept: Checkpoint, probes: number[] = [], as?: Party): Promise<string> {
  let now: Checkpoint;
  try {
    now = openCheckpoint((await call(url, 'GET', '/api/v1/checkpoint')).text, vkey);
  } catch {
    return 'checkpoint signature';
  }
  if (now.size < kept.size) return 'tree shrank';
  const cons = await call(url, 'GET', `/api/v1/log/proof/consistency?from=${kept.size}&to=${now.size}`);
  if (cons.status !== 200) return `consistency proof refused (${cons.status})`;
  try {
    if (kept.size > 0) verifyConsistency(kept.size, now.size, (cons.json['proof'] as string[]).map((h) => Buffer.from(h, 'hex')), kept.root, now.root);
  } catch {
    return 'consistency proof';
  }
  for (const i of probes) {
    const e = await call(url, 'GET', `/api/v1/log/entries?start=${i}&end=${i + 1}`, undefined, as);
    const first = (e.json['entries'] as { index: number; leaf: string }[] | undefined)?.[0];
    if (e.status !== 200 || first === undefined || first.index !== i) return `leaf ${i} missing`;
    const inc = await call(url, 'GET', `/api/v1/log/proof/inclusion?index=${i}&size=${kept.size}`);
    if (inc.status !== 200) return `inclusion proof of ${i} refused (${inc.status})`;
    try {
      verifyInclusion(leafHash(fromBase64(first.leaf)), i, kept.size, (inc.json['proof'] as string[]).map((h) => Buffer.from(h, 'hex')), kept.root);
    } catch {
      return `inclusion of leaf ${i}`;
    }
  }
  return 'ok';
}

export { toHex };
