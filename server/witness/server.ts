// `medtrail witness` as a service: the c2sp.org/tlog-witness HTTP interface in front of witness.ts, on its own
// port and its own SQLite file, apart from any ledger (docs/architecture.md, Trust without a centre).
//
//   POST /add-checkpoint                 200 text/plain cosignature line(s); 409 text/x.tlog.size "<size>\n";
//                                        400, 403, 404, 422 as the spec says (plain text "CODE: message")
//   GET  /<hex SHA-256 of origin>/checkpoint   the newest cosigned checkpoint with the log's and the witness's
//                                        lines (the spec's monitoring endpoint); 404 when none
//
// node:http rather than express: two routes, and the bodies are plain text whose exact bytes matter.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fromUtf8, toHex, utf8 } from '../../core/bytes.js';
import { installNodeCrypto } from '../../core/crypto/ed25519-node.js';
import { sha256 } from '../../core/crypto/hash.js';
import { keyFileSeed, parseKeyFile } from '../../core/crypto/keys.js';
import { isMedtrailError, MedtrailError } from '../../core/errors.js';
import { isValidName } from '../../core/log/checkpoint.js';
import { ADD_CHECKPOINT_PATH, formatSizeBody, TLOG_SIZE_TYPE } from '../../core/log/witness-protocol.js';
import { statusOf } from '../http/errors.js';
import { WitnessStore } from './store.js';
import { Witness, type WitnessedLog } from './witness.js';

/** A checkpoint with 100 signatures and 63 proof lines is under 20 kB; anything past this is not a request. */
export const MAX_WITNESS_BODY = 64 * 1024;

export interface WitnessServeOptions {
  /** The witness's SQLite file (created when missing). */
  db: string;
  port: number;
  host?: string;
  /** A `medtrail keygen` key file: the witness's Ed25519 key. */
  keyFile: string;
  /** Cosigner name; default: the key file's name, which must then be a note key name (no spaces, no "+"). */
  name?: string;
  logs: readonly WitnessedLog[];
}

export interface RunningWitness {
  url: string;
  port: number;
  /** The witness's cosigner verifier key, for `witness <name> <vkey>` policy lines. */
  vkey: string;
  witness: Witness;
  server: Server;
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  const b = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'content-type': type, 'content-length': b.length, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(b);
}

function sendError(res: ServerResponse, e: MedtrailError): void {
  send(res, statusOf(e.code), 'text/plain; charset=utf-8', `${e.code}: ${e.message}\n`);
}

/** The request body as text, refused past MAX_WITNESS_BODY (BODY_TOO_LARGE) or when not UTF-8. */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (d: Buffer) => {
      n += d.length;
      if (n > MAX_WITNESS_BODY) {
        // Answer at once and let the rest of the body drain unread.
        req.removeAllListeners('data');
        req.resume();
        reject(new MedtrailError('BODY_TOO_LARGE', `an add-checkpoint body is at most ${MAX_WITNESS_BODY} bytes`));
        return;
      }
      parts.push(d);
    });
    req.on('end', () => {
      try {
        resolve(fromUtf8(new Uint8Array(Buffer.concat(parts))));
      } catch (e) {
        reject(new MedtrailError('WITNESS_REQUEST_MALFORMED', 'the request body is not UTF-8', { cause: e }));
      }
    });
    req.on('error', reject);
  });
}

/**
 * What a witness checks beyond consistency before it cosigns, run after the stateless checks
 * (Witness.inspect) and before the cosignature: it throws a coded error to refuse (a mirror:
 * server/mirror/witness.ts). Nothing else runs between its end and the cosignature.
 */
export type WitnessGate = (checked: ReturnType<Witness['inspect']>) => Promise<void>;

/** The request handler, for tests that want it without a socket of its own; `gate`: see WitnessGate. */
export function witnessHandler(witness: Witness, gate?: WitnessGate): (req: IncomingMessage, res: ServerResponse) => void {
  const byOriginHash = new Map(witness.origins().map((o) => [toHex(sha256(utf8(o))), o]));
  return (req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0]!;
      try {
        if (path === ADD_CHECKPOINT_PATH) {
          if (req.method !== 'POST') throw new MedtrailError('METHOD_NOT_ALLOWED', 'add-checkpoint takes POST');
          const text = await readBody(req);
          if (gate !== undefined) await gate(witness.inspect(text));
          const r = witness.addCheckpoint(text);
          if (r.status === 409) send(res, 409, TLOG_SIZE_TYPE, formatSizeBody(r.size));
          else send(res, 200, 'text/plain; charset=utf-8', r.lines);
          return;
        }
        const m = /^\/([0-9a-f]{64})\/checkpoint$/.exec(path);
        if (m !== null && (req.method === 'GET' || req.method === 'HEAD')) {
          const origin = byOriginHash.get(m[1]!);
          const state = origin === undefined ? undefined : witness.latest(origin);
          if (state === undefined) throw new MedtrailError('NOT_FOUND', 'no checkpoint cosigned for this log');
          send(res, 200, 'text/plain; charset=utf-8', state.note);
          return;
        }
        throw new MedtrailError('NOT_FOUND', 'no such resource');
      } catch (e) {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        if (isMedtrailError(e)) sendError(res, e);
        else {
          process.stderr.write(`medtrail witness: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
          sendError(res, new MedtrailError('INTERNAL', 'internal error'));
        }
      }
    })();
  };
}

/** Opens the witness database and key, and listens. */
export async function startWitness(o: WitnessServeOptions): Promise<RunningWitness> {
  installNodeCrypto();
  const { seed, name } = readWitnessKey(o.keyFile, o.name, '--name', 'witness.example/w1');
  if (o.logs.length === 0) throw new MedtrailError('CLI_USAGE', 'a witness needs at least one log to witness (--log <vkey>)');
  const store = new WitnessStore(o.db);
  let witness: Witness;
  try {
    witness = new Witness({ store, name, seed, logs: o.logs });
  } catch (e) {
    store.close();
    throw e;
  }
  const server = createServer({ keepAlive: true }, witnessHandler(witness));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => {
      store.close();
      reject(new MedtrailError('CLI_IO', `cannot listen on ${o.host ?? '127.0.0.1'}:${o.port}`, { cause: e }));
    });
    server.listen(o.port, o.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const host = o.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    vkey: witness.vkey,
    witness,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          store.close();
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

/**
 * A witness's signing seed and note key name from its key file (`medtrail witness --key`, `medtrail mirror
 * --witness-key`): CLI_IO when the file cannot be read, CLI_USAGE naming `flag` when the name (`name`, else the
 * key file's) is no note key name.
 */
export function readWitnessKey(keyFile: string, name: string | undefined, flag: string, example: string): { seed: Uint8Array; name: string } {
  let text: string;
  try {
    text = readFileSync(keyFile, 'utf8');
  } catch (e) {
    throw new MedtrailError('CLI_IO', `cannot read the witness key file ${keyFile}`, { cause: e });
  }
  const key = parseKeyFile(text);
  const chosen = name ?? key.name;
  if (!isValidName(chosen)) {
    throw new MedtrailError('CLI_USAGE', `the witness name ${JSON.stringify(chosen)} is not a note key name (no spaces, no "+"): give ${flag}, e.g. ${example}`);
  }
  return { seed: keyFileSeed(key), name: chosen };
}
