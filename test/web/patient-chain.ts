// The patient-page chain: a real server (startServer with serviceModules()) on a temporary SQLite file, filled
// through POST /entries, and the packs' signed Digital Links. Shared by the web tests and test/bench/web.ts
// (so it must not import web/build.mjs, which is not compiled into dist/).
import { toBase64Url } from '../../core/bytes.js';
import { formatDigitalLink } from '../../core/gs1/digital-link.js';
import { sign as ed25519Sign } from '../../core/crypto/ed25519.js';
import { keyFileSeed, type KeyFile } from '../../core/crypto/keys.js';
import { packIdentityBytes } from '../../core/tag/pack.js';
import { gtinOf, sign, startChain, type Chain } from '../support/custody.js';

export interface PackId {
  gtin: string;
  lot: string;
  serial: string;
  expiry: string;
}

/** The pack's Digital Link on this server, signed by `signer` (its maker unless a test forges it). */
export function tagUri(resolver: string, p: PackId, signer: KeyFile): string {
  const sig = toBase64Url(ed25519Sign(packIdentityBytes(p), keyFileSeed(signer)));
  return formatDigitalLink({ resolver, gtin: p.gtin, lot: p.lot, serial: p.serial, expiry: p.expiry, sig, query: {} });
}

export interface PatientChain {
  c: Chain;
  gtin: string;
  genuine: PackId;
  dispensed: PackId;
  recalled: PackId;
  forged: PackId;
  /** Shipped by the maker to the distributor, not yet received. */
  inTransit: PackId;
}

/**
 * Made -> distributor -> pharmacy for two packs of lot L-2401, one of them dispensed; lot R-2402 recalled;
 * one more pack of L-2401 left at the maker, whose tag the tests forge.
 */
export async function patientChain(): Promise<PatientChain> {
  const c = await startChain();
  const gtin = gtinOf(1);
  const [product] = await c.ok(sign('product', c.m, { gtin, name: 'Amoxicillin', form: 'capsules', strength: '500 mg', packSize: 21 }));
  const lot = 'L-2401';
  const expiry = '291231';
  const [batch] = await c.ok(sign('batch', c.m, { gtin, lot, expiry, serials: ['GEN0001', 'DSP0001', 'FRG0001', 'TRN0001'] }, [product!]));
  const items = ['GEN0001', 'DSP0001'].map((serial) => ({ type: 'pack', gtin, serial }));
  const [ship1] = await c.ok(sign('ship', c.m, { to: c.d.gln, items }, [batch!]));
  const [recv1] = await c.ok(sign('receive', c.d, { ship: ship1!, missing: [], extra: [] }, [ship1!]));
  const [ship2] = await c.ok(sign('ship', c.d, { to: c.p.gln, items }, [recv1!]));
  const [recv2] = await c.ok(sign('receive', c.p, { ship: ship2!, missing: [], extra: [] }, [ship2!]));
  await c.ok(sign('dispense', c.p, { gtin, serial: 'DSP0001' }, [recv2!]));
  // Whole-pack ship entries continue the entry that gave the sender the pack: here the batch again.
  await c.ok(sign('ship', c.m, { to: c.d.gln, items: [{ type: 'pack', gtin, serial: 'TRN0001' }] }, [batch!]));
  await c.ok(sign('batch', c.m, { gtin, lot: 'R-2402', expiry, serials: ['RCL0001'] }, [product!]));
  await c.ok(sign('recall', c.m, { gtin, lot: 'R-2402', reason: 'contamination found in testing' }));
  return {
    c,
    gtin,
    genuine: { gtin, lot, serial: 'GEN0001', expiry },
    dispensed: { gtin, lot, serial: 'DSP0001', expiry },
    recalled: { gtin, lot: 'R-2402', serial: 'RCL0001', expiry },
    forged: { gtin, lot, serial: 'FRG0001', expiry },
    inTransit: { gtin, lot, serial: 'TRN0001', expiry },
  };
}
