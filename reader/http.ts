// The reader's own small HTTP client for the ledger API (the reader never imports server/ code: it talks to
// the server as it would across a city). Requests are signed with the pharmacy's key (core/request-auth.ts).
//
// Errors: a server that cannot be reached in time is SERVER_UNREACHABLE (the caller queues); a refusal
// `{"error":{code,message}}` comes back as a MedtrailError with the server's own code; a 5xx without a code is
// INTERNAL (retried like an outage by the queue).
import { fromBase64, utf8 } from '../core/bytes.js';
import { MedtrailError, type ErrorCode, type FieldError } from '../core/errors.js';
import { keyFileSeed, type KeyFile } from '../core/crypto/keys.js';
import { serverBase, signRequest } from '../core/api/request-auth.js';

export type ReaderKey = KeyFile & { gln: string };

export class ReaderHttp {
  readonly base: string;
  private readonly basePath: string;

  constructor(
    server: string,
    readonly key: ReaderKey | undefined,
    private readonly timeoutMs = 5000,
  ) {
    ({ base: this.base, path: this.basePath } = serverBase(server));
  }

  /** JSON request under the server root (`path` starts with /api/v1); `signed` signs it as the key's GLN. */
  async json<T>(method: 'GET' | 'POST', path: string, body?: unknown, signed = false): Promise<T> {
    const raw = body === undefined ? undefined : utf8(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (raw !== undefined) headers['content-type'] = 'application/json';
    if (signed) {
      if (this.key === undefined) throw new MedtrailError('CLI_USAGE', 'this request must be signed: give --key');
      Object.assign(headers, signRequest({ method, path: this.basePath + path, ...(raw ? { body: raw } : {}) }, this.key.gln, keyFileSeed(this.key)));
    }
    let res: Response;
    try {
      res = await fetch(this.base + path, { method, headers, ...(raw !== undefined ? { body: raw } : {}), signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).name;
      throw new MedtrailError('SERVER_UNREACHABLE', `cannot reach ${this.base} (${cause})`, { cause: e });
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) throw refusal(res.status, text);
    try {
      return JSON.parse(text) as T;
    } catch (e) {
      throw new MedtrailError('BAD_JSON', `${method} ${path}: the server answered something that is not JSON`, { cause: e });
    }
  }

  /** GET log/entries [start, end): the leaf bytes. */
  async leaves(start: number, end: number): Promise<{ index: number; bytes: Uint8Array }[]> {
    const r = await this.json<{ entries?: { index: number; leaf: string }[] }>('GET', `/api/v1/log/entries?start=${start}&end=${end}`);
    return (r.entries ?? []).map((e) => ({ index: e.index, bytes: fromBase64(e.leaf) }));
  }
}

function refusal(status: number, text: string): MedtrailError {
  try {
    const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown; fields?: unknown } }).error;
    if (e !== undefined && typeof e.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(e.code)) {
      return new MedtrailError(e.code as ErrorCode, typeof e.message === 'string' ? e.message : e.code, Array.isArray(e.fields) ? { fields: e.fields as FieldError[] } : undefined);
    }
  } catch {
    /* not JSON */
  }
  return new MedtrailError(status === 404 ? 'NOT_FOUND' : 'INTERNAL', `server answered HTTP ${status}`);
}

/** Whether an error means "try again later" (outage, overload) rather than a refusal on the merits. */
export function isTransient(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 'SERVER_UNREACHABLE' || code === 'INTERNAL' || code === 'OVERLOADED' || code === 'RATE_LIMITED' || code === 'BAD_JSON' || code === 'AUTH_CLOCK_SKEW';
}
