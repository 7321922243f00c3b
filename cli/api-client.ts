// The CLI's HTTP client for the ledger API. Client commands talk to the server only through this, as they
// would across a city: they import core/ and the CLI helpers, never server internals. Entries are signed
// here, with the participant's key file; the seed never leaves this machine.
//
// Errors: a server that cannot be reached is SERVER_UNREACHABLE; a refusal `{"error":{code,message,fields}}`
// comes back as a MedtrailError with the server's own code, so a script sees the same code either side.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { concatBytes, fromBase64, toHex, utf8 } from '../core/bytes.js';
import { installNodeCrypto } from '../core/crypto/ed25519-node.js';
import { validateBody, type BodyOf } from '../core/entry/bodies.js';
import { decodeEntry, newNonce, signEntry, type Entry, type EntryKind } from '../core/entry/entry.js';
import { MedtrailError, type ErrorCode, type FieldError } from '../core/errors.js';
import { sha256 } from '../core/crypto/hash.js';
import { keyFileSeed, parseKeyFile, type KeyFile } from '../core/crypto/keys.js';
import { serverBase, signRequest } from '../core/api/request-auth.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/** A participant's key file that names its GLN: what every signing command needs. */
export type SignerKey = KeyFile & { gln: string };

export interface ClientCliOptions {
  server: string;
  key?: string;
  json?: boolean;
}

/** Adds the options every client command shares. */
export function clientOptions(cmd: Command, keyHelp = 'your key file (signs locally; the seed never leaves this machine)'): Command {
  return cmd
    .option('--server <url>', 'ledger server', DEFAULT_SERVER)
    .option('--key <path>', keyHelp)
    .option('--json', 'print JSON');
}

export function loadKey(path: string | undefined, what = '--key'): SignerKey {
  if (path === undefined) throw new MedtrailError('CLI_USAGE', `${what} <key file> is required`);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read key file ${path}`, { cause: e });
  }
  const k = parseKeyFile(text);
  if (k.gln === undefined) throw new MedtrailError('KEYFILE_BAD', `${path} names no GLN; a participant key needs one`);
  return k as SignerKey;
}

/**
 * Signs an entry of `kind` now, with a fresh nonce. The body is checked first with the server's own
 * validator (core/bodies.ts), so a malformed body is reported here, every bad field at once, and never signed.
 */
export function makeEntry<K extends EntryKind>(kind: K, key: SignerKey, body: BodyOf[K], prev: string[] = []): Entry {
  validateBody(kind, body);
  return signEntry({ v: 1, kind, signer: key.gln, at: new Date().toISOString(), nonce: newNonce(), prev, body: body as unknown as Record<string, unknown> }, keyFileSeed(key));
}

export interface Appended {
  index: number;
  leafHash: string;
}

export class ApiClient {
  readonly base: string;
  private readonly basePath: string;

  constructor(server: string, readonly signer?: SignerKey) {
    installNodeCrypto();
    ({ base: this.base, path: this.basePath } = serverBase(server));
  }

  /** GET/POST under the server root; `signed` adds the request signature of `signer`. */
  async request(method: 'GET' | 'POST', path: string, body?: unknown, signed = false): Promise<Response> {
    const raw = body === undefined ? undefined : utf8(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (raw !== undefined) headers['content-type'] = 'application/json';
    if (signed) {
      if (this.signer === undefined) throw new MedtrailError('CLI_USAGE', 'this request must be signed: give --key');
      Object.assign(headers, signRequest({ method, path: this.basePath + path, ...(raw ? { body: raw } : {}) }, this.signer.gln, keyFileSeed(this.signer)));
    }
    let res: Response;
    try {
      res = await fetch(this.base + path, { method, headers, ...(raw !== undefined ? { body: raw } : {}) });
    } catch (e) {
      const cause = (e as { cause?: { code?: string } }).cause?.code;
      throw new MedtrailError('SERVER_UNREACHABLE', `cannot reach ${this.base}${cause ? ` (${cause})` : ''}`, { cause: e });
    }
    if (!res.ok) throw await refusal(res);
    return res;
  }

  async json<T>(method: 'GET' | 'POST', path: string, body?: unknown, signed = false): Promise<T> {
    const res = await this.request(method, path, body, signed);
    try {
      return (await res.json()) as T;
    } catch (e) {
      throw new MedtrailError('BAD_JSON', `${method} ${path}: the server answered something that is not JSON`, { cause: e });
    }
  }

  /** Posts one signed entry; answers where the log put it. */
  async submit(entry: Entry): Promise<Appended> {
    const r = await this.json<Partial<Appended>>('POST', '/api/v1/entries', entry);
    if (typeof r.index !== 'number' || typeof r.leafHash !== 'string') {
      throw new MedtrailError('INTERNAL', 'POST /api/v1/entries answered without index and leafHash');
    }
    return { index: r.index, leafHash: r.leafHash };
  }

  /** The entry at `index`, and its leaf hash computed here from the leaf bytes (not taken on trust). */
  async entryAt(index: number): Promise<{ entry: Entry; leafHash: string }> {
    const r = await this.json<{ entries?: { index: number; leaf: string }[] }>('GET', `/api/v1/log/entries?start=${index}&end=${index + 1}`);
    const leaf = r.entries?.[0]?.leaf;
    if (leaf === undefined) throw new MedtrailError('NOT_FOUND', `no entry at index ${index}`);
    const bytes = fromBase64(leaf);
    return { entry: decodeEntry(bytes), leafHash: toHex(sha256(concatBytes(Uint8Array.of(0), bytes))) };
  }
}

async function refusal(res: Response): Promise<MedtrailError> {
  let text = '';
  try {
    text = await res.text();
  } catch {
    /* the body is lost; the status still says something */
  }
  try {
    const j = JSON.parse(text) as { error?: { code?: unknown; message?: unknown; fields?: unknown } };
    const e = j.error;
    if (e !== undefined && typeof e.code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(e.code)) {
      // The server's code is kept as is, even one this CLI's build does not list: the code is the contract.
      return new MedtrailError(e.code as ErrorCode, typeof e.message === 'string' ? e.message : e.code, {
        ...(Array.isArray(e.fields) ? { fields: e.fields as FieldError[] } : {}),
      });
    }
  } catch {
    /* not JSON: below */
  }
  return new MedtrailError(res.status === 404 ? 'NOT_FOUND' : 'INTERNAL', `server answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`);
}
