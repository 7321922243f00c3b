// The demo supply chain: a manufacturer, a distributor and a pharmacy enrolled by the authority, a product,
// batches moved along the chain, and one pack URI for each verdict. Everything goes through the same client
// functions as the commands, over HTTP, so the demo is an honest run of the real system:
//
//   GENUINE      a pack received by the pharmacy, on its shelf
//   DISPENSED    a pack the pharmacy dispensed
//   RECALLED     a pack of a lot the manufacturer recalled
//   EXPIRED      a pack of a lot registered with an expiry already past (stock older than the ledger)
//   IN_TRANSIT   a pack shipped to the pharmacy and not yet received
//   UNKNOWN      a correctly signed tag whose serial was never registered (printed, never uploaded)
//   COUNTERFEIT  a real pack's URI carrying a signature made with a key that is not the manufacturer's
//
// Each run makes fresh GLNs, keys and a fresh GTIN, so the demo can run any number of times on one ledger.
import { join } from 'node:path';
import { checkDigit } from '../core/gs1/identifiers.js';
import { generateKeyFile, type KeyFile } from '../core/crypto/keys.js';
import { keyFileSeed } from '../core/crypto/keys.js';
import { ApiClient, loadKey, type SignerKey } from './api-client.js';
import { generateSerials, postBatch, signTag, signTags, tagsFileText, type BatchSpec, type Tag } from './client/batch.js';
import { dispense } from './client/dispense.js';
import { enroll } from './client/enroll.js';
import { registerProductEntry } from './client/product.js';
import { recall } from './client/recall.js';
import { receive } from './client/receive.js';
import { ship } from './client/ship.js';
import { writeNewFile } from './io.js';

export const DEMO_VERDICTS = ['GENUINE', 'DISPENSED', 'RECALLED', 'EXPIRED', 'UNKNOWN', 'COUNTERFEIT', 'IN_TRANSIT'] as const;
export type DemoVerdict = (typeof DEMO_VERDICTS)[number];

export interface DemoOptions {
  server: string;
  authorityKey: string;
  dir: string;
  /** Called with a short line as each step completes (stderr in the command). */
  log?: (line: string) => void;
}

export interface DemoResult {
  packs: Record<DemoVerdict, string>;
  participants: { role: string; gln: string; keyFile: string }[];
  gtin: string;
}

function randomDigits(n: number): string {
  const b = new Uint8Array(n);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => String(x % 10)).join('');
}

/** A fresh GLN (prefix 4, the demo's own range) with its check digit. */
export function randomGln(): string {
  const body = `4${randomDigits(11)}`;
  return body + String(checkDigit(body));
}

/** YYMMDD of `d` (UTC). */
export function yymmdd(d: Date): string {
  return [d.getUTCFullYear() % 100, d.getUTCMonth() + 1, d.getUTCDate()].map((n) => String(n).padStart(2, '0')).join('');
}

