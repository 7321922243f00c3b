// The wire of c2sp.org/tlog-witness `add-checkpoint` (docs/architecture.md, Trust without a centre): what a log
// sends a witness and what comes back, shared by the witness (server/witness) and the submitter
// (witness-client.ts).
//
//   POST <submission prefix>/add-checkpoint
//   old <size>\n                  the size of the checkpoint the witness holds (0: none), decimal, no leading 0
//   <base64 hash>\n ...           a consistency proof from that size (RFC 9162), at most 63 lines
//   \n                            an empty line
//   <signed checkpoint note>      the log's new checkpoint with its signature line(s)
//
// Answers: 200 with the cosignature line(s); 409 with `text/x.tlog.size` body "<size>\n" (the size the witness
// holds); 400 malformed (or old size past the checkpoint's); 403 no valid signature by the log's known key;
// 404 unknown origin; 422 a proof that does not verify, equal sizes with other roots, a non-empty proof from 0.
import { fromBase64, toBase64 } from '../bytes.js';
import { MedtrailError } from '../errors.js';
import { HASH_BYTES } from './merkle.js';

/** The spec's bound on consistency proof lines (a proof between two trees below 2^63 leaves is shorter). */
export const MAX_PROOF_LINES = 63;
/** Content type of a 409's body. */
export const TLOG_SIZE_TYPE = 'text/x.tlog.size';
export const ADD_CHECKPOINT_PATH = '/add-checkpoint';

export interface AddCheckpointRequest {
  oldSize: number;
  proof: Uint8Array[];
  /** The signed checkpoint note, as sent. */
  checkpoint: string;
}

const SIZE_RE = /^(0|[1-9][0-9]{0,15})$/;

function malformed(message: string, cause?: unknown): MedtrailError {
  return new MedtrailError('WITNESS_REQUEST_MALFORMED', message, cause === undefined ? undefined : { cause });
}

function checkSize(size: unknown, what: string): asserts size is number {
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw malformed(`${what} must be a non-negative safe integer`);
}

export function formatAddCheckpoint(req: AddCheckpointRequest): string {
  checkSize(req.oldSize, 'old size');
  if (!Array.isArray(req.proof) || req.proof.length > MAX_PROOF_LINES) throw malformed(`a proof has at most ${MAX_PROOF_LINES} hashes`);
  const lines = req.proof.map((h, i) => {
    if (!(h instanceof Uint8Array) || h.length !== HASH_BYTES) throw malformed(`proof hash ${i} must be ${HASH_BYTES} bytes`);
    return `${toBase64(h)}\n`;
  });
  if (typeof req.checkpoint !== 'string' || req.checkpoint === '') throw malformed('the checkpoint note is missing');
  return `old ${req.oldSize}\n${lines.join('')}\n${req.checkpoint}`;
}

/** Strict parse of an add-checkpoint body (WITNESS_REQUEST_MALFORMED); the note itself is checked by the witness. */
export function parseAddCheckpoint(text: string): AddCheckpointRequest {
  if (typeof text !== 'string') throw malformed('request body must be text');
  let nl = text.indexOf('\n');
  if (nl < 0) throw malformed('the body has no "old <size>" line');
  const first = text.slice(0, nl);
  if (!first.startsWith('old ') || !SIZE_RE.test(first.slice(4)) || !Number.isSafeInteger(Number(first.slice(4)))) {
    throw malformed('the first line must be "old <size>" with a decimal size without leading zeros');
  }
  const oldSize = Number(first.slice(4));
  const proof: Uint8Array[] = [];
  let at = nl + 1;
  for (;;) {
    nl = text.indexOf('\n', at);
    if (nl < 0) throw malformed('the proof lines are not ended by an empty line');
    const line = text.slice(at, nl);
    at = nl + 1;
    if (line === '') break;
    if (proof.length === MAX_PROOF_LINES) throw malformed(`more than ${MAX_PROOF_LINES} consistency proof lines`);
    try {
      proof.push(fromBase64(line, HASH_BYTES));
    } catch (e) {
      throw malformed(`proof line ${proof.length + 1} is not base64 of a ${HASH_BYTES}-byte hash`, e);
    }
  }
  const checkpoint = text.slice(at);
  if (checkpoint === '') throw malformed('the checkpoint note is missing after the empty line');
  return { oldSize, proof, checkpoint };
}

/** Body of a 409: the size the witness holds. */
export function formatSizeBody(size: number): string {
  checkSize(size, 'size');
  return `${size}\n`;
}

/** Parses a 409's body ("<size>\n"); WITNESS_BAD_RESPONSE otherwise. */
export function parseSizeBody(text: string): number {
  const m = typeof text === 'string' ? /^(0|[1-9][0-9]{0,15})\n$/.exec(text) : null;
  if (m === null || !Number.isSafeInteger(Number(m[1]))) throw new MedtrailError('WITNESS_BAD_RESPONSE', 'a 409 body must be the size the witness holds and a newline');
  return Number(m[1]);
}
