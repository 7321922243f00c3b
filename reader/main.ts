// `medtrail-reader`: the counter daemon (docs/architecture.md, The reader). Watches every PC/SC reader (reader/nfc.ts),
// reads 2D-scanner lines from stdin (reader/scanner.ts) and QR images given as files (reader/image.ts), and
// prints a verdict per pack (reader/output.ts), verified offline at once and online as the pharmacy
// (reader/verifier.ts), with a durable queue for when the server is down (reader/queue.ts).
//
// Exit codes: 0 normal end; with --once the verdict's class, the same rule as `medtrail verify`
// (core/verdict.ts exitCodeOf): 0 GENUINE, 1 no verdict (unreadable, cannot check offline yet), 3 an alert
// about a real pack, 4 not genuine; 2 usage error (bad option, unreadable key file), as JSON on stderr with
// --json.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Reader } from 'nfc-pcsc';
import { fromHex } from '../core/bytes.js';
import { installNodeCrypto } from '../core/crypto/ed25519-node.js';
import { isMedtrailError, MedtrailError, messageOf } from '../core/errors.js';
import { keyFileSeed, parseKeyFile } from '../core/crypto/keys.js';
import { verifyOriginality } from '../core/tag/originality.js';
import { EXIT_USAGE, exitCodeHelp, exitCodeOf } from '../core/verdict.js';
import { ReaderCache } from './cache.js';
import { signal } from './feedback.js';
import { LedgerClient, type RequestSigner } from '../client/ledger-client.js';
import { parsePolicy, type TlogPolicy } from '../core/log/policy.js';
import { decodeQrFile } from './image.js';
import { watchNfc, type NfcWatch } from './nfc.js';
import { Printer, type VerdictLine } from './output.js';
import { OfflineQueue } from './queue.js';
import { readScannerLines } from './scanner.js';
import { directTransmit } from './tag-io.js';
import { Verifier } from './verifier.js';

interface Options {
  server: string[];
  key?: string;
  policy?: string;
  maxAge: string;
  json?: boolean;
  once?: boolean;
  dispense?: boolean;
  image?: string[];
  nfc: boolean;
  reader?: string;
  state: string;
  slowMs: string;
  retryMs: string;
  syncInterval: string;
}

const program = new Command()
  .name('medtrail-reader')
  .description('the counter daemon: verify packs tapped on PC/SC NFC readers, typed by a 2D scanner on stdin, or in QR images')
  .option(
    '--server <url>',
    'ledger server (default http://127.0.0.1:8080); repeat or comma-separate for failover: the first is the operator (the queue and dispenses go only there), the next ones (mirrors) verify when it is unreachable',
    (v: string, acc: string[]) => [...acc, ...v.split(',').map((s) => s.trim()).filter((s) => s !== '')],
    [] as string[],
  )
  .option('--key <file>', "the pharmacy's key file: signs its verifications and dispenses (the seed stays here)")
  .option('--json', 'one JSON object per line (verdict, source, uri, reasons, layer, offline, timings, ...)')
  .option('--once', "exit after the first verdict, with that verdict's exit code (below)")
  .option('--dispense', 'dispense a GENUINE pack in the same tap (signed dispense entry); a second tap reads DISPENSED')
  .option('--image <file...>', 'verify the QR code in these PNG or JPEG files (a photo of a label)')
  .option('--no-nfc', 'do not watch PC/SC readers (2D scanner on stdin and images only)')
  .option('--reader <name>', 'only watch readers whose name contains this text')
  .option('--state <dir>', 'where the offline cache and queue live', './data/reader')
  .option('--slow-ms <ms>', 'print the offline verdict first when the server takes longer than this', '300')
  .option('--retry-ms <ms>', 'first delay before resending the offline queue (doubles up to 30 s)', '1000')
  .option('--sync-interval <s>', 'seconds between syncs of the offline cache', '300')
  .option('--max-age <seconds>', 'with --policy: the oldest witness cosignature accepted (an old answer replayed)', '600')
  .option('--policy <file>', 'witness policy (c2sp.org/tlog-policy): hold every online answer to it (the state proven under a checkpoint its witnesses cosigned)')
  .addHelpText('after', `\nWithout --once: exit 0 when stopped (SIGINT, SIGTERM, or the end of stdin with --no-nfc).\n${exitCodeHelp()}`)
  // commander's own usage errors are said once, coded, by usage() below (JSON under --json, as the CLI's are).
  .configureOutput({ outputError: () => {} })
  .exitOverride((err) => {
    if (err.exitCode === 0) process.exit(0);
    usage(err.message.replace(/^error: /, ''));
  });

/** --json on the command line, known before commander has parsed it (for its own errors). */
function jsonArg(): boolean {
  const end = process.argv.indexOf('--');
  return (end === -1 ? process.argv : process.argv.slice(0, end)).includes('--json');
}

