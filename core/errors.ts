// Typed error codes. Every failure that crosses a boundary (parser, crypto, store, HTTP, CLI) is a
// MedtrailError with one of these codes; tests assert the code, never the message. The HTTP layer maps each
// code to a status in one table (server/http/errors.ts), which the compiler keeps exhaustive.
//
// Adding a code: add it to ERROR_CODES below (the comment is the meaning), then to the HTTP table.

export const ERROR_CODES = {
  // generic input
  BAD_INPUT: 'a value is malformed (see fields)',
  BAD_TYPE: 'a value has the wrong type',
  TOO_LARGE: 'an input is larger than its limit',
  // bytes and encodings
  BAD_HEX: 'not lowercase/uppercase hex of the expected length',
  BAD_BASE64: 'not valid base64 / base64url',
  BAD_LENGTH: 'byte string of the wrong length',
  // GS1 identifiers and syntaxes
  GS1_BAD_GTIN: 'GTIN is not 8, 12, 13 or 14 digits',
  GS1_BAD_GLN: 'GLN is not 13 digits',
  GS1_BAD_SSCC: 'SSCC is not 18 digits',
  GS1_BAD_CHECK_DIGIT: 'GS1 check digit does not match',
  GS1_BAD_SERIAL: 'serial (AI 21) is empty, too long or outside the AI 82 character set',
  GS1_BAD_LOT: 'lot (AI 10) is empty, too long or outside the AI 82 character set',
  GS1_BAD_CPV: 'consumer product variant (AI 22) is empty, too long or outside the AI 82 character set',
  GS1_BAD_DATE: 'date (AI 17) is not a valid YYMMDD',
  GS1_UNKNOWN_AI: 'application identifier not supported',
  GS1_BAD_ELEMENT_STRING: 'GS1 element string cannot be parsed',
  GS1_DUPLICATE_AI: 'an application identifier appears twice',
  GS1_MISSING_AI: 'a required application identifier is missing',
  DL_BAD_URI: 'not a GS1 Digital Link URI',
  DL_BAD_PATH: 'Digital Link path qualifiers are missing, repeated or out of order',
  DL_BAD_QUERY: 'Digital Link query parameter is malformed',
  // crypto
  KEY_BAD_LENGTH: 'key is not the expected number of bytes',
  SIG_BAD_LENGTH: 'signature is not 64 bytes',
  SIG_INVALID: 'signature does not verify',
  KEYFILE_BAD: 'key file is malformed',
  // canonical entries
  ENTRY_MALFORMED: 'entry envelope is malformed (see fields)',
  ENTRY_BAD_VERSION: 'entry version not supported',
  ENTRY_BAD_KIND: 'entry kind unknown',
  ENTRY_NOT_CANONICAL: 'entry bytes are not the canonical JSON of the envelope',
  ENTRY_BAD_SIGNATURE: 'entry signature does not verify with the signer key',
  LOG_BAD_ORIGIN: 'a log origin is not one non-empty line',
  ENTRY_REPLAYED: 'an entry with this signer and nonce is already in the log',
  SIGNER_UNKNOWN: 'the signer is not an enrolled participant',
  KEY_REVOKED: "the signer's key has been revoked",
  // custody rules (server/custody/rules): each refusal its own code
  ROLE_NOT_ALLOWED: "the signer's role may not write this kind of entry",
  PREFIX_NOT_OWNED: "the GTIN is not under one of the signer's GS1 company prefixes",
  PARTICIPANT_EXISTS: 'a participant with this GLN is already enrolled',
  PARTICIPANT_UNKNOWN: 'no participant with this GLN is enrolled',
  PRODUCT_UNKNOWN: 'no product with this GTIN is registered',
  PRODUCT_EXISTS: 'a product with this GTIN is already registered',
  BATCH_EXISTS: 'this lot of this GTIN is already registered',
  BATCH_TOO_LARGE: 'a batch lists more serials than the limit',
  LOT_UNKNOWN: 'no batch with this GTIN and lot is registered',
  LOT_RECALLED: 'the lot has been recalled',
  SERIAL_DUPLICATE: 'a serial is listed twice or already registered for this GTIN',
  PACK_UNKNOWN: 'no pack with this GTIN and serial is registered',
  PACK_NOT_ACTIVE: 'the pack is not active (dispensed, decommissioned, missing or in transit)',
  NOT_HOLDER: 'the signer does not hold the pack',
  ALREADY_SHIPPED: 'the pack is already in transit: nothing ships twice',
  RECIPIENT_UNKNOWN: 'the ship entry names a recipient that is not an enrolled, unrevoked participant',
  NOT_RECIPIENT: 'the signer is not the recipient named by the ship entry',
  SHIPMENT_UNKNOWN: 'the receive entry names no ship entry of the log',
  SHIPMENT_CLOSED: 'the shipment was already received',
  PREV_MISMATCH: 'prev does not name exactly the entries that gave the signer these items',
  EXPIRED_PACK: 'the pack is past its expiry date',
  DATE_INVALID: 'the entry is dated in the future (beyond the allowed clock skew)',
  DATE_BEFORE_PREV: 'the entry is dated before an entry it continues (prev)',
  UNDO_NOT_ALLOWED: 'the dispense cannot be undone (not the same pharmacy, over 10 days, expired, recalled, ...)',
  // prescriptions (issue 16; server/custody/rules/prescribe.ts, rx-claim.ts, ..., server/rx)
  RX_EXISTS: 'a prescription with this id is already on the ledger',
  RX_UNKNOWN: 'no prescription with this id is on the ledger',
  RX_CLAIMED: 'the prescription is claimed by a pharmacy (another, or this one already): nobody else may claim or dispense it meanwhile',
  RX_NOT_CLAIMED: 'the pharmacy has not claimed the prescription (claim it with the patient token first)',
  RX_COMPLETED: 'every pack the prescription allows has been dispensed',
  RX_CANCELLED: 'the prescriber cancelled the prescription',
  RX_EXPIRED: 'the prescription is past its validity',
  RX_NOT_YET_VALID: 'the prescription is not valid yet',
  RX_NOT_PRESCRIBER: 'only the prescriber who signed the prescription may do this',
  RX_MEDICINE_MISMATCH: 'the pack is not the medicine the prescription names (GTIN, or substance, strength and form)',
  RX_ACCESS_DENIED: 'the prescription id and access code do not match (or no such prescription)',
  RX_ACCESS_LIMITED: 'too many failed access attempts for this prescription or from this client; wait and retry',
  RX_TOKEN_BAD: 'not a prescription token or access code',
  RX_DETAILS_MISMATCH: "the prescription's off-ledger details do not match its entry (patient commitment, id or signer)",
  RX_ERASED: "the prescription's off-ledger details were erased after their retention period",
  // signed requests (core/api/request-auth.ts) and verification
  AUTH_BAD_HEADER: 'the X-Medtrail-Signer/At/Signature headers are incomplete or malformed',
  AUTH_CLOCK_SKEW: 'the signed request time is more than 5 minutes from the server clock',
  AUTH_SIGNER_UNKNOWN: 'the request signer is not an enrolled participant',
  AUTH_KEY_REVOKED: "the request signer's key has been revoked",
  AUTH_BAD_SIGNATURE: 'the request signature does not verify with the signer key',
  AUTH_REPLAYED: 'this request signature was already used',
  AUTH_NOT_IN_CHAIN: "the signer is not, and never was, in this pack's custody chain (nor a regulator)",
  AUTH_SCANNER_MISMATCH: 'scanner.gln names someone other than the request signer',
  AUTH_REQUIRED: 'this read is only answered to a signed request (X-Medtrail-* headers)',
  AUTH_NOT_PARTY: 'the signer is neither the party this read is about nor a regulator',
  // Merkle proofs and checkpoints
  PROOF_BAD_INDEX: 'leaf index is not below the tree size',
  PROOF_BAD_SIZE: 'tree sizes are out of order or out of range',
  PROOF_BAD_LENGTH: 'proof has the wrong number of hashes',
  PROOF_MISMATCH: 'proof does not lead to the expected root',
  CHECKPOINT_MALFORMED: 'checkpoint note is malformed',
  CHECKPOINT_BAD_SIGNATURE: 'checkpoint signature does not verify with the log key',
  CHECKPOINT_UNKNOWN_KEY: 'checkpoint carries no signature by the expected key',
  VKEY_MALFORMED: 'verifier key string is malformed',
  // authenticated maps of pack and lot state (core/map) and their checkpoint extension line
  MAP_PROOF_MALFORMED: 'a map proof is malformed (kind, depth, bitmap or length)',
  MAP_PROOF_MISMATCH: 'a map proof does not lead to the expected map root',
  MAP_DUPLICATE_KEY: 'one map update names the same key twice',
  MAP_VALUE_MALFORMED: 'a map value record is malformed (see fields)',
  MAP_EXTENSION_MALFORMED: 'the medtrail-map extension line of a checkpoint is malformed or repeated',
  MAP_PROOF_INVALID: 'the state evidence of a pack does not hold (records do not match the map, or a part is missing)',
  TLOG_PROOF_MALFORMED: 'a proof file is not a c2sp.org/tlog-proof@v1 text (header, extra, index, hashes, blank line, checkpoint)',
  PROOF_NOTHING_TO_KEEP: 'the ledger holds no such pack: there is no entry a kept proof could name',
  PROOF_OTHER_PACK: 'the proof file is of another pack than the code given',
  MAKER_ENTRY_MISMATCH: "the leaf given as the manufacturer's key does not admit or rotate that manufacturer's key",
  MAKER_NOT_MANUFACTURER: "the leaf given as the manufacturer's key admits another role",
  MAKER_PREFIX_MISMATCH: "no company prefix of the manufacturer's key entry covers the GTIN",
  // witnesses: cosignatures (c2sp.org/tlog-cosignature), policies (c2sp.org/tlog-policy), the witness protocol
  COSIGNATURE_MALFORMED: 'a cosignature is not a key ID, an 8-byte timestamp and a 64-byte signature',
  COSIGNATURE_BAD_SIGNATURE: "a cosignature line carrying a trusted witness's name and key ID does not verify",
  POLICY_MALFORMED: 'the witness policy is malformed (see fields)',
  CHECKPOINT_QUORUM: 'the checkpoint lacks the witness cosignatures the policy requires',
  CHECKPOINT_STALE: 'the witnesses cosigned the checkpoint longer ago than the client allows: it may be an old one replayed',
  WITNESS_REQUEST_MALFORMED: 'the add-checkpoint request is malformed',
  WITNESS_UNKNOWN_LOG: 'the witness knows no log with this origin',
  WITNESS_UNTRUSTED: "the checkpoint carries no valid signature by the log's known key",
  WITNESS_CONFLICT: 'the old size does not match the size the witness holds for the log',
  WITNESS_INCONSISTENT: 'the checkpoint is not consistent with the one the witness holds',
  WITNESS_BAD_RESPONSE: 'a witness answered something other than a valid cosignature of the checkpoint',
  WITNESS_UNREACHABLE: 'a witness could not be reached',
  // store and log
  STORE_CONFLICT: 'the log head moved during the append (compare-and-swap failed)',
  STORE_CORRUPT: 'the store does not match its own hashes',
  STORE_EXISTS: 'the database already exists; refusing to overwrite',
  STORE_MISSING: 'no database at that path; run medtrail init',
  LOG_INTEGRITY: 'the ledger failed an integrity check',
  STORE_UNAVAILABLE: 'the ledger database (PostgreSQL) cannot be reached now: nothing was written; try again',
  STORE_BUSY: 'the ledger database stayed locked by another writer: nothing was written; try again',
  STORE_MISMATCH: "this server's local copy belongs to another ledger, or holds a tree the database does not: remove the copy (--cache) and start again",
  CHECKPOINT_PENDING: 'the state asked for is newer than the newest checkpoint this server holds; the signing server signs it shortly: ask again',
  // mirrors (server/mirror): a checked copy of the operator's ledger
  MIRROR_BEHIND: 'this mirror has not verified the state asked for yet (catching up); ask again shortly',
  MIRROR_READ_ONLY: 'this server is a mirror: entries are written to the operator',
  MIRROR_DIVERGED: "the operator showed this mirror something inconsistent with what it verified; it stopped following (see the evidence file)",
  MAP_ROOT_MISMATCH: 'the map roots a checkpoint signed are not those of the state its leaves give',
  MIRROR_MISMATCH: 'a mirror database belongs to another log, authority or operator',
  OPERATOR_UNREACHABLE: 'this mirror forwards writes to the operator, which cannot be reached now: nothing was written; try again',
  EVIDENCE_BAD: 'the evidence file is not evidence: malformed, or its notes are not signed by the log key it names',
  EVIDENCE_NOT_CONFIRMED: 'the evidence does not show what it claims: replayed, the log data in it does not break the named rule',
  // HTTP
  NOT_FOUND: 'no such resource',
  METHOD_NOT_ALLOWED: 'method not allowed',
  BODY_TOO_LARGE: 'request body larger than the limit',
  BAD_JSON: 'request body is not valid JSON',
  OVERLOADED: 'server is overloaded; retry later',
  RATE_LIMITED: 'too many requests from this client',
  INTERNAL: 'internal error',
  WEB_NOT_BUILT: 'the web pages were not built (node web/build.mjs)',
  // NFC tags (NTAG21x, NFC Forum Type 2) and NDEF
  NFC_NO_CC: 'no NDEF capability container at page 3 (unformatted tag)',
  NFC_BAD_CC: 'capability container version or access is not supported',
  NFC_BLANK_TAG: 'the tag holds an empty NDEF message',
  NFC_NO_NDEF: 'no NDEF TLV in the data area',
  NFC_TLV_TRUNCATED: 'a TLV is cut off before its declared end',
  NFC_TLV_TOO_LARGE: 'the NDEF TLV is larger than the tag data area',
  NFC_BAD_RECORD: 'an NDEF record header or length is malformed',
  NFC_CHUNKED_RECORD: 'chunked NDEF records are not supported',
  NFC_NOT_URI: 'the NDEF message holds no URI record',
  NFC_BAD_URI: 'the URI record is empty, has an unknown prefix code or is not UTF-8',
  NFC_TAG_TOO_SMALL: 'the NDEF message does not fit the tag user memory',
  NFC_NOT_NTAG: 'the card is not an NFC Forum Type 2 tag (e.g. an ISO 14443-4 card)',
  NFC_TAG_REMOVED: 'the tag left the field during the operation',
  NFC_READ_FAILED: 'the reader or tag answered an error status',
  NFC_WRITE_FAILED: 'a page write was refused (locked page or reader error)',
  NFC_TAG_LOCKED: 'the tag is write-protected',
  SUN_BAD_PICC: 'NTAG 424 DNA PICC data does not decrypt to a 7-byte UID with a read counter (tag 0xC7)',
  SUN_BAD_MAC: 'NTAG 424 DNA SUN message authentication code does not verify',
  SUN_KEY_EXISTS: 'SDM keys are already registered for this tag',
  // reader daemon (2D scanner lines, QR images, offline queue)
  SCANNER_UNREADABLE: 'a scanner line is neither a Digital Link URI nor a GS1 element string, even after repairs',
  SCANNER_AMBIGUOUS: 'a scanner line can be repaired in more than one way; it is not guessed',
  IMAGE_UNREADABLE: 'an image file could not be decoded or holds no QR code',
  // CLI
  CLI_USAGE: 'bad command-line usage',
  CLI_IO: 'a file could not be read or written',
  SERVER_UNREACHABLE: 'the server could not be reached',
  PORT_IN_USE: 'the TCP port asked for is already taken by another program',
  CHECKPOINT_FILE_BAD: 'a checkpoint file given to audit is not a checkpoint signed by this log',
  BAD_ANSWER: "the server's answer does not have the documented shape (core/api/answers.ts)",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** One invalid field of an input; a 400 lists all of them at once. */
export interface FieldError {
  /** JSON-pointer-like path, e.g. `body.items[3].serial`. */
  readonly path: string;
  readonly code: ErrorCode;
  readonly message: string;
}

export class MedtrailError extends Error {
  override readonly name = 'MedtrailError';
  readonly code: ErrorCode;
  readonly fields: readonly FieldError[] | undefined;

  constructor(code: ErrorCode, message: string, options?: { fields?: readonly FieldError[]; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.fields = options?.fields;
  }
}

/**
 * After a validation pass that reported every bad field: the value is the string it was checked to be. A
 * runtime check instead of a cast, so that a validator and its result can never drift apart silently.
 */
export function checkedString(v: unknown): string {
  if (typeof v !== 'string') throw new MedtrailError('INTERNAL', 'a value passed validation but is not a string');
  return v;
}

export function checkedStrings(v: unknown): string[] {
  if (!Array.isArray(v)) throw new MedtrailError('INTERNAL', 'a value passed validation but is not an array');
  return v.map(checkedString);
}

/** The `code` member of anything thrown (a Node system error's, a SQLite error's), if it has one. */
export function codeOf(e: unknown): unknown {
  return typeof e === 'object' && e !== null && 'code' in e ? e.code : undefined;
}

export function isErrorCode(s: unknown): s is ErrorCode {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, s);
}

/** The message of anything thrown (an Error's, or its text), for a line a person reads. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function isMedtrailError(e: unknown, code?: ErrorCode): e is MedtrailError {
  return e instanceof MedtrailError && (code === undefined || e.code === code);
}

/** Collects field errors and throws them together: every bad field is reported at once. */
export class FieldErrors {
  readonly list: FieldError[] = [];
  add(path: string, code: ErrorCode, message: string): void {
    this.list.push({ path, code, message });
  }
  get empty(): boolean {
    return this.list.length === 0;
  }
  throwIfAny(code: ErrorCode, message: string): void {
    if (this.list.length > 0) {
      throw new MedtrailError(code, `${message}: ${this.list.map((f) => `${f.path}: ${f.message}`).join('; ')}`, {
        fields: this.list,
      });
    }
  }
}
