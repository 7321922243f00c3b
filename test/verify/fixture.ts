// A real server on a temporary SQLite file with a small supply chain in it: a manufacturer, a distributor,
// two pharmacies and a regulator, one product, and lots moved along the chain, entries signed here and
// submitted through the custody services of the server's own ledger (the same path POST /entries takes).
import { toBase64Url } from '../../core/bytes.js';
import { sign } from '../../core/crypto/ed25519.js';
import type { Entry } from '../../core/entry/entry.js';
import { formatDigitalLink } from '../../core/gs1/digital-link.js';
import { checkDigit } from '../../core/gs1/identifiers.js';
import { keyFileSeed, type KeyFile } from '../../core/crypto/keys.js';
import { packIdentityBytes } from '../../core/tag/pack.js';
import { signRequest } from '../../core/api/request-auth.js';
import { toHex } from '../../core/bytes.js';
import { custodyServices } from '../../server/custody/services.js';
import { serviceModules } from '../../server/modules.js';
import { startServer, type RunningServer } from '../../server/server.js';
import { entry, makeLedger, participantKey, type TestLedger, TEST_ORIGIN } from '../support/ledger.js';

export type Key = KeyFile & { gln: string };

export const PREFIX = '4000001';

/** A GTIN-14 under the test company prefix. */
export function gtinOf(item: number): string {
  const body = `0${PREFIX}${String(item).padStart(5, '0')}`;
  return body + String(checkDigit(body));
}

export interface Chain {
  t: TestLedger;
  s: RunningServer;
  maker: Key;
  dist: Key;
  pharmacy: Key;
  pharmacy2: Key;
  regulator: Key;
  outsider: Key;
  gtin: string;
  productHash: string;
  submit(e: Entry): { index: number; leafHash: string };
  close(): Promise<void>;
}

export async function startChain(): Promise<Chain> {
  const t = makeLedger();
  const s = await startServer({ db: t.db, port: 0, modules: serviceModules() });
  const svc = custodyServices(s.ledger);
  const submit = (e: Entry): { index: number; leafHash: string } => {
    const [a] = svc.submit([e]);
    return { index: a!.index, leafHash: toHex(a!.leafHash) };
  };
  const auth = t.authority as Key;
  const enroll = (k: Key, role: string, prefixes: string[] = []): void => {
    submit(entry('participant', auth, { action: 'admit', gln: k.gln, name: k.name, role, publicKey: k.publicKey, prefixes }));
  };
  const maker = participantKey(10);
  const dist = participantKey(11);
  const pharmacy = participantKey(12);
  const pharmacy2 = participantKey(13);
  const regulator = participantKey(14);
  const outsider = participantKey(15);
  enroll(maker, 'manufacturer', [PREFIX]);
  enroll(dist, 'distributor');
  enroll(pharmacy, 'pharmacy');
  enroll(pharmacy2, 'pharmacy');
  enroll(regulator, 'regulator');
  enroll(outsider, 'manufacturer', ['4000002']);
  const gtin = gtinOf(1);
  const productHash = submit(entry('product', maker, { gtin, name: 'Paracetamol 500 mg', form: 'tablet', strength: '500 mg', packSize: 20 })).leafHash;
  return { t, s, maker, dist, pharmacy, pharmacy2, regulator, outsider, gtin, productHash, submit, close: async () => { await s.close(); t.cleanup(); } };
}

/** Registers a lot of `serials`; answers the batch leaf hash. */
export function batch(c: Chain, lot: string, expiry: string, serials: string[]): string {
  return c.submit(entry('batch', c.maker, { gtin: c.gtin, lot, expiry, serials }, [c.productHash])).leafHash;
}

/** Ships the whole lot from `from` to `to` (prev: the entry that gave `from` the lot); answers the ship hash. */
export function shipLot(c: Chain, from: Key, to: Key, lot: string, prev: string): string {
  return c.submit(entry('ship', from, { to: to.gln, items: [{ type: 'lot', gtin: c.gtin, lot }] }, [prev])).leafHash;
}

export function receive(c: Chain, by: Key, ship: string): string {
  return c.submit(entry('receive', by, { ship, missing: [], extra: [] }, [ship])).leafHash;
}

/** The tag URI of a pack, signed with `signer` (the maker unless a test forges it). */
export function tagUri(p: { gtin: string; lot: string; serial: string; expiry: string }, signer: KeyFile): string {
  const sig = toBase64Url(sign(packIdentityBytes(p), keyFileSeed(signer)));
  return formatDigitalLink({ resolver: 'https://id.medtrail.test', gtin: p.gtin, lot: p.lot, serial: p.serial, expiry: p.expiry, sig, query: {} });
}

export interface VerifyAnswer {
  verdict: string;
  reasons: { code: string; message: string; emvs?: string; lmv?: string }[];
  message: string;
  product: Record<string, unknown> | null;
  pack: Record<string, unknown> | null;
  journey: Record<string, unknown>[];
  proof: { index: number; size: number; leafHash: string; proof: string[]; checkpoint: string } | null;
}

/** POST /api/v1/verify, anonymous or signed by `as`. */
export async function verify(c: Chain, code: string, opts: { as?: Key; location?: string; gln?: string; scannedAt?: string } = {}): Promise<{ status: number; body: VerifyAnswer & { error?: { code: string } } }> {
  const scanner: Record<string, string> = {};
  if (opts.location !== undefined) scanner['location'] = opts.location;
  if (opts.gln !== undefined) scanner['gln'] = opts.gln;
  const raw = JSON.stringify({ code, ...(Object.keys(scanner).length > 0 ? { scanner } : {}), ...(opts.scannedAt !== undefined ? { scannedAt: opts.scannedAt } : {}) });
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (opts.as !== undefined) Object.assign(headers, signRequest({ log: TEST_ORIGIN, method: 'POST', path: '/api/v1/verify', body: new TextEncoder().encode(raw) }, opts.as.gln, keyFileSeed(opts.as)));
  const res = await fetch(`${c.s.url}/api/v1/verify`, { method: 'POST', headers, body: raw });
  return { status: res.status, body: (await res.json()) as VerifyAnswer & { error?: { code: string } } };
}

/** GET under /api/v1, anonymous or signed by `as`. */
export async function get(c: Chain, path: string, as?: Key): Promise<Response> {
  const headers: Record<string, string> = {};
  if (as !== undefined) Object.assign(headers, signRequest({ log: TEST_ORIGIN, method: 'GET', path: `/api/v1${path}` }, as.gln, keyFileSeed(as)));
  return fetch(`${c.s.url}/api/v1${path}`, { headers });
}
