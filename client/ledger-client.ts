// The one HTTP client of the ledger API (docs/architecture.md, The wire), used by the CLI and the reader:
// they talk to the server only through this, as they would across a city. Plain fetch and core/ only (no
// node:* import), so it runs in Node and in the browser alike.
//
// Requests a participant signs (core/api/request-auth.ts) carry the X-Medtrail-* headers over the exact bytes
// sent. Answers are read with the parsers of core/api/answers.ts, never cast.
//
// Errors, the same for every caller:
// - the server cannot be reached (refused, reset, timed out): SERVER_UNREACHABLE;
// - a refusal `{"error":{code,message,fields}}`: a MedtrailError with the server's own code and fields;
// - an answer that is not JSON: BAD_JSON; JSON of the wrong shape: BAD_ANSWER (core/api/wire.ts).
import { fromBase64, fromHex, toHex, utf8 } from '../core/bytes.js';
import { decodeEntry, type Entry } from '../core/entry/entry.js';
import { leafHash } from '../core/log/merkle.js';
import { MedtrailError, type ErrorCode } from '../core/errors.js';
import { parseAppended, parseConsistency, parseInclusionProof, parseLogEntries, parseMakerKey, parseVerifyAnswer, refusalOf, type Appended, type VerifyAnswer } from '../core/api/answers.js';
import type { MakerKeyEvidence } from '../core/tag/maker-key.js';
import { serverBase, signRequest } from '../core/api/request-auth.js';
import { parseJsonText } from '../core/api/wire.js';
import { splitVerifierKey } from '../core/log/checkpoint.js';
import { parseRx, parseRxCreated, parseRxCreatedList, parseRxList, parseRxReport, parseRxView, type RxAnswer, type RxCreatedAnswer, type RxListAnswer, type RxReportAnswer, type RxViewAnswer } from '../core/api/rx.js';
import { rxViewMessage, signWithCode } from '../core/rx/rx.js';
import { toBase64 } from '../core/bytes.js';

/** Who signs requests: a participant's GLN and Ed25519 seed (the seed never leaves this process). */
export interface RequestSigner {
  gln: string;
  seed: Uint8Array;
}

export interface LedgerClientOptions {
  signer?: RequestSigner | undefined;
  /** A request that has not answered by then is SERVER_UNREACHABLE (default: no limit). */
  timeoutMs?: number | undefined;
  /** Ends every request of this client when aborted (SERVER_UNREACHABLE): a CLI drops the losers of a failover race. */
  signal?: AbortSignal | undefined;
  /** Extra fetch options (the browser's cache and credentials modes). */
  fetchInit?: RequestInit | undefined;
  /**
   * The log origin this client's signatures are bound to, when the caller knows it (a page has the log's
   * verifier key pinned). Otherwise it is read once from the server's verifier key (GET /api/v1/log/key): a
   * server that names another origin only makes our signatures fail on the real ledger, never pass on another.
   */
  log?: string | undefined;
}

export type Method = 'GET' | 'POST';

/** The `{code?, ...}` of a POST /verify request beyond the code. */
export interface VerifyRequest {
  code: string;
  scanner?: { gln?: string; location?: string };
  scannedAt?: string;
}

/** What a failed fetch says about why (the system error code, or the abort's name). */
function causeOf(e: unknown): string | undefined {
  if (!(e instanceof Error)) return undefined;
  const c: unknown = e.cause;
  if (typeof c === 'object' && c !== null && 'code' in c && typeof c.code === 'string') return c.code;
  return e.name === 'Error' ? undefined : e.name;
}

/** Attempts after a CHECKPOINT_PENDING (waits of 0.1, 0.2, ... s: about 4.5 s in all). */
const PENDING_TRIES = 9;

export class LedgerClient {
  /** The server's origin and base path, e.g. http://127.0.0.1:8080. */
  readonly base: string;
  private readonly basePath: string;

  constructor(
    server: string,
    readonly options: LedgerClientOptions = {},
  ) {
    ({ base: this.base, path: this.basePath } = serverBase(server));
  }

  get signer(): RequestSigner | undefined {
    return this.options.signer;
  }

  private origin_: Promise<string> | undefined;

  /** The origin of the server's log, which every signed request and entry for it signs (issue 12 #8). */
  origin(): Promise<string> {
    const pinned = this.options.log;
    if (pinned !== undefined) return Promise.resolve(pinned);
    this.origin_ ??= this.text('GET', '/api/v1/log/key').then(
      ({ text }) => splitVerifierKey(text.trim()).name,
      (e: unknown) => {
        this.origin_ = undefined;
        throw e;
      },
    );
    return this.origin_;
  }