program.parse(process.argv);
const o = program.opts<Options>();

function usage(message: string): never {
  if (jsonArg()) process.stderr.write(`${JSON.stringify({ error: { code: 'CLI_USAGE', message } })}\n`);
  else process.stderr.write(`medtrail-reader: CLI_USAGE: ${message}\n(medtrail-reader --help lists every option)\n`);
  process.exit(EXIT_USAGE);
}

function num(v: string, name: string, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) usage(`${name} must be a number >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** The pharmacy's signer from its key file (the seed stays in this process). */
function loadSigner(path: string | undefined): RequestSigner | undefined {
  if (path === undefined) return undefined;
  try {
    const k = parseKeyFile(readFileSync(path, 'utf8'));
    if (k.gln === undefined) usage(`${path} names no GLN: the pharmacy's key must`);
    return { gln: k.gln, seed: keyFileSeed(k) };
  } catch (e) {
    usage(isMedtrailError(e) ? `${e.code}: ${e.message}` : `cannot read ${path}: ${messageOf(e)}`);
  }
}

/** The witness policy file (--policy), or a usage error naming what is wrong with it. */
function loadPolicy(path: string): TlogPolicy {
  try {
    return parsePolicy(readFileSync(path, 'utf8'));
  } catch (e) {
    usage(isMedtrailError(e) ? `--policy ${path}: ${e.code}: ${e.message}` : `cannot read ${path}: ${messageOf(e)}`);
  }
}

installNodeCrypto();
const signer = loadSigner(o.key);
let client: LedgerClient;
let fallbacks: LedgerClient[];
try {
  const [first, ...rest] = o.server.length > 0 ? o.server : ['http://127.0.0.1:8080'];
  client = new LedgerClient(first!, { signer, timeoutMs: 5000 });
  // A mirror that does not answer within 2 s hands on to the next (the operator keeps its 5 s).
  fallbacks = rest.map((url) => new LedgerClient(url, { signer, timeoutMs: 2000 }));
} catch (e) {
  usage(messageOf(e));
}
const printer = new Printer(o.json === true, process.stdout.isTTY === true && process.env['NO_COLOR'] === undefined);
const policy = o.policy !== undefined ? loadPolicy(o.policy) : undefined;
const maxAgeS = num(o.maxAge, '--max-age', 1);
const cache = new ReaderCache(join(o.state, 'cache.db'), policy, maxAgeS);
const queue = new OfflineQueue(join(o.state, 'queue.db'));
let nfc: NfcWatch | undefined;
let exiting = false;

function shutdown(code: number): void {
  if (exiting) return;
  exiting = true;
  verifier.close();
  nfc?.close();
  try {
    queue.close();
    cache.close();
  } catch {
    /* closing twice is harmless */
  }
  // pcsclite's status threads do not end on close (reader/nfc.ts): leave without waiting for them.
  process.exit(code);
}

function onFinal(v: VerdictLine): void {
  if (o.once && !v.provisional) shutdown(exitCodeOf(v.verdict));
}

const verifier = new Verifier({
  client,
  fallbacks,
  cache,
  queue,
  signer,
  ...(policy !== undefined ? { policy, maxAgeS } : {}),
  dispense: o.dispense === true,
  slowMs: num(o.slowMs, '--slow-ms', 0),
  onVerdict: (v) => {
    printer.verdict(v);
    if (!v.provisional) onFinal(v);
  },
  onError: (e) => {
    printer.error(e);
    if (o.once) shutdown(1);
  },
  onAlert: (a) => printer.alert(a),
});
verifier.retryMinMs = num(o.retryMs, '--retry-ms', 10);

// An exception nobody caught would otherwise leave the process hanging on pcsclite's threads: say it and go.
process.on('uncaughtException', (e) => {
  process.stderr.write(`medtrail-reader: internal error: ${e.stack ?? e.message}\n`);
  shutdown(70);
});
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));

async function sync(): Promise<boolean> {
  try {
    await cache.sync(client, signer?.gln);
    return true;
  } catch (e) {
    if (!o.json) process.stderr.write(`medtrail-reader: sync failed (${isMedtrailError(e) ? e.code : String(e)}); verdicts use the last sync\n`);
    return false;
  }
}

