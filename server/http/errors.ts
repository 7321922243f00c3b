// One table from error code to HTTP status. Every error leaves as {"error":{"code","message","fields"?}}.
import type { ServerResponse } from 'node:http';
import type { ErrorRequestHandler } from 'express';
import { ERROR_CODES, MedtrailError, type ErrorCode } from '../../core/errors.js';
import { sendJson } from './json-body.js';

// Every code not listed here is an input error: 400.
const STATUS: Partial<Record<ErrorCode, number>> = {
  TOO_LARGE: 413,
  ENTRY_BAD_SIGNATURE: 401,
  LOG_BAD_ORIGIN: 400,
  ENTRY_REPLAYED: 409,
  SUN_KEY_EXISTS: 409,
  SIGNER_UNKNOWN: 403,
  KEY_REVOKED: 403,
  ROLE_NOT_ALLOWED: 403,
  PREFIX_NOT_OWNED: 403,
  NOT_HOLDER: 403,
  NOT_RECIPIENT: 403,
  PARTICIPANT_UNKNOWN: 404,
  PRODUCT_UNKNOWN: 404,
  LOT_UNKNOWN: 404,
  PACK_UNKNOWN: 404,
  SHIPMENT_UNKNOWN: 404,
  RECIPIENT_UNKNOWN: 404,
  PARTICIPANT_EXISTS: 409,
  PRODUCT_EXISTS: 409,
  BATCH_EXISTS: 409,
  SERIAL_DUPLICATE: 409,
  ALREADY_SHIPPED: 409,
  SHIPMENT_CLOSED: 409,
  PACK_NOT_ACTIVE: 409,
  LOT_RECALLED: 409,
  EXPIRED_PACK: 409,
  UNDO_NOT_ALLOWED: 409,
  BATCH_TOO_LARGE: 413,
  AUTH_CLOCK_SKEW: 401,
  AUTH_SIGNER_UNKNOWN: 401,
  AUTH_KEY_REVOKED: 401,
  AUTH_BAD_SIGNATURE: 401,
  AUTH_REPLAYED: 401,
  AUTH_NOT_IN_CHAIN: 403,
  AUTH_SCANNER_MISMATCH: 403,
  AUTH_REQUIRED: 401,
  AUTH_NOT_PARTY: 403,
  RX_EXISTS: 409,
  RX_UNKNOWN: 404,
  RX_CLAIMED: 409,
  RX_NOT_CLAIMED: 409,
  RX_COMPLETED: 409,
  RX_CANCELLED: 409,
  RX_EXPIRED: 409,
  RX_NOT_YET_VALID: 409,
  RX_NOT_PRESCRIBER: 403,
  RX_MEDICINE_MISMATCH: 409,
  RX_ACCESS_DENIED: 403,
  RX_ACCESS_LIMITED: 429,
  RX_ERASED: 410,
  STORE_CONFLICT: 503,
  STORE_CORRUPT: 500,
  STORE_EXISTS: 409,
  STORE_MISSING: 500,
  LOG_INTEGRITY: 500,
  STORE_UNAVAILABLE: 503,
  STORE_BUSY: 503,
  STORE_MISMATCH: 500,
  CHECKPOINT_PENDING: 503,
  MIRROR_BEHIND: 503,
  MIRROR_READ_ONLY: 405,
  MIRROR_DIVERGED: 500,
  MIRROR_MISMATCH: 500,
  OPERATOR_UNREACHABLE: 503,
  EVIDENCE_BAD: 400,
  EVIDENCE_NOT_CONFIRMED: 400,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  BODY_TOO_LARGE: 413,
  OVERLOADED: 503,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  WEB_NOT_BUILT: 503,
  CLI_IO: 500,
  // Never sent over HTTP (a failed listen is the operator's, on the command line), but not an input error.
  PORT_IN_USE: 500,
  SERVER_UNREACHABLE: 502,
  BAD_ANSWER: 502,
  // The witness (server/witness) answers with the statuses c2sp.org/tlog-witness prescribes.
  WITNESS_UNKNOWN_LOG: 404,
  WITNESS_UNTRUSTED: 403,
  WITNESS_CONFLICT: 409,
  WITNESS_INCONSISTENT: 422,
  WITNESS_BAD_RESPONSE: 502,
  WITNESS_UNREACHABLE: 502,
};

export function statusOf(code: ErrorCode): number {
  return STATUS[code] ?? 400;
}

/** Sends `err` as {"error":{...}} with its status; on express's routes and on the fast path alike. */
export function sendError(res: ServerResponse, err: MedtrailError): void {
  const status = statusOf(err.code);
  // 503 (overloaded, busy) and 429 (rate limited) tell the client when to come back; a limiter that knows
  // better sets its own value first.
  if ((status === 503 || status === 429) && !res.hasHeader('Retry-After')) res.setHeader('Retry-After', '1');
  sendJson(res, status, {
    error: { code: err.code, message: err.message, ...(err.fields !== undefined ? { fields: err.fields } : {}) },
  });
}


/** Anything thrown, as a coded error; an unexpected one becomes INTERNAL (logged, details not leaked). */
export function asMedtrailError(err: unknown): MedtrailError {
  if (err instanceof MedtrailError) return err;
  // The router decodes path parameters itself; a malformed %-escape there is the client's error, not ours.
  if (err instanceof URIError) return new MedtrailError('BAD_INPUT', 'malformed percent-encoding in the request path');
  const bp = err;
  if (bp !== null && typeof bp === 'object' && 'type' in bp) {
    const status = 'status' in bp ? bp.status : undefined;
    if (bp.type === 'entity.too.large') return new MedtrailError('BODY_TOO_LARGE', 'request body larger than the limit');
    if (bp.type === 'entity.parse.failed') return new MedtrailError('BAD_JSON', 'request body is not valid JSON');
    if (typeof bp.type === 'string' && typeof status === 'number' && status < 500) {
      return new MedtrailError('BAD_INPUT', `request body refused (${bp.type})`);
    }
  }
  process.stderr.write(`medtrail: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return new MedtrailError('INTERNAL', ERROR_CODES.INTERNAL);
}

/** Maps anything thrown to a coded JSON error (asMedtrailError). */
export const errorHandler: ErrorRequestHandler = (err: unknown, _req, res, next) => {
  if (res.headersSent) {
    next(err);
    return;
  }
  sendError(res, asMedtrailError(err));
};
