// The identity of one pack, as the bytes its manufacturer signs for the pack's tag and label (the `s=`
// parameter of the Digital Link, docs/architecture.md, Tag payload).
//
// Encoding, version 1:
//
//   "medtrail/v1/pack\n"  ||  UTF-8( "01" GTIN-14  "17" YYMMDD  "10" lot  GS  "21" serial )
//
// where GS is the single byte 0x1D. The part after the domain prefix is itself a valid GS1 element string
// (fixed-length AIs first, a GS after the variable-length lot, none after the last field), so any GS1 parser
// reads it back. It is unambiguous: the GTIN and date have fixed lengths, and lot and serial are validated
// as 1..20 characters of GS1 AI 82, which contains no GS, so the GS is the only place the lot can end. The
// GTIN is normalised to GTIN-14 first, so the same pack always gives the same bytes whichever GTIN form
// (8/12/13/14) the caller holds. Every byte is ASCII, so UTF-8 changes nothing but is named for clarity.
//
// The domain prefix keeps a pack signature from ever verifying as a signature over a ledger entry
// (`medtrail/v1/<kind>\n` + JSON) or anything else the same key signs.
import { FieldErrors, MedtrailError } from '../errors.js';
import { utf8 } from '../bytes.js';
import { normalizeGtin, validateLot, validateSerial } from '../gs1/identifiers.js';
import { parseGs1Date } from '../gs1/date.js';

export const PACK_DOMAIN = 'medtrail/v1/pack\n';

export interface PackIdentity {
  gtin: string;
  lot: string;
  serial: string;
  /** YYMMDD. */
  expiry: string;
}

/** The canonical bytes a manufacturer signs for one pack; every bad field is reported at once. */
export function packIdentityBytes(p: PackIdentity): Uint8Array {
  if (p === null || typeof p !== 'object') throw new MedtrailError('BAD_INPUT', 'pack identity must be an object');
  const errors = new FieldErrors();
  const take = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      if (!(e instanceof MedtrailError) || e.fields === undefined) throw e;
      for (const x of e.fields) errors.add(x.path, x.code, x.message);
      return undefined;
    }
  };
  const gtin = take(() => normalizeGtin(p.gtin, 'gtin'));
  const expiry = take(() => (parseGs1Date(p.expiry, undefined, 'expiry'), p.expiry));
  const lot = take(() => validateLot(p.lot, 'lot'));
  const serial = take(() => validateSerial(p.serial, 'serial'));
  if (!errors.empty) errors.throwIfAny(errors.list[0]!.code, 'invalid pack identity');
  return utf8(`${PACK_DOMAIN}01${gtin!}17${expiry!}10${lot!}\x1d21${serial!}`);
}