function addDays(d: Date, days: number): Date {
  return new Date(d.getTime() + days * 86_400_000);
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const log = o.log ?? (() => {});
  const authority = loadKey(o.authorityKey, '--authority-key');
  const c = new ApiClient(o.server);
  const stamp = new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15);

  const prefix = `4${randomDigits(6)}`;
  const keys: Record<'manufacturer' | 'distributor' | 'pharmacy', SignerKey> = {
    manufacturer: participantKeyFile('Demo Pharma Manufacturing'),
    distributor: participantKeyFile('Demo Wholesale Distribution'),
    pharmacy: participantKeyFile('Demo Corner Pharmacy'),
  };
  const participants: DemoResult['participants'] = [];
  for (const role of ['manufacturer', 'distributor', 'pharmacy'] as const) {
    const k = keys[role];
    const keyFile = join(o.dir, `${stamp}-${role}.key.json`);
    writeNewFile(keyFile, `${JSON.stringify(k, null, 2)}\n`, true);
    await enroll(c, authority, { action: 'admit', gln: k.gln, name: k.name, role, publicKey: k.publicKey, prefixes: role === 'manufacturer' ? [prefix] : [] });
    participants.push({ role, gln: k.gln, keyFile });
    log(`enrolled ${role} ${k.gln} (key ${keyFile})`);
  }
  const m = new ApiClient(o.server, keys.manufacturer);
  const d = new ApiClient(o.server, keys.distributor);
  const p = new ApiClient(o.server, keys.pharmacy);

  const item = randomDigits(5);
  const gtin = `0${prefix}${item}` + String(checkDigit(`0${prefix}${item}`));
  await registerProductEntry(m, keys.manufacturer, { gtin, name: 'Demoxicillin', form: 'film-coated tablet', strength: '500 mg', packSize: 20 });
  log(`registered product ${gtin}`);

  const now = new Date();
  const resolver = c.base;
  const batch = async (lot: string, expiry: string, count: number): Promise<Tag[]> => {
    const spec: BatchSpec = { gtin, lot, expiry, serials: generateSerials(count) };
    const tags = signTags(keys.manufacturer, resolver, spec);
    await postBatch(m, keys.manufacturer, spec);
    writeNewFile(join(o.dir, `${stamp}-tags-${lot}.txt`), tagsFileText(tags, false));
    log(`registered batch ${lot} (${count} packs, expiry ${expiry})`);
    return tags;
  };
  const good = await batch(`D${stamp.slice(2, 8)}A`, yymmdd(addDays(now, 730)), 6);
  const recalled = await batch(`D${stamp.slice(2, 8)}R`, yymmdd(addDays(now, 730)), 2);
  const expired = await batch(`D${stamp.slice(2, 8)}E`, yymmdd(addDays(now, -40)), 2);

  // Along the chain: the whole good lot to the distributor, three packs on to the pharmacy.
  const toD = await ship(m, keys.manufacturer, keys.distributor.gln, [{ type: 'lot', gtin, lot: good[0]!.lot }]);
  await receive(d, keys.distributor, toD.leafHash);
  log(`manufacturer -> distributor: ${toD.packs} packs shipped and received`);
  const [onShelf, sold, travelling, forged] = [good[0]!, good[1]!, good[2]!, good[3]!];
  const toP = await ship(d, keys.distributor, keys.pharmacy.gln, [onShelf, sold].map((t) => ({ type: 'pack' as const, gtin, serial: t.serial })));
  await receive(p, keys.pharmacy, toP.leafHash);
  log('distributor -> pharmacy: 2 packs shipped and received');
  await dispense(p, keys.pharmacy, { gtin, serial: sold.serial });
  log(`pharmacy dispensed ${sold.serial}`);
  await ship(d, keys.distributor, keys.pharmacy.gln, [{ type: 'pack', gtin, serial: travelling.serial }]);
  log(`distributor shipped ${travelling.serial} to the pharmacy (not yet received)`);
  await recall(m, keys.manufacturer, gtin, recalled[0]!.lot, 'Demo recall: tablets may contain less active substance than labelled.');
  log(`manufacturer recalled lot ${recalled[0]!.lot}`);

  // A tag the manufacturer signed but never registered, and a real pack's URI with a forger's signature.
  const unknown = signTag(keyFileSeed(keys.manufacturer), resolver, { gtin, lot: good[0]!.lot, expiry: good[0]!.expiry, serial: generateSerials(1)[0]! });
  const forger: KeyFile = generateKeyFile('forger');
  const counterfeit = signTag(keyFileSeed(forger), resolver, { gtin, lot: forged.lot, expiry: forged.expiry, serial: forged.serial });

  return {
    packs: {
      GENUINE: onShelf.uri,
      DISPENSED: sold.uri,
      RECALLED: recalled[0]!.uri,
      EXPIRED: expired[0]!.uri,
      UNKNOWN: unknown,
      COUNTERFEIT: counterfeit,
      IN_TRANSIT: travelling.uri,
    },
    participants,
    gtin,
  };
}

/** A new key file for a demo participant, with a fresh random GLN. */
function participantKeyFile(name: string): SignerKey {
  const gln = randomGln();
  return { ...generateKeyFile(name, gln), gln };
}
