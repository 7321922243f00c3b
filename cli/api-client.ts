// The CLI's side of the ledger API: its options, key files and entries signed with them, over the one client
// (client/ledger-client.ts) that the reader uses too. Client commands never import server internals: they
// talk to the server as they would across a city. The seed never leaves this machine.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { installNodeCrypto } from '../core/crypto/ed25519-node.js';
import type { BodyOf } from '../core/entry/bodies.js';
import { buildEntry } from '../core/entry/builder.js';
import type { Entry, EntryKind } from '../core/entry/entry.js';
import { MedtrailError } from '../core/errors.js';
import { keyFileSeed, parseKeyFile, type KeyFile } from '../core/crypto/keys.js';
import { LedgerClient, type RequestSigner } from '../client/ledger-client.js';

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

export function hasGln(k: KeyFile): k is SignerKey {
  return typeof k.gln === 'string';
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
  if (!hasGln(k)) throw new MedtrailError('KEYFILE_BAD', `${path} names no GLN; a participant key needs one`);
  return k;
}

/**
 * Signs an entry of `kind` now, with a fresh nonce, through the one entry builder (core/entry/builder.ts):
 * a malformed body is reported here, every bad field at once, and never signed.
 */
export async function makeEntry<K extends EntryKind>(c: LedgerClient, kind: K, key: SignerKey, body: BodyOf[K], prev: string[] = []): Promise<Entry<BodyOf[K]>> {
  return buildEntry(kind, { ...signerOf(key), log: await c.origin() }, body, prev);
}

export function signerOf(key: SignerKey): RequestSigner {
  return { gln: key.gln, seed: keyFileSeed(key) };
}

export type { Appended } from '../core/api/answers.js';

/** The CLI's client: the one ledger client (client/ledger-client.ts) with node:crypto and a key file. */
export class ApiClient extends LedgerClient {
  constructor(
    server: string,
    readonly key?: SignerKey,
    timeoutMs?: number,
    signal?: AbortSignal,
  ) {
    installNodeCrypto();
    super(server, { signer: key === undefined ? undefined : signerOf(key), ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(signal !== undefined ? { signal } : {}) });
  }
}
