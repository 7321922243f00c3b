// The entry-check worker: a thread that reads large entry requests (server/custody/entry-checker.ts sends it
// every body over ENTRY_INLINE_BYTES) so that the server's event loop never parses, canonicalises or verifies
// megabytes of JSON. For each body, in the order of entry-checks.ts: JSON (depth first), the envelopes, every
// signer known, every signature, every body's schema; then the leaf bytes and hashes the append needs.
// A refusal comes back as a code, a message and the bad fields, exactly as the server thread would have said.
//
// Protocol (entry-check-protocol.ts): { keys, origin } replaces the signers it accepts and the log's origin; { id, bytes, now } is
// answered with { id, ok: true, ... } or { id, ok: false, code, message, fields }.
import { parentPort } from 'node:worker_threads';
import { runInBackground } from '../thread-priority.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { encodeEntry } from '../../core/entry/entry.js';
import { isMedtrailError } from '../../core/errors.js';
import { leafHash } from '../../core/log/merkle.js';
import { parseJsonBytes } from '../http/json-body.js';
import { SMALL_ENTRY_BYTES, type CheckReply, type CheckRequest } from './entry-check-protocol.js';
import { checkEntries, entriesOf, isSingle, type SignerLookup } from './entry-checks.js';

function run(port: NonNullable<typeof parentPort>): void {
  installNodeCrypto();
  let keys = new Map<string, Uint8Array | null>();
  let origin = '';
  const lookup: SignerLookup = (gln) => {
    const k = keys.get(gln);
    if (k === undefined) return undefined;
    return k === null ? { revoked: true } : { key: k };
  };
  port.on('message', (m: CheckRequest) => {
    if ('keys' in m) {
      keys = new Map(m.keys);
      origin = m.origin;
      return;
    }
    let reply: CheckReply;
    try {
      const body = parseJsonBytes(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
      const entries = entriesOf(body);
      const used = checkEntries(entries, lookup, origin, m.now);
      const leaves = entries.map(encodeEntry);
      reply = {
        id: m.id,
        ok: true,
        single: isSingle(body),
        entries: entries.map((e, i) => (leaves[i]!.length <= SMALL_ENTRY_BYTES ? e : null)),
        metas: entries.map((e) => ({ kind: e.kind, signer: e.signer, nonce: e.nonce, at: e.at })),
        leaves,
        hashes: leaves.map(leafHash),
        keys: used,
      };
    } catch (e) {
      reply = isMedtrailError(e)
        ? { id: m.id, ok: false, code: e.code, message: e.message, ...(e.fields !== undefined ? { fields: [...e.fields] } : {}) }
        : { id: m.id, ok: false, code: 'INTERNAL', message: e instanceof Error ? e.message : String(e) };
    }
    port.postMessage(reply);
  });
}

if (parentPort !== null) {
  runInBackground();
  run(parentPort);
}
