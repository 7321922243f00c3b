// Submits a log's new checkpoint to witnesses over c2sp.org/tlog-witness and collects their cosignatures
// (docs/architecture.md, Trust without a centre). Pure of I/O of its own: the HTTP client (`fetch`) and the
// consistency proofs (`proofFrom`) come from the caller, so the server's checkpoint publication, a CLI or a
// test drives it the same way.
//
// A witness keeps the newest checkpoint it cosigned per log and wants a proof from exactly that size. The log
// remembers the size each witness last cosigned and sends `old <size>` with a proof from it; when it does not
// know (first contact, a lost answer, the witness restored), the witness answers 409 with the size it holds
// and the submitter resubmits with a proof from there. Every 200 is checked: the answer must carry a
// cosignature of this checkpoint by the witness's own key that verifies.
import { equalBytes } from '../bytes.js';
import { MedtrailError, isMedtrailError, type ErrorCode } from '../errors.js';
import { parseCheckpointBody, parseNote } from './checkpoint.js';
import { isJsonObject } from '../api/wire.js';
import { addSignatureLines, parseSignatureLines, signatureLine, verifyCosignatures, type CosignerKey } from './cosignature.js';
import { ADD_CHECKPOINT_PATH, formatAddCheckpoint, parseSizeBody } from './witness-protocol.js';

/** The part of a fetch Response the submitter reads. */
export interface WitnessResponse {
  status: number;
  text(): Promise<string>;
}

/** The part of fetch the submitter calls (globalThis.fetch fits). */
export type WitnessFetch = (
  url: string,
  init: { method: 'POST'; headers: Record<string, string>; body: string; signal?: AbortSignal },
) => Promise<WitnessResponse>;

/** A consistency proof (RFC 9162) from `size` to the checkpoint's size, 0 < size < that size. */
export type ProofFrom = (size: number) => readonly Uint8Array[] | Promise<readonly Uint8Array[]>;

export interface WitnessTarget {
  /** The witness's submission prefix, e.g. `https://witness.example/` (add-checkpoint is appended). */
  url: string;
  /** The witness's cosigner key: its answer must carry a cosignature by it that verifies. */
  key: CosignerKey;
  /** The size the log believes the witness holds; 0 (or absent) when unknown: a 409 tells. */
  oldSize?: number;
}

export interface SubmitOptions {
  /** The log's new signed checkpoint note. */
  note: string;
  proofFrom: ProofFrom;
  fetch: WitnessFetch;
  /** Resubmissions after a 409 (default 2: the witness may move on between two tries). */
  maxResyncs?: number;
  /** Per request (default 10 s). */
  timeoutMs?: number;
}

export interface SubmitResult {
  /** The witness's verified cosignature line(s) of the checkpoint, ready to append to the note. */
  lines: string;
  /** Newest timestamp among them (POSIX seconds). */
  timestamp: number;
  /** The size the witness now holds: the checkpoint's own. */
  size: number;
  /** 409s answered by resubmitting. */
  resyncs: number;
}

const BY_STATUS: Record<number, ErrorCode> = {
  400: 'WITNESS_REQUEST_MALFORMED',
  403: 'WITNESS_UNTRUSTED',
  404: 'WITNESS_UNKNOWN_LOG',
  422: 'WITNESS_INCONSISTENT',
};

/** Whether a 503's body is the coded refusal MIRROR_BEHIND (the witness's text `MIRROR_BEHIND: ...`, or JSON). */
function mirrorBehind(text: string): boolean {
  if (text.startsWith('MIRROR_BEHIND:')) return true;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return false;
  }
  const e = isJsonObject(v) ? v['error'] : undefined;
  return isJsonObject(e) && e['code'] === 'MIRROR_BEHIND';
}

function addCheckpointUrl(prefix: string): string {
  return `${prefix.replace(/\/+$/, '')}${ADD_CHECKPOINT_PATH}`;
}

/**
 * Submits the checkpoint to one witness; resolves with its verified cosignature, or throws a coded error:
 * WITNESS_UNKNOWN_LOG (404), WITNESS_UNTRUSTED (403), WITNESS_INCONSISTENT (422), WITNESS_REQUEST_MALFORMED
 * (400), WITNESS_CONFLICT (the witness holds a newer checkpoint, or keeps answering 409), WITNESS_BAD_RESPONSE,
 * WITNESS_UNREACHABLE.
 */
