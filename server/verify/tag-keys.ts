// POST /api/v1/tags/keys: the manufacturer registers the SDM key of one pack's NTAG 424 DNA tag (see
// server/verify/sun.ts for how keys are kept). Body {gtin, serial, uid: 14 hex (7-byte UID), key: 32 hex
// (AES-128)}; signed (core/api/request-auth.ts) by the manufacturer of the GTIN; the pack must be registered.
// Answers 201 {gtin, serial, uid}: the key is never echoed.
import { isJsonObject } from '../../core/api/wire.js';
import { Router } from 'express';
import { fromHex } from '../../core/bytes.js';
import { checkedString, FieldErrors, isMedtrailError, MedtrailError } from '../../core/errors.js';
import { normalizeGtin, validateSerial } from '../../core/gs1/identifiers.js';
import type { VerifyServices } from './services.js';

const KEYS = new Set(['gtin', 'serial', 'uid', 'key']);

export function tagKeyRoutes(v: VerifyServices): Router {
  const r = Router();
  r.post('/tags/keys', async (req, res) => {
    const who = v.auth.authenticate(req);
    if (who === undefined) throw new MedtrailError('AUTH_REQUIRED', "sign this request as the pack's manufacturer");
    const body: unknown = req.body;
    if (!isJsonObject(body)) throw new MedtrailError('BAD_INPUT', 'body must be {gtin, serial, uid, key}');
    const errs = new FieldErrors();
    for (const k of Object.keys(body)) if (!KEYS.has(k)) errs.add(k, 'BAD_INPUT', 'unknown member');
    let gtin = '';
    let serial = '';
    try {
      gtin = normalizeGtin(String(body['gtin'] ?? ''), 'gtin');
    } catch (e) {
      errs.add('gtin', isMedtrailError(e) ? e.code : 'BAD_INPUT', 'not a valid GTIN');
    }
    try {
      serial = validateSerial(body['serial'], 'serial');
    } catch (e) {
      errs.add('serial', isMedtrailError(e) ? e.code : 'BAD_INPUT', 'not a valid serial');
    }
    const uid = body['uid'];
    const key = body['key'];
    if (typeof uid !== 'string' || !/^[0-9a-fA-F]{14}$/.test(uid)) errs.add('uid', 'BAD_INPUT', 'the 7-byte tag UID as 14 hex digits');
    if (typeof key !== 'string' || !/^[0-9a-fA-F]{32}$/.test(key)) errs.add('key', 'BAD_INPUT', 'the AES-128 SDM key as 32 hex digits');
    errs.throwIfAny(errs.list[0]?.code ?? 'BAD_INPUT', 'invalid tag key registration');
    const product = v.state.product(gtin);
    if (product === undefined) throw new MedtrailError('PRODUCT_UNKNOWN', `GTIN ${gtin} is not registered`);
    if (product.manufacturer !== who.gln) throw new MedtrailError('ROLE_NOT_ALLOWED', 'only the manufacturer of this product registers its tag keys');
    if (v.state.pack(gtin, serial) === undefined) throw new MedtrailError('PACK_UNKNOWN', `no pack ${serial} of ${gtin} is registered`);
    const tagUid = checkedString(uid).toLowerCase();
    await v.sun.registerShared(gtin, serial, tagUid, fromHex(checkedString(key).toLowerCase()), who.gln);
    res.status(201).json({ gtin, serial, uid: tagUid });
  });
  return r;
}