  /** The answer's text, after a 2xx; coded errors otherwise. `path` starts with /api/v1 (or /). */
  async text(method: Method, path: string, body?: unknown, signed = false): Promise<{ status: number; text: string; type: string }> {
    // The text sent is exactly the text whose UTF-8 bytes are signed.
    const sent = body === undefined ? undefined : JSON.stringify(body);
    const raw = sent === undefined ? undefined : utf8(sent);
    // A server over PostgreSQL that does not sign answers CHECKPOINT_PENDING for state newer than the newest
    // checkpoint it holds (server/pg/replica.ts); the signer signs within a second, so ask again (a few times,
    // each attempt signed afresh: a signed request's nonce is spent once).
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (raw !== undefined) headers['content-type'] = 'application/json';
      if (signed) {
        const s = this.options.signer;
        if (s === undefined) throw new MedtrailError('CLI_USAGE', 'this request must be signed: give --key');
        const log = await this.origin();
        Object.assign(headers, signRequest({ log, method, path: this.basePath + path, ...(raw !== undefined ? { body: raw } : {}) }, s.gln, s.seed));
      }
      let res: Response;
      let text: string;
      try {
        const t = this.options.timeoutMs;
        const signals = [...(t !== undefined ? [AbortSignal.timeout(t)] : []), ...(this.options.signal !== undefined ? [this.options.signal] : [])];
        const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
        res = await fetch(this.base + path, { ...this.options.fetchInit, method, headers, ...(sent !== undefined ? { body: sent } : {}), ...(signal !== undefined ? { signal } : {}) });
        text = await res.text();
      } catch (e) {
        const why = causeOf(e);
        throw new MedtrailError('SERVER_UNREACHABLE', `cannot reach ${this.base}${why !== undefined ? ` (${why})` : ''}`, { cause: e });
      }
      if (!res.ok) {
        const refusal = refusalOf(res.status, text);
        if (refusal.code === 'CHECKPOINT_PENDING' && attempt < PENDING_TRIES) {
          await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
          continue;
        }
        throw refusal;
      }
      return { status: res.status, text, type: res.headers.get('content-type') ?? '' };
    }
  }

  /** A JSON answer read by `parse` (a core/api/answers.ts parser). */
  async json<T>(method: Method, path: string, parse: (v: unknown) => T, body?: unknown, signed = false): Promise<T> {
    const { text } = await this.text(method, path, body, signed);
    return parse(parseJsonText(text, `${method} ${path}: the answer`));
  }

  get<T>(path: string, parse: (v: unknown) => T, signed = false): Promise<T> {
    return this.json('GET', path, parse, undefined, signed);
  }

  post<T>(path: string, body: unknown, parse: (v: unknown) => T, signed = false): Promise<T> {
    return this.json('POST', path, parse, body, signed);
  }

  /** Posts one signed entry; answers where the log put it. */
  submit(entry: Entry<object>): Promise<Appended> {
    return this.post('/api/v1/entries', entry, parseAppended);
  }

  /** POST /verify, signed when this client has a signer (the scan then counts as the participant's). */
  verify(req: VerifyRequest): Promise<VerifyAnswer> {
    return this.post('/api/v1/verify', req, parseVerifyAnswer, this.options.signer !== undefined);
  }

  /** GET log/entries [start, end): the exact leaf bytes (a signed read: entries go to enrolled participants). */
  async leaves(start: number, end: number): Promise<{ index: number; bytes: Uint8Array }[]> {
    const r = await this.get(`/api/v1/log/entries?start=${start}&end=${end}`, parseLogEntries, true);
    return r.entries.map((e) => ({ index: e.index, bytes: fromBase64(e.leaf) }));
  }

  /**
   * Every leaf of [start, end), page after page: a page stops short at 1,000 leaves or about 1 MiB (its `next`),
   * and each is handed to `page` before the next is asked for. The indexes must run on without a gap.
   */
  async leafPages(start: number, end: number, page: (leaves: { index: number; bytes: Uint8Array }[]) => Promise<void> | void): Promise<void> {
    let at = start;
    while (at < end) {
      const got = await this.leaves(at, end);
      if (got.length === 0) throw new MedtrailError('BAD_ANSWER', `GET /log/entries from ${at} answered no leaf`);
      got.forEach((l, i) => {
        if (l.index !== at + i || l.index >= end) throw new MedtrailError('BAD_ANSWER', `GET /log/entries from ${at}: leaf ${i} has index ${l.index}`);
      });
      await page(got);
      at += got.length;
    }
  }

  /**
   * The participant leaf of the key that registered the pack's batch (GET /products/:gtin/maker-key) with its
   * inclusion proof at tree size `size` (GET /log/proof/inclusion): unchecked here; core/tag/maker-key.ts
   * proves it under a checkpoint of that size.
   */
  async makerKeyAt(gtin: string, serial: string, size: number): Promise<MakerKeyEvidence> {
    const m = await this.get(`/api/v1/products/${encodeURIComponent(gtin)}/maker-key?serial=${encodeURIComponent(serial)}`, parseMakerKey);
    const inc = await this.get(`/api/v1/log/proof/inclusion?index=${m.index}&size=${size}`, parseInclusionProof);
    return { index: m.index, leaf: fromBase64(m.leaf), proof: inc.proof.map((h) => fromHex(h, 32)) };
  }

  /** The verifier key of the server's log (`GET /log/key`). */
  async logKey(): Promise<string> {
    return (await this.text('GET', '/api/v1/log/key')).text.trim();
  }

  /** The server's newest checkpoint note (`GET /checkpoint`), unchecked: open it with the log key. */
  async checkpoint(): Promise<string> {
    return (await this.text('GET', '/api/v1/checkpoint')).text;
  }

  /** A consistency proof from size `from` to size `to` (check it with core/log/merkle.ts verifyConsistency). */
  async consistency(from: number, to: number): Promise<Uint8Array[]> {
    const r = await this.get(`/api/v1/log/proof/consistency?from=${from}&to=${to}`, parseConsistency);
    return r.proof.map((h) => fromHex(h));
  }

  // ---- prescriptions (issue 16; server/rx/routes.ts) ----

  /** POST /rx: a signed prescribe entry with its off-ledger details (signed by the prescriber). */
  prescribe(entry: Entry<object>, details: unknown): Promise<RxCreatedAnswer> {
    return this.post('/api/v1/rx', { entry, details }, parseRxCreated, true);
  }

  /** POST /rx with many prescriptions at once (all or none). */
  prescribeMany(items: { entry: Entry<object>; details: unknown }[]): Promise<RxCreatedAnswer[]> {
    return this.post('/api/v1/rx', { items }, (v) => parseRxCreatedList(v), true);
  }

  /** POST /rx/view: the prescription for the holder of its access code (signed with the code, not a key). */
  async rxView(id: string, code: string, at = new Date()): Promise<RxViewAnswer> {
    const log = await this.origin();
    const iso = at.toISOString();
    return this.post('/api/v1/rx/view', { id, at: iso, sig: toBase64(signWithCode(code, rxViewMessage(log, id, iso))) }, parseRxView);
  }

  /** GET /rx/:id, signed (its parties and regulators). */
  rx(id: string): Promise<RxAnswer> {
    return this.get(`/api/v1/rx/${id}`, parseRx, true);
  }

  /** GET /rx/:id/fhir: the FHIR R4 Bundle, as JSON. */
  async rxFhir(id: string): Promise<unknown> {
    return this.get(`/api/v1/rx/${id}/fhir`, (v) => v, true);
  }

  /** GET /rx/:id/details: the off-ledger details (the prescriber, the pharmacy holding the claim). */
  rxDetails(id: string): Promise<unknown> {
    return this.get(`/api/v1/rx/${id}/details`, (v) => v, true);
  }

  rxList(q: { prescriber: string } | { claimedBy: string }): Promise<RxListAnswer> {
    const qs = 'prescriber' in q ? `prescriber=${q.prescriber}` : `claimedBy=${q.claimedBy}`;
    return this.get(`/api/v1/rx?${qs}`, parseRxList, true);
  }

  /** GET /rx/reports (a regulator): JSON, or the CSV text with `csv`. */
  rxReport(query: string): Promise<RxReportAnswer> {
    return this.get(`/api/v1/rx/reports?${query}`, parseRxReport, true);
  }

  async rxReportCsv(query: string): Promise<string> {
    return (await this.text('GET', `/api/v1/rx/reports?${query}${query === '' ? '' : '&'}format=csv`, undefined, true)).text;
  }

  /** The entry at `index`, and its leaf hash computed here from the leaf bytes (not taken on trust). */
  async entryAt(index: number): Promise<{ entry: Entry; leafHash: string }> {
    const [leaf] = await this.leaves(index, index + 1);
    if (leaf === undefined) throw new MedtrailError('NOT_FOUND', `no entry at index ${index}`);
    return { entry: decodeEntry(leaf.bytes), leafHash: toHex(leafHash(leaf.bytes)) };
  }
}

const TRANSIENT: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['SERVER_UNREACHABLE', 'INTERNAL', 'OVERLOADED', 'RATE_LIMITED', 'BAD_JSON', 'AUTH_CLOCK_SKEW', 'MIRROR_BEHIND', 'OPERATOR_UNREACHABLE', 'STORE_UNAVAILABLE', 'CHECKPOINT_PENDING']);

/** Whether an error means "try again later" (outage, overload) rather than a refusal on the merits. */
export function isTransient(e: unknown): boolean {
  return e instanceof MedtrailError && TRANSIENT.has(e.code);
}
