// JSON over fetch, same origin only. Errors come back as {error:{code,message}}; they are thrown as ApiError so
// the page can show a plain sentence. Signed requests (console) add the X-Medtrail-* headers over the exact
// bytes sent (core/request-auth.ts).
import { utf8 } from '../../core/bytes.js';
import { signRequest } from '../../core/api/request-auth.js';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export interface Signer {
  gln: string;
  seed: Uint8Array;
}

async function call(method: string, path: string, body: unknown, signer?: Signer): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  // The text sent is exactly the text whose bytes were signed.
  const text = body === undefined ? undefined : JSON.stringify(body);
  if (text !== undefined) headers['content-type'] = 'application/json';
  if (signer !== undefined) {
    Object.assign(headers, signRequest({ method, path, ...(text !== undefined ? { body: utf8(text) } : {}) }, signer.gln, signer.seed));
  }
  const res = await fetch(path, { method, headers, ...(text !== undefined ? { body: text } : {}), credentials: 'omit', cache: 'no-store' });
  const answer = await res.text();
  let json: unknown = null;
  try {
    json = answer === '' ? null : JSON.parse(answer);
  } catch {
    if (!res.ok) throw new ApiError(res.status, 'HTTP', `HTTP ${res.status}`);
    return answer;
  }
  if (!res.ok) {
    const err = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    throw new ApiError(res.status, typeof err?.code === 'string' ? err.code : 'HTTP', typeof err?.message === 'string' ? err.message : `HTTP ${res.status}`);
  }
  return json;
}

export const getJson = (path: string, signer?: Signer): Promise<unknown> => call('GET', path, undefined, signer);
export const postJson = (path: string, body: unknown, signer?: Signer): Promise<unknown> => call('POST', path, body, signer);

export function obj(x: unknown): Record<string, unknown> {
  return x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>) : {};
}

export function str(x: unknown): string | null {
  return typeof x === 'string' ? x : null;
}