/** The originality signal of an NTAG21x (READ_SIG through the reader), never the verdict. */
async function originality(r: Reader, uid: string): Promise<'nxp' | 'not-nxp' | 'unknown'> {
  try {
    const sig = await directTransmit(r, Uint8Array.of(0x3c, 0x00), 32);
    if (sig.length !== 32) return 'unknown';
    return verifyOriginality(fromHex(uid), sig) ? 'nxp' : 'not-nxp';
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<void> {
  const synced = await sync();
  const interval = setInterval(() => void sync(), num(o.syncInterval, '--sync-interval', 1) * 1000);
  interval.unref();
  if (queue.size() > 0) void verifier.drain();

  const readers: string[] = [];
  let started = false;
  if (o.nfc) {
    let attached: () => void = () => {};
    const first = new Promise<void>((r) => (attached = r));
    nfc = watchNfc(
      (e, r) => {
        if (e.kind === 'reader') {
          if (e.attached) readers.push(e.reader);
          attached();
          // After start-up, a reader coming or going is news at the counter (plugged out, pcscd restarted).
          if (started) {
            if (o.json) process.stdout.write(JSON.stringify({ info: 'reader', reader: e.reader, attached: e.attached }) + '\n');
            else process.stderr.write(`medtrail-reader: NFC reader ${e.attached ? 'connected' : 'gone'}: ${e.reader}\n`);
          }
          return;
        }
        if (e.kind === 'tag') {
          const t0 = performance.now() - e.readMs;
          const orig = r !== undefined && e.tagType !== 'unknown' ? originality(r, e.uid) : undefined;
          void verifier
            .scan({ code: e.uri, source: 'nfc', t0, readMs: e.readMs, uid: e.uid, reader: e.reader, ...(orig ? { originality: orig } : {}) })
            .then((v) => {
              if (r !== undefined) void signal(r, v?.verdict === 'GENUINE' ? 'ok' : 'alert');
            });
        } else if (e.kind === 'tag-error') {
          printer.error({ error: { code: e.code, message: e.message }, source: 'nfc', reader: e.reader, ...(e.uid ? { uid: e.uid } : {}) });
          if (r !== undefined) void signal(r, 'alert');
          if (o.once) shutdown(1);
        } else if (e.kind === 'pcsc-error') {
          // pcscd went away: NFC stops until it answers again (nfc.ts reconnects by itself); scanner lines and
          // images go on being verified meanwhile.
          if (o.json) process.stdout.write(JSON.stringify({ info: 'pcsc', state: 'lost', message: e.message }) + '\n');
          else process.stderr.write(`medtrail-reader: PC/SC: ${e.message}; NFC paused, reconnecting when pcscd is back\n`);
        } else if (e.kind === 'pcsc-unavailable') {
          // One line, then on with scanner lines and images; NFC starts by itself when pcscd appears.
          attached();
          if (o.json) process.stdout.write(JSON.stringify({ info: 'pcsc', state: 'unavailable', socket: e.socket, message: e.message }) + '\n');
          else process.stderr.write(`medtrail-reader: NFC unavailable: pcscd at ${e.socket}: ${e.message}; scanner lines and images work, NFC starts when pcscd answers (or run with --no-nfc)\n`);
        } else if (e.kind === 'pcsc-restored') {
          if (o.json) process.stdout.write(JSON.stringify({ info: 'pcsc', state: 'restored' }) + '\n');
          else process.stderr.write('medtrail-reader: PC/SC: connected to pcscd again\n');
        }
      },
      o.reader === undefined ? {} : { readers: (n) => n.includes(o.reader!) },
    );
    // Readers already plugged in announce themselves at once; wait briefly so `ready` can name them.
    await Promise.race([first, new Promise((r) => setTimeout(r, 3000).unref())]);
  }
  started = true;
  if (o.json) process.stdout.write(JSON.stringify({ info: 'ready', readers, synced, queued: queue.size() }) + '\n');
  else process.stderr.write(`medtrail-reader: ready (${readers.length ? readers.join(', ') : 'no NFC reader'}${synced ? '' : ', server not reached'})\n`);

  for (const file of o.image ?? []) {
    const t0 = performance.now();
    try {
      await verifier.scan({ code: decodeQrFile(file), source: 'image', t0 });
    } catch (e) {
      const err = isMedtrailError(e) ? e : new MedtrailError('IMAGE_UNREADABLE', String(e));
      printer.error({ error: { code: err.code, message: err.message }, source: 'image', input: file });
      if (o.once) shutdown(1);
    }
  }
  if (!o.nfc && (o.image?.length ?? 0) > 0 && process.stdin.isTTY) shutdown(0);

  await readScannerLines(process.stdin, (s) => verifier.scan(s), (e) => {
    printer.error(e);
    if (o.once) shutdown(1);
  });
  // stdin ended: without NFC there is nothing more to wait for (queued items stay on disk for next time).
  if (!o.nfc) {
    if (queue.size() > 0) await Promise.race([verifier.drain(), new Promise((r) => setTimeout(r, 2000).unref())]);
    shutdown(0);
  }
}

main().catch((e) => {
  process.stderr.write(`medtrail-reader: ${isMedtrailError(e) ? `${e.code}: ` : ''}${messageOf(e)}\n`);
  shutdown(2);
});
