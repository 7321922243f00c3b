// The page's side of the ledger API: the one client (client/ledger-client.ts) at this page's own origin, so
// that refusals come back as the same coded errors the CLI and the reader see, and answers are read with the
// parsers of core/api/answers.ts. Signed requests (console) carry the X-Medtrail-* headers over the exact
// bytes sent (core/api/request-auth.ts).
import { parseJsonText } from '../../core/api/wire.js';
import { LedgerClient, type RequestSigner } from '../../client/ledger-client.js';

/** A participant signing in this page, with the origin of the ledger it signs for (read once at sign-in). */
export type Signer = RequestSigner & { log?: string };

/** Same origin, no cookies, never from the browser's cache: a verdict or a stock list must be today's. */
const FETCH_INIT: RequestInit = { credentials: 'omit', cache: 'no-store' };

function client(signer?: Signer): LedgerClient {
  return new LedgerClient(location.origin, { signer, fetchInit: FETCH_INIT, log: signer?.log });
}

async function call(method: 'GET' | 'POST', path: string, body: unknown, signer?: Signer): Promise<unknown> {
  const { text } = await client(signer).text(method, path, body, signer !== undefined);
  return text === '' ? null : parseJsonText(text, `${method} ${path}: the answer`);
}

export const getJson = (path: string, signer?: Signer): Promise<unknown> => call('GET', path, undefined, signer);
export const postJson = (path: string, body: unknown, signer?: Signer): Promise<unknown> => call('POST', path, body, signer);

/** An answer read with a core/api/answers.ts parser. */
export const getParsed = <T>(path: string, parse: (v: unknown) => T, signer?: Signer): Promise<T> => client(signer).get(path, parse, signer !== undefined);

export function obj(x: unknown): Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x) ? Object.fromEntries(Object.entries(x)) : {};
}

export function str(x: unknown): string | null {
  return typeof x === 'string' ? x : null;
}