export async function submitCheckpoint(target: WitnessTarget, o: SubmitOptions): Promise<SubmitResult> {
  const { body } = parseNote(o.note);
  const size = parseCheckpointBody(body).size;
  const maxResyncs = o.maxResyncs ?? 2;
  const url = addCheckpointUrl(target.url);
  let old = target.oldSize ?? 0;
  for (let resyncs = 0; ; resyncs++) {
    if (old > size) throw new MedtrailError('WITNESS_CONFLICT', `the witness holds a newer checkpoint (size ${old}) than this one (size ${size})`);
    const proof = old === 0 || old === size ? [] : [...(await o.proofFrom(old))];
    const request = formatAddCheckpoint({ oldSize: old, proof, checkpoint: o.note });
    let status: number;
    let text: string;
    try {
      const signal = typeof AbortSignal.timeout === 'function' ? AbortSignal.timeout(o.timeoutMs ?? 10_000) : undefined;
      const res = await o.fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: request, ...(signal ? { signal } : {}) });
      status = res.status;
      text = await res.text();
    } catch (e) {
      throw new MedtrailError('WITNESS_UNREACHABLE', `witness ${target.key.name} at ${url} could not be reached`, { cause: e });
    }
    if (status === 200) return { ...verifyAnswer(body, text, target.key), size, resyncs };
    if (status === 409) {
      const held = parseSizeBody(text);
      if (resyncs >= maxResyncs) throw new MedtrailError('WITNESS_CONFLICT', `witness ${target.key.name} still holds size ${held} after ${resyncs} resubmissions`);
      old = held;
      continue;
    }
    // A mirror acting as a witness that is still catching up to this checkpoint (server/mirror/witness.ts): the
    // publisher submits again soon (server/log/publisher.ts), not at its next refresh.
    if (status === 503 && mirrorBehind(text)) throw new MedtrailError('MIRROR_BEHIND', `witness ${target.key.name} is a mirror still catching up to this checkpoint`);
    const code = BY_STATUS[status];
    const detail = text.length > 200 ? `${text.slice(0, 200)}...` : text.trim();
    if (code !== undefined) throw new MedtrailError(code, `witness ${target.key.name} answered ${status}${detail ? `: ${detail}` : ''}`);
    throw new MedtrailError('WITNESS_BAD_RESPONSE', `witness ${target.key.name} answered HTTP ${status}`);
  }
}

/** Keeps the answer's lines by the witness's key (name and key ID), verified over the checkpoint's text. */
function verifyAnswer(body: string, text: string, key: CosignerKey): { lines: string; timestamp: number } {
  const bad = (why: string, cause?: unknown): MedtrailError =>
    new MedtrailError('WITNESS_BAD_RESPONSE', `the answer of witness ${key.name} ${why}`, cause === undefined ? undefined : { cause });
  let lines: string;
  try {
    lines = parseSignatureLines(text)
      .filter((s) => s.name === key.name && equalBytes(s.keyHash, key.keyId))
      .map(signatureLine)
      .join('');
  } catch (e) {
    throw bad('is not signature lines', e);
  }
  if (lines === '') throw bad('holds no cosignature by its key');
  try {
    const { cosigned } = verifyCosignatures(`${body}\n${lines}`, [key]);
    return { lines, timestamp: cosigned[0]!.timestamp };
  } catch (e) {
    throw bad('is not a valid cosignature of the checkpoint', e);
  }
}

export type WitnessOutcome = { target: WitnessTarget; ok: true; result: SubmitResult } | { target: WitnessTarget; ok: false; error: MedtrailError };

/**
 * Submits to every witness at once; the note comes back with every cosignature obtained added. A witness that
 * fails does not hold up the others (its coded error is in `outcomes`); a policy's quorum decides whether
 * enough of them answered.
 */
export async function submitToWitnesses(targets: readonly WitnessTarget[], o: SubmitOptions): Promise<{ note: string; outcomes: WitnessOutcome[] }> {
  const settled = await Promise.allSettled(targets.map((t) => submitCheckpoint(t, o)));
  let note = o.note;
  const outcomes = settled.map((s, i): WitnessOutcome => {
    const target = targets[i]!;
    if (s.status === 'fulfilled') {
      note = addSignatureLines(note, s.value.lines);
      return { target, ok: true, result: s.value };
    }
    const error = isMedtrailError(s.reason) ? s.reason : new MedtrailError('WITNESS_BAD_RESPONSE', String(s.reason));
    return { target, ok: false, error };
  });
  return { note, outcomes };
}
